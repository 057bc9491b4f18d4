"""Log-likelihood tasks in the runner (mc / ppl samples) and the loglik scorers: values checked
against direct transformers log-probabilities on a tiny model, caching, resume after a crash, task
filters, and errors (never scores) on backends that cannot score log-likelihoods."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from harness import runner
from harness.errors import InputError
from harness.models import parse_spec
from harness.models.hf import HFBackend
from harness.runner import LazyBackend, run_suite
from harness.scorers import InstructionCheckScorer, McAccuracyScorer, PplScorer, ScoreContext
from harness.store import Store
from harness.suite import load_suite
from harness.types import Completion, Sample, ScorerSpec

SUITE = """\
name: ll-suite
version: "0.1.0"
dataset:
  path: data/{split}.jsonl
  splits: [test]
primary_metric: mc.acc_norm
generation:
  max_new_tokens: 4
scorers:
  - {name: mc, type: mc_accuracy, args: {group_by: category}}
  - {name: ppl, type: ppl}
  - {name: exact, type: exact_match, tasks: [gen]}
"""

MC = [
    ("What is the capital of France?", ["Paris", "Lyon", "a small village", "Marseille"], 0, "geo"),
    ("Which number is largest?", ["9", "12", "3", "100"], 3, "math"),
    ("What do you use to cut paper?", ["scissors", "a spoon", "a pillow", "a towel"], 0, "common"),
    ("What boils at 100 degrees?", ["water", "ice", "iron", "sand and stones"], 0, "geo"),
    ("Two plus two equals?", ["four", "five", "twenty two", "0"], 0, "math"),
    ("Pick a colour.", ["red", "blue", "dark green", "yellow"], 2, "common"),
    (
        "The customer was charged twice. What do they want?",
        ["a refund", "a hat", "nothing", "dark mode"],
        0,
        "common",
    ),
]
PASSAGES = [
    "Paris is the capital of France. Water boils at 100 degrees.",
    "The app crashes every time I open the settings page.",
    "My package has not arrived yet, the tracking number shows no updates since Monday.",
]


def rows() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, (q, choices, gold, cat) in enumerate(MC):
        out.append(
            {
                "id": f"mc-{i}",
                "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": choices[gold]}],
                "metadata": {
                    "task": "mc",
                    "context": f"Question: {q}\nAnswer:",
                    "choices": choices,
                    "gold": gold,
                    "category": cat,
                },
            }
        )
    for i, text in enumerate(PASSAGES):
        out.append(
            {
                "id": f"ppl-{i}",
                "messages": [{"role": "user", "content": "Write."}, {"role": "assistant", "content": text}],
                "metadata": {"task": "ppl"},
            }
        )
    for i in range(2):
        out.append(
            {
                "id": f"gen-{i}",
                "messages": [
                    {"role": "user", "content": f"say {i}"},
                    {"role": "assistant", "content": f"say {i}"},
                ],
            }
        )
    return out


@pytest.fixture
def ll_suite(tmp_path: Path, write_jsonl: Any) -> Path:
    root = tmp_path / "ll-suite"
    root.mkdir()
    (root / "suite.yaml").write_text(SUITE)
    write_jsonl(root / "data" / "test.jsonl", rows())
    return root


@pytest.fixture(scope="module")
def spec(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return parse_spec(f"hf:{tiny_model}", workspace=tmp_path_factory.mktemp("ll-ws"), dtype="float32")


@pytest.fixture(scope="module")
def backend(spec: Any) -> HFBackend:
    return HFBackend(spec, batch_size=3, device="cpu")  # small batches: padding mixes lengths


class Counting:
    """Wraps a backend; counts log-likelihood requests; optionally fails after N calls (a crash)."""

    def __init__(self, inner: HFBackend, fail_after: int | None = None):
        self.inner, self.spec, self.calls, self.requests, self.fail_after = (
            inner,
            inner.spec,
            0,
            0,
            fail_after,
        )

    def generate(self, prompts: Any, config: Any, progress: Any = None) -> Any:
        return self.inner.generate(prompts, config, progress)

    def render(self, messages: Any) -> str:
        return self.inner.render(messages)

    def loglikelihood(self, requests: Any, *, add_bos: bool = False) -> Any:
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise RuntimeError("simulated crash")
        self.calls += 1
        self.requests += len(requests)
        return self.inner.loglikelihood(requests, add_bos=add_bos)


def direct(backend: HFBackend, ctx: str, cont: str) -> tuple[float, int]:
    """log P(cont | ctx) straight from transformers: one unpadded sequence, log-softmax, gather."""
    import torch

    tok = backend.tokenizer
    c = tok(ctx, add_special_tokens=False)["input_ids"] if ctx else [tok.bos_token_id]
    x = tok(cont, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = backend.model(input_ids=torch.tensor([c + x])).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    return float(sum(logp[len(c) - 1 + j, t] for j, t in enumerate(x))), len(x)


def argmax(xs: list[float]) -> int:
    return max(range(len(xs)), key=lambda i: (xs[i], -i))


def test_mc_and_ppl_match_direct_transformers(ll_suite: Path, workspace: Path, backend: HFBackend) -> None:
    store = Store()
    rec = run_suite(load_suite(ll_suite), backend.spec, store=store, backend=backend, progress=False)
    results = {r.sample_id: r for r in store.iter_results(rec.id)}
    accs, norms = [], []
    for i, (q, choices, gold, _cat) in enumerate(MC):
        r = results[f"mc-{i}"]
        raw = r.completion.raw or {}
        want = [direct(backend, f"Question: {q}\nAnswer:", " " + c) for c in choices]
        assert raw["loglikelihoods"] == pytest.approx([w[0] for w in want], rel=1e-4, abs=1e-4)
        assert raw["choice_tokens"] == [w[1] for w in want]
        assert raw["choice_chars"] == [len(c) for c in choices]
        lls = [w[0] for w in want]
        acc = argmax(lls) == gold
        acc_norm = argmax([ll / len(c) for ll, c in zip(lls, choices, strict=True)]) == gold
        scores = {s.name: s for s in r.scores}
        assert scores["mc.acc"].value == acc and scores["mc.acc_norm"].value == acc_norm
        assert r.completion.text == choices[argmax(lls)]
        assert "exact" not in scores  # exact_match is limited to gen samples
        accs.append(acc)
        norms.append(acc_norm)
    assert rec.metrics["mc.acc"].value == pytest.approx(sum(accs) / len(accs))
    assert rec.metrics["mc.acc_norm"].value == pytest.approx(sum(norms) / len(norms))
    assert rec.metrics["mc.acc"].n == len(MC)
    assert {"mc.acc.geo", "mc.acc_norm.math", "mc.acc.common"} <= set(rec.metrics)

    total_nll = total_tok = 0.0
    for i, text in enumerate(PASSAGES):
        ll, n = direct(backend, "", text)
        r = results[f"ppl-{i}"]
        assert (r.completion.raw or {})["tokens"] == n
        assert (r.completion.raw or {})["nll"] == pytest.approx(-ll, rel=1e-4)
        (s,) = [s for s in r.scores if s.name == "ppl"]
        assert s.value == pytest.approx(math.exp(-ll / n), rel=1e-4)
        assert [x.name for x in r.scores] == ["ppl"]
        total_nll, total_tok = total_nll - ll, total_tok + n
    assert rec.metrics["ppl"].value == pytest.approx(math.exp(total_nll / total_tok), rel=1e-4)
    assert rec.metrics["ppl"].n == len(PASSAGES)
    assert rec.metrics["ppl"].ci_low <= rec.metrics["ppl"].value <= rec.metrics["ppl"].ci_high
    for i in range(2):  # generation samples: only the gen scorer
        assert [s.name for s in results[f"gen-{i}"].scores] == ["exact"]
    assert rec.metrics["exact"].n == 2
    assert rec.usage["requests"] == 2 and rec.usage["loglik_samples"] == len(MC) + len(PASSAGES)
    assert rec.usage["loglik_requests"] == 4 * len(MC) + len(PASSAGES)
    assert "generation_errors" not in rec.metrics


def test_cached_rerun_computes_nothing(ll_suite: Path, workspace: Path, backend: HFBackend) -> None:
    suite, store = load_suite(ll_suite), Store()
    counting = Counting(backend)
    first = run_suite(suite, backend.spec, store=store, backend=counting, progress=False)
    assert counting.requests == 4 * len(MC) + len(PASSAGES)
    assert first.timing["generated"] == len(rows())

    def refuse(_spec: Any) -> Any:
        raise AssertionError("the backend must not be created when everything is cached")

    lazy = LazyBackend(backend.spec, refuse)
    second = run_suite(suite, backend.spec, store=store, backend=lazy, progress=False)
    assert not lazy.loaded
    assert second.timing["generated"] == 0 and second.timing["cached"] == len(rows())
    assert second.metrics == first.metrics


def test_crash_resumes_without_recomputing(
    ll_suite: Path, workspace: Path, backend: HFBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Log-likelihood results are committed per backend call (LOGLIK_CHUNK samples, here 4): after a
    crash, the resumed run (same run id) asks the model only for the samples it had not finished."""
    monkeypatch.setattr(runner, "LOGLIK_CHUNK", 4)
    suite, store = load_suite(ll_suite), Store()
    crashing = Counting(backend, fail_after=1)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_suite(suite, backend.spec, store=store, backend=crashing, batch_size=4, progress=False)
    (unfinished,) = store.list_runs(status="running")
    done_requests = crashing.requests
    assert 0 < done_requests < 4 * len(MC) + len(PASSAGES)

    resumed = Counting(backend)
    rec = run_suite(suite, backend.spec, store=store, backend=resumed, batch_size=4, progress=False)
    assert rec.id == unfinished.id and rec.timing["resumed"] == 1.0
    assert resumed.requests + done_requests == 4 * len(MC) + len(PASSAGES)
    assert rec.timing["cached"] == 4 + 2  # the first batch of 4 log-likelihood samples + 2 generations


