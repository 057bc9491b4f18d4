"""Compare reads what a metric means from its declared semantics (issue 12, points 1, 2, 7):
win/tie/loss and regressions in the metric's direction, better/worse in the reports from the stored
direction (old comparisons from their runs), missing data that fails closed in the pairing with
per-side counts, and the minimum detectable effect in the compare text."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from builders import suite_yaml

from harness import stats
from harness.compare import COMPARISON_SCHEMA_VERSION, compare_runs
from harness.fmt import num
from harness.models import parse_spec
from harness.models.mock import MockBackend
from harness.runner import run_suite
from harness.scorers import BaseScorer, ScoreContext
from harness.scorers.base import scorer_registry
from harness.store import Store
from harness.suite import load_suite
from harness.types import Completion, GenerationConfig, ModelSpec, PromptConfig, Sample, Score
from reports import load_target, render
from reports.common import comparison_summary
from reports.console.compare import render_comparison

N = 20

FLAG_SUITE = suite_yaml(
    "flag-cmp",
    "flagged",
    """\
  - {name: exact, type: exact_match}
  - name: flagged
    type: regex
    args: {pattern: "ERROR"}
    higher_is_better: false
""",
)

# "fluency" names nothing a regex would take for lower-is-better: only the declaration says so
PPL_SUITE = suite_yaml("fluency-cmp", "fluency", "  - {name: fluency, type: perplexity}\n")

FLAKY_SUITE = suite_yaml(
    "flaky-cmp",
    "right",
    "  - {name: right, type: test_flaky_label}\n  - {name: score, type: test_flaky_unbounded}\n",
)


class Scripted(MockBackend):
    """Answers sample i (prompt "ticket test i: ...") with `answer(i)`; None means a generation
    error."""

    def __init__(self, spec: ModelSpec, answer: Any):
        super().__init__(spec)
        self.answer = answer

    def generate(
        self, prompts: Sequence[Any], config: GenerationConfig, progress: Any = None
    ) -> list[Completion]:
        out = []
        for p in prompts:
            m = re.search(r"ticket \w+ (\d+):", p[-1]["content"])
            text = self.answer(int(m.group(1)) if m else -1)
            out.append(
                Completion(text="", error="boom", finish_reason="error")
                if text is None
                else Completion(text=text, prompt_tokens=5, completion_tokens=3)
            )
        return out


class PplMock(MockBackend):
    """Log-likelihoods that make the reference likely only after a GOOD system prompt."""

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, int]]:
        return [(-(1.0 if "GOOD" in ctx else 6.0), 2) for ctx, _ in requests]


class FlakyLabel(BaseScorer):
    """1 when the output names the sample's category; None (missing, not "not applicable") when the
    model gave no output, as a judge that errored would. Bounded: failure value 0."""

    value_range = (0.0, 1.0)

    def score(self, sample: Sample, completion: Completion, ctx: ScoreContext) -> list[Score]:
        if completion.error:
            return [Score(name=self.name, value=None, detail="no output to judge")]
        return [Score(name=self.name, value=float(sample.metadata["category"] in completion.text))]


class FlakyUnbounded(FlakyLabel):
    """The same values, declared unbounded: a missing sample has no failure value."""

    value_range = (None, None)


@pytest.fixture(autouse=True, scope="module")
def _flaky_scorers() -> Iterator[None]:
    """This module's scorers exist only while its tests run: other modules list the registry."""
    with scorer_registry.temporarily("test_flaky_label", FlakyLabel):
        with scorer_registry.temporarily("test_flaky_unbounded", FlakyUnbounded):
            yield


def run(store: Store, suite_dir: Path, answer: Any, **kw: Any) -> str:
    """A run of the suite answered by `answer` (or `backend`), under a model spec of its own (the
    generation cache keys on the spec)."""
    k = len(store.list_runs())
    script = suite_dir.parent / f"model-{k}.yaml"
    script.write_text(f"default: unused {k}\n")  # the spec's identity hashes the script
    spec = parse_spec(f"mock:{script}")
    backend = kw.pop("backend", None) or Scripted(spec, answer)
    return run_suite(load_suite(suite_dir), spec, store=store, backend=backend, progress=False, **kw).id


def row(md: str, metric: str) -> str:
    return next(line for line in md.splitlines() if line.startswith(f"| {metric} |"))


# --------------------------------------------------------------------------- direction


