"""Corpus-level metrics (macro-F1, corpus perplexity): recomputed by the suite's scorer on A's and
B's Score lists of each resample. A scorer whose metrics are functions of summed per-sample counts
(`resample_stats` / `metrics_from_sums`) is resampled in the shared vectorized pass; any other gets
its metrics computed once per resample (every metric of a scorer reusing the same resamples)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import stats
from ..scorers import BaseScorer
from ..store import Store
from ..types import Score
from .pairing import Cols, finite
from .records import MetricDelta


def prepare_corpus(
    sc: BaseScorer, store: Store, run_a: str, run_b: str, ids: Sequence[str], resampler: stats.SharedResamples
) -> dict[str, Any]:
    """A corpus-level scorer's paired rows; when the scorer's metrics are functions of summed
    per-sample counts (`resample_stats`), its counts are registered with the resampler."""
    memo: dict[str, Any] = {"rows": _corpus_rows(sc, store, run_a, run_b, ids)}
    kept, rows_a, rows_b = memo["rows"]
    vec = getattr(sc, "resample_stats", None)
    if callable(vec) and rows_a:
        xa, xb = np.asarray(vec(rows_a)), np.asarray(vec(rows_b))
        from_sums = sc.metrics_from_sums  # type: ignore[attr-defined]
        memo["full"] = (
            {m: float(v) for m, v in from_sums(xa.sum(axis=0)).items()},
            {m: float(v) for m, v in from_sums(xb.sum(axis=0)).items()},
        )
        mask = np.zeros(len(ids), dtype=bool)
        mask[np.asarray(kept, dtype=np.intp)] = True
        resampler.add(mask, f"corpus:{sc.name}", np.hstack([xa, xb]))
        memo["k"] = xa.shape[1]
        memo["resampler"] = resampler
    return memo


def _corpus_rows(
    sc: BaseScorer, store: Store, run_a: str, run_b: str, ids: Sequence[str]
) -> tuple[list[int], list[list[Any]], list[list[Any]]]:
    """The scorer's score rows (Store.ScoreRow) of the samples both runs scored with no None value."""
    tab_a = store.score_rows(run_a, [sc.name])
    tab_b = store.score_rows(run_b, [sc.name])
    kept: list[int] = []
    rows_a: list[list[Any]] = []
    rows_b: list[list[Any]] = []
    none: list[Any] = []
    for i, sid in enumerate(ids):
        ma, mb = tab_a.get(sid, none), tab_b.get(sid, none)
        if not ma or not mb or any(s.value is None for s in ma) or any(s.value is None for s in mb):
            continue
        kept.append(i)
        rows_a.append(ma)
        rows_b.append(mb)
    return kept, rows_a, rows_b


def corpus_delta(
    name: str,
    sc: BaseScorer,
    store: Store,
    run_a: str,
    run_b: str,
    ids: Sequence[str],
    cols_a: Cols,
    cols_b: Cols,
    n_boot: int,
    seed: int,
    alpha: float,
    cache: dict[str, Any],
) -> MetricDelta:
    if sc.name not in cache:  # every metric of this scorer uses the same rows and resamples
        cache[sc.name] = {"rows": _corpus_rows(sc, store, run_a, run_b, ids)}
    memo = cache[sc.name]
    kept, rows_a, rows_b = memo["rows"]
    n = len(rows_a)
    dropped = len(ids) - n
    notes = [f"{dropped} sample(s) without a value on A or B dropped"] if dropped else []
    if n == 0:
        return MetricDelta(
            name=name,
            kind="corpus",
            a=None,
            b=None,
            delta=None,
            n=0,
            note="; ".join(notes) or "no sample has a value on both A and B",
        )
    vec = "full" in memo
    boot_delta: NDArray[np.float64] | None = None
    if vec:
        # metrics that are functions of summed per-sample counts: all resamples in one pass
        full_a, full_b = memo["full"]
        if n >= 2:
            if "boot" not in memo:
                sums, k = memo["resampler"].get(f"corpus:{sc.name}"), memo["k"]
                from_sums = sc.metrics_from_sums  # type: ignore[attr-defined]
                memo["boot"] = (from_sums(sums[:, :k]), from_sums(sums[:, k:]))
            if name in memo["boot"][0]:
                boot_delta = np.asarray(memo["boot"][1][name] - memo["boot"][0][name], dtype=np.float64)
    else:
        if "scores" not in memo:  # scorers without `resample_stats` get pydantic Scores
            memo["scores"] = tuple(
                [[Score(**r._asdict()) for r in row] for row in rows] for rows in (rows_a, rows_b)
            )
        rows_a, rows_b = memo["scores"]
        per_resample: dict[bytes, tuple[dict[str, float], dict[str, float]]] = memo.setdefault(
            "per_resample", {}
        )

        def both(idx: NDArray[np.intp]) -> tuple[dict[str, float], dict[str, float]]:
            # every metric of this scorer is bootstrapped with the same resamples: compute each once
            key = hashlib.blake2b(np.ascontiguousarray(idx).tobytes(), digest_size=16).digest()
            if key not in per_resample:
                per_resample[key] = (
                    sc.metrics([s for i in idx for s in rows_a[i]]),
                    sc.metrics([s for i in idx for s in rows_b[i]]),
                )
            return per_resample[key]

        full_a, full_b = both(np.arange(n, dtype=np.intp))
    va, vb = full_a.get(name), full_b.get(name)
    if (
        va is None
        or vb is None
        or (isinstance(va, float) and math.isnan(va))
        or (isinstance(vb, float) and math.isnan(vb))
    ):
        return MetricDelta(
            name=name,
            kind="corpus",
            a=finite(va),
            b=finite(vb),
            delta=None,
            n=n,
            note="; ".join([*notes, "the scorer gives no value on the paired samples"]),
        )
    lo: float | None = None
    hi: float | None = None
    p: float | None = None
    try:
        if vec:
            if n < 2:
                lo = hi = float(vb) - float(va)
            else:
                assert boot_delta is not None
                lo, hi, p = stats.paired_delta_interval(float(vb) - float(va), boot_delta, n, alpha)
        else:
            point, boot_delta = stats.paired_bootstrap_fn_deltas(
                n,
                lambda idx: float(both(idx)[1].get(name, math.nan)) - float(both(idx)[0].get(name, math.nan)),
                n_boot,
                seed,
            )
            lo, hi, p = stats.paired_delta_interval(point, boot_delta, n, alpha)
    except ValueError:
        boot_delta = None
        notes.append("no interval: the metric is undefined on some resamples")
    # win/tie/loss on the scorer's per-sample values, when they are numbers
    at = np.asarray(kept, dtype=np.intp)
    nan = np.full(len(ids), np.nan)
    pv_a, pv_b = cols_a.get(sc.name, nan)[at], cols_b.get(sc.name, nan)[at]
    w = t = loss = None
    if not (np.isnan(pv_a).any() or np.isnan(pv_b).any()):
        w, t, loss = stats.win_tie_loss(pv_a, pv_b)
        notes.append(f"W/T/L on per-sample {sc.name}")
    md = MetricDelta(
        name=name,
        kind="corpus",
        a=float(va),
        b=float(vb),
        delta=float(vb) - float(va),
        ci_low=finite(lo),
        ci_high=finite(hi),
        p_value=p,
        p_method="bootstrap" if p is not None else None,
        wins=w,
        ties=t,
        losses=loss,
        n=n,
        note="; ".join(notes),
    )
    md._boot = boot_delta if p is not None else None
    return md
