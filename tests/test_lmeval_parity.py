"""tunebench's hf backend and lm-evaluation-harness's hf backend (HFLM) agree on the same items
(issue 8; the speed comparison is tests/benchmarks/bench_lmeval.py, not a test).

Both run the tiny model through the local lm-eval tasks in tests/benchmarks/lmeval_tasks/ (their
data file pointed at a temporary copy written for this model):

- generation: ticket-triage test items, the suite's prompt rendered with the model's chat template
  (it begins with the BOS token as text; lm-eval then adds no second BOS), greedy, until "\\n",
  64 new tokens: identical outputs item for item;
- multiple choice: the general suite's mc items, lm-eval with softmax_dtype="float32": identical
  acc and acc_norm, per-choice log-likelihoods within 1e-4.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.lmeval_adapter import lmeval_available, run_lmeval
from harness.models import parse_spec
from harness.prompts import build_messages
from harness.runner import loglik_requests, run_suite
from harness.store import Store
from harness.suite import load_split, load_suite

pytestmark = pytest.mark.skipif(
    not lmeval_available(), reason="lm_eval is not importable (optional: pip install lm_eval)"
)

TASKS = Path(__file__).resolve().parent / "benchmarks" / "lmeval_tasks"


def _task_copy(tmp_path: Path, yaml_name: str, rows: list[dict[str, Any]]) -> Path:
    """The committed task YAML, its data file replaced by `rows` written under tmp_path."""
    import yaml

    text = (TASKS / yaml_name).read_text(encoding="utf-8")
    config = yaml.safe_load(text)
    rel = config["dataset_kwargs"]["data_files"]["test"]
    data = tmp_path / "task" / Path(rel).name
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "task" / yaml_name
    out.write_text(text.replace(rel, str(data)), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def backend(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from harness.models.hf import HFBackend

    spec = parse_spec(f"hf:{tiny_model}", workspace=tmp_path_factory.mktemp("ws"), dtype="float32")
    return HFBackend(spec, batch_size=8)


def test_greedy_generation_is_identical(tmp_path: Path, workspace: Path, backend: Any) -> None:
    suite = load_suite("ticket-triage")
    assert suite.generation.max_new_tokens == 64 and tuple(suite.generation.stop) == ("\n",)
    items = load_split(suite, "test", 12)
    rows = [
        {
            "id": s.id,
            "prompt": backend.render(build_messages(s, suite.prompt)),
            "reference": s.reference or "",
        }
        for s in items
    ]
    assert rows[0]["prompt"].startswith(backend.tokenizer.bos_token)  # the template writes BOS as text
    store = Store()
    ours = run_suite(suite, backend.spec, store=store, samples=items, backend=backend, progress=False)
    ours_rows = {r.sample_id: r for r in store.iter_results(ours.id)}
    theirs = run_lmeval(
        _task_copy(tmp_path, "tunebench_ticket_triage_gen.yaml", rows),
        backend.spec,
        store,
        model=backend,
        batch_size=8,
    )
    assert theirs.n_samples == len(items)
    lm_rows = {int(r.sample_id): r for r in store.iter_results(theirs.id)}
    for i, s in enumerate(items):
        assert lm_rows[i].prompt_text == ours_rows[s.id].prompt_text == rows[i]["prompt"]
        assert lm_rows[i].completion.text == ours_rows[s.id].completion.text, s.id
    # the test is not vacuous: the tiny random model writes something for most items
    assert sum(bool(r.completion.text) for r in ours_rows.values()) >= len(items) // 2


def test_multiple_choice_matches_with_fp32_softmax(tmp_path: Path, workspace: Path, backend: Any) -> None:
    suite = load_suite("general")
    items = [s for s in load_split(suite, "test") if s.metadata.get("task") == "mc"][:40]
    rows = [
        {
            "id": s.id,
            "context": loglik_requests(s)[0][0],
            "choices": s.metadata["choices"],
            "gold": s.metadata["gold"],
        }
        for s in items
    ]
    store = Store()
    ours = run_suite(suite, backend.spec, store=store, samples=items, backend=backend, progress=False)
    theirs = run_lmeval(
        _task_copy(tmp_path, "tunebench_general_mc.yaml", rows),
        backend.spec,
        store,
        model=backend,
        batch_size=8,
        hflm_args={"softmax_dtype": "float32"},
    )
    assert theirs.n_samples == len(items)
    assert ours.metrics["mc.acc"].value == theirs.metrics["acc"].value
    assert ours.metrics["mc.acc_norm"].value == theirs.metrics["acc_norm"].value
    ours_rows = {r.sample_id: r for r in store.iter_results(ours.id)}
    lm_rows = {int(r.sample_id): r for r in store.iter_results(theirs.id)}
    for i, s in enumerate(items):
        a = (ours_rows[s.id].completion.raw or {})["loglikelihoods"]
        b = (lm_rows[i].completion.raw or {})["loglikelihoods"]
        assert a == pytest.approx(b, abs=1e-4), s.id
        assert {
            sc.name: float(sc.value or 0)
            for sc in ours_rows[s.id].scores
            if sc.name in ("mc.acc", "mc.acc_norm")
        } == {"mc." + sc.name: float(sc.value or 0) for sc in lm_rows[i].scores}, s.id


def test_benchmark_mc_data_is_the_general_suite() -> None:
    """The committed lm-eval data file is the general suite's mc test items, as the runner scores them."""
    items = [s for s in load_split(load_suite("general"), "test") if s.metadata.get("task") == "mc"]
    rows = [
        json.loads(line)
        for line in (TASKS / "general_mc_test.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert len(rows) == len(items) == 152
    for s, r in zip(items, rows, strict=True):
        reqs = loglik_requests(s)
        assert r["id"] == s.id and r["gold"] == s.metadata["gold"] and r["context"] == reqs[0][0]
        assert [" " + c for c in r["choices"]] == [x for _, x in reqs]
