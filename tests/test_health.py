"""Output health (truncation, repetition, empty outputs) on every run, finish reasons per backend, and
`tunebench show RUN --sample ID / --full` with honest latency labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main
from harness.health import (
    completion_health,
    health_warnings,
    output_health,
    repeated_line_rate,
    repeated_ngram_rate,
)
from harness.inspect_run import latency_label
from harness.models import parse_spec
from harness.models.mock import MockBackend
from harness.runner import run_suite, usage_summary
from harness.store import Store
from harness.suite import load_suite
from harness.types import Completion, GenerationConfig

BROKEN_NOTE = (
    "## Chief Complaint\nChest pain.\n## Assessment\nStable.\n## Assessment\nStable.\n"
    "## Assessment\nStable.\n## Assessment\nwpilibj FBSDKInternal"
)


def test_repeated_line_rate() -> None:
    assert repeated_line_rate("") == 0.0
    assert repeated_line_rate("one line") == 0.0
    assert repeated_line_rate("a\nb\n\nc") == 0.0
    # 10 non-empty lines, 5 distinct: half of them repeat an earlier line
    assert repeated_line_rate(BROKEN_NOTE) == pytest.approx(0.5)
    assert repeated_line_rate("Same\n  same  \nSAME") == pytest.approx(2 / 3)


def test_repeated_ngram_rate() -> None:
    assert repeated_ngram_rate("the cat sat on the mat") == 0.0
    assert repeated_ngram_rate("too short") == 0.0
    # "a b c d" x3 = 12 words, 9 four-grams, 4 distinct
    assert repeated_ngram_rate("a b c d a b c d a b c d") == pytest.approx(1 - 4 / 9)
    assert repeated_ngram_rate(BROKEN_NOTE) > 0.3


def test_output_health_counts_generated_outputs_only() -> None:
    outs = [
        Completion(text="fine answer", finish_reason="stop"),
        Completion(text=BROKEN_NOTE, finish_reason="length"),
        Completion(text="  \n", finish_reason="stop"),
        Completion(text="x y z w " * 20, finish_reason="length"),
        Completion(text="", finish_reason="error", error="timeout"),  # an error, counted elsewhere
        Completion(text="Paris", finish_reason="loglikelihood"),  # a log-likelihood sample
    ]
    h = output_health(outs)
    assert h["n"] == 4
    assert h["truncated"] == pytest.approx(0.5)
    assert h["empty"] == pytest.approx(0.25)
    assert h["repeated_lines"] == pytest.approx(0.5 / 4)
    assert 0 < h["repeated_ngrams"] < 1
    assert output_health([Completion(text="", error="boom", finish_reason="error")]) == {}
    assert completion_health(outs[1])["truncated"] == 1.0 and completion_health(outs[0])["truncated"] == 0.0


def test_warning_only_when_most_outputs_hit_the_limit() -> None:
    assert health_warnings({"n": 10, "truncated": 0.5, "empty": 0.0}) == []
    (w,) = health_warnings({"n": 10, "truncated": 0.6, "empty": 0.0}, run_id="r1")
    assert w.startswith("6 of 10 outputs (60%) ended at the length limit") and "tunebench show r1 --full" in w
    assert any("are empty" in x for x in health_warnings({"n": 4, "truncated": 0.0, "empty": 0.75}))
    assert health_warnings({}) == []


# -- backends set finish_reason="length" at the limit -----------------------------------------------


def test_mock_backend_finishes_with_length_when_cut() -> None:
    spec = parse_spec("mock:echo")
    mock = MockBackend(spec, script={"default": "word " * 40})
    (short,) = mock.generate([[{"role": "user", "content": "hi"}]], GenerationConfig(max_new_tokens=100))
    (cut,) = mock.generate([[{"role": "user", "content": "hi"}]], GenerationConfig(max_new_tokens=4))
    assert short.finish_reason == "stop" and cut.finish_reason == "length"
    assert len(cut.text) == 32


def test_openai_finish_reason_length_is_kept() -> None:
    from openai.types.chat import ChatCompletion

    from harness.models.openai_backend import _completion_from

    resp = ChatCompletion.model_validate(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "length",
                    "message": {"role": "assistant", "content": "cut off mid"},
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 8, "total_tokens": 11},
        }
    )
    c = _completion_from(resp, 0.1)
    assert c.finish_reason == "length" and c.completion_tokens == 8
    assert output_health([c])["truncated"] == 1.0


def test_hf_backend_length_stop_and_padded_rows(tiny_model: Path, tmp_path: Path) -> None:
    import torch

    from harness.models.hf import HFBackend

    be = HFBackend(
        parse_spec(f"hf:{tiny_model}", workspace=tmp_path, dtype="float32"), batch_size=4, device="cpu"
    )
    prompts = [[{"role": "user", "content": t}] for t in ("hi", "refund please", "The app crashes " * 3)]
    eos = be.eos_ids[0]
    original = be.model.generation_config.sequence_bias

    def generate(bias: float, cfg: GenerationConfig) -> list[Completion]:
        be.model.generation_config.sequence_bias = {(eos,): bias}
        try:
            with torch.inference_mode():
                return be.generate(prompts, cfg)
        finally:
            be.model.generation_config.sequence_bias = original

    runaway = generate(-1e9, GenerationConfig(max_new_tokens=6))  # never stops: every row hits the limit
    stops = generate(1e9, GenerationConfig(max_new_tokens=6))  # stops at once
    assert [(c.finish_reason, c.completion_tokens) for c in runaway] == [("length", 6)] * 3
    assert [(c.finish_reason, c.completion_tokens, c.text) for c in stops] == [("stop", 0, "")] * 3
    assert output_health(runaway)["truncated"] == 1.0 and output_health(stops)["empty"] == 1.0

    # a row a stop string ends early while the others run on is padded to the batch's length: the
    # pads are not output, and that row did not run to the limit
    free = [c.text for c in generate(-1e9, GenerationConfig(max_new_tokens=12))]
    i, stop = next(
        (i, t[j : j + 2])
        for i, t in enumerate(free)
        for j in range(len(t) - 1)
        if t[j : j + 2].isascii()
        and t[j : j + 2].isprintable()
        and not any(t[j : j + 2] in o for o in free[:i] + free[i + 1 :])
    )
    outs = generate(-1e9, GenerationConfig(max_new_tokens=12, stop=(stop,)))
    assert outs[i].finish_reason == "stop" and stop not in outs[i].text
    assert outs[i].completion_tokens < 12
    assert any(c.finish_reason == "length" and c.completion_tokens == 12 for c in outs)


# -- runs record and print health; show prints whole samples --------------------------------------

LONG = "## Assessment\\nStable.\\n" * 12  # in the YAML below: a reply that repeats its one section


def _script(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "mock.yaml"
    p.write_text(
        'rules:\n  - contains: billing\n    reply: "' + LONG + '"\ndefault: \'{"category": "other"}\'\n'
    )
    return p


def test_run_records_and_prints_health(
    tiny_suite: Path, workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = _script(tmp_path / "mock")
    # max_new_tokens 16 (the suite's): the long replies are cut at 128 characters
    rec = run_suite(load_suite(tiny_suite), parse_spec(f"mock:{script}"), store=Store(), progress=False)
    h = rec.health
    assert h["n"] == 10 and h["truncated"] == pytest.approx(0.2)  # the 2 billing tickets of 10
    assert h["repeated_lines"] > 0 and h["empty"] == 0.0
    assert Store().get_run(rec.id).health == h
    assert rec.usage["latency_is_batch"] == 0.0

    assert main(["show", rec.id]) == 0
    out = capsys.readouterr().out
    assert "output health (n=10): hit length limit 20%" in out and "warning:" not in out
    assert "completion tokens/request" in out and "latency p50" in out

    # most outputs cut: the run says so
    assert main(["run", str(tiny_suite), "--model", "mock:echo", "--no-progress"] + []) == 0
    out = capsys.readouterr().out
    assert "completion tokens/request" in out and "output health (n=10)" in out


def test_run_warns_when_most_outputs_hit_the_limit(
    tmp_path: Path, workspace: Path, make_suite: Any, suite_yaml: str, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = make_suite(tmp_path / "s", 6, suite_yaml.replace("max_new_tokens: 16", "max_new_tokens: 2"))
    assert main(["run", str(suite), "--model", "mock:echo", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "hit length limit 100%" in out
    (warning,) = [ln for ln in out.splitlines() if ln.startswith("warning:")]
    assert "6 of 6 outputs (100%) ended at the length limit" in warning


def test_show_sample_and_full_print_whole_texts(
    tiny_suite: Path, workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = _script(tmp_path / "mock")
    suite = load_suite(tiny_suite)
    rec = run_suite(suite, parse_spec(f"mock:{script}"), store=Store(), progress=False)
    (billing,) = [r for r in Store().iter_results(rec.id) if "billing" in r.prompt[-1]["content"]][:1]
    assert len(billing.completion.text) > 120  # longer than the worst-samples listing shows

    assert main(["show", rec.id, "--sample", billing.sample_id]) == 0
    out = capsys.readouterr().out
    assert f"== {billing.sample_id}  finish=length" in out
    whole = "\n".join("    " + ln for ln in billing.completion.text.split("\n"))
    assert "output:\n" + whole + "\nreference:" in out  # the whole output, every line of it
    assert '    {"category": "billing"}' in out  # the whole reference
    assert "score exact = 0.000" in out and "worst samples" not in out
    assert "repeated lines" in out

    assert main(["show", rec.id, "--full"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n== ") == 10

    assert main(["show", rec.id, "--sample", "test-9999"]) == 2
    err = capsys.readouterr().err
    assert "has no sample 'test-9999'" in err and "did you mean" in err


def test_latency_is_labelled_batch_time_for_batched_generation() -> None:
    batched = [Completion(text="a", latency_s=2.0, raw={"batch_size": 8, "batch_time_s": 2.0})] * 8
    single = [Completion(text="a", latency_s=0.2, raw={"id": "chatcmpl"})] * 3
    assert latency_label(usage_summary(batched)) == "batch time"
    assert latency_label(usage_summary(single)) == "latency"
    assert latency_label({}) == "latency"


def test_hf_run_prints_batch_time(
    tiny_suite: Path, tiny_model: Path, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--model", f"hf:{tiny_model}", "--dtype", "float32", "--limit", "4", "--no-progress"]
    assert main(["run", str(tiny_suite), *args, "--batch-size", "4"]) == 0
    out = capsys.readouterr().out
    assert "batch time p50" in out and "latency p50" not in out
    assert "output health (n=4)" in out


def test_compare_shows_health_of_both_sides_and_warns_when_the_candidate_truncates(
    tiny_suite: Path, workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A candidate whose replies run into the length limit where the baseline's did not: compare
    carries both runs' health, prints it, and warns about the rise (issue 13)."""
    from harness.compare import compare_runs

    store = Store()
    suite = load_suite(tiny_suite)
    base = run_suite(suite, parse_spec("mock:echo"), store=store, progress=False)
    long_all = tmp_path / "long.yaml"
    long_all.write_text('default: "' + LONG + '"\n')
    cand = run_suite(suite, parse_spec(f"mock:{long_all}"), store=store, progress=False)
    assert base.health["truncated"] < 0.1 and cand.health["truncated"] == pytest.approx(1.0)
    cmp = compare_runs(store, base.id, cand.id, n_boot=200)
    assert cmp.health["a"]["truncated"] == base.health["truncated"]
    assert cmp.health["b"]["truncated"] == pytest.approx(1.0)
    assert any("B's outputs ended at the length limit 100% of the time" in w for w in cmp.warnings)
    assert any("B repeats itself" in w for w in cmp.warnings)
    # the same runs the other way round: the candidate is healthy, nothing to warn about
    back = compare_runs(store, cand.id, base.id, n_boot=200)
    assert not any("length limit" in w or "repeats itself" in w for w in back.warnings)
    assert main(["compare", base.id, cand.id]) == 0
    out = capsys.readouterr().out
    assert "output health" in out and "100%" in out


def test_compare_labels_batch_times() -> None:
    from harness.compare.cost import cost_rows

    timed = {"latency_p50_s": 1.0, "latency_p95_s": 2.0}
    rows, sentences = cost_rows(timed, {**timed, "latency_p50_s": 0.5})
    assert [r.label for r in rows] == ["latency p50", "latency p95"] and "p50 latency" in sentences[0]
    batched = {**timed, "latency_is_batch": 1.0}
    rows, sentences = cost_rows(batched, {**batched, "latency_p50_s": 0.5})
    assert [r.label for r in rows] == ["batch time p50", "batch time p95"]
    assert "p50 batch time is 50% lower" in sentences[0]
