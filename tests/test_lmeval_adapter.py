"""The optional lm-evaluation-harness adapter: result parsing (always), and a local lm-eval YAML task
on local JSONL data run on the tiny model and stored as a tunebench run (when lm_eval is
installed; otherwise skipped, saying so)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from harness.errors import InputError
from harness.lmeval_adapter import Z95, lmeval_available, parse_metrics, run_lmeval, sample_results
from harness.models import parse_spec
from harness.store import Store

needs_lmeval = pytest.mark.skipif(
    not lmeval_available(), reason="lm_eval is not importable (optional: pip install lm_eval)"
)


def test_parse_metrics_turns_stderr_into_ci() -> None:
    got = parse_metrics(
        {
            "alias": "t",
            "acc,none": 0.6,
            "acc_stderr,none": 0.05,
            "acc_norm,none": 0.7,
            "acc_norm_stderr,none": "N/A",
            "exact_match,strict": 0.25,
            "exact_match_stderr,strict": 0.1,
        },
        n=40,
    )
    assert set(got) == {"acc", "acc_norm", "exact_match.strict"}
    assert got["acc"].value == 0.6 and got["acc"].n == 40
    assert got["acc"].ci_low == pytest.approx(0.6 - Z95 * 0.05) and got["acc"].ci_high == pytest.approx(
        0.6 + Z95 * 0.05
    )
    assert got["acc_norm"].ci_low is None and got["acc_norm"].ci_high is None
    assert got["exact_match.strict"].ci_high == pytest.approx(0.25 + Z95 * 0.1)


def test_sample_results_from_logged_samples() -> None:
    logged = [
        {
            "doc_id": 1,
            "target": 0,
            "arguments": [["Q: a?\nA:", " yes"], ["Q: a?\nA:", " no"]],
            "filtered_resps": [[-1.5, False], [-0.5, True]],
            "filter": "none",
            "metrics": ["acc", "acc_norm"],
            "acc": 0.0,
            "acc_norm": 1.0,
        },
        {
            "doc_id": 0,
            "target": "x",
            "arguments": [["ctx", {"until": ["\n"]}]],
            "filtered_resps": ["x"],
            "filter": "none",
            "metrics": ["exact_match"],
            "exact_match": 1.0,
        },
    ]
    rows = sample_results("run", logged)
    assert [r.sample_id for r in rows] == ["0", "1"]
    mc = rows[1]
    assert mc.completion.text == "no" and mc.prompt_text == "Q: a?\nA:" and mc.reference == "0"
    assert (mc.completion.raw or {})["loglikelihoods"] == [-1.5, -0.5]
    assert {s.name: s.value for s in mc.scores} == {"acc": 0.0, "acc_norm": 1.0}
    assert rows[0].completion.text == "x" and rows[0].scores[0].value == 1.0


def test_non_hf_spec_is_an_input_error(workspace: Path) -> None:
    with pytest.raises(InputError):
        run_lmeval("anything.yaml", parse_spec("mock:echo"), Store())


QUESTIONS = [
    ("What is the capital of France?", ["Paris", "Lyon", "a small village", "Marseille"], 0),
    ("Which number is largest?", ["9", "12", "3", "100"], 3),
    ("What do you use to cut paper?", ["scissors", "a spoon", "a pillow", "a towel"], 0),
    ("What boils at 100 degrees?", ["water", "ice", "iron", "sand and stones"], 0),
    ("Two plus two equals?", ["four", "five", "twenty two", "0"], 0),
    ("Pick a colour.", ["red", "blue", "dark green", "yellow"], 2),
]


@needs_lmeval
def test_local_yaml_task_on_tiny_model(
    tmp_path: Path, workspace: Path, tiny_model: Path, write_jsonl: Any
) -> None:
    """A local multiple-choice task runs offline through lm-eval and is stored as a run; its acc and
    acc_norm equal tunebench's own mc_accuracy on the same items and model."""
    data = write_jsonl(
        tmp_path / "task" / "tiny_mc.jsonl",
        [{"question": q, "choices": c, "gold": g} for q, c, g in QUESTIONS],
    )
    yaml_path = tmp_path / "task" / "tiny_mc.yaml"
    yaml_path.write_text(
        "task: tunebench_tiny_mc\n"
        "dataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {json.dumps(str(data))}\n"
        "test_split: test\n"
        "output_type: multiple_choice\n"
        'doc_to_text: "Question: {{question}}\\nAnswer:"\n'
        "doc_to_choice: choices\n"
        "doc_to_target: gold\n"
        "metric_list:\n  - metric: acc\n  - metric: acc_norm\n"
        "metadata:\n  version: 1.0\n"
    )
    spec = parse_spec(f"hf:{tiny_model}", workspace=workspace, dtype="float32")
    store = Store()
    rec = run_lmeval(yaml_path, spec, store)
    assert rec.suite == "lmeval:tunebench_tiny_mc" and rec.suite_version == "1.0"
    assert rec.status == "completed" and rec.n_samples == len(QUESTIONS) and rec.split == "test"
    assert rec.env.get("lm_eval")
    assert store.get_run(rec.id) == rec
    for name in ("acc", "acc_norm"):
        m = rec.metrics[name]
        assert m.n == len(QUESTIONS) and 0.0 <= m.value <= 1.0  # type: ignore[operator]
        assert m.ci_low is not None and m.ci_low <= m.value <= m.ci_high  # type: ignore[operator]
    results = list(store.iter_results(rec.id))
    assert len(results) == len(QUESTIONS)
    assert results[0].prompt_text == f"Question: {QUESTIONS[0][0]}\nAnswer:"
    for name in ("acc", "acc_norm"):
        mean = sum(next(s.value for s in r.scores if s.name == name) for r in results) / len(results)  # type: ignore[misc]
        assert math.isclose(mean, rec.metrics[name].value or 0.0)

    # the same items through tunebench's runner give the same accuracies
    from harness.runner import run_suite
    from harness.suite import load_suite

    root = tmp_path / "same"
    root.mkdir()
    (root / "suite.yaml").write_text(
        'name: same\nversion: "0.1.0"\ndataset: {path: "data/{split}.jsonl", splits: [test]}\n'
        "scorers:\n  - {name: mc, type: mc_accuracy}\n"
    )
    write_jsonl(
        root / "data" / "test.jsonl",
        [
            {
                "id": str(i),
                "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": c[g]}],
                "metadata": {"task": "mc", "context": f"Question: {q}\nAnswer:", "choices": c, "gold": g},
            }
            for i, (q, c, g) in enumerate(QUESTIONS)
        ],
    )
    ours = run_suite(load_suite(root), spec, store=store, progress=False)
    assert ours.metrics["mc.acc"].value == pytest.approx(rec.metrics["acc"].value)
    assert ours.metrics["mc.acc_norm"].value == pytest.approx(rec.metrics["acc_norm"].value)
    ours_rows = {r.sample_id: r for r in store.iter_results(ours.id)}
    for r in results:
        lm_lls = (r.completion.raw or {})["loglikelihoods"]
        assert (ours_rows[r.sample_id].completion.raw or {})["loglikelihoods"] == pytest.approx(
            lm_lls, abs=1e-3
        )


@needs_lmeval
def test_unknown_task_is_an_input_error(tmp_path: Path, workspace: Path, tiny_model: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset_path: json\n")
    spec = parse_spec(f"hf:{tiny_model}", workspace=workspace, dtype="float32")
    with pytest.raises(InputError, match="needs a `task:` name"):
        run_lmeval(bad, spec, Store())