def test_non_hf_backend_gives_errors_not_scores(ll_suite: Path, workspace: Path, backend: HFBackend) -> None:
    store = Store()
    suite = load_suite(ll_suite)
    rec = run_suite(suite, parse_spec("mock:echo"), store=store, progress=False)
    n_ll = len(MC) + len(PASSAGES)
    assert rec.metrics["generation_errors"].value == n_ll
    # missing log-likelihoods fail closed: a bounded metric counts them as failures, one without a
    # failure value (perplexity) reports them as missing instead of leaving the metric out
    acc = rec.metrics["mc.acc"]
    assert (acc.value, acc.n, acc.n_failed) == (0.0, len(MC), len(MC))
    ppl = rec.metrics["ppl"]
    assert (ppl.value, ppl.n, ppl.n_missing) == (None, 0, len(PASSAGES))
    assert rec.metrics["exact"].value == 1.0  # echo repeats "say i"
    for r in store.iter_results(rec.id):
        if r.sample_id.startswith(("mc-", "ppl-")):
            assert r.completion.error and "cannot score log-likelihoods" in r.completion.error
            assert r.scores and all(s.value is None for s in r.scores)
            assert "cannot score log-likelihoods" in r.scores[0].detail
    # errors are never cached: the hf backend computes every log-likelihood afterwards
    counting = Counting(backend)
    run_suite(suite, backend.spec, store=store, backend=counting, progress=False)
    assert counting.requests == 4 * len(MC) + len(PASSAGES)


