"""harness.stats.margin: the one-sided bootstrap p-value of H0: d <= t, the matching one-sided bound,
Holm's step-down with its stop, and the resamples the smallest level needs."""

from __future__ import annotations

import numpy as np
import pytest

from harness import stats


def test_margin_p_value_counts_replicates_on_the_null_side() -> None:
    boot = np.array([-0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6])  # B = 9
    assert stats.margin_p_value(boot, -1.0) == pytest.approx(1 / 10)  # never 0
    assert stats.margin_p_value(boot, 0.0) == pytest.approx(4 / 10)  # ties count on the null side
    assert stats.margin_p_value(boot, 0.05) == pytest.approx(4 / 10)
    assert stats.margin_p_value(boot, 1.0) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        stats.margin_p_value([], 0.0)
    with pytest.raises(ValueError):
        stats.margin_p_value([0.1, float("nan")], 0.0)


def test_bound_and_p_value_are_one_decision() -> None:
    rng = np.random.default_rng(7)
    for b in (19, 99, 2000, 2401):
        boot = np.round(rng.normal(0.05, 0.03, b), 3)  # rounded: ties, as binary metrics give
        for level in (0.05, 0.025, 0.05 / 3, 0.01):
            bound = stats.lower_confidence_bound(boot, level)
            for t in np.linspace(-0.05, 0.15, 81):
                rejected = stats.margin_p_value(boot, float(t)) <= level
                assert rejected == (bound is not None and t < bound), (b, level, t, bound)
    assert stats.lower_confidence_bound(np.zeros(10), 0.05) is None  # B + 1 < 1 / level: never rejects


def test_holm_stops_at_the_first_non_rejection() -> None:
    # sorted: 0.01 <= 0.05/3 rejected; 0.04 > 0.05/2 not rejected -> stop; 0.045 <= 0.05 would
    # pass on its own level but is not rejected (no step-down stop = the old, wrong behaviour)
    out = stats.holm_step_down([0.045, 0.01, 0.04], 0.05)
    assert [r for r, _ in out] == [False, True, False]
    assert [lvl for _, lvl in out] == pytest.approx([0.05, 0.05 / 3, 0.025])
    # all pass when every ranked p meets its level
    assert [r for r, _ in stats.holm_step_down([0.04, 0.01, 0.02], 0.05)] == [True, True, True]
    # equivalent to "Holm-adjusted p <= alpha" on random p-vectors
    rng = np.random.default_rng(3)
    for _ in range(500):
        p = list(rng.uniform(0, 0.08, int(rng.integers(1, 6))))
        assert [r for r, _ in stats.holm_step_down(p, 0.05)] == [r for _, r in stats.holm(p, 0.05)]


def test_margin_tests_marks_rules_failed_by_the_stop() -> None:
    b = 1999

    def boot_with_p(p: float) -> np.ndarray:  # replicates whose p for H0: d <= 0 is exactly p
        k = round(p * (b + 1)) - 1
        return np.r_[np.full(k, -1.0), np.full(b - k, 1.0)]

    boots = [boot_with_p(0.032), boot_with_p(0.01), boot_with_p(0.03)]
    tests = stats.margin_tests(boots, [0.0] * 3, 0.05, holm_adjust=True)
    assert [t.p_value for t in tests] == pytest.approx([0.032, 0.01, 0.03])
    assert [t.level for t in tests] == pytest.approx([0.05, 0.05 / 3, 0.025])
    assert [t.passed for t in tests] == [False, True, False]
    assert [t.stopped for t in tests] == [True, False, False]  # 0.032 <= 0.05, after 0.03 > 0.025
    assert [t.p_adjusted for t in tests] == pytest.approx([0.06, 0.03, 0.06])
    plain = stats.margin_tests(boots, [0.0] * 3, 0.05, holm_adjust=False)
    assert [t.passed for t in plain] == [True, True, True]
    assert all(t.p_adjusted is None and t.level == 0.05 and t.bound == 1.0 for t in plain)
    # a rule without replicates (failed closed) counts in m with p = 1 and never passes
    with_none = stats.margin_tests([*boots, None], [0.0] * 4, 0.05, holm_adjust=True)
    assert [t.passed for t in with_none] == [False, True, False, False]
    assert with_none[3].p_value == 1.0 and with_none[3].bound is None and not with_none[3].stopped
    assert with_none[1].level == pytest.approx(0.05 / 4)


def test_resamples_for_the_smallest_level() -> None:
    assert stats.resamples_for(0.05) == 2000
    assert stats.resamples_for(0.05, 3) == 2400
    assert stats.resamples_for(0.01, 5) == 20000
    assert stats.resamples_for(0.05, 1, at_least=5000) == 5000


def test_callback_replicates_are_the_interval_resamples() -> None:
    """Corpus metrics without summed counts hand their replicates to the gate through
    `paired_bootstrap_fn_deltas`: the resamples of `paired_bootstrap_ci_fn` and `resample_sums`."""
    rng = np.random.default_rng(5)
    a, b = rng.random(30), rng.random(30)

    def fn(idx: np.ndarray) -> float:
        return float(b[idx].mean() - a[idx].mean())

    point, boot = stats.paired_bootstrap_fn_deltas(30, fn, 400, 9)
    assert point == pytest.approx(float((b - a).mean())) and boot.shape == (400,)
    assert np.allclose(boot, stats.resample_sums(b - a, n_boot=400, seed=9)[:, 0] / 30)
    _, lo, hi = stats.paired_bootstrap_ci_fn(30, fn, n_boot=400, seed=9)
    assert stats.paired_bootstrap_fn_p(30, fn, 400, 9, 0.05)[1:3] == (pytest.approx(lo), pytest.approx(hi))
    assert stats.paired_bootstrap_fn_deltas(1, fn, 400, 9)[1].size == 0
