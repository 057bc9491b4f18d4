"""Corpus-level metrics (macro-F1, corpus perplexity): recomputed by the suite's scorer on A's and
B's Score lists of each resample. A scorer whose metrics are functions of summed per-sample counts
(`resample_stats` / `metrics_from_sums`) is resampled in the shared vectorized pass; any other gets
its metrics computed once per resample (every metric of a scorer reusing the same resamples).

A corpus statistic has no per-sample failure value: a sample whose scores are missing or errored on
one side is dropped from the pairing and counted per side and reason (`pairing.pair_states`); one
not applicable on both sides is left out, as in each run's own metric."""

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
from ..types import NOT_APPLICABLE, MetricInfo, Score
from .pairing import ABSENT, ERRORED, VALUE, Paired, RunScores, finite, pair_states, win_tie_loss
from .pairing import NOT_APPLICABLE as NA_STATE
from .records import MetricDelta


def prepare_corpus(
    sc: BaseScorer, store: Store, run_a: str, run_b: str, ids: Sequence[str], resampler: stats.SharedResamples
) -> dict[str, Any]:
    """A corpus-level scorer's paired rows; when the scorer's metrics are functions of summed
    per-sample counts (`resample_stats`), its counts are registered with the resampler."""
    memo: dict[str, Any] = {"rows": _corpus_rows(sc, store, run_a, run_b, ids)}
    kept, rows_a, rows_b, _ = memo["rows"]
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


def _state(rows: list[Any]) -> int:
    """A sample's state for a corpus scorer on one side, from its score rows: no rows, every value
    present, a None from the model's side (errored), or Nones the scorer marked not applicable."""
    if not rows:
        return ABSENT
    nones = [r for r in rows if r.value is None]
    if not nones:
        return VALUE
    return NA_STATE if all((r.data or {}).get(NOT_APPLICABLE) for r in nones) else ERRORED


def _corpus_rows(
    sc: BaseScorer, store: Store, run_a: str, run_b: str, ids: Sequence[str]
) -> tuple[list[int], list[list[Any]], list[list[Any]], Paired]:
    """The scorer's score rows (Store.ScoreRow) of the samples both runs scored with no None value,
    and the pairing's counts (what was dropped per side, and why)."""
    tab_a = store.score_rows(run_a, [sc.name])
    tab_b = store.score_rows(run_b, [sc.name])
    none: list[Any] = []
    sa = np.fromiter((_state(tab_a.get(sid, none)) for sid in ids), dtype=np.int8, count=len(ids))
    sb = np.fromiter((_state(tab_b.get(sid, none)) for sid in ids), dtype=np.int8, count=len(ids))
    zeros = np.zeros(len(ids))
    paired = pair_states(zeros, zeros, sa, sb, None)
    kept = [int(i) for i in np.flatnonzero(paired.kept)]
    rows_a = [tab_a[ids[i]] for i in kept]
    rows_b = [tab_b[ids[i]] for i in kept]
    return kept, rows_a, rows_b, paired


def corpus_delta(
    name: str,
    sc: BaseScorer,
    store: Store,
    run_a: str,
    run_b: str,
    ids: Sequence[str],
    ra: RunScores,
    rb: RunScores,
    info: MetricInfo | None,
    n_boot: int,
    seed: int,
    alpha: float,
    cache: dict[str, Any],
) -> MetricDelta:
    """One metric of a corpus-level scorer (see the module docstring); `info` is the metric's
    semantics (None: direction unknown, no W/T/L)."""
    if sc.name not in cache:  # every metric of this scorer uses the same rows and resamples
        cache[sc.name] = {"rows": _corpus_rows(sc, store, run_a, run_b, ids)}
    memo = cache[sc.name]
    kept, rows_a, rows_b, paired = memo["rows"]
    n = len(rows_a)
    notes = [paired.note()] if paired.note() else []
    common: dict[str, Any] = {
        "name": name,
        "kind": "corpus",
        "higher_is_better": None if info is None else info.higher_is_better,
        "info": info,
        **paired.counts(),
    }
    if n == 0:
        return MetricDelta(
            **common,
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
            **common,
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
    mde = _mde(boot_delta, lo, hi, n, alpha)
    # win/tie/loss on the scorer's per-sample values, when they are numbers, in the direction of
    # those per-sample values (e.g. per-sample perplexity, lower is better)
    at = np.asarray(kept, dtype=np.intp)
    pv_a, pv_b = ra.values(sc.name)[at], rb.values(sc.name)[at]
    wtl = None
    if not (np.isnan(pv_a).any() or np.isnan(pv_b).any()):
        wtl = win_tie_loss(sc.info_for(sc.name) if info is not None else None, pv_a, pv_b)
        if wtl is not None:
            notes.append(f"W/T/L on per-sample {sc.name}")
    w, t, loss = wtl if wtl is not None else (None, None, None)
    md = MetricDelta(
        **common,
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
        mde=mde,
        note="; ".join(notes),
    )
    md._boot = boot_delta if p is not None else None
    return md


def _mde(
    boot: NDArray[np.float64] | None, lo: float | None, hi: float | None, n: int, alpha: float
) -> float | None:
    """The minimum detectable effect from the statistic's standard error: the bootstrap
    distribution's standard deviation, else the interval's width / (2 z_{1-alpha/2})."""
    if n < 2:
        return None
    if boot is not None and boot.size > 1:
        se = float(np.std(boot[np.isfinite(boot)], ddof=1))
    elif lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi):
        from statistics import NormalDist

        se = (hi - lo) / (2 * NormalDist().inv_cdf(1 - alpha / 2))
    else:
        return None
    return finite(stats.mde_from_se(se, alpha))
