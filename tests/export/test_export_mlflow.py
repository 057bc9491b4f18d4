"""`tunebench export mlflow`: runs, a comparison, a verdict and a training run exported into a real
local MLflow store (a tmp folder), read back with MLflow's own client (metrics and CI bounds, params,
the loss curve's step metrics, the per-sample artifact, verdict tags), then exported again: nothing
new. Runs on both stores (the `store` fixture)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli.main import main
from harness.errors import InputError
from harness.export import export_mlflow
from harness.models import parse_spec
from harness.runner import run_suite
from harness.store import Store
from harness.suite import load_suite

mlflow = pytest.importorskip("mlflow", reason="the `mlflow` extra (mlflow-skinny) is not installed")
from mlflow.tracking import MlflowClient  # noqa: E402

LABELS = ["billing", "shipping", "account", "refund", "technical"]
TRAIN_LOSS = [[1, 2.5], [2, 2.1], [3, 1.7], [4, 1.2]]
EVAL_LOSS = [[1.0, 1.9], [2.0, 1.4]]


def script(path: Path, right: int) -> str:
    rules = [
        {"contains": f"ticket test {i}:", "reply": f'{{"category": "{LABELS[i % 5] if i < right else "x"}"}}'}
        for i in range(10)
    ]
    path.write_text(yaml.safe_dump({"default": "?", "rules": rules}))
    return f"mock:{path}"


def by_id(client: Any, exp_id: str) -> dict[str, Any]:
    runs = client.search_runs([exp_id], max_results=1000)
    out = {r.data.tags["tunebench.id"]: r for r in runs}
    assert len(out) == len(runs)  # one MLflow run per object
    return out


def test_export_reads_back_and_is_idempotent(
    store: Store, tiny_suite: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = load_suite(tiny_suite)
    base = run_suite(suite, parse_spec(script(tmp_path / "base.yaml", 4)), store=store, progress=False)
    cand = run_suite(suite, parse_spec(script(tmp_path / "cand.yaml", 9)), store=store, progress=False)
    url = store.url
    assert main(["--store", url, "compare", base.id, cand.id]) == 0
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"name: export-policy\nmin_samples: 5\nrules:\n  - {{suite: {tiny_suite}, metric: exact, rule: non_inferior, margin: 0.05}}\n"
    )
    assert (
        main(["--store", url, "gate", "--policy", str(policy), "--candidate", cand.id, "--baseline", base.id])
        == 0
    )
    (verdict,) = store.get_records("verdict")
    training = {
        "id": "train-20260101-000000-abcdef",
        "config": {"lora_r": 16, "learning_rate": 0.0002, "target_modules": ["q_proj", "v_proj"]},
        "data_hash": {"train": "d" * 64},
        "n_train": 40,
        "n_eval": 8,
        "train_loss_curve": TRAIN_LOSS,
        "eval_loss_curve": EVAL_LOSS,
        "first_loss": 2.5,
        "final_loss": 1.2,
        "steps": 4,
        "adapter_path": str(tmp_path / "out" / "adapter"),
        "adapter_hash": "a" * 64,
        "base_model": "/models/base",
        "base_precision": "bfloat16",
        "quantization": "none",
        "eval_runs": {"tiny-suite": cand.id},
    }
    store.put_record("training", training["id"], training, ref="a" * 64)
    capsys.readouterr()

    mlruns = tmp_path / "mlruns"
    res = export_mlflow(store, tracking_uri=str(mlruns))  # everything stored
    assert res.tracking_uri == mlruns.resolve().as_uri()
    comparisons = [r["id"] for r in store.get_records("comparison")]  # compare's, and the gate's own
    assert sorted(res.created) == sorted([base.id, cand.id, training["id"], *comparisons])
    assert res.tagged == [verdict["id"]] and not res.found

    client = MlflowClient(tracking_uri=res.tracking_uri)
    runs = by_id(client, res.experiment_id)
    assert set(runs) == set(res.created)

    # a run: metrics with CI bounds, params naming the suite, model, prompt and generation config
    got = runs[cand.id]
    assert got.info.status == "FINISHED" and got.data.tags["tunebench.kind"] == "run"
    for name, mv in cand.metrics.items():
        assert got.data.metrics[name] == pytest.approx(mv.value)
        assert got.data.metrics[f"{name}.ci_low"] == pytest.approx(mv.ci_low)
        assert got.data.metrics[f"{name}.ci_high"] == pytest.approx(mv.ci_high)
    assert got.data.metrics["exact"] == pytest.approx(0.9)
    p = got.data.params
    assert p["suite"] == f"tiny-suite@0.1.0+{cand.suite_hash}"
    assert p["model.backend"] == "mock" and p["model"] == cand.model.label
    assert p["model.base_hash"] == cand.model.base_hash
    assert p["prompt.name"] == "plain" and p["prompt.system"] == "Reply with a JSON object."
    assert p["generation.max_new_tokens"] == "16" and p["generation.temperature"] == "0.0"

    # the per-sample table
    folder = client.download_artifacts(got.info.run_id, "", str(tmp_path / "dl"))
    assert {a.path for a in client.list_artifacts(got.info.run_id)} == {"samples.csv", "run.json"}
    with open(Path(folder) / "samples.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["sample_id"] for r in rows] == [f"test-{i:03d}" for i in range(10)]
    assert rows[0]["input"] == "ticket test 0: a question about billing"
    assert (
        rows[0]["output"] == '{"category": "billing"}' and rows[0]["reference"] == '{"category": "billing"}'
    )
    assert [float(r["score.exact"]) for r in rows] == [1.0] * 9 + [0.0]

    # the comparison: deltas with CIs, linked to both runs
    cmp_id = next(r["id"] for r in store.get_records("comparison", ref=f"{base.id}..{cand.id}"))
    c = runs[cmp_id]
    assert c.data.metrics["exact.delta"] == pytest.approx(0.5)
    assert c.data.metrics["exact.delta.ci_low"] <= 0.5 <= c.data.metrics["exact.delta.ci_high"]
    assert c.data.tags["tunebench.mlflow_run_b"] == got.info.run_id

    # the verdict: tags on its candidate run
    tag = got.data.tags[f"tunebench.verdict.{verdict['id']}"]
    assert tag.startswith("PASS policy export-policy")
    assert got.data.tags[f"tunebench.verdict.{verdict['id']}.1"].startswith(
        "PASS tiny-suite:exact non_inferior"
    )

    # the training run: its loss curve as step metrics
    t = runs[training["id"]]
    hist = client.get_metric_history(t.info.run_id, "train_loss")
    assert [(m.step, m.value) for m in sorted(hist, key=lambda m: m.step)] == [(s, v) for s, v in TRAIN_LOSS]
    ev = sorted(client.get_metric_history(t.info.run_id, "eval_loss"), key=lambda m: m.step)
    assert [m.value for m in ev] == [v for _, v in EVAL_LOSS]
    assert t.data.params["config.lora_r"] == "16" and t.data.metrics["final_loss"] == pytest.approx(1.2)
    assert t.data.tags["tunebench.eval_run.tiny-suite"] == got.info.run_id

    # exporting again (through the CLI) creates nothing and logs nothing twice
    assert main(["--store", url, "export", "mlflow", "--tracking-uri", str(mlruns)]) == 0
    out = capsys.readouterr().out
    assert f"0 MLflow run(s) created, {len(runs)} already there" in out
    again = by_id(client, res.experiment_id)
    assert {k: r.info.run_id for k, r in again.items()} == {k: r.info.run_id for k, r in runs.items()}
    assert len(client.get_metric_history(t.info.run_id, "train_loss")) == len(TRAIN_LOSS)
    assert len(client.get_metric_history(got.info.run_id, "exact")) == 1

    # an export cut short (no completion tag) is replaced, not duplicated
    client.delete_tag(runs[base.id].info.run_id, "tunebench.export")
    res3 = export_mlflow(store, [base.id[:-2]], tracking_uri=str(mlruns))  # a unique prefix
    assert res3.created == [base.id]
    final = by_id(client, res.experiment_id)
    assert len(final) == len(runs) and final[base.id].info.run_id != runs[base.id].info.run_id


def test_export_errors(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError, match="no run, comparison, verdict or training run 'nope'"):
        export_mlflow(store, ["nope"], tracking_uri=str(tmp_path / "mlruns"))
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)  # as if the extra were not installed
    with pytest.raises(InputError) as e:
        export_mlflow(store, [], tracking_uri=str(tmp_path / "mlruns"))
    assert "tunebench[mlflow]" in (e.value.hint or "")
