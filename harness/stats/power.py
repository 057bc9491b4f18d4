"""Power of a paired comparison: the minimum detectable effect (MDE) at a given n.

For a one-sided test at level ``alpha`` of a paired mean delta with per-sample standard deviation
``sd(d)``, the smallest true effect (beyond the null boundary) detected with probability ``power``
is, by the normal approximation,

    MDE = (z_{1 - alpha} + z_{power}) * sd(d) / sqrt(n).

For binary metrics ``sd(d)`` comes from the paired discordance: with ``p10`` the share of samples
A got right and B wrong and ``p01`` the reverse, ``d`` is +1, -1 or 0, so
``var(d) = (p10 + p01) - (p10 - p01)^2``. Two systems that rarely disagree detect small effects
with few samples; that is the point of pairing.

`mde_from_deltas` works from the per-sample paired differences themselves (the comparison's view).
For a binary metric it floors the MDE: an effect delta needs at least |delta| discordant pairs, so
var(d) >= |delta| - delta^2 under any alternative that has it, and the MDE is never below the delta
that solves delta = z * sqrt((delta - delta^2) / n), i.e. z^2 / (n + z^2). This matters when A and B
agree on nearly every sample: the observed discordance then says nothing about the variance an effect
would bring.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike

from .arrays import paired_arrays
from .tests import is_binary

__all__ = ["discordance_sd", "mde_from_deltas", "mde_from_se", "minimum_detectable_effect", "paired_sd"]


def discordance_sd(p10: float, p01: float) -> float:
    """Standard deviation of a paired binary delta from its discordant shares:
    ``sqrt((p10 + p01) - (p10 - p01)^2)``."""
    if not (0.0 <= p10 <= 1.0 and 0.0 <= p01 <= 1.0 and p10 + p01 <= 1.0 + 1e-12):
        raise ValueError(f"discordant shares must be in [0, 1] and sum to at most 1, got {p10!r}, {p01!r}")
    return math.sqrt(max(0.0, (p10 + p01) - (p10 - p01) ** 2))


def paired_sd(a: ArrayLike, b: ArrayLike) -> float:
    """Per-sample standard deviation of ``d = b - a``: from the discordance for binary outcomes
    (:func:`discordance_sd`), else the sample standard deviation (ddof=1; 0.0 for one sample)."""
    x, y = paired_arrays(a, b)
    n = x.size
    if n == 0:
        raise ValueError("no paired samples")
    if is_binary(x) and is_binary(y):
        p10 = float(np.count_nonzero((x == 1) & (y == 0))) / n
        p01 = float(np.count_nonzero((x == 0) & (y == 1))) / n
        return discordance_sd(p10, p01)
    return float(np.std(y - x, ddof=1)) if n > 1 else 0.0


def minimum_detectable_effect(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """``(z_{1-alpha} + z_{power}) * sd / sqrt(n)``: the smallest true effect beyond the null
    boundary a one-sided level-``alpha`` paired test detects with probability ``power``
    (normal approximation). ``inf`` with no samples."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power!r}")
    if not (math.isfinite(sd) and sd >= 0.0):
        raise ValueError(f"sd must be a finite non-negative number, got {sd!r}")
    if n <= 0:
        return math.inf
    z = NormalDist()
    return (z.inv_cdf(1.0 - alpha) + z.inv_cdf(power)) * sd / math.sqrt(n)


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


def mde_from_deltas(deltas: ArrayLike, alpha: float = 0.05, power: float = 0.8) -> float:
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
