"""Tests for harness.stats: bootstrap coverage, McNemar, Holm, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.stats import (
    bootstrap_ci,
    bootstrap_ci_fn,
    holm,
    is_binary,
    mcnemar_exact,
    paired_bootstrap_ci,
    paired_bootstrap_ci_fn,
    percentile,
    win_tie_loss,
)

N_TRIALS = 1000


def _is_nan_triple(ci: tuple[float, float, float]) -> bool:
    return all(math.isnan(x) for x in ci)


# --------------------------------------------------------------------------- coverage (acceptance)


def test_paired_bootstrap_coverage_of_known_delta() -> None:
    """95% paired CI of the delta covers the true delta (0.1) in 93-97% of 1,000 independent trials."""
    true_delta, n = 0.1, 200
    covered = 0
    for trial in range(N_TRIALS):
        rng = np.random.default_rng(10_000 + trial)
        a = rng.normal(0.0, 1.0, n)
        b = a + true_delta + rng.normal(0.0, 0.5, n)
        point, low, high = paired_bootstrap_ci(a, b, n_boot=1000, alpha=0.05, seed=trial)
        assert low <= point <= high
        covered += low <= true_delta <= high
    coverage = covered / N_TRIALS
    assert 0.93 <= coverage <= 0.97, coverage


def test_bootstrap_mean_coverage_bernoulli() -> None:
    """95% CI of the mean of Bernoulli(0.7) data (n=300) covers 0.7 in 93-97% of 1,000 trials."""
    p, n = 0.7, 300
    covered = 0
    for trial in range(N_TRIALS):
        rng = np.random.default_rng(20_000 + trial)
        x = rng.random(n) < p
        _, low, high = bootstrap_ci(x, n_boot=1000, alpha=0.05, seed=trial)
        covered += low <= p <= high
    coverage = covered / N_TRIALS
    assert 0.93 <= coverage <= 0.97, coverage


# --------------------------------------------------------------------------- bootstrap behaviour


def test_bootstrap_point_is_mean_and_bounds_ordered() -> None:
    v = np.random.default_rng(1).normal(2.0, 1.0, 100)
    point, low, high = bootstrap_ci(v)
    assert point == pytest.approx(float(v.mean()))
    assert low < point < high


def test_bootstrap_is_deterministic_given_seed() -> None:
    v = np.random.default_rng(2).random(50)
    assert bootstrap_ci(v, seed=7) == bootstrap_ci(v, seed=7)
    assert bootstrap_ci(v, seed=7) != bootstrap_ci(v, seed=8)
    a, b = v, v + np.random.default_rng(3).normal(0.0, 0.1, 50)
    assert paired_bootstrap_ci(a, b, seed=5) == paired_bootstrap_ci(a, b, seed=5)


def test_smaller_alpha_gives_wider_interval() -> None:
    v = np.random.default_rng(4).random(80)
    _, lo95, hi95 = bootstrap_ci(v, alpha=0.05)
    _, lo80, hi80 = bootstrap_ci(v, alpha=0.20)
    assert lo95 <= lo80 and hi80 <= hi95


def test_fn_path_equals_mean_path() -> None:
    v = np.random.default_rng(5).normal(0.0, 1.0, 60)
    expected = bootstrap_ci(v, n_boot=300, seed=11)
    got = bootstrap_ci_fn(len(v), lambda idx: float(v[idx].mean()), n_boot=300, seed=11)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)
    custom = bootstrap_ci(v, stat=np.mean, n_boot=300, seed=11)
    assert custom == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_paired_fn_path_equals_paired_mean_path() -> None:
    rng = np.random.default_rng(6)
    a = rng.random(70)
    b = a + rng.normal(0.05, 0.1, 70)
    expected = paired_bootstrap_ci(a, b, n_boot=300, seed=3)
    got = paired_bootstrap_ci_fn(len(a), lambda idx: float(b[idx].mean() - a[idx].mean()), n_boot=300, seed=3)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert expected[0] == pytest.approx(float((b - a).mean()))


def test_fn_path_corpus_metric() -> None:
    """A non-mean corpus metric (macro accuracy over two classes) runs and brackets its point."""
    rng = np.random.default_rng(8)
    gold = rng.integers(0, 2, 120)
    pred = np.where(rng.random(120) < 0.8, gold, 1 - gold)

    def macro_recall(idx: np.ndarray) -> float:
        g, p = gold[idx], pred[idx]
        return float(np.mean([np.mean(p[g == c] == c) for c in (0, 1)]))

    point, low, high = bootstrap_ci_fn(120, macro_recall, n_boot=200, seed=1)
    assert point == pytest.approx(macro_recall(np.arange(120)))
    assert low <= point <= high
    assert bootstrap_ci_fn(120, macro_recall, n_boot=200, seed=1) == (point, low, high)


def test_fn_non_finite_statistic_raises() -> None:
    with pytest.raises(ValueError):
        bootstrap_ci_fn(5, lambda idx: math.nan if idx[0] != 0 or idx[1] != 1 else 0.0, n_boot=50)


def test_constant_delta_gives_degenerate_interval() -> None:
    a = np.arange(10, dtype=float)
    assert paired_bootstrap_ci(a, a + 0.25) == pytest.approx((0.25, 0.25, 0.25))


# --------------------------------------------------------------------------- bootstrap edge cases


def test_empty_inputs_give_nan() -> None:
    assert _is_nan_triple(bootstrap_ci([]))
    assert _is_nan_triple(paired_bootstrap_ci([], []))
    assert _is_nan_triple(bootstrap_ci_fn(0, lambda idx: 1.0))
    assert _is_nan_triple(paired_bootstrap_ci_fn(0, lambda idx: 1.0))


def test_single_value_collapses() -> None:
    assert bootstrap_ci([0.4]) == (0.4, 0.4, 0.4)
    assert paired_bootstrap_ci([1.0], [0.0]) == (-1.0, -1.0, -1.0)
    assert bootstrap_ci_fn(1, lambda idx: 3.0) == (3.0, 3.0, 3.0)
    assert bootstrap_ci([2.0], stat=np.median) == (2.0, 2.0, 2.0)


@pytest.mark.parametrize("bad", [[1.0, None], [1.0, float("nan")], [float("inf")], [[1.0, 2.0]], ["x"]])
def test_invalid_values_raise(bad: list) -> None:
    with pytest.raises(ValueError):
        bootstrap_ci(bad)


def test_mismatched_lengths_raise() -> None:
    with pytest.raises(ValueError):
        paired_bootstrap_ci([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        mcnemar_exact([True, False], [True])
    with pytest.raises(ValueError):
        win_tie_loss([1.0], [1.0, 2.0])


@pytest.mark.parametrize("kwargs", [{"alpha": 0.0}, {"alpha": 1.0}, {"n_boot": 0}, {"n_boot": 2.5}])
def test_invalid_bootstrap_args_raise(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0, 3.0], **kwargs)


def test_invalid_n_raises() -> None:
    with pytest.raises(ValueError):
        bootstrap_ci_fn(-1, lambda idx: 0.0)


# --------------------------------------------------------------------------- McNemar


def _pairs(b01: int, b10: int, both_right: int = 3, both_wrong: int = 4) -> tuple[list[bool], list[bool]]:
    a = [False] * b01 + [True] * b10 + [True] * both_right + [False] * both_wrong
    b = [True] * b01 + [False] * b10 + [True] * both_right + [False] * both_wrong
    return a, b


@pytest.mark.parametrize(
    ("b01", "b10", "expected"),
    [
        (10, 2, 0.0386),  # 2 * (1 + 12 + 66) / 4096 = 0.038574
        (6, 0, 0.0312),  # 2 / 64 = 0.03125
        (3, 0, 0.25),  # 2 / 8
        (5, 5, 1.0),  # 2 * P(X <= 5 | Bin(10, .5)) > 1 -> capped
        (1, 1, 1.0),
    ],
)
def test_mcnemar_known_cases(b01: int, b10: int, expected: float) -> None:
    a, b = _pairs(b01, b10)
    res = mcnemar_exact(a, b)
    assert (res["b01"], res["b10"], res["n_discordant"], res["n"]) == (b01, b10, b01 + b10, len(a))
    assert round(res["p_value"], 4) == pytest.approx(expected)


def test_mcnemar_exact_value() -> None:
    a, b = _pairs(10, 2)
    assert mcnemar_exact(a, b)["p_value"] == pytest.approx(2 * 79 / 4096, rel=1e-12)


def test_mcnemar_symmetric() -> None:
    a, b = _pairs(9, 3)
    ab, ba = mcnemar_exact(a, b), mcnemar_exact(b, a)
    assert ab["p_value"] == ba["p_value"]
    assert (ab["b01"], ab["b10"]) == (ba["b10"], ba["b01"])


def test_mcnemar_no_discordant_pairs() -> None:
    a, b = _pairs(0, 0)
    res = mcnemar_exact(a, b)
    assert res["p_value"] == 1.0 and res["n_discordant"] == 0
    assert mcnemar_exact([], [])["p_value"] == 1.0


def test_mcnemar_accepts_01_and_rejects_non_binary() -> None:
    assert mcnemar_exact([0, 1, 1], [1, 1, 0])["b01"] == 1
    with pytest.raises(ValueError):
        mcnemar_exact([0.5, 1.0], [1.0, 1.0])


# --------------------------------------------------------------------------- win/tie/loss


def test_win_tie_loss() -> None:
    a = [0.0, 1.0, 0.5, 0.5, 0.2]
    b = [1.0, 0.0, 0.5, 0.5 + 1e-15, 0.9]
    assert win_tie_loss(a, b) == (2, 2, 1)
    assert win_tie_loss(b, a) == (1, 2, 2)
    assert win_tie_loss(a, b, tol=0.8) == (1, 3, 1)
    assert win_tie_loss([], []) == (0, 0, 0)


# --------------------------------------------------------------------------- Holm


def test_holm_textbook() -> None:
    out = holm([0.01, 0.04, 0.03, 0.005], alpha=0.05)
    assert [p for p, _ in out] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert [r for _, r in out] == [True, False, False, True]


def test_holm_caps_and_monotone() -> None:
    pvals = [0.5, 0.01, 0.9, 0.02, 0.3]
    out = holm(pvals)
    adj = [p for p, _ in out]
    assert all(0.0 <= p <= 1.0 for p in adj)
    order = np.argsort(pvals)
    sorted_adj = [adj[i] for i in order]
    assert sorted_adj == sorted(sorted_adj)
    assert all(q >= p for p, q in zip(pvals, adj, strict=True))
    assert holm([0.6, 0.7])[1][0] == 1.0


def test_holm_small_cases() -> None:
    assert holm([]) == []
    assert holm([0.04]) == [(0.04, True)]
    assert [p for p, _ in holm([0.01, 0.02, 0.03])] == pytest.approx([0.03, 0.04, 0.04])
    with pytest.raises(ValueError):
        holm([0.1, 1.5])
    with pytest.raises(ValueError):
        holm([float("nan")])


# --------------------------------------------------------------------------- helpers


def test_percentile() -> None:
    v = list(range(1, 11))
    assert percentile(v, 50) == pytest.approx(5.5)
    assert percentile(v, 95) == pytest.approx(9.55)
    assert percentile(v, [50, 95]) == pytest.approx([5.5, 9.55])
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile(v, 101)


def test_is_binary() -> None:
    assert is_binary([True, False, True])
    assert is_binary([0, 1, 1.0])
    assert is_binary(np.array([0, 1]))
    assert is_binary([])
    assert not is_binary([0, 1, 2])
    assert not is_binary([0.5])
    assert not is_binary([0, None])  # type: ignore[arg-type]
    assert not is_binary(["a"])
