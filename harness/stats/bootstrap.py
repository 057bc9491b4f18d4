"""Bootstrap intervals for comparing model runs (hypothesis tests live in :mod:`harness.stats.tests`).

Everything here is pure numpy and deterministic: every random draw comes from
``np.random.default_rng(seed)``, so the same inputs and seed give the same numbers.

Conventions
-----------
* Per-sample inputs are 1-D array-likes of finite floats (bools are fine). ``None``, NaN or
  infinity raise ``ValueError`` -- a missing score must be decided on (e.g. scored 0) before it
  reaches the statistics, never silently dropped.
* Intervals are percentile-bootstrap intervals returned as ``(point, low, high)`` where
  ``point`` is the statistic on the full sample and ``low``/``high`` are the ``alpha/2`` and
  ``1 - alpha/2`` quantiles (linear interpolation) of the bootstrap distribution.
* Paired functions compare ``a`` (baseline) with ``b`` (candidate): deltas are ``b - a``, and a
  "win" means ``b`` is better than ``a``.
* With no samples the interval is ``(nan, nan, nan)``; with one sample it collapses to
  ``(v, v, v)``.

For sample-level metrics (accuracy, mean score) the mean paths (:func:`bootstrap_ci`,
:func:`paired_bootstrap_ci`) are vectorized. For corpus-level metrics that are not a mean of
per-sample values (macro-F1, corpus BLEU) use :func:`bootstrap_ci_fn` /
:func:`paired_bootstrap_ci_fn`, which hand each resample's indices to a callback. All four draw
their resample indices the same way, so for the same ``n``, ``n_boot`` and ``seed`` they use the
same resamples: the callback path with a mean callback reproduces the mean path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .arrays import as_float_1d, paired_arrays

__all__ = [
    "bootstrap_ci",
    "bootstrap_ci_fn",
    "paired_bootstrap_ci",
    "paired_bootstrap_ci_fn",
    "percentile",
    "percentile_interval",
    "resample_sums",
]

Interval = tuple[float, float, float]
"""``(point, low, high)``."""

_NAN_INTERVAL: Interval = (math.nan, math.nan, math.nan)


# --------------------------------------------------------------------------- validation


def _check_boot_args(n_boot: int, alpha: float) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not (isinstance(alpha, (int, float)) and 0.0 < float(alpha) < 1.0):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    return int(n)


# --------------------------------------------------------------------------- bootstrap core


def _resample_indices(n: int, n_boot: int, seed: int) -> NDArray[np.intp]:
    """The ``(n_boot, n)`` matrix of resample indices shared by every bootstrap function."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_boot, n), dtype=np.intp)


