"""The minimum detectable effect (harness.stats.power, issue 12 point 7): the formula on constructed
cases, and simulations showing that an effect of the MDE is detected with power about 0.8 by the
one-sided paired test at alpha (continuous and binary metrics)."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from harness.stats import mde_from_deltas, mde_from_se

Z95, Z80 = NormalDist().inv_cdf(0.95), NormalDist().inv_cdf(0.8)
TRIALS = 400
MC_TOL = 3 * math.sqrt(0.8 * 0.2 / TRIALS)  # three Monte Carlo standard errors of a rate near 0.8


def test_formula_on_constructed_cases() -> None:
    d = np.array([0.5, -0.25, 1.0, 0.0, 0.75, 0.125, -0.5, 0.25])
    expected = (Z95 + Z80) * float(np.std(d, ddof=1)) / math.sqrt(d.size)
    assert mde_from_deltas(d) == pytest.approx(expected, rel=1e-12)
    # binary: the variance of d from the paired discordance
    n, n10, n01 = 50, 9, 4
    binary = [1] * n10 + [-1] * n01 + [0] * (n - n10 - n01)
    p10, p01 = n10 / n, n01 / n
    expected = (Z95 + Z80) * math.sqrt((p10 + p01) - (p10 - p01) ** 2) / math.sqrt(n)
    assert mde_from_deltas(binary) == pytest.approx(expected, rel=1e-12)
    z = NormalDist().inv_cdf(0.99) + NormalDist().inv_cdf(0.9)
    assert mde_from_deltas(binary, alpha=0.01, power=0.9) == pytest.approx(expected * z / (Z95 + Z80))
    assert mde_from_se(0.1) == pytest.approx((Z95 + Z80) * 0.1)


def test_binary_floor_when_a_and_b_agree_everywhere() -> None:
    # no discordant pair: the observed variance is 0, but any effect brings discordance with it
    zs = Z95 + Z80
    assert mde_from_deltas([0] * 40) == pytest.approx(zs**2 / (40 + zs**2))
    assert mde_from_deltas([0] * 40) > 0.1  # n=40 cannot show 0.05
    assert math.isnan(mde_from_deltas([1.0])) and math.isnan(mde_from_deltas([]))
    with pytest.raises(ValueError):
        mde_from_deltas([0, 1], alpha=0.0)


def _rejection_rate(d: np.ndarray, alpha: float = 0.05) -> float:
    """One-sided paired z-test per trial (rows): mean / (sd / sqrt(n)) > z_{1-alpha}."""
    n = d.shape[1]
    t = d.mean(axis=1) / (d.std(axis=1, ddof=1) / math.sqrt(n))
    return float(np.mean(t > NormalDist().inv_cdf(1 - alpha)))


def test_simulated_power_at_the_mde_is_about_080_continuous() -> None:
    rng = np.random.default_rng(12)
    n, sigma = 100, 1.5
    mde = (Z95 + Z80) * sigma / math.sqrt(n)
    d = rng.normal(mde, sigma, size=(TRIALS, n))
    assert abs(_rejection_rate(d) - 0.8) <= MC_TOL
    # the MDE estimated from each trial's own data is about the true one
    est = np.array([mde_from_deltas(row) for row in d])
    assert abs(float(est.mean()) - mde) < 0.03 * mde
    # half the effect is detected far less often
    assert _rejection_rate(rng.normal(mde / 2, sigma, size=(TRIALS, n))) < 0.45


def test_simulated_power_at_the_mde_is_about_080_binary() -> None:
    rng = np.random.default_rng(7)
    n, disc = 200, 0.3  # share of discordant pairs
    zs = Z95 + Z80
    # the effect whose own discordance-based variance gives power 0.8: delta = zs * sqrt((disc - delta^2) / n)
    delta = zs * math.sqrt(disc / (n + zs**2))
    p10, p01 = (disc + delta) / 2, (disc - delta) / 2
    u = rng.random((TRIALS, n))
    d = np.where(u < p10, 1.0, np.where(u < p10 + p01, -1.0, 0.0))
    assert abs(_rejection_rate(d) - 0.8) <= MC_TOL
    est = np.array([mde_from_deltas(row) for row in d])
    assert abs(float(est.mean()) - delta) < 0.05 * delta
