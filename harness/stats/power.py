"""Power of a paired comparison: the smallest effect a one-sided test at level alpha detects with the
given power at the comparison's paired n (normal approximation).

    MDE = (z_{1-alpha} + z_{power}) * sd(d) / sqrt(n)

over the per-sample paired differences d = B - A. For a binary metric (every d in {-1, 0, 1}) the
variance comes from the paired discordance: with p10 and p01 the shares of samples where only B or
only A succeeds, var(d) = (p10 + p01) - (p10 - p01)^2. An effect delta of a binary metric needs at
least |delta| discordant pairs, so var(d) >= |delta| - delta^2 under any alternative that has it;
the MDE is therefore never below the delta that solves delta = z * sqrt((delta - delta^2) / n),
i.e. z^2 / (n + z^2) (this matters when A and B agree on nearly every sample: the observed
discordance then says nothing about the variance an effect would bring). Other metrics use the
sample standard deviation (ddof = 1).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike


def _z_sum(alpha: float, power: float) -> float:
    if not (0.0 < alpha < 1.0):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not (0.0 < power < 1.0):
        raise ValueError(f"power must be in (0, 1), got {power!r}")
    z = NormalDist()
    return z.inv_cdf(1.0 - alpha) + z.inv_cdf(power)


def mde_from_se(se: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """(z_{1-alpha} + z_{power}) * se: the MDE of a statistic with standard error `se` (e.g. the
    standard deviation of its bootstrap distribution)."""
    return _z_sum(alpha, power) * float(se)


def minimum_detectable_effect(deltas: ArrayLike, alpha: float = 0.05, power: float = 0.8) -> float:
    """The minimum detectable effect (in the metric's units, positive) of a one-sided paired test at
    level `alpha` with power `power`, from the per-sample paired differences `deltas` (B - A); NaN
    with fewer than two. See the module docstring for the binary case."""
    d = np.asarray(deltas, dtype=np.float64).ravel()
    d = d[np.isfinite(d)]
    n = d.size
    zs = _z_sum(alpha, power)
    if n < 2:
        return math.nan
    if np.all((d == 0.0) | (d == 1.0) | (d == -1.0)):
        p10 = float(np.count_nonzero(d == 1.0)) / n
        p01 = float(np.count_nonzero(d == -1.0)) / n
        var = (p10 + p01) - (p10 - p01) ** 2
        floor = zs * zs / (n + zs * zs)
        return max(zs * math.sqrt(max(var, 0.0) / n), floor)
    return zs * float(np.std(d, ddof=1)) / math.sqrt(n)
