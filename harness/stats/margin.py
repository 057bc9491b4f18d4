"""Tests of paired deltas against margins, one-sided, from bootstrap replicates, and Holm's
step-down across several of them (what the gate's improves / non_inferior rules are decided on).

Conventions. ``d`` is a paired delta oriented so that larger is better (``b - a`` for a metric where
higher is better, ``a - b`` where lower is better) and ``boot`` holds its bootstrap replicates
``d*_1 .. d*_B``. Each hypothesis is ``H0: d <= t`` against ``H1: d > t`` for a threshold ``t``
(``t = margin`` for "improves", ``t = -margin`` for "non-inferior").

* p-value: ``(1 + #{d*_b <= t}) / (B + 1)`` -- the share of replicates on the null side, with the
  +1 correction that keeps a Monte-Carlo p-value valid (it is never 0).
* One-sided lower confidence bound at level ``1 - level``: the ``(k+1)``-th smallest replicate with
  ``k = floor(level * (B + 1)) - 1``. By construction ``p(t) <= level`` exactly when ``t < bound``,
  so "the bound clears the threshold" and "p <= level" are one decision, stated two ways.
* Holm: sort the p-values ascending; reject ``H0_(i)`` while ``p_(i) <= alpha / (m - i + 1)``; at
  the first non-rejection stop: that hypothesis and every later one are not rejected. Family-wise
  error at most ``alpha`` under any dependence between the tests.
* Resamples: a p-value can only reach ``level`` when ``B + 1 >= 1 / level``; ``resamples_for`` asks
  for about 40 replicates in the tail of the smallest level (``B >= 40 m / alpha``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .tests import holm

__all__ = [
    "MarginTest",
    "holm_step_down",
    "lower_confidence_bound",
    "margin_p_value",
    "margin_tests",
    "resamples_for",
]


def _boot(boot: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(boot, dtype=np.float64).ravel()
    if arr.size == 0:
        raise ValueError("no bootstrap replicates")
    if not np.all(np.isfinite(arr)):
        raise ValueError("bootstrap replicates must be finite")
    return arr


def margin_p_value(boot: ArrayLike, threshold: float) -> float:
    """Bootstrap p-value of ``H0: d <= threshold`` from replicates ``boot`` of ``d`` (larger is
    better): ``(1 + #{d* <= threshold}) / (B + 1)``."""
    arr = _boot(boot)
    return (1.0 + float(np.count_nonzero(arr <= threshold))) / (arr.size + 1.0)


def lower_confidence_bound(boot: ArrayLike, level: float) -> float | None:
    """One-sided lower confidence bound of ``d`` at ``1 - level``: the smallest threshold that
    :func:`margin_p_value` does NOT reject at ``level`` (``p(t) <= level`` iff ``t < bound``).
    None when ``B`` is too small for any p-value to reach ``level``."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    arr = np.sort(_boot(boot))
    k = math.floor(level * (arr.size + 1) + 1e-9) - 1  # the most replicates allowed at or below t
    if k < 0:
        return None
    return float(arr[min(k, arr.size - 1)])


def holm_step_down(pvalues: Sequence[float], alpha: float) -> list[tuple[bool, float]]:
    """Holm's step-down with its stop: ``(rejected, level)`` per input p-value, in input order.

    ``level`` is ``alpha / (m - i + 1)`` for the p-value ranked ``i`` (1-based, ties in input
    order): the level it was, or would have been, compared with. Once one ranked p-value exceeds its
    level, it and every later-ranked one are not rejected, whatever their own p-values.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    m = len(pvalues)
    order = sorted(range(m), key=lambda k: (pvalues[k], k))
    out: list[tuple[bool, float]] = [(False, alpha)] * m
    going = True
    for rank, k in enumerate(order, start=1):
        level = alpha / (m - rank + 1)
        going = going and pvalues[k] <= level
        out[k] = (going, level)
    return out


def resamples_for(alpha: float, m: int = 1, at_least: int = 2000) -> int:
    """Bootstrap replicates enough for the smallest level ``alpha / m``: about 40 in its tail."""
    return max(int(at_least), math.ceil(40 * max(1, m) / alpha))


@dataclass(frozen=True)
class MarginTest:
    """One hypothesis ``H0: d <= threshold`` decided by :func:`margin_tests`."""

    p_value: float
    """Bootstrap p of the hypothesis's own null (1.0 when there were no replicates)."""
    level: float
    """The level it was tested at: ``alpha``, or Holm's ``alpha / (m - rank + 1)``."""
    passed: bool
    """H0 rejected: ``d > threshold`` shown."""
    p_adjusted: float | None
    """Holm-adjusted p-value (None without Holm)."""
    bound: float | None
    """One-sided lower confidence bound of ``d`` at ``1 - level``."""
    stopped: bool
    """Holm stopped before this hypothesis: not rejected although ``p_value <= level``."""


def margin_tests(
    boots: Sequence[ArrayLike | None], thresholds: Sequence[float], alpha: float, *, holm_adjust: bool
) -> list[MarginTest]:
    """Decide ``H0_j: d_j <= thresholds[j]`` for replicates ``boots[j]`` (larger is better; None
    for a hypothesis without replicates: p = 1, never rejected, still counted in Holm's ``m``).

    Without Holm each is rejected iff its own p <= alpha; with Holm by :func:`holm_step_down`.
    For the Holm family to be one bootstrap distribution, draw every ``boots[j]`` from the same
    resample indices (e.g. the columns of one :func:`resample_sums` call).
    """
    if len(boots) != len(thresholds):
        raise ValueError("one threshold per set of replicates")
    ps = [1.0 if b is None else margin_p_value(b, t) for b, t in zip(boots, thresholds, strict=True)]
    if holm_adjust:
        steps = holm_step_down(ps, alpha)
        adjusted: list[float | None] = [q for q, _ in holm(ps, alpha)] if ps else []
    else:
        steps = [(p <= alpha, alpha) for p in ps]
        adjusted = [None] * len(ps)
    out = []
    for b, p, (rejected, level), adj in zip(boots, ps, steps, adjusted, strict=True):
        passed = rejected and b is not None
        out.append(
            MarginTest(
                p_value=p,
                level=level,
                passed=passed,
                p_adjusted=adj,
                bound=None if b is None else lower_confidence_bound(b, level),
                stopped=holm_adjust and not passed and b is not None and p <= level,
            )
        )
    return out
