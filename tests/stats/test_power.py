"""harness.stats.power: the minimum detectable effect of a paired comparison, and a simulation
check that the gate's one-sided bootstrap test rejects at about the chosen power when the true effect
is the MDE beyond the null boundary."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray

from harness import stats

N = 200


def test_formulas() -> None:
    z = 1.6448536269514722 + 0.8416212335729143
    assert stats.minimum_detectable_effect(1.0, 100) == pytest.approx(z / 10)
    assert stats.minimum_detectable_effect(0.5, 100, alpha=0.025, power=0.9) == pytest.approx(
        (1.959963984540054 + 1.2815515655446004) * 0.05
    )
    assert stats.minimum_detectable_effect(1.0, 0) == math.inf
    assert stats.discordance_sd(0.1, 0.1) == pytest.approx(math.sqrt(0.2))
    assert stats.discordance_sd(0.3, 0.1) == pytest.approx(math.sqrt(0.4 - 0.04))
    # binary: the discordance formula is the plug-in variance of d in {-1, 0, 1}
    a = np.array([1, 1, 1, 0, 0, 0, 1, 0, 1, 1], dtype=float)
    b = np.array([0, 1, 1, 1, 0, 0, 0, 0, 1, 1], dtype=float)
    assert stats.paired_sd(a, b) == pytest.approx(float(np.std(b - a)))
    assert stats.paired_sd(a, b) == pytest.approx(stats.discordance_sd(0.2, 0.1))
    c = np.array([0.1, 0.5, 0.9, 0.3])
    assert stats.paired_sd(c, c + np.array([0.1, -0.1, 0.2, 0.0])) == pytest.approx(
        float(np.std([0.1, -0.1, 0.2, 0.0], ddof=1))
    )
    for bad in ((-0.1, 0.2), (0.7, 0.6)):
        with pytest.raises(ValueError):
            stats.discordance_sd(*bad)
    with pytest.raises(ValueError):
        stats.minimum_detectable_effect(1.0, 10, alpha=0.0)


def rejection_rate(
    draw: Callable[[np.random.Generator], NDArray[np.float64]], threshold: float, level: float, n_sim: int
) -> float:
    """Share of simulated comparisons whose bootstrap p of H0: d <= threshold is <= level, with the
    gate's resamples (seed 0, B = 2000) applied to every simulated set of per-sample deltas."""
    rng = np.random.default_rng(11)
    n_boot = stats.resamples_for(level)
    eye = np.eye(N)
    counts = np.hstack(
        [stats.resample_sums(eye[:, j : j + 8], n_boot=n_boot, seed=0) for j in range(0, N, 8)]
    )
    d = np.column_stack([draw(rng) for _ in range(n_sim)])
    boots = counts @ d / N
    return float(np.mean([stats.margin_p_value(boots[:, i], threshold) <= level for i in range(n_sim)]))


def test_rejection_rate_at_the_mde_is_about_the_power() -> None:
    n_sim, power = 2000, 0.8
    se = math.sqrt(power * (1 - power) / n_sim)
    tol = 3 * se + 0.01  # Monte-Carlo error, plus the normal approximation's on a discrete metric

    # binary metric, H0: d <= 0 at alpha 0.05; discordance 0.2 (sd at the alternative, solved for d)
    c, alpha = 0.2, 0.05
    mde = 0.05
    for _ in range(50):
        mde = stats.minimum_detectable_effect(
            stats.discordance_sd((c - mde) / 2, (c + mde) / 2), N, alpha, power
        )

    def binary(rng: np.random.Generator) -> NDArray[np.float64]:
        u = rng.random(N)
        return np.where(u < (c + mde) / 2, 1.0, np.where(u < c, -1.0, 0.0))

    rate_binary = rejection_rate(binary, 0.0, alpha, n_sim)

    # continuous metric, H0: d <= 0.05 at Holm's smallest level for three rules
    sd, level, margin = 0.3, 0.05 / 3, 0.05
    mde_c = stats.minimum_detectable_effect(sd, N, level, power)

    def continuous(rng: np.random.Generator) -> NDArray[np.float64]:
        return margin + mde_c + rng.normal(0.0, sd, N)

    rate_continuous = rejection_rate(continuous, margin, level, n_sim)
    print(
        f"\nMDE check, n={N}, power {power}: binary (discordance {c}) MDE {mde:.4f} at alpha {alpha} "
        f"-> rejection rate {rate_binary:.3f}; continuous (sd {sd}) MDE {mde_c:.4f} at alpha "
        f"{level:.4f} -> rejection rate {rate_continuous:.3f} ({n_sim} simulations each, "
        f"tolerance {tol:.3f})"
    )
    assert abs(rate_binary - power) <= tol
    assert abs(rate_continuous - power) <= tol
