"""Power of a paired comparison: the minimum detectable effect (MDE) at a given n.

For a one-sided test at level ``alpha`` of a paired mean delta with per-sample standard deviation
``sd(d)``, the smallest true effect (beyond the null boundary) detected with probability ``power``
is, by the normal approximation,

    MDE = (z_{1 - alpha} + z_{power}) * sd(d) / sqrt(n).

For binary metrics ``sd(d)`` comes from the paired discordance: with ``p10`` the share of samples
A got right and B wrong and ``p01`` the reverse, ``d`` is +1, -1 or 0, so
``var(d) = (p10 + p01) - (p10 - p01)^2``. Two systems that rarely disagree detect small effects
with few samples; that is the point of pairing.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike

from .arrays import paired_arrays
from .tests import is_binary

__all__ = ["discordance_sd", "minimum_detectable_effect", "paired_sd"]


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
