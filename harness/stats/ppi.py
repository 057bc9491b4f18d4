"""Prediction-powered inference (PPI; Angelopoulos, Bates, Fannjiang, Jordan, Zrnic, Science 2023)
for a mean: the human win rate estimated from a judge's verdicts on every pair plus human labels on
a random subset of them.

With f the judge's value of a pair (B wins 1, tie 0.5, A wins 0), y the humans' value (the mean of
the ratings of that pair) and r = y - f the judge's error on a rated pair:

    theta_PP = mean(f over all N judged pairs) + mean(r over the n rated pairs)

The second term (the "rectifier") removes the judge's bias, whatever it is; the first brings the
precision of N pairs as far as the judge tracks the humans. The rated pairs are here a subset of the
N (the judge judges every pair), so the two means are not independent:

    Var(theta_PP) = var(f) / N + var(r) / n + 2 cov(f, r) / N

(each rated pair's f enters the first mean with weight 1/N; the cross term is that pair's
covariance). The interval is the normal approximation theta_PP +- z * sqrt(Var). It is valid when
the rated pairs are a random sample of the judged ones, not a hand-picked set.

Every function here works along the last axis, so one call evaluates many simulated trials at once
(arrays of shape (trials, N)); with 1-D input it returns floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True)
class MeanEstimate:
    """A mean with a normal-approximation interval (arrays when estimated for many trials at once)."""

    point: Any
    low: Any
    high: Any
    se: Any


def _z(alpha: float) -> float:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return NormalDist().inv_cdf(1.0 - alpha / 2.0)


def _out(point: NDArray[np.float64], se: NDArray[np.float64], z: float) -> MeanEstimate:
    lo, hi = point - z * se, point + z * se
    if np.ndim(point) == 0:
        return MeanEstimate(float(point), float(lo), float(hi), float(se))
    return MeanEstimate(point, lo, hi, se)


def normal_mean(values: ArrayLike, *, alpha: float = 0.05) -> MeanEstimate:
    """The plain mean with a normal interval (sample variance, ddof 1): what the judge's raw win
    rate claims when it is taken for the human one."""
    x = np.asarray(values, dtype=float)
    n = x.shape[-1]
    if n < 2:
        raise ValueError("normal_mean needs at least 2 values")
    return _out(x.mean(axis=-1), np.sqrt(x.var(axis=-1, ddof=1) / n), _z(alpha))


def ppi_mean(
    judge_all: ArrayLike, judge_rated: ArrayLike, human_rated: ArrayLike, *, alpha: float = 0.05
) -> MeanEstimate:
    """theta_PP and its (1 - alpha) normal interval; see the module docstring. `judge_all`: the
    judge's values on all N pairs (the rated ones included); `judge_rated` and `human_rated`: the
    judge's and the humans' values on the n rated pairs, aligned."""
    f_all = np.asarray(judge_all, dtype=float)
    f = np.asarray(judge_rated, dtype=float)
    y = np.asarray(human_rated, dtype=float)
    if f.shape != y.shape:
        raise ValueError(f"judge_rated and human_rated differ in shape: {f.shape} vs {y.shape}")
    big_n, n = f_all.shape[-1], f.shape[-1]
    if n < 2 or big_n < 2:
        raise ValueError(f"PPI needs at least 2 rated and 2 judged pairs, got n={n}, N={big_n}")
    if n > big_n:
        raise ValueError(f"more rated pairs ({n}) than judged pairs ({big_n})")
    r = y - f
    point = f_all.mean(axis=-1) + r.mean(axis=-1)
    cov = ((f - f.mean(axis=-1, keepdims=True)) * (r - r.mean(axis=-1, keepdims=True))).sum(axis=-1) / (n - 1)
    var = f_all.var(axis=-1, ddof=1) / big_n + r.var(axis=-1, ddof=1) / n + 2.0 * cov / big_n
    return _out(point, np.sqrt(np.maximum(var, 0.0)), _z(alpha))


def wilson_interval(successes: int, n: int, *, alpha: float = 0.05) -> tuple[float, float] | None:
    """Wilson score interval of a proportion (e.g. the share of pairs where the judge agrees with the
    humans); None with n = 0."""
    if n <= 0:
        return None
    z = _z(alpha)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))
