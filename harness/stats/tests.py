"""Hypothesis tests and multiple-comparison control for paired per-sample outcomes: the exact
McNemar test, win/tie/loss counts and the Holm-Bonferroni adjustment.

Inputs follow the conventions of :mod:`harness.stats.bootstrap`: 1-D array-likes of finite floats
(bools are fine), ``a`` the baseline and ``b`` the candidate, a "win" meaning ``b`` is better.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypedDict

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .arrays import as_float_1d, paired_arrays

__all__ = ["McNemarResult", "holm", "is_binary", "mcnemar_exact", "win_tie_loss"]


class McNemarResult(TypedDict):
    """Result of :func:`mcnemar_exact`."""

    n: int
    """Number of paired samples."""
    b01: int
    """Samples ``a`` got wrong and ``b`` got right."""
    b10: int
    """Samples ``a`` got right and ``b`` got wrong."""
    n_discordant: int
    """``b01 + b10``."""
    p_value: float
    """Exact two-sided p-value (1.0 when there are no discordant pairs)."""


def is_binary(values: ArrayLike) -> bool:
    """True if every value is 0 or 1 (bools count); vacuously True for an empty input.

    Non-numeric or non-1-D input is simply not binary (returns False, never raises).
    """
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    if arr.ndim != 1:
        return False
    return bool(np.all((arr == 0.0) | (arr == 1.0)))


def _as_bool_1d(values: ArrayLike, name: str) -> NDArray[np.bool_]:
    arr = as_float_1d(values, name)
    if not is_binary(arr):
        raise ValueError(f"{name} must contain only 0/1 or bool outcomes")
    return arr.astype(bool)


def mcnemar_exact(a: ArrayLike, b: ArrayLike) -> McNemarResult:
    """Exact (binomial) McNemar test for paired binary outcomes.

    ``a`` and ``b`` are per-sample correctness (bool or 0/1) of two systems on the same samples.
    Only discordant pairs matter: ``b01`` (a wrong, b right) and ``b10`` (a right, b wrong).
    Under H0 each discordant pair is a fair coin, so the two-sided p-value is
    ``min(1, 2 * P(X <= min(b01, b10)))`` with ``X ~ Binomial(b01 + b10, 0.5)``, and 1.0 when
    there are no discordant pairs.

    Raises:
        ValueError: lengths differ, or a value is not 0/1/bool.
    """
    x = _as_bool_1d(a, "a")
    y = _as_bool_1d(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"a and b must have the same length, got {x.size} and {y.size}")
    b01 = int(np.count_nonzero(~x & y))
    b10 = int(np.count_nonzero(x & ~y))
    total = b01 + b10
    if total == 0:
        p = 1.0
    else:
        from scipy.stats import binom  # scipy.stats takes about a second to import: load on use

        p = min(1.0, 2.0 * float(binom.cdf(min(b01, b10), total, 0.5)))
    return McNemarResult(n=int(x.size), b01=b01, b10=b10, n_discordant=total, p_value=p)


def win_tie_loss(a: ArrayLike, b: ArrayLike, tol: float = 1e-12) -> tuple[int, int, int]:
    """Count per-sample ``(wins, ties, losses)`` of ``b`` against ``a`` (higher is better).

    A win is ``b - a > tol``, a loss ``b - a < -tol``, anything else a tie.
    """
    if not (math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite non-negative number, got {tol!r}")
    x, y = paired_arrays(a, b)
    d = y - x
    wins = int(np.count_nonzero(d > tol))
    losses = int(np.count_nonzero(d < -tol))
    return wins, int(d.size) - wins - losses, losses


def holm(pvalues: Sequence[float], alpha: float = 0.05) -> list[tuple[float, bool]]:
    """Holm-Bonferroni step-down adjustment of ``m`` p-values.

    With the p-values sorted ascending, ``p_(1) <= ... <= p_(m)``, the adjusted value is
    ``min(1, max_{j <= i} (m - j + 1) * p_(j))``; a hypothesis is rejected when its adjusted
    p-value is ``<= alpha`` (equivalent to the classic step-down rule). Controls the
    family-wise error rate at ``alpha`` under any dependence.

    Returns:
        ``(adjusted_p, reject)`` per input p-value, in the input order (``[]`` for no p-values).

    Raises:
        ValueError: a p-value outside [0, 1] or NaN, or ``alpha`` outside (0, 1).
    """
    if not (0.0 < float(alpha) < 1.0):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    p = as_float_1d(list(pvalues), "pvalues")
    if np.any((p < 0.0) | (p > 1.0)):
        raise ValueError("p-values must be in [0, 1]")
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate(scaled))
    adjusted = np.empty(m, dtype=np.float64)
    adjusted[order] = adjusted_sorted
    return [(float(q), bool(q <= alpha)) for q in adjusted]
