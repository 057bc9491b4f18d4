"""The runner: cached generation, re-scoring from the cache, CIs, stored records, resume after
SIGKILL, and an end-to-end run on a tiny hf model. Every test that stores runs does so on SQLite and
on PostgreSQL (the `store_url` fixture; the CLI gets it as `--store`)."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from harness.cli.main import main
from harness.models import parse_spec
from harness.runner import LazyBackend, generation_key, run_suite
from harness.store import Store, generations
from harness.suite import load_suite
from harness.types import GenerationConfig

MOCK_SCRIPT = """\
rules:
  - contains: billing
    reply: '{"category": "billing"}'
  - contains: refund
    reply: 'refund, I think'
default: '{"category": "other"}'
log: calls.log
"""


def mock_script(folder: Path, extra: str = "") -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "mock.yaml"
    script.write_text(MOCK_SCRIPT + extra)
    return script, folder / "calls.log"


def log_lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


_seen: set[str] = set()


def latest_run(url: str) -> Any:
    """The one run stored since the last call (created_at has one-second resolution, so the
    store's newest-first order cannot tell runs of the same second apart)."""
    (rec,) = [r for r in Store(url).list_runs() if r.id not in _seen]
    _seen.add(rec.id)
    return rec


def run_cli(url: str, *args: str) -> int:
    return main(["--store", url, *args, "--no-progress"])


def test_identical_rerun_generates_nothing(
    tiny_suite: Path, workspace: Path, store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script, log = mock_script(tmp_path / "mock")
    assert run_cli(store_url, "run", str(tiny_suite), "--model", f"mock:{script}") == 0
    first = latest_run(store_url)
    assert first.status == "completed" and first.n_samples == 10
    assert first.timing["generated"] == 10 and first.timing["cached"] == 0
    assert len(log_lines(log)) == 10
    assert "generated 10, from cache 0" in capsys.readouterr().out

    assert run_cli(store_url, "run", str(tiny_suite), "--model", f"mock:{script}") == 0
    second = latest_run(store_url)
    assert second.id != first.id
    assert second.timing["generated"] == 0 and second.timing["cached"] == 10
    assert len(log_lines(log)) == 10  # the backend was not asked again
    assert "generated 0, from cache 10" in capsys.readouterr().out
    assert second.metrics == first.metrics


def test_identical_rerun_never_loads_the_model(tiny_suite: Path, workspace: Path, store: Store) -> None:
    suite = load_suite(tiny_suite)
    spec = parse_spec("mock:echo")
    rec1 = run_suite(suite, spec, store=store, progress=False)

    def refuse(_spec: Any) -> Any:
        raise AssertionError("the backend must not be created when everything is cached")

    lazy = LazyBackend(spec, refuse)
    rec2 = run_suite(suite, spec, store=store, backend=lazy, progress=False)
    assert not lazy.loaded
    assert rec2.timing["generated"] == 0 and rec2.metrics == rec1.metrics


def test_changed_scorer_rescores_from_cache(
    tiny_suite: Path, workspace: Path, store_url: str, tmp_path: Path
) -> None:
    script, log = mock_script(tmp_path / "mock")
    assert run_cli(store_url, "run", str(tiny_suite), "--model", f"mock:{script}") == 0
    first = latest_run(store_url)
    assert set(first.metrics) == {"exact", "json_valid"}

    yaml_path = tiny_suite / "suite.yaml"
    yaml_path.write_text(
        yaml_path.read_text().replace(
            "  - {name: json_valid, type: json_valid}",
            "  - {name: json_valid, type: json_valid}\n  - {name: cat, type: json_field_match, args: {field: category}}",
        )
    )
    assert run_cli(store_url, "run", str(tiny_suite), "--model", f"mock:{script}") == 0
    second = latest_run(store_url)
    assert second.suite_hash != first.suite_hash
    assert second.timing["generated"] == 0 and second.timing["cached"] == 10
    assert len(log_lines(log)) == 10
    assert set(second.metrics) == {"exact", "json_valid", "cat"}
    assert second.metrics["exact"] == first.metrics["exact"]
    assert second.metrics["cat"].value == pytest.approx(0.2)  # 2 of 10 are billing


def test_generation_cache_key_follows_config(workspace: Path) -> None:
    spec = parse_spec("mock:echo")
    msgs = [{"role": "user", "content": "hi"}]
    k = generation_key(spec, GenerationConfig(), msgs)
    assert k == generation_key(spec, GenerationConfig(), [dict(m) for m in msgs])
    assert k != generation_key(spec, GenerationConfig(max_new_tokens=7), msgs)
    assert k != generation_key(spec, GenerationConfig(), [{"role": "user", "content": "hi "}])
    assert k != generation_key(spec.model_copy(update={"dtype": "float32"}), GenerationConfig(), msgs)


def test_metrics_have_cis_containing_the_point(
    tiny_suite: Path, workspace: Path, store: Store, tmp_path: Path
) -> None:
    script, _ = mock_script(tmp_path / "mock")
    rec = run_suite(load_suite(tiny_suite), parse_spec(f"mock:{script}"), store=store, progress=False)
    assert rec.metrics["exact"].value == pytest.approx(0.2)
    assert rec.metrics["json_valid"].value == pytest.approx(0.8)  # "refund, I think" is not JSON
    for name, m in rec.metrics.items():
        assert m.n == 10, name
        assert m.ci_low is not None and m.ci_high is not None
        assert m.ci_low <= m.value <= m.ci_high, (name, m)
        assert 0.0 <= m.ci_low < m.ci_high <= 1.0, (name, m)  # 2/10 and 8/10 vary under resampling
    # seeded bootstrap: the same run gives the same intervals
    again = run_suite(load_suite(tiny_suite), parse_spec(f"mock:{script}"), store=store, progress=False)
    assert again.metrics == rec.metrics


def test_record_stored_and_show_prints_metrics_and_worst(
    tiny_suite: Path, workspace: Path, store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script, _ = mock_script(tmp_path / "mock")
    assert run_cli(store_url, "run", str(tiny_suite), "--model", f"mock:{script}", "--limit", "6") == 0
    out = capsys.readouterr().out
    assert "metric" in out and "95% CI" in out and "exact" in out
    store = Store(store_url)
    rec = latest_run(store_url)
    stored = store.get_run(rec.id)
    assert stored == rec
    assert (
        stored.suite == "tiny-suite"
        and stored.split == "test"
        and stored.limit == 6
        and stored.n_samples == 6
    )
    assert stored.model.raw == f"mock:{script}" and stored.model.base_hash
    assert stored.env.get("python") and stored.created_at and stored.finished_at
    assert stored.usage["requests"] == 6
    assert store.counts()["samples"] == 6
    results = list(store.iter_results(rec.id))
    assert [r.sample_id for r in results] == [f"test-{i:03d}" for i in range(6)]
    assert results[0].prompt[0] == {"role": "system", "content": "Reply with a JSON object."}

    assert main(["--store", store_url, "show", rec.id[:12]]) == 0
    out = capsys.readouterr().out
    assert f"run {rec.id}" in out and "status=completed" in out
    assert "95% CI" in out and "exact" in out and "json_valid" in out
    assert "worst samples by" in out
    assert "- test-001" in out and 'reference: \'{"category": "shipping"}\'' in out
    assert "- test-000" not in out  # billing: correct, not among the worst

    assert main(["--store", store_url, "runs"]) == 0
    assert rec.id in capsys.readouterr().out
    assert main(["--store", store_url, "show", "no-such-run"]) == 2
    assert "no run 'no-such-run'" in capsys.readouterr().err


def test_resume_after_sigkill(tmp_path: Path, make_suite: Any, store_url: str) -> None:
    n = 120
    suite = make_suite(tmp_path / "suite", {"train": 2, "dev": 2, "test": n})
    script, log = mock_script(tmp_path / "mock", "delay_s: 0.05\n")
    ws = tmp_path / "ws"
    exe = shutil.which("tunebench") or str(Path(sys.executable).parent / "tunebench")
    cmd = [
        exe,
        "--workspace",
        str(ws),
        "--store",
        store_url,
        "run",
        str(suite),
        "--model",
        f"mock:{script}",
        "--batch-size",
        "4",
        "--no-progress",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TUNEBENCH_THREADS": "1"}

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 60
    try:
        while len(log_lines(log)) < 40:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never got going"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    asked_before = log_lines(log)
    assert 40 <= len(asked_before) < n

    store = Store(store_url)
    (killed,) = store.list_runs()
    assert killed.status == "running"
    with store.engine.connect() as conn:
        cached_prompts = [r[0] for r in conn.execute(select(generations.c.prompt_text))]
    n_cached = len(cached_prompts)
    chunk = 32  # non-hf backends: max(batch_size, 32) prompts per committed batch
    assert n_cached % chunk == 0 and n_cached >= 32
    lost = len(asked_before) - n_cached  # asked in the batch in flight at kill time, never committed
    assert 0 <= lost < chunk

    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "(resumed an unfinished run)" in done.stdout
    assert f"generated {n - n_cached}, from cache {n_cached}" in done.stdout

    asked_after = log_lines(log)[len(asked_before) :]
    assert len(asked_after) == n - n_cached  # only the unfinished samples
    assert len(log_lines(log)) == n + lost  # nothing asked twice beyond the lost batch
    assert len(set(asked_after)) == len(asked_after)
    all_users = {
        f"ticket test {i}: a question about {lab}"
        for i, lab in (
            (i, ["billing", "shipping", "account", "refund", "technical"][i % 5]) for i in range(n)
        )
    }
    cached_users = {u for u in all_users if any(u in p for p in cached_prompts)}
    assert len(cached_users) == n_cached
    assert set(asked_after) == all_users - cached_users

    (final,) = Store(store_url).list_runs()  # the unfinished run was resumed, not duplicated
    assert final.id == killed.id
    assert final.status == "completed" and final.n_samples == n
    assert final.timing["resumed"] == 1.0 and final.timing["generated"] == n - n_cached
    assert Store(store_url).counts()["samples"] == n
    assert Store(store_url).counts()["generations"] == n


def test_tiny_hf_model_end_to_end(
    tiny_model: Path, tiny_suite: Path, workspace: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        store_url,
        "run",
        str(tiny_suite),
        "--model",
        f"hf:{tiny_model}",
        "--limit",
        "4",
        "--batch-size",
        "2",
        "--dtype",
        "float32",
    ]
    assert run_cli(*args) == 0
    out = capsys.readouterr().out
    assert "exact" in out and "json_valid" in out and "95% CI" in out
    assert "generated 4, from cache 0" in out
    rec = latest_run(store_url)
    assert rec.status == "completed" and rec.n_samples == 4 and rec.model.base_hash
    assert rec.env.get("torch_threads") == 1
    results = list(Store(store_url).iter_results(rec.id))
    assert all(r.prompt_text.startswith("<s><|system|>\nReply with a JSON object.<|end|>\n") for r in results)
    assert all(r.prompt_text.endswith("<|assistant|>\n") for r in results)
    assert all(0 < r.completion.completion_tokens <= 16 and r.completion.prompt_tokens > 0 for r in results)
    assert all(not math.isnan(m.value) for m in rec.metrics.values() if m.value is not None)
    json.dumps(rec.model_dump(mode="json"))  # the record serializes

    assert run_cli(*args) == 0
    assert "generated 0, from cache 4" in capsys.readouterr().out
    cached_run = latest_run(store_url)
    # the model was never loaded, yet the stored prompts are the exact templated text
    assert [r.prompt_text for r in Store(store_url).iter_results(cached_run.id)] == [
        r.prompt_text for r in results
    ]