def test_more_flagged_outputs_are_b_losses_and_reported_worse(
    tmp_path: Path, workspace: Path, make_suite: Any
) -> None:
    suite_dir = make_suite(tmp_path / "flag", N, FLAG_SUITE)
    store = Store()
    a = run(store, suite_dir, lambda i: "all fine")
    b = run(store, suite_dir, lambda i: "ERROR: could not answer" if i % 2 == 0 else "all fine")
    cmp = compare_runs(store, a, b, n_boot=300, top_k=3)
    m = cmp.metric("flagged")
    assert (m.a, m.b, m.delta) == (0.0, 0.5, 0.5)
    assert m.higher_is_better is False and m.info is not None and m.info.failure_value == 1.0
    # the candidate got worse on every flagged sample: those are B's losses, not its wins
    assert (m.wins, m.ties, m.losses) == (0, N // 2, N // 2)
    assert m.good_delta() == -0.5 and m.ci_low is not None and m.ci_low > 0
    assert (m.n, m.n_paired, m.n_failed_a, m.n_failed_b, m.n_dropped_a, m.n_dropped_b) == (N, N, 0, 0, 0, 0)
    assert cmp.n_samples_a == cmp.n_samples_b == N and cmp.schema_version == COMPARISON_SCHEMA_VERSION
    # regressions are the samples B flagged (value going up), worst first; none improved
    assert [d.sample_id for d in cmp.regressions] == ["test-000", "test-002", "test-004"]
    assert all((d.a, d.b) == (0.0, 1.0) for d in cmp.regressions) and cmp.improvements == []
    # the reports call it worse, from the stored direction
    kind, body = load_target(store, cmp.id)
    assert comparison_summary(body)["worse"] == ["flagged"]
    md = render(kind, body, "md")
    assert "🔴 worse" in row(md, "flagged") and "| lower |" in row(md, "flagged")
    assert "worse on `flagged`" in md and "better on" not in md
    html = render(kind, body, "html")
    flagged_row = next(r for r in html.split("<tr>") if '<td class="mono">flagged</td>' in r)
    assert 'class="chip worse"' in flagged_row and "B is <b>worse</b> on <code>flagged</code>" in html
    # B's own report lists its flagged outputs as its worst samples (not its clean ones)
    kind, run_body = load_target(store, b)
    assert run_body["rank_metric"] == "flagged" and len(run_body["worst_samples"]) == 5
    assert {w["sample_id"] for w in run_body["worst_samples"]} == {f"test-{i:03d}" for i in range(0, 10, 2)}
    assert "| flagged | 0.500 |" in render(kind, run_body, "md") and "| lower |" in render(
        kind, run_body, "md"
    )
    text = render_comparison(cmp)
    assert re.search(r"^flagged\s+lower\s+0\.000\s+0\.500\s+\+0\.500 .* 0/10/10\s+20\s", text, re.M)


def test_lower_is_better_metric_rising_is_worse_also_in_old_comparisons(
    tmp_path: Path, workspace: Path, make_suite: Any
) -> None:
    suite_dir = make_suite(tmp_path / "ppl", 8, PPL_SUITE)
    store = Store()
    spec = parse_spec("mock:echo")  # the prompts differ: no cache hit across the two runs
    good, bad = PromptConfig(name="good", system="GOOD."), PromptConfig(name="bad", system="BAD.")
    a = run(store, suite_dir, None, backend=PplMock(spec), prompt=good)
    b = run(store, suite_dir, None, backend=PplMock(spec), prompt=bad)
    cmp = compare_runs(store, a, b, n_boot=200)
    m = cmp.metric("fluency")
    assert m.kind == "corpus" and m.higher_is_better is False
    assert m.a == pytest.approx(math.exp(0.5)) and m.b == pytest.approx(math.exp(3.0))
    assert (m.wins, m.ties, m.losses) == (0, 0, 8)  # per-sample perplexity rose on every sample
    kind, body = load_target(store, cmp.id)
    assert "🔴 worse" in row(render(kind, body, "md"), "fluency")
    # a comparison stored before comparisons carried directions: its runs say which way is better
    old = json.loads(json.dumps(body))
    old["schema_version"], old["id"] = 1, "cmp-old"
    for mm in old["metrics"]:
        for key in ("higher_is_better", "info", "mde", "n_paired"):
            mm.pop(key, None)
    store.put_record("comparison", "cmp-old", old, ref=f"{a}..{b}")
    kind, body = load_target(store, "cmp-old")
    assert body["metrics"][0]["higher_is_better"] is False
    assert "🔴 worse" in row(render(kind, body, "md"), "fluency")
    assert comparison_summary(body)["worse"] == ["fluency"]
    # with no declaration anywhere (runs gone), the delta is never called better or worse
    bare = {**old, "run_a": "nope", "run_b": "nope"}
    assert comparison_summary(bare)["differs"] == ["fluency"]


# --------------------------------------------------------------------------- missing data


def a_answer(i: int) -> str:
    """Easy (odd) samples right except 1 and 3; hard (even) samples right for 0, 2, 4."""
    right = (i % 2 == 1 and i not in (1, 3)) or i in (0, 2, 4)
    return "about " + (
        ["billing", "shipping", "account", "refund", "technical"][i % 5] if right else "nothing"
    )


def b_answer(i: int) -> str | None:
    """Every easy sample right; errors on every hard one."""
    return None if i % 2 == 0 else "about " + ["billing", "shipping", "account", "refund", "technical"][i % 5]


def test_erroring_on_hard_items_does_not_look_better(
    tmp_path: Path, workspace: Path, make_suite: Any
) -> None:
    suite_dir = make_suite(tmp_path / "flaky", N, FLAKY_SUITE)
    store = Store()
    a, b = run(store, suite_dir, a_answer), run(store, suite_dir, b_answer)
    cmp = compare_runs(store, a, b, n_boot=300)
    m = cmp.metric("right")
    # dropping B's errored samples would pair the easy ones only (A 0.8, B 1.0: B "better");
    # they count as failures on B's side instead
    assert (m.a, m.b) == (pytest.approx(11 / N), pytest.approx(10 / N)) and m.delta == pytest.approx(-1 / N)
    assert (m.n, m.n_paired, m.n_failed_a, m.n_failed_b) == (N, N, 0, N // 2)
    assert m.failed == {"b": {"errored": N // 2}} and m.dropped == {} and m.n_dropped_b == 0
    assert (m.wins, m.ties, m.losses) == (2, 15, 3)
    assert "10 sample(s) errored on B scored as failures" in m.note
    assert store.get_run(b).metrics["right"].value == pytest.approx(m.b)  # same as the run's own metric
    # no failure value (unbounded): the errored samples are dropped, and the comparison says so per
    # side, so a rule can fail when the paired n is below the runs' sample count
    u = cmp.metric("score")
    assert (u.n_paired, u.n_dropped_a, u.n_dropped_b, u.n_failed_b) == (N // 2, 0, N // 2, 0)
    assert u.dropped == {"b": {"errored": N // 2}} and u.n_not_applicable == 0
    assert u.n_paired + u.n_not_applicable < cmp.n_samples_b  # type: ignore[operator]
    assert "10 sample(s) errored on B dropped" in u.note
    text = render_comparison(cmp)
    assert "errored on B scored as failures" in text and "errored on B dropped" in text
    md = render(*load_target(store, cmp.id), "md")
    assert "B: 10 failed" in row(md, "right") and "B: 10 dropped" in row(md, "score")


def test_not_applicable_to_both_sides_is_not_a_failure(
    tmp_path: Path, workspace: Path, make_suite: Any
) -> None:
    from harness.compare.pairing import ABSENT, ERRORED, NOT_APPLICABLE, VALUE, pair_states

    x = np.array([1.0, np.nan, np.nan, np.nan, np.nan, 0.0])
    y = np.array([1.0, np.nan, 1.0, np.nan, np.nan, np.nan])
    sa = np.array([VALUE, NOT_APPLICABLE, ERRORED, ABSENT, ABSENT, VALUE], dtype=np.int8)
    sb = np.array([VALUE, NOT_APPLICABLE, VALUE, ABSENT, NOT_APPLICABLE, ABSENT], dtype=np.int8)
    p = pair_states(x, y, sa, sb, 0.0)
    assert p.n_not_applicable == 3  # both not applicable, both without a score, one of each
    assert list(p.x) == [1.0, 0.0, 0.0] and list(p.y) == [1.0, 1.0, 0.0]
    assert p.failed == {"a": {"errored": 1}, "b": {"missing": 1}} and p.dropped == {}
    q = pair_states(x, y, sa, sb, None)  # no failure value: those samples are dropped instead
    assert q.n == 1 and q.dropped == {"a": {"errored": 1}, "b": {"missing": 1}} and q.failed == {}
    one_sided = pair_states(
        np.array([1.0]),
        np.array([np.nan]),
        np.array([VALUE], np.int8),
        np.array([NOT_APPLICABLE], np.int8),
        0.0,
    )
    assert one_sided.n == 0 and one_sided.dropped == {"b": {"not applicable": 1}}


# --------------------------------------------------------------------------- power


def test_mde_in_the_compare_text_is_the_formula(tmp_path: Path, workspace: Path, make_suite: Any) -> None:
    suite_dir = make_suite(tmp_path / "flag", N, FLAG_SUITE)
    store = Store()
    a = run(store, suite_dir, lambda i: "ERROR" if i in (0, 1, 2, 5) else "fine")
    b = run(store, suite_dir, lambda i: "ERROR" if i in (0, 3, 6, 7, 8, 9, 10, 11) else "fine")
    cmp = compare_runs(store, a, b, n_boot=100, alpha=0.05)
    m = cmp.metric("flagged")
    # d = B - A per sample: +1 on 3, 6-11 (7 samples), -1 on 1, 2, 5 (3 samples), 0 elsewhere
    p10, p01 = 7 / N, 3 / N
    sd = math.sqrt((p10 + p01) - (p10 - p01) ** 2)
    expected = (1.6448536269514722 + 0.8416212335729143) * sd / math.sqrt(N)
    assert m.mde == pytest.approx(expected, rel=1e-9)
    assert m.mde == pytest.approx(stats.mde_from_deltas([1] * 7 + [-1] * 3 + [0] * 10))
    line = next(s for s in render_comparison(cmp).splitlines() if s.startswith("flagged "))
    assert line.split()[-1] == num(expected)
    assert "MDE" in render_comparison(cmp).splitlines()[4]
    # a stricter alpha needs a larger effect
    strict = compare_runs(store, a, b, n_boot=100, alpha=0.01, save=False).metric("flagged")
    assert strict.mde is not None and strict.mde > m.mde