def _interval(point: float, boot: NDArray[np.float64], alpha: float) -> Interval:
    low, high = np.quantile(boot, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(point), float(low), float(high)


def _mean_ci(values: NDArray[np.float64], n_boot: int, alpha: float, seed: int) -> Interval:
    n = values.size
    if n == 0:
        return _NAN_INTERVAL
    point = float(values.mean())
    if n == 1:
        return point, point, point
    if n * n_boot > _BIG:  # the full index matrix would be large: same resamples, in chunks
        return _interval(point, resample_sums(values, n_boot=n_boot, seed=seed)[:, 0] / n, alpha)
    idx = _resample_indices(n, n_boot, seed)
    boot = values[idx].mean(axis=1)
    return _interval(point, boot, alpha)


_BIG = 20_000_000
"""Above this many resampled cells (n * n_boot) the mean path draws its resamples in chunks."""


def _fn_ci(n: int, fn: Callable[[NDArray[np.intp]], float], n_boot: int, alpha: float, seed: int) -> Interval:
    if n == 0:
        return _NAN_INTERVAL
    point = float(fn(np.arange(n, dtype=np.intp)))
    if n == 1:
        return point, point, point
    idx = _resample_indices(n, n_boot, seed)
    boot = np.fromiter((float(fn(row)) for row in idx), dtype=np.float64, count=n_boot)
    if not np.all(np.isfinite(boot)):
        raise ValueError("the statistic returned a non-finite value on a bootstrap resample")
    return _interval(point, boot, alpha)


def percentile_interval(point: float, boot: ArrayLike, alpha: float = 0.05) -> Interval:
    """``(point, low, high)`` from bootstrap statistics ``boot`` (e.g. computed from
    :func:`resample_sums`), exactly as the other functions here build their intervals; ``ValueError``
    when a resample's statistic is not finite (as :func:`bootstrap_ci_fn`)."""
    arr = np.asarray(boot, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("the statistic returned a non-finite value on a bootstrap resample")
    return _interval(point, arr, alpha)


def resample_sums(
    x: ArrayLike, *, n_boot: int = 1000, seed: int = 0, max_cells: int = 4_000_000
) -> NDArray[np.float64]:
    """Column sums of ``x`` (``(n, k)`` per-sample statistics) over every bootstrap resample:
    ``(n_boot, k)``, row ``r`` being ``x[idx[r]].sum(axis=0)`` for the same resample indices
    ``idx`` every other function here draws for ``(n, n_boot, seed)``.

    Vectorized for large ``n``: resamples are drawn in chunks of rows (the same random stream as
    one draw), turned into per-sample counts with one ``bincount`` and multiplied with ``x``, so
    memory stays about ``max_cells`` cells whatever ``n`` is, and one pass serves every column.
    Mean-type metrics are ``sums / n``; corpus-level metrics that are functions of summed counts
    (accuracy, macro-F1 from per-label counts, corpus perplexity) are computed from the sums.
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"x must be 1-D or 2-D, got shape {arr.shape}")
    n, k = arr.shape
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    out = np.empty((n_boot, k), dtype=np.float64)
    if n == 0:
        out.fill(0.0)
        return out
    rng = np.random.default_rng(seed)
    # int32 draws are the same numbers as the intp draws of _resample_indices (n < 2**31)
    dtype = np.int32 if n < 2**31 else np.intp
    rows = max(1, min(n_boot, max_cells // n))
    try:  # one BLAS thread: measured 5x faster than two on a shared 2-core machine, ~same when idle
        from threadpoolctl import threadpool_limits

        limits: Any = threadpool_limits(1, user_api="blas")
    except ImportError:  # optional (scikit-learn brings it): BLAS keeps its own thread count
        limits = None
    try:
        _fill_sums(arr, out, rng, n, k, rows, dtype)
    finally:
        if limits is not None:
            limits.restore_original_limits()
    return out


def _fill_sums(arr: Any, out: Any, rng: Any, n: int, k: int, rows: int, dtype: Any) -> None:
    n_boot = out.shape[0]
    for start in range(0, n_boot, rows):
        b = min(rows, n_boot - start)
        idx = rng.integers(0, n, size=(b, n), dtype=dtype)
        if n * 8 < k * b:  # few samples, many columns: a gather is cheaper
            out[start : start + b] = arr[idx].sum(axis=1)
            continue
        flat = idx.astype(np.int64, copy=False) + (np.arange(b, dtype=np.int64) * n)[:, None]
        counts = np.bincount(flat.ravel(), minlength=b * n).reshape(b, n)
        out[start : start + b] = counts.astype(np.float64) @ arr


# --------------------------------------------------------------------------- public API


def bootstrap_ci(
    values: ArrayLike,
    *,
    stat: Callable[[NDArray[np.float64]], float] | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> Interval:
    """Percentile-bootstrap CI of a statistic of per-sample ``values``.

    Args:
        values: 1-D array-like of finite floats (bools allowed); None/NaN/inf raise ``ValueError``.
        stat: statistic of a 1-D resample, e.g. ``np.median``. ``None`` (default) is the mean,
            computed vectorized over all resamples at once; a custom ``stat`` is called once per
            resample.
        n_boot: number of bootstrap resamples (>= 1).
        alpha: 1 - confidence level, in (0, 1); 0.05 gives a 95% interval.
        seed: seed for ``np.random.default_rng``.

    Returns:
        ``(point, low, high)``; ``(nan, nan, nan)`` for no values and ``(v, v, v)`` for one.
    """
    _check_boot_args(n_boot, alpha)
    arr = as_float_1d(values)
    if stat is None:
        return _mean_ci(arr, n_boot, alpha, seed)
    custom = stat
    return _fn_ci(arr.size, lambda idx: float(custom(arr[idx])), n_boot, alpha, seed)


def bootstrap_ci_fn(
    n: int,
    fn: Callable[[NDArray[np.intp]], float],
    *,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> Interval:
    """Percentile-bootstrap CI of a corpus-level metric over ``n`` samples.

    ``fn(indices)`` computes the metric on the samples at ``indices`` (a 1-D integer array of
    length ``n``, with repeats on resamples) -- e.g. macro-F1 of ``preds[indices]`` against
    ``golds[indices]``. It is called once on ``np.arange(n)`` for the point estimate and once per
    resample.

    Returns:
        ``(fn(arange(n)), low, high)``; ``(nan, nan, nan)`` for ``n == 0`` and ``(v, v, v)`` for
        ``n == 1``. ``ValueError`` if ``fn`` returns a non-finite value on a resample.
    """
    _check_boot_args(n_boot, alpha)
    return _fn_ci(_check_n(n), fn, n_boot, alpha, seed)


def paired_bootstrap_ci(
    a: ArrayLike,
    b: ArrayLike,
    *,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> Interval:
    """Paired percentile-bootstrap CI of ``mean(b - a)``.

    ``a`` and ``b`` are per-sample scores of two systems on the same samples, in the same order.
    Each resample draws sample indices once and uses them for both systems, so the interval
    reflects the per-sample correlation between the two.

    Returns:
        ``(mean(b - a), low, high)``; ``ValueError`` if the lengths differ.
    """
    _check_boot_args(n_boot, alpha)
    x, y = paired_arrays(a, b)
    return _mean_ci(y - x, n_boot, alpha, seed)


def paired_bootstrap_ci_fn(
    n: int,
    fn_delta: Callable[[NDArray[np.intp]], float],
    *,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> Interval:
    """Paired percentile-bootstrap CI of a corpus-level metric difference.

    ``fn_delta(indices)`` must return ``metric_b(indices) - metric_a(indices)``, evaluating both
    systems on the *same* resampled indices. Otherwise as :func:`bootstrap_ci_fn`.
    """
    return bootstrap_ci_fn(n, fn_delta, n_boot=n_boot, alpha=alpha, seed=seed)


@overload
def percentile(values: ArrayLike, q: float) -> float: ...
@overload
def percentile(values: ArrayLike, q: Sequence[float]) -> list[float]: ...
def percentile(values: ArrayLike, q: float | Sequence[float]) -> float | list[float]:
    """Percentile(s) ``q`` (0-100) of ``values`` with numpy's linear interpolation.

    Meant for latency summaries (p50/p95). Returns a float for scalar ``q`` and a list of
    floats for a sequence; NaN(s) for empty ``values``.
    """
    arr = as_float_1d(values)
    qs = np.asarray(q, dtype=np.float64)
    if qs.ndim > 1 or np.any(~np.isfinite(qs)) or np.any((qs < 0.0) | (qs > 100.0)):
        raise ValueError(f"q must be a percentile or 1-D sequence of percentiles in [0, 100], got {q!r}")
    if arr.size == 0:
        out = np.full(qs.shape, np.nan)
    else:
        out = np.percentile(arr, qs, method="linear")
    if qs.ndim == 0:
        return float(out)
    return [float(v) for v in out]
