"""The paired-comparison resampling engine (used by `harness.compare`): bootstrap p-values from
resampled deltas, and one shared pass of resamples over many blocks of per-sample statistics.

Every resample here is one the bootstrap functions of :mod:`harness.stats.bootstrap` draw for the
same ``n``, ``n_boot`` and ``seed``, so an interval computed here equals theirs.

The two-sided percentile-bootstrap p-value of a paired delta is
``min(1, 2 * min(#{delta* <= 0} + 1, #{delta* >= 0} + 1) / (n_boot + 1))``: (up to the +1
Monte-Carlo correction) the smallest alpha whose percentile interval still contains 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from .bootstrap import paired_bootstrap_ci_fn, percentile_interval, resample_sums

__all__ = [
    "SharedResamples",
    "bootstrap_p_value",
    "paired_bootstrap_fn_deltas",
    "paired_bootstrap_fn_p",
    "paired_delta_interval",
]


def bootstrap_p_value(boot: NDArray[np.float64]) -> float:
    """Two-sided percentile-bootstrap p-value of resampled deltas ``boot`` (see the module doc)."""
    k_le = int(np.count_nonzero(boot <= 0.0))
    k_ge = int(np.count_nonzero(boot >= 0.0))
    return min(1.0, 2.0 * (min(k_le, k_ge) + 1) / (boot.size + 1))


def paired_bootstrap_fn_deltas(
    n: int, fn_delta: Callable[[NDArray[np.intp]], float], n_boot: int, seed: int
) -> tuple[float, NDArray[np.float64]]:
    """(delta on all samples, its ``n_boot`` resampled values) for a statistic computed by a
    callback on resample indices: the resamples of :func:`paired_bootstrap_ci_fn` (and of
    :func:`resample_sums`) for the same ``n`` and ``seed``. No resamples with fewer than two
    samples; ``ValueError`` when the statistic is not finite on some resample."""
    seen: list[float] = []

    def record(idx: NDArray[np.intp]) -> float:
        v = float(fn_delta(idx))
        seen.append(v)
        return v

    point, _, _ = paired_bootstrap_ci_fn(n, record, n_boot=n_boot, alpha=0.05, seed=seed)
    return point, np.asarray(seen[1:], dtype=np.float64)  # the first call is the point estimate


def paired_bootstrap_fn_p(
    n: int, fn_delta: Callable[[NDArray[np.intp]], float], n_boot: int, seed: int, alpha: float
) -> tuple[float, float, float, float | None]:
    """(delta, low, high, bootstrap p) from :func:`paired_bootstrap_fn_deltas`'s resampled deltas
    (the interval of :func:`paired_bootstrap_ci_fn`; no p-value with fewer than two samples)."""
    point, boot = paired_bootstrap_fn_deltas(n, fn_delta, n_boot, seed)
    if n < 2 or not boot.size:
        return point, point, point, None
    lo, hi, p = paired_delta_interval(point, boot, n, alpha)
    return point, lo, hi, p


def paired_delta_interval(
    point: float, boot: NDArray[np.float64], n: int, alpha: float
) -> tuple[float, float, float | None]:
    """(low, high, bootstrap p) of a paired statistic's resampled deltas ``boot``; a collapsed
    interval and no p-value with fewer than two samples."""
    if n < 2:
        return point, point, None
    _, lo, hi = percentile_interval(point, boot, alpha)
    return lo, hi, bootstrap_p_value(boot)


class SharedResamples:
    """Blocks of per-sample statistics (``(n, k)`` arrays), grouped by the samples they keep;
    `get` resamples each group once with :func:`resample_sums` (the resamples every bootstrap in
    harness.stats draws for that n and seed) and hands each block its ``(n_boot, k)`` sums."""

    def __init__(self, n_boot: int, seed: int):
        self.n_boot, self.seed = n_boot, seed
        self.groups: dict[bytes, list[tuple[str, NDArray[np.float64]]]] = {}
        self.sums: dict[str, NDArray[np.float64]] = {}

    def add(self, kept: NDArray[np.bool_], tag: str, x: NDArray[np.float64]) -> None:
        key = np.packbits(kept).tobytes() + int(kept.size).to_bytes(8, "little")
        self.groups.setdefault(key, []).append((tag, np.asarray(x, dtype=np.float64).reshape(len(x), -1)))

    def get(self, tag: str) -> NDArray[np.float64]:
        if not self.sums and self.groups:
            for blocks in self.groups.values():
                n = blocks[0][1].shape[0]
                widths = [x.shape[1] for _, x in blocks]
                if n < 2:
                    sums = np.empty((0, sum(widths)))
                else:
                    sums = resample_sums(
                        np.hstack([x for _, x in blocks]), n_boot=self.n_boot, seed=self.seed
                    )
                at = 0
                for (t, _), w in zip(blocks, widths, strict=True):
                    self.sums[t] = sums[:, at : at + w]
                    at += w
        return self.sums[tag]
