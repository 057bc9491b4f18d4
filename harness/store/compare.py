"""Queries behind the paired comparison (harness.compare) besides `Store.score_values`: which stored
scores have no value, and whether each is "not applicable" (the sample's side, marked by the
scorer) or missing (the model's side: generation, judge or log-likelihood error)."""

from __future__ import annotations

import json

from sqlalchemy import select

from ..types import NOT_APPLICABLE
from .core import Store
from .schema import scores


def null_scores(store: Store, run_id: str) -> dict[str, dict[str, bool]]:
    """score name -> {sample id: not applicable?} for every score of the run stored without a value.
    A score row with a value is not listed; a sample with no row for a name is not listed either
    (`Store.score_values` gives NaN for all three: value None, not applicable, no row)."""
    q = select(scores.c.sample_id, scores.c.name, scores.c.data).where(
        scores.c.run_id == run_id, scores.c.value.is_(None)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(q).cursor.fetchall()
    out: dict[str, dict[str, bool]] = {}
    parsed: dict[str, bool] = {}
    for sid, name, data in rows:
        na = parsed.get(data)
        if na is None:
            try:
                body = json.loads(data) if data else {}
            except ValueError:
                body = {}
            na = parsed[data] = bool(isinstance(body, dict) and body.get(NOT_APPLICABLE))
        out.setdefault(name, {})[sid] = na
    return out
