"""How two runs' per-sample values line up: score columns aligned with A's sample order, pairing
by sample (a sample missing a value on either side is dropped), and which scorer a metric comes
from."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from ..scorers import BaseScorer

Cols = dict[str, NDArray[np.float64]]
"""score name -> per-sample values aligned with A's sample order; NaN where missing or None."""


def names_in_order(cols: Cols) -> list[str]:
    """Score names ordered by the first sample that has a value (then by first appearance)."""
    n_first = {
        name: (int(np.argmax(~np.isnan(c))) if (~np.isnan(c)).any() else len(c), k)
        for k, (name, c) in enumerate(cols.items())
    }
    return sorted(cols, key=lambda name: n_first[name])


def pair(
    name: str, cols_a: Cols, cols_b: Cols, n: int
) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.float64]]:
    """(kept mask, A values, B values) of the samples with a value on both sides."""
    nan = np.full(n, np.nan)
    x, y = cols_a.get(name, nan), cols_b.get(name, nan)
    kept = ~(np.isnan(x) | np.isnan(y))
    return kept, x[kept], y[kept]


def prefix(name: str) -> str:
    return name.split(".", 1)[0]


def finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def scorer_for(metric: str, scorers: Sequence[BaseScorer]) -> BaseScorer | None:
    for sc in scorers:
        if metric == sc.name or metric.startswith(sc.name + "."):
            return sc
    return None
