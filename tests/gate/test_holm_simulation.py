"""Simulation check of the gate's multiple-rule procedure (`stats.margin_tests` with Holm, on one
paired bootstrap distribution per comparison, as `harness.gate` runs it), on synthetic paired data.

A 3-rule policy on n = 200 paired samples: improves(margin 0.10) on a binary metric, improves(margin
0.05) on a continuous one, non_inferior(margin 0.10) on a second binary metric. Each simulated
policy draws the three metrics' per-sample deltas, resamples them together (one `resample_sums`
call: the same resample indices for every metric, B = `resamples_for(alpha, 3)`) and decides the
three rules (the replicates of all policies come from one matrix product with the resample counts).

* Under the null at the margins (true delta exactly at each rule's boundary: +0.10, +0.05, -0.10)
  the family-wise false-pass rate (any rule passes) must stay <= alpha + 3 Monte-Carlo SE.
  Without Holm the same draws pass some rule far more often, so the check can fail.
* Power: every rule passes at a true effect one margin beyond its boundary (improves: delta =
  2 x margin; non_inferior: delta = 0, an unchanged candidate).

`pytest -s` prints the numbers.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from harness import stats

ALPHA = 0.05
N = 200
DISCORDANT = 0.2  # binary metrics: share of samples where A and B disagree
SD = 0.2  # continuous metric: per-sample sd of the delta
RULES = (  # (kind, binary metric?, margin)
    ("improves", True, 0.10),
    ("improves", False, 0.05),
    ("non_inferior", True, 0.10),
)
THRESHOLDS = [m if kind == "improves" else -m for kind, _, m in RULES]


def draw_deltas(rng: np.random.Generator, true_deltas: list[float]) -> NDArray[np.float64]:
    """(N, 3) per-sample deltas b - a of paired (a, b) values with the given true mean deltas."""
    cols = []
    for (_, binary, _), d in zip(RULES, true_deltas, strict=True):
        if binary:  # p01 - p10 = d with p01 + p10 = DISCORDANT; concordant pairs right or wrong alike
            p01, p10 = (DISCORDANT + d) / 2, (DISCORDANT - d) / 2
            u = rng.random(N)
            a = np.where(u < p01, 0.0, np.where(u < p01 + p10, 1.0, (rng.random(N) < 0.7).astype(float)))
            b = np.where(u < p01, 1.0, np.where(u < p01 + p10, 0.0, a))
        else:  # a score in [0, 1] and a candidate shifted by d with noise
            a = rng.random(N)
            b = a + d + rng.normal(0.0, SD, N)
        cols.append(b - a)
    return np.column_stack(cols)


def resample_counts(n: int, n_boot: int) -> NDArray[np.float64]:
    """(n_boot, n): how often each sample is in each resample -- the resamples the gate draws
    (seed 0), read off `resample_sums` of the identity, so `counts @ x` is `resample_sums(x)` for
    every policy at the cost of one matrix product."""
    eye = np.eye(n)
    return np.hstack([stats.resample_sums(eye[:, j : j + 8], n_boot=n_boot, seed=0) for j in range(0, n, 8)])


def simulate(true_deltas: list[float], n_sim: int, seed: int) -> tuple[float, float, float]:
    """(any-rule pass rate with Holm, all-rules pass rate with Holm, any-rule pass rate without)."""
    rng = np.random.default_rng(seed)
    k = len(RULES)
    counts = resample_counts(N, stats.resamples_for(ALPHA, k))
    deltas = [draw_deltas(rng, true_deltas) for _ in range(n_sim)]
    assert np.allclose(counts @ deltas[0], stats.resample_sums(deltas[0], n_boot=counts.shape[0], seed=0))
    any_holm = all_holm = any_plain = 0
    for i in range(n_sim):
        if i % 250 == 0:  # column k * (i % 250) + j: metric j of policy i
            boots = (counts @ np.hstack(deltas[i : i + 250])) / N
        mine = [boots[:, k * (i % 250) + j] for j in range(k)]  # one distribution, 3 metrics
        holm = [t.passed for t in stats.margin_tests(mine, THRESHOLDS, ALPHA, holm_adjust=True)]
        plain = [t.passed for t in stats.margin_tests(mine, THRESHOLDS, ALPHA, holm_adjust=False)]
        any_holm += any(holm)
        all_holm += all(holm)
        any_plain += any(plain)
    return any_holm / n_sim, all_holm / n_sim, any_plain / n_sim


def test_family_wise_false_pass_rate_at_the_margins_and_power() -> None:
    n_sim = 2000
    fwer, _, fwer_plain = simulate(THRESHOLDS, n_sim, seed=20261)
    se = math.sqrt(ALPHA * (1 - ALPHA) / n_sim)
    beyond = [2 * m if kind == "improves" else 0.0 for kind, _, m in RULES]
    n_power = 1000
    _, power, _ = simulate(beyond, n_power, seed=20262)
    print(
        f"\nHolm, 3 rules, n={N}, alpha={ALPHA}, B={stats.resamples_for(ALPHA, 3)}: "
        f"family-wise false-pass rate at the margins {fwer:.3f} (limit {ALPHA + 3 * se:.3f}, "
        f"{n_sim} policies; without Holm {fwer_plain:.3f}); power (all three pass) one margin beyond "
        f"each boundary {power:.3f} ({n_power} policies)"
    )
    assert fwer <= ALPHA + 3 * se
    assert fwer_plain > ALPHA + 3 * se  # the check can fail: unadjusted rules exceed alpha
    assert power > 0.6
