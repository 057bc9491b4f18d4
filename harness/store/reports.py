"""Read-only queries behind `tunebench report` and `tunebench show`: resolving a reference (an id or
a unique prefix) to stored runs and records, and a run's worst samples."""

from __future__ import annotations

import math
from collections.abc import Sequence

from sqlalchemy import select

from ..types import MetricInfo, SampleResult, Score
from .core import Store
from .schema import records, runs

RECORD_KINDS = ("comparison", "verdict")
"""The record kinds a report can be made of (besides runs)."""


def _like_prefix(ref: str) -> str:
    return ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def records_matching(
    store: Store, ref: str, *, exact: bool, kinds: Sequence[str] = RECORD_KINDS
) -> list[tuple[str, str, str]]:
    """(kind, id, body JSON) of the records of `kinds` whose id is `ref` (or starts with it)."""
    cond = records.c.id == ref if exact else records.c.id.like(_like_prefix(ref), escape="\\")
    q = select(records.c.kind, records.c.id, records.c.body).where(cond, records.c.kind.in_(kinds))
    with store.engine.connect() as conn:
        return [(r[0], r[1], r[2]) for r in conn.execute(q)]


def runs_matching(store: Store, ref: str, *, exact: bool) -> list[str]:
    """Ids of the runs whose id is `ref` (or starts with it)."""
    cond = runs.c.id == ref if exact else runs.c.id.like(_like_prefix(ref), escape="\\")
    with store.engine.connect() as conn:
        return [r[0] for r in conn.execute(select(runs.c.id).where(cond))]


def worst_samples(
    store: Store,
    run_id: str,
    metric: str | None,
    k: int,
    info: MetricInfo | None = None,
) -> tuple[str | None, list[tuple[float, SampleResult, Score]]]:
    """The k worst-scoring samples of a run: those whose score is below 1 (a finite value), ranked
    by `metric`, or, for a sample without that score (or with no `metric` given), by its first
    score with a value; lowest first, ties in run order. Streamed: only k candidates are kept.
    `info` is `metric`'s declared semantics: in its direction, samples worse than its best value
    (`high`, 1 when unbounded; for a lower-is-better metric: above `low`, highest first).

    Returns (the metric named: `metric`, else the score name of the first failing sample in run
    order; None when nothing fails) and [(value, sample result, the score ranked by)]."""
    if k <= 0:
        return metric, []
    kept: list[tuple[float, int, float, SampleResult, Score]] = []
    used = metric
    hib_m = True
    best_m: float | None = 1.0 if info is None or info.high is None else info.high
    if info is not None and not info.higher_is_better:
        hib_m, best_m = False, info.low
    for i, r in enumerate(store.iter_results(run_id)):
        s = next((x for x in r.scores if x.name == metric), None) if metric else None
        hib, top = (hib_m, best_m) if s is not None else (True, 1.0)
        if s is None:
            s = next((x for x in r.scores if x.value is not None), None)
        if s is None or s.value is None:
            continue
        v = float(s.value)
        if not math.isfinite(v) or (top is not None and (v >= top if hib else v <= top)):
            continue
        used = used or s.name
        kept.append((v if hib else -v, i, v, r, s))
        kept.sort(key=lambda t: (t[0], t[1]))
        del kept[k:]
    return used, [(v, r, s) for _, _, v, r, s in kept]
