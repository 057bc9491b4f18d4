"""The samples where B moved most against A: the metric they are ranked by (the suite's primary
metric when both runs have it, else the first binary per-sample metric) and the largest per-sample
regressions (B worse in the metric's direction) and improvements, whose texts are read by streaming
only the picked samples. A side that errored takes the metric's failure value (`pairing.pair`), so
a candidate's errors show up as its regressions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..scorers import BaseScorer
from ..store import Store
from ..types import MetricInfo, RunRecord, Suite, last_user_content
from .pairing import RunScores, pair, prefix, scorer_for
from .records import MetricDelta, SampleDiff


def pick_rank_metric(
    rank_by: str | None,
    suite: Suite | None,
    scorers: Sequence[BaseScorer],
    a: RunRecord,
    b: RunRecord,
    deltas: Sequence[MetricDelta],
    score_names: Sequence[str],
) -> tuple[str | None, str]:
    """The per-sample Score name samples are ranked by, and a note when a fallback was used."""
    names = set(score_names)

    def per_sample(metric: str) -> str | None:
        if metric in names:
            return metric
        sc = scorer_for(metric, scorers)
        if sc is not None and sc.name in names:
            return sc.name
        return prefix(metric) if prefix(metric) in names else None

    if rank_by is not None:
        got = per_sample(rank_by)
        if got is None:
            raise InputError(
                f"cannot rank samples by {rank_by!r}: no per-sample score of that name",
                hint="per-sample scores: " + ", ".join(score_names),
            )
        return got, ""
    primary = suite.primary_metric if suite is not None else None
    if primary and primary in a.metrics and primary in b.metrics:
        got = per_sample(primary)
        if got is not None:
            return got, ""
    for m in deltas:
        if m.kind == "sample" and m.binary and m.n:
            return (
                m.name,
                "" if primary is None else f"samples ranked by {m.name} (primary metric {primary} unusable)",
            )
    for m in deltas:
        if m.kind == "sample" and m.n:
            return m.name, ""
    return (score_names[0], "") if score_names else (None, "no per-sample scores to rank samples by")


def top_diffs(
    store: Store,
    run_a: str,
    run_b: str,
    ids: Sequence[str],
    ra: RunScores,
    rb: RunScores,
    metric: str,
    info: MetricInfo,
    top_k: int,
) -> tuple[list[SampleDiff], list[SampleDiff]]:
    """The `top_k` samples where B is worst against A on `metric` in its direction (worst first),
    and the `top_k` where it is best (best first); ties in run order."""
    paired = pair(metric, ra, rb, info)
    pos = np.flatnonzero(paired.kept)
    x, y = paired.x, paired.y
    differ = y != x
    pos, x, y = pos[differ], x[differ], y[differ]
    d = y - x
    good = d if info.higher_is_better else -d
    neg, posd = good < 0, good > 0
    # worst first (ties: run order), best first (ties: run order)
    w = np.flatnonzero(neg)[np.lexsort((pos[neg], good[neg]))][:top_k]
    b = np.flatnonzero(posd)[np.lexsort((pos[posd], -good[posd]))][:top_k]
    worse = [(float(d[j]), ids[pos[j]], float(x[j]), float(y[j])) for j in w]
    better = [(float(d[j]), ids[pos[j]], float(x[j]), float(y[j])) for j in b]
    picked = {r[1] for r in worse + better}
    diffs = {
        sid: SampleDiff(sample_id=sid, metric=metric, a=xa, b=yb, delta=dd)
        for dd, sid, xa, yb in worse + better
    }
    if picked:
        # only the picked samples' texts are read (never every completion of a run)
        _fill(store.iter_results(run_a, sample_ids=picked), picked, diffs, metric, "a")
        _fill(store.iter_results(run_b, sample_ids=picked), picked, diffs, metric, "b")
    return [diffs[r[1]] for r in worse], [diffs[r[1]] for r in better]


def _fill(
    results: Iterable[Any], picked: set[str], diffs: dict[str, SampleDiff], metric: str, side: str
) -> None:
    """Stream one run's stored results, keeping texts of the picked samples only."""
    left = set(picked)
    for r in results:
        if r.sample_id not in left:
            continue
        left.discard(r.sample_id)
        user = last_user_content(r.prompt)
        scores = {s.name: (None if s.value is None else float(s.value)) for s in r.scores}
        detail = next((s.detail for s in r.scores if s.name == metric), "")
        d = diffs[r.sample_id]
        if side == "a":
            d.input, d.output_a, d.reference, d.scores_a, d.detail_a = (
                user,
                r.completion.text,
                r.reference,
                scores,
                detail,
            )
            if r.completion.error:
                d.detail_a = d.detail_a or f"generation error: {r.completion.error}"
        else:
            d.output_b, d.scores_b, d.detail_b = r.completion.text, scores, detail
            if user != d.input:
                d.input_b = user
            if d.reference is None:
                d.reference = r.reference
        if not left:
            break