@pytest.mark.parametrize(
    "meta, message",
    [
        ({"task": "quiz"}, "unknown metadata.task 'quiz'"),
        ({"task": "mc", "choices": ["a", "b"], "gold": 2}, "metadata.gold"),
        ({"task": "mc", "choices": "ab", "gold": 0}, "metadata.choices"),
    ],
)
def test_bad_task_samples_are_input_errors(
    tmp_path: Path, workspace: Path, write_jsonl: Any, meta: dict[str, Any], message: str
) -> None:
    root = tmp_path / "bad"
    root.mkdir()
    (root / "suite.yaml").write_text(SUITE)
    write_jsonl(
        root / "data" / "test.jsonl",
        [
            {
                "id": "x",
                "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
                "metadata": meta,
            }
        ],
    )
    store = Store()
    with pytest.raises(InputError, match=message):
        run_suite(load_suite(root), parse_spec("mock:echo"), store=store, progress=False)
    assert store.list_runs() == []


def test_scorer_spec_tasks_field() -> None:
    plain = ScorerSpec(name="a", type="exact_match")
    assert plain.tasks is None and "tasks" not in plain.model_dump(mode="json")  # old suite hashes hold
    limited = ScorerSpec(name="a", type="exact_match", tasks=["gen"])
    assert limited.tasks == ("gen",) and limited.model_dump(mode="json")["tasks"] == ["gen"]
    with pytest.raises(ValueError, match="unknown task type"):
        ScorerSpec(name="a", type="exact_match", tasks=["mcq"])


def sample(meta: dict[str, Any], reference: str | None = None) -> Sample:
    return Sample.model_validate(
        {"id": "s", "messages": [{"role": "user", "content": "q"}], "metadata": meta, "reference": reference}
    )


