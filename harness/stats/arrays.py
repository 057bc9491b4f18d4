"""Input checks shared by the statistics modules: per-sample values become 1-D float arrays, and
None, NaN or infinity raise ``ValueError`` (a missing score must be decided on before it reaches the
statistics, never silently dropped)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def as_float_1d(values: ArrayLike, name: str = "values") -> NDArray[np.float64]:
    """Convert to a 1-D float64 array; ``ValueError`` on wrong shape, non-numbers, None/NaN/inf."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a 1-D sequence of numbers: {exc}") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size and not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"{name} must be finite numbers; element {bad} is {arr[bad]!r} (None/NaN/inf?)")
    return arr


def paired_arrays(a: ArrayLike, b: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Two per-sample arrays of the same samples (``a`` baseline, ``b`` candidate), checked as
    :func:`as_float_1d` and for equal length."""
    x = as_float_1d(a, "a")
    y = as_float_1d(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"a and b must have the same length, got {x.size} and {y.size}")
    return x, y
