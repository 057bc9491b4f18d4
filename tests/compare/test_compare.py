"""`tunebench compare`: paired deltas, CIs, p-values, W/T/L, corpus metrics, refusals, cost, storage.

Two mock models answer a 40-sample user suite. A (baseline, long system prompt) gets the category
right on samples 0-23, B (candidate, no system prompt) on samples 8-39; sample 39 has no gold
category, so category metrics pair 39 samples: B wins 24-38 (15), loses 0-7 (8), ties 8-23 (16).
Summaries: A copies the reference except on every 5th sample; B drops i % 4 trailing words.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from harness import stats
from harness.cli.main import main as cli
from harness.compare import Comparison, compare_runs, cost_sentence, precision_warnings
from harness.errors import InputError
from harness.models import parse_spec
from harness.runner import run_suite
from harness.scorers import macro_prf
from harness.store import Store
from harness.suite import load_suite
from harness.types import ModelSpec, PromptConfig
from reports.console.compare import render_comparison

N = 40
LABELS = ["billing", "technical", "shipping"]
LONG_SYSTEM = (
    "You are a careful support assistant. Read the message and answer with one JSON object holding "
    "the category of the ticket and a short summary of what the customer wants, nothing else."
)
SUITE_YAML = """\
name: cmp-suite
version: "1.0.0"
description: compare tests
dataset:
  path: data/{split}.jsonl
  splits: [dev, test]
expects_json: true
primary_metric: summary_rouge.rougeL
prompt:
  name: long
  system: "LONG_SYSTEM"
  template: "{input}"
generation:
  max_new_tokens: 64
scorers:
  - {name: category, type: json_field_match, args: {field: category}}
  - {name: category_cls, type: classification, args: {field: category, labels: [billing, technical, shipping]}}
  - {name: summary_rouge, type: rouge, args: {field: summary, rouge_types: [rougeL]}}
  - {name: json_valid, type: json_valid}
