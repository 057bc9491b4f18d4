"""Re-scoring from the generation cache (issue 8, part 3): a changed scorer list re-scores 1,000
cached samples without generating anything. The speed figure is in tests/benchmarks (bench_rescore.py);
this checks correctness only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness import load_suite, parse_spec
from harness.runner import aggregate, run_suite
from harness.scorers import build_scorer
from harness.store import Store
from harness.types import Score, ScorerSpec

N = 1000
EXTRA = '  - {name: mentions_ticket, type: regex, args: {pattern: "ticket test \\\\d+", flags: i}}\n'


class Spy:
    """Wraps a backend and counts the prompts it was asked to generate."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.spec = inner.spec
        self.prompts = 0

    def generate(self, prompts: Any, config: Any, progress: Any = None) -> Any:
        self.prompts += len(prompts)
        return self.inner.generate(prompts, config, progress)


def test_rescore_generates_nothing_and_scores_every_sample(
    tmp_path: Path, workspace: Path, make_suite: Any, suite_yaml: str
) -> None:
    from harness.models.mock import MockBackend

    root = make_suite(tmp_path / "suite", {"train": 5, "dev": 5, "test": N})
    store = Store()
    spec = parse_spec("mock:echo")
    spy = Spy(MockBackend(spec))
    first = run_suite(load_suite(root), spec, store=store, backend=spy, progress=False)
    assert spy.prompts == N and first.timing["generated"] == N

    (root / "suite.yaml").write_text(suite_yaml + EXTRA, encoding="utf-8")
    changed = load_suite(root)
    spy2 = Spy(MockBackend(spec))
    again = run_suite(changed, spec, store=store, backend=spy2, progress=False)
    assert spy2.prompts == 0
    assert again.timing["generated"] == 0 and again.timing["cached"] == N
    assert again.id != first.id and again.suite_hash != first.suite_hash
    m = again.metrics["mentions_ticket"]
    assert m.n == N and m.value == pytest.approx(1.0)
    table = store.score_table(again.id)
    assert len(table) == N and all("mentions_ticket" in row for row in table.values())
    # the old scorers' numbers are unchanged by the re-scoring
    for name in ("exact", "json_valid"):
        assert again.metrics[name] == first.metrics[name]


def test_vectorized_corpus_bootstrap_equals_the_per_resample_path() -> None:
    """aggregate() bootstraps classification metrics from summed counts; the intervals are the
    ones the per-resample callback path gives (same resamples)."""
    from harness import stats

    rng = np.random.default_rng(1)
    labels = ["billing", "shipping", "account", "refund", "technical"]
    sc = build_scorer(ScorerSpec(name="cls", type="classification", args={"labels": labels}))
    rows = []
    for i in range(300):
        gold = labels[int(rng.integers(0, 5))]
        pred = (
            gold if rng.random() < 0.6 else (None if rng.random() < 0.2 else labels[int(rng.integers(0, 5))])
        )
        g = None if i % 97 == 0 else gold
        rows.append(
            [Score(name="cls", value=None if g is None else pred == g, data={"pred": pred, "gold": g})]
        )
    got = aggregate([sc], rows, n_boot=200, seed=4)
    flat = [s for r in rows for s in r]
    # the bootstrap resamples the samples that carry a value (those without a gold label add nothing)
    scored = [r for r in rows if r[0].value is not None]
    for name in sc.metrics(flat):

        def fn(idx: Any, name: str = name) -> float:
            return float(sc.metrics([s for i in idx for s in scored[i]])[name])

        point, lo, hi = stats.bootstrap_ci_fn(len(scored), fn, n_boot=200, seed=4)
        assert got[name].value == pytest.approx(point)
        assert (got[name].ci_low, got[name].ci_high) == (pytest.approx(lo), pytest.approx(hi))
    sums = sc.resample_stats(rows).sum(axis=0)  # type: ignore[attr-defined]
    from_sums = sc.metrics_from_sums(sums)  # type: ignore[attr-defined]
    for name, value in sc.metrics(flat).items():
        assert float(from_sums[name]) == pytest.approx(value)


def test_resample_sums_matches_index_draws() -> None:
    from harness import stats

    x = np.random.default_rng(0).random((500, 3))
    idx = np.random.default_rng(7).integers(0, 500, size=(120, 500))
    got = stats.resample_sums(x, n_boot=120, seed=7, max_cells=10_000)  # several chunks
    np.testing.assert_allclose(got, x[idx].sum(axis=1), rtol=1e-12)