def test_mc_accuracy_acc_vs_acc_norm() -> None:
    sc = McAccuracyScorer("mc")
    s = sample({"task": "mc", "choices": ["a", "bbbbbbbbbb"], "gold": 1})
    c = Completion(text="a", raw={"loglikelihoods": [-2.0, -5.0]})
    got = {x.name: x for x in sc.score(s, c, ScoreContext())}
    assert got["mc.acc"].value is False  # -2 > -5
    assert got["mc.acc_norm"].value is True  # -2/1 < -5/10
    assert "chose 'a' over gold 'bbbbbbbbbb'" in got["mc.acc"].detail
    tie = Completion(text="", raw={"loglikelihoods": [-1.0, -1.0]})
    s2 = sample({"task": "mc", "choices": ["x", "y"], "gold": 0})
    assert all(x.value is True for x in sc.score(s2, tie, ScoreContext()))  # ties go to the first choice
    err = Completion(text="", error="no loglikelihood")
    assert all(x.value is None for x in sc.score(s2, err, ScoreContext()))
    assert all(x.value is None for x in sc.score(sample({}), c, ScoreContext()))


def test_ppl_scorer_corpus_metrics() -> None:
    sc = PplScorer("ppl")
    a = sc.score(
        sample({"task": "ppl"}, "one two three"),
        Completion(text="", raw={"nll": 6.0, "tokens": 3}),
        ScoreContext(),
    )
    b = sc.score(
        sample({"task": "ppl"}, "four five"),
        Completion(text="", raw={"nll": 2.0, "tokens": 1}),
        ScoreContext(),
    )
    assert a[0].value == pytest.approx(math.exp(2.0))
    m = sc.metrics(a + b)
    assert m["ppl"] == pytest.approx(math.exp(8.0 / 4))
    assert m["ppl.word_perplexity"] == pytest.approx(math.exp(8.0 / 5))
    assert m["ppl.bits_per_byte"] == pytest.approx(8.0 / (13 + 9) / math.log(2))


@pytest.mark.parametrize(
    "check, good, bad",
    [
        ({"type": "one_word", "accept": ["blue"]}, "Blue.", "It is blue"),
        ({"type": "regex", "pattern": r"^(yes|no)\W*$", "flags": "i"}, "Yes", "Yes, it is."),
        ({"type": "max_words", "max": 3}, "one two three", "one two three four"),
        (
            {"type": "json_key", "key": "answer", "value": "Rome"},
            'Sure: {"answer": "rome"}',
            '{"city": "Rome"}',
        ),
        ({"type": "lowercase"}, "all lower, ok", "Not lower"),
        ({"type": "uppercase"}, "ALL CAPS!", "Mostly CAPS"),
        ({"type": "bullets", "count": 2}, "- a\n- b", "- a\n- b\n- c"),
        ({"type": "bullets", "count": 2}, "* a\n* b", "Here:\n- a\n- b"),
        ({"type": "numbered", "count": 2}, "1. a\n2. b", "1. a"),
        ({"type": "starts_with", "prefix": "Sure"}, "sure, Mars", "Mars"),
        ({"type": "ends_with", "suffix": "done"}, "4, done.", "done, 4"),
        ({"type": "contains", "words": ["mass"]}, "Mass attracts", "nothing"),
        ({"type": "not_contains", "words": [","]}, "no commas here", "one, two"),
        ([{"type": "uppercase"}, {"type": "contains", "words": ["madrid"]}], "MADRID", "PARIS"),
    ],
)
def test_instruction_checks(check: Any, good: str, bad: str) -> None:
    sc = InstructionCheckScorer("inst")
    s = sample({"check": check})
    ok = sc.score(s, Completion(text=good), ScoreContext())
    assert ok[0].value is True, ok
    no = sc.score(s, Completion(text=bad), ScoreContext())
    assert no[0].value is False and no[0].detail, no
    kinds = {c["type"] for c in (check if isinstance(check, list) else [check])}
    assert {x.name for x in ok[1:]} == {f"inst.{k}" for k in kinds}


def test_instruction_check_without_check_is_none() -> None:
    sc = InstructionCheckScorer("inst")
    assert sc.score(sample({}), Completion(text="x"), ScoreContext())[0].value is None
    bad = sc.score(sample({"check": {"type": "rhymes"}}), Completion(text="x"), ScoreContext())
    assert bad[0].value is None and "bad check" in bad[0].detail
    assert json.dumps(bad[0].detail)