""".replace("LONG_SYSTEM", LONG_SYSTEM)


def label(i: int) -> str:
    return LABELS[i % 3]


def wrong(i: int) -> str:
    return LABELS[(i + 1) % 3]


def user_text(i: int) -> str:
    return f"[s{i:02d}] my {label(i)} question"


def summary(i: int) -> str:
    return f"customer asks about {label(i)} item {i}"


def a_correct(i: int) -> bool:
    return i < 24


def b_correct(i: int) -> bool:
    return i >= 8


def a_answer(i: int) -> str:
    s = "unrelated words here" if i % 5 == 0 else summary(i)
    return json.dumps({"category": label(i) if a_correct(i) else wrong(i), "summary": s})


def b_answer(i: int) -> str:
    words = summary(i).split()
    s = " ".join(words[: len(words) - i % 4])
    return json.dumps({"category": label(i) if b_correct(i) else wrong(i), "summary": s})


def write_suite(root: Path, yaml_text: str = SUITE_YAML) -> Path:
    root.mkdir(parents=True)
    (root / "suite.yaml").write_text(yaml_text)
    (root / "data").mkdir()
    rows = []
    for i in range(N):
        ref: dict[str, Any] = {"category": label(i), "summary": summary(i)}
        if i == N - 1:
            del ref["category"]  # no gold category: None on both sides, dropped from those metrics
        rows.append(
            json.dumps(
                {
                    "id": f"s{i:02d}",
                    "messages": [
                        {"role": "user", "content": user_text(i)},
                        {"role": "assistant", "content": json.dumps(ref)},
                    ],
                }
            )
        )
    for split in ("dev", "test"):  # identical splits: only the split name differs
        (root / "data" / f"{split}.jsonl").write_text("\n".join(rows) + "\n")
    return root


def write_script(path: Path, answer: Any) -> ModelSpec:
    rules = [{"contains": f"[s{i:02d}]", "reply": answer(i)} for i in range(N)]
    path.write_text(yaml.safe_dump({"default": "?", "rules": rules}))
    return parse_spec(f"mock:{path}")


@dataclass
class Env:
    root: Path
    store: Store
    suite_dir: Path
    spec_a: ModelSpec
    spec_b: ModelSpec
    a: str
    b: str

    def run(self, spec: ModelSpec, suite_dir: Path | None = None, **kw: Any) -> str:
        suite = load_suite(suite_dir or self.suite_dir)
        return run_suite(suite, spec, store=self.store, progress=False, **kw).id


SHORT = PromptConfig(name="short", template="{input}")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("TUNEBENCH_HOME", str(tmp_path / "ws"))
    suite_dir = write_suite(tmp_path / "cmp-suite")
    spec_a = write_script(tmp_path / "a.yaml", a_answer)
    spec_b = write_script(tmp_path / "b.yaml", b_answer)
    store = Store()
    e = Env(tmp_path, store, suite_dir, spec_a, spec_b, "", "")
    e.a = e.run(spec_a)
    e.b = e.run(spec_b, prompt=SHORT)
    return e


def paired(store: Store, run_a: str, run_b: str, name: str) -> tuple[list[str], list[float], list[float]]:
    ta, tb = store.score_table(run_a), store.score_table(run_b)
    ids, xa, xb = [], [], []
    for sid in store.sample_ids(run_a):
        va, vb = ta[sid][name].value, tb[sid][name].value
        if va is not None and vb is not None:
            ids.append(sid)
            xa.append(float(va))
            xb.append(float(vb))
    return ids, xa, xb


# --------------------------------------------------------------------------- metrics


def test_binary_metric_delta_wtl_and_mcnemar(env: Env) -> None:
    cmp = compare_runs(env.store, env.a, env.b, n_boot=500, suite=env.suite_dir)
    m = cmp.metric("category")
    assert m.kind == "sample" and m.binary
    assert m.n == N - 1  # sample 39 has no gold category
    assert m.a == pytest.approx(24 / 39)
    assert m.b == pytest.approx(31 / 39)
    assert m.delta == pytest.approx(7 / 39)
    assert (m.wins, m.ties, m.losses) == (15, 16, 8)
    xa = [float(a_correct(i)) for i in range(N - 1)]
    xb = [float(b_correct(i)) for i in range(N - 1)]
    assert m.p_method == "mcnemar"
    assert m.p_value == pytest.approx(stats.mcnemar_exact(xa, xb)["p_value"])
    point, lo, hi = stats.paired_bootstrap_ci(xa, xb, n_boot=500, seed=0)
    assert (m.ci_low, m.ci_high) == (pytest.approx(lo), pytest.approx(hi))
    assert m.ci_low is not None and m.ci_high is not None and m.ci_low <= m.delta <= m.ci_high
    assert "1 sample(s) without a value" in m.note
    # json_valid: both always valid -> all ties, p = 1
    j = cmp.metric("json_valid")
    assert (j.delta, j.wins, j.ties, j.losses, j.n, j.p_value) == (0.0, 0, N, 0, N, 1.0)


def test_non_binary_metric_uses_bootstrap_p(env: Env) -> None:
    cmp = compare_runs(env.store, env.a, env.b, n_boot=400, seed=3, suite=env.suite_dir)
    m = cmp.metric("summary_rouge.rougeL")
    _, xa, xb = paired(env.store, env.a, env.b, "summary_rouge.rougeL")
    assert not m.binary and m.p_method == "bootstrap" and m.n == N
    assert m.a == pytest.approx(sum(xa) / N) and m.b == pytest.approx(sum(xb) / N)
    point, lo, hi = stats.paired_bootstrap_ci(xa, xb, n_boot=400, seed=3)
    assert m.delta == pytest.approx(point)
    assert (m.ci_low, m.ci_high) == (pytest.approx(lo), pytest.approx(hi))
    assert m.p_value is not None and 0.0 < m.p_value <= 1.0
    assert (m.wins, m.ties, m.losses) == stats.win_tie_loss(xa, xb)


def test_corpus_macro_f1_delta_and_ci(env: Env) -> None:
    cmp = compare_runs(env.store, env.a, env.b, n_boot=500, suite=env.suite_dir)
    m = cmp.metric("category_cls.macro_f1")
    pairs_a = [(label(i) if a_correct(i) else wrong(i), label(i)) for i in range(N - 1)]
    pairs_b = [(label(i) if b_correct(i) else wrong(i), label(i)) for i in range(N - 1)]
    f1_a = macro_prf(pairs_a, LABELS)["macro_f1"]
    f1_b = macro_prf(pairs_b, LABELS)["macro_f1"]
    assert m.kind == "corpus" and m.n == N - 1
    assert m.a == pytest.approx(f1_a) and m.b == pytest.approx(f1_b)
    assert m.delta == pytest.approx(f1_b - f1_a)
    assert m.a == pytest.approx(env.store.get_run(env.a).metrics["category_cls.macro_f1"].value)
    assert m.ci_low is not None and m.ci_high is not None
    assert m.ci_low <= m.delta <= m.ci_high and m.ci_low < m.ci_high
    assert m.p_method == "bootstrap" and m.p_value is not None
    assert (m.wins, m.ties, m.losses) == (15, 16, 8)  # on per-sample category_cls
    acc = cmp.metric("category_cls.accuracy")
    assert acc.delta == pytest.approx(7 / 39)


def test_bootstrap_replicates_are_kept_in_memory_for_the_gate(env: Env) -> None:
    cmp = compare_runs(env.store, env.a, env.b, n_boot=500, suite=env.suite_dir)
    for name in ("category", "summary_rouge.rougeL", "category_cls.macro_f1"):
        m = cmp.metric(name)
        boot = m.bootstrap_deltas
        assert boot is not None and boot.shape == (500,)
        _, lo, hi = stats.percentile_interval(m.delta or 0.0, boot, 0.05)  # the CI comes from them
        assert (m.ci_low, m.ci_high) == (pytest.approx(lo), pytest.approx(hi))
    # category and macro-F1 keep the same 39 samples: the same resamples (accuracy == category)
    acc = cmp.metric("category_cls.accuracy").bootstrap_deltas
    assert acc is not None and np.allclose(acc, cmp.metric("category").bootstrap_deltas)  # type: ignore[arg-type]
    stored = Comparison.model_validate(env.store.get_records("comparison")[-1]["body"])
    assert stored.id == cmp.id and stored.metric("category").bootstrap_deltas is None  # not stored


def test_user_suite_found_through_the_run_record(env: Env) -> None:
    # runs record their suite.yaml, so a user suite needs no --suite while it stays where it was
    cmp = compare_runs(env.store, env.a, env.b, n_boot=200)
    m = cmp.metric("category_cls.macro_f1")
    assert m.ci_low is not None and m.ci_low <= m.delta <= m.ci_high


def test_corpus_metric_rebuilt_from_the_stored_suite(env: Env) -> None:
    # the user suite's folder has moved away since the runs, and no --suite was given: the runs
    # stored the resolved suite, so its scorers are rebuilt and the corpus metric keeps its interval
    with_suite = compare_runs(env.store, env.a, env.b, n_boot=200, suite=env.suite_dir)
    shutil.move(str(env.suite_dir), str(Path(str(env.suite_dir) + "-moved")))
    cmp = compare_runs(env.store, env.a, env.b, n_boot=200)
    m = cmp.metric("category_cls.macro_f1")
    assert m.kind == "corpus" and m.ci_low is not None and m.ci_low <= m.delta <= m.ci_high
    ref = with_suite.metric("category_cls.macro_f1")
    assert (m.delta, m.ci_low, m.ci_high, m.p_value) == (ref.delta, ref.ci_low, ref.ci_high, ref.p_value)
    assert cmp.rank_metric == "summary_rouge.rougeL"  # the stored suite's primary metric


def test_corpus_metric_without_the_suite_has_no_interval(env: Env) -> None:
    # the user suite's folder has moved away since the runs, no --suite was given, and the store
    # holds no snapshot of it (runs made before snapshots were stored)
    from sqlalchemy import delete

    from harness.store import records

    shutil.move(str(env.suite_dir), str(Path(str(env.suite_dir) + "-moved")))
    with env.store.engine.begin() as conn:
        conn.execute(delete(records).where(records.c.kind == "suite_snapshot"))
    cmp = compare_runs(env.store, env.a, env.b, n_boot=200)
    m = cmp.metric("category_cls.macro_f1")
    ra, rb = env.store.get_run(env.a), env.store.get_run(env.b)
    expected = rb.metrics["category_cls.macro_f1"].value - ra.metrics["category_cls.macro_f1"].value
    assert m.delta == pytest.approx(expected)
    assert m.ci_low is None and m.p_value is None and "--suite" in m.note
    # mean-type metrics still get their intervals; the primary metric is unknown -> first binary one
    assert cmp.metric("category").ci_low is not None
    assert cmp.rank_metric == "category"


# --------------------------------------------------------------------------- regressions, cost, text


def test_regressions_and_improvements_order(env: Env) -> None:
    cmp = compare_runs(env.store, env.a, env.b, n_boot=100, top_k=4, suite=env.suite_dir)
    assert cmp.rank_metric == "summary_rouge.rougeL"  # the suite's primary metric
    ids, xa, xb = paired(env.store, env.a, env.b, "summary_rouge.rougeL")
    rows = [(y - x, k, sid) for k, (sid, x, y) in enumerate(zip(ids, xa, xb, strict=True))]
    worst = [sid for d, _, sid in sorted(r for r in rows if r[0] < 0)][:4]
    best = [sid for d, k, sid in sorted((r for r in rows if r[0] > 0), key=lambda r: (-r[0], r[1]))][:4]
    assert [d.sample_id for d in cmp.regressions] == worst
    assert [d.sample_id for d in cmp.improvements] == best
    deltas = [d.delta for d in cmp.regressions]
    assert deltas == sorted(deltas) and all(d < 0 for d in deltas)
    assert all(d.delta > 0 for d in cmp.improvements)
    assert [d.delta for d in cmp.improvements] == sorted((d.delta for d in cmp.improvements), reverse=True)
    d = cmp.regressions[0]
    i = int(d.sample_id[1:])
    assert d.input == user_text(i)
    assert d.output_a == a_answer(i) and d.output_b == b_answer(i)
    assert d.reference is not None and summary(i) in d.reference
    assert d.scores_a["summary_rouge.rougeL"] == pytest.approx(d.a)


def test_rank_by_binary_metric(env: Env) -> None:
    cmp = compare_runs(env.store, env.a, env.b, n_boot=50, top_k=3, suite=env.suite_dir, rank_by="category")
    assert [d.sample_id for d in cmp.regressions] == ["s00", "s01", "s02"]  # A right, B wrong
    assert [d.sample_id for d in cmp.improvements] == ["s24", "s25", "s26"]
    r = cmp.regressions[0]
    assert (r.a, r.b, r.delta) == (1.0, 0.0, -1.0)
    assert "expected 'billing'" in r.detail_b and r.detail_a == ""
    with pytest.raises(InputError, match="cannot rank"):
        compare_runs(env.store, env.a, env.b, n_boot=50, rank_by="nope", save=False)


def test_cost_prompt_token_ratio(env: Env) -> None:
    cmp = compare_runs(env.store, env.a, env.b, n_boot=50, suite=env.suite_dir)
    row = next(r for r in cmp.cost if r.key == "prompt_tokens_mean")
    sys_words = len(LONG_SYSTEM.split())
    assert row.a == pytest.approx(4 + sys_words) and row.b == pytest.approx(4)
    assert row.ratio == pytest.approx(4 / (4 + sys_words))
    pct = round((1 - 4 / (4 + sys_words)) * 100)
    assert f"B needs {pct}% fewer prompt tokens per request (4 vs {4 + sys_words})" in cmp.cost_summary
    text = render_comparison(cmp)
    assert "prompt tokens / request" in text and f"{pct}% fewer prompt tokens" in text


def test_cost_sentence_wording() -> None:
    assert (
        cost_sentence("prompt_tokens_mean", 1130, 250)
        == "B needs 78% fewer prompt tokens per request (250 vs 1,130)"
    )
    assert (
        cost_sentence("completion_tokens_mean", 10, 12)
        == "B needs 20% more completion tokens per request (12 vs 10)"
    )
    assert (
        cost_sentence("completion_tokens_mean", 10, 30)
        == "B needs 3.0x as many completion tokens per request (30 vs 10)"
    )
    assert cost_sentence("latency_p50_s", 0.2, 0.1) == "B's p50 latency is 50% lower (100ms vs 200ms)"
    assert cost_sentence("latency_p95_s", 1.5, 4.5) == "B's p95 latency is 3.0x A's (4.5s vs 1.5s)"
    assert cost_sentence("prompt_tokens_mean", 0, 5) is None


def test_text_output_table(env: Env) -> None:
    text = render_comparison(compare_runs(env.store, env.a, env.b, n_boot=100, suite=env.suite_dir))
    header = next(line for line in text.splitlines() if line.startswith("metric"))
    assert header.split() == ["metric", "better", "A", "B", "delta", "95%", "CI", "p", "W/T/L", "n", "MDE"]
    cat = next(line for line in text.splitlines() if line.startswith("category "))
    assert "15/16/8" in cat and "mcn" in cat and "+0.179" in cat
    assert "largest regressions" in text and "largest improvements" in text
    assert "A output:" in text and "reference:" in text


def test_long_texts_are_truncated(env: Env) -> None:
    long_b = write_script(env.root / "long.yaml", lambda i: "x" * 1000)
    c = env.run(long_b, prompt=SHORT)
    text = render_comparison(
        compare_runs(env.store, env.a, c, n_boot=20, suite=env.suite_dir, rank_by="category")
    )
    line = next(s for s in text.splitlines() if "B output:" in s)
    assert len(line) < 300 and "…" in line


# --------------------------------------------------------------------------- warnings


def test_precision_mismatch_warning(env: Env, tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "tunebench_adapter.json").write_text(
        json.dumps({"quantization": "nf4", "base_precision": "bfloat16"})
    )
    loaded_bf16 = ModelSpec(backend="hf", base="base", adapter=str(adapter), dtype="bfloat16")
    assert len(precision_warnings("B", loaded_bf16)) == 1
    assert "nf4" in precision_warnings("B", loaded_bf16)[0]
    assert precision_warnings("B", loaded_bf16.model_copy(update={"quantization": "nf4"})) == []
    assert precision_warnings("B", ModelSpec(backend="hf", base="base")) == []
    (adapter / "tunebench_adapter.json").write_text(
        json.dumps({"quantization": "none", "base_precision": "float32"})
    )
    assert precision_warnings("A", loaded_bf16)  # trained on fp32, evaluated on bf16
    assert precision_warnings("A", loaded_bf16.model_copy(update={"dtype": "float32"})) == []
    # and it reaches the comparison
    rec = env.store.get_run(env.b)
    env.store.update_run(rec.model_copy(update={"model": loaded_bf16}))
    cmp = compare_runs(env.store, env.a, env.b, n_boot=20, suite=env.suite_dir)
    assert any(w.startswith("run B: adapter") for w in cmp.warnings)
    assert "warning: run B: adapter" in render_comparison(cmp)


# --------------------------------------------------------------------------- refusals (CLI, exit 2)


def _refused(env: Env, other: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    rc = cli(["compare", env.a, other])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "not comparable" in err and "hint:" in err
    return err


def test_refuses_different_suite_version(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    v2 = env.root / "v2"
    shutil.copytree(env.suite_dir, v2)
    (v2 / "suite.yaml").write_text(SUITE_YAML.replace('version: "1.0.0"', 'version: "1.1.0"'))
    other = env.run(env.spec_b, v2, prompt=SHORT)
    err = _refused(env, other, capsys)
    assert "suite version differs: A ran cmp-suite@1.0.0, B ran cmp-suite@1.1.0" in err
    assert "sample ids differ" not in err


def test_refuses_different_suite_hash(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    edited = env.root / "edited"
    shutil.copytree(env.suite_dir, edited)
    (edited / "suite.yaml").write_text(
        SUITE_YAML.replace("description: compare tests", "description: edited")
    )
    other = env.run(env.spec_b, edited, prompt=SHORT)
    err = _refused(env, other, capsys)
    assert "suite hash differs" in err and "without a version bump" in err
    assert "suite version differs" not in err


def test_refuses_different_sample_ids(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    other = env.run(env.spec_b, prompt=SHORT, limit=30)
    err = _refused(env, other, capsys)
    assert "sample ids differ: A has 40, B has 30; 10 only in A (e.g. s30, s31, s32, ...), 0 only in B" in err
    assert "--limit None, B with --limit 30" in err
    assert "same --limit" in err


def test_refuses_different_split(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    other = env.run(env.spec_b, prompt=SHORT, split="dev")
    err = _refused(env, other, capsys)
    assert "split differs: A ran 'test', B ran 'dev'" in err
    assert "suite" not in err.split("not comparable")[1].split("hint")[0]


def test_refuses_unfinished_run(env: Env) -> None:
    rec = env.store.get_run(env.b)
    env.store.update_run(rec.model_copy(update={"status": "failed"}))
    with pytest.raises(InputError, match=r"run B \(.*\) is failed, not completed"):
        compare_runs(env.store, env.a, env.b, n_boot=10)
    assert env.store.get_records("comparison") == []


# --------------------------------------------------------------------------- CLI, storage


def test_cli_json_output_and_stored_record(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    rc = cli(
        [
            "compare",
            env.a[:-1],
            env.b[:-1],
            "--format",
            "json",
            "--n-boot",
            "200",
            "--top",
            "2",
            "--suite",
            str(env.suite_dir),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    body = json.loads(out)
    cmp = Comparison.model_validate(body)
    assert (cmp.run_a, cmp.run_b, cmp.n_boot) == (env.a, env.b, 200)
    assert len(cmp.regressions) <= 2 and len(cmp.improvements) <= 2
    assert {m.name for m in cmp.metrics} >= {"category", "category_cls.macro_f1", "summary_rouge.rougeL"}
    recs = env.store.get_records("comparison", ref=f"{env.a}..{env.b}")
    assert [r["id"] for r in recs] == [cmp.id]
    assert recs[0]["body"]["metrics"] == body["metrics"]


def test_cli_text_output(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert cli(["compare", env.a, env.b, "--n-boot", "100", "--suite", str(env.suite_dir)]) == 0
    out = capsys.readouterr().out
    assert "category_cls.macro_f1" in out and "serving cost" in out and "stored comparison cmp-" in out
    assert cli(["compare", env.a, env.b, "--n-boot", "0"]) == 2


def test_deterministic_given_seed(env: Env) -> None:
    one = compare_runs(env.store, env.a, env.b, n_boot=100, seed=7, suite=env.suite_dir, save=False)
    two = compare_runs(env.store, env.a, env.b, n_boot=100, seed=7, suite=env.suite_dir, save=False)
    assert [m.model_dump() for m in one.metrics] == [m.model_dump() for m in two.metrics]
    assert all(m.ci_low is None or not math.isnan(m.ci_low) for m in one.metrics)
