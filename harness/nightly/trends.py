"""Trend points: one per completed run of a suite that reports a metric, with its pass date, plan
model name and that night's verdict for nightly runs (what the dashboard's Trends page plots)."""

from __future__ import annotations

from typing import Any

from ..store import Store
from ..store.nightly import completed_runs, item_verdicts, verdict_bodies


def trend_points(
    store: Store,
    suite: str,
    metric: str,
    model: str | None = None,
    *,
    plan: str | None = None,
    nightly_only: bool = False,
) -> list[dict[str, Any]]:
    """One point per completed run of `suite` that reports `metric`, oldest first:
    {date, model, value, ci_low, ci_high, verdict_passed, run_id, plan, nightly}. Nightly runs carry
    their pass date, plan model name and the model's verdict that night; plain runs their creation
    date, model label and verdict_passed None. `model` matches a plan model name or a model label."""
    recs = completed_runs(store, suite)
    verdict_of = item_verdicts(store, suite)
    verdicts = verdict_bodies(store, [v for v in verdict_of.values() if v])
    out = []
    for rec in recs:
        is_nightly = "nightly" in rec.tags and "date" in rec.tags
        if nightly_only and not is_nightly:
            continue
        if plan is not None and rec.tags.get("nightly") != plan:
            continue
        name = str(rec.tags.get("model") or rec.model.label) if is_nightly else rec.model.label
        if model is not None and model not in (name, rec.model.label):
            continue
        mv = rec.metrics.get(metric)
        if mv is None:
            continue
        v = verdicts.get(verdict_of.get(rec.id) or "")
        out.append(
            {
                "date": str(rec.tags["date"]) if is_nightly else rec.created_at[:10],
                "model": name,
                "value": mv.value,
                "ci_low": mv.ci_low,
                "ci_high": mv.ci_high,
                "verdict_passed": None if v is None else bool(v.get("passed")),
                "run_id": rec.id,
                "plan": rec.tags.get("nightly") if is_nightly else None,
                "nightly": is_nightly,
            }
        )
    out.sort(key=lambda p: (p["date"], p["model"]))
    return out
