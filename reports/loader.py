"""Resolve a reference (run id or prefix, comparison id, verdict id) to a report body, and add the
extras a report shows beyond the stored record (see `reports.common`). A comparison stored before
comparisons carried each metric's direction gets it from its runs here
(`harness.compare.fill_directions`), so its better/worse chips follow the declared direction."""

from __future__ import annotations

import json
from typing import Any

from harness.compare import fill_directions
from harness.errors import InputError
from harness.store import Store
from harness.store.reports import records_matching, runs_matching
from harness.store.reports import worst_samples as worst_results
from harness.types import MetricInfo, last_user_content

from .common import Kind, as_dict, fnum

WORST_K = 5


def load_target(store: Store, ref: str, *, worst: int = WORST_K) -> tuple[Kind, dict[str, Any]]:
    """(kind, body) for `ref`: a run, comparison or verdict id, or a unique prefix of one (an exact
    id wins over prefixes). The body carries the report extras (a run's worst samples, a verdict's
    comparisons). InputError (exit 2) when nothing, or more than one thing, matches."""
    ref = ref.strip()
    if not ref:
        raise InputError("empty report reference", hint="give a run, comparison or verdict id")
    hits = records_matching(store, ref, exact=True)
    run_ids = runs_matching(store, ref, exact=True)
    if not hits and not run_ids:
        hits = records_matching(store, ref, exact=False)
        run_ids = runs_matching(store, ref, exact=False)
    total = len(hits) + len(run_ids)
    if total == 0:
        raise InputError(
            f"no run, comparison or verdict {ref!r} in {store.url}",
            hint="`tunebench runs` lists runs; `tunebench compare` and `tunebench gate` print the ids they store",
        )
    if total > 1:
        names = [f"run {r}" for r in run_ids[:5]] + [f"{k} {i}" for k, i, _ in hits[:5]]
        more = ", ..." if total > len(names) else ""
        raise InputError(
            f"reference {ref!r} is ambiguous ({total} matches: {', '.join(names)}{more})",
            hint="give more of the id",
        )
    if run_ids:
        body = store.get_run(run_ids[0]).model_dump(mode="json")
        return "run", enrich(store, "run", body, worst=worst)
    kind, _, raw = hits[0]
    k: Kind = "comparison" if kind == "comparison" else "verdict"
    return k, enrich(store, k, json.loads(raw), worst=worst)


def enrich(store: Store, kind: str, body: dict[str, Any], *, worst: int = WORST_K) -> dict[str, Any]:
    """The body with its report extras added where missing (a copy; the store is only read)."""
    out = dict(body)
    if kind == "comparison":
        out = fill_directions(store, out)
    if kind == "run" and "worst_samples" not in out and out.get("id"):
        metric, rows = worst_samples(store, out, worst)
        out["worst_samples"] = rows
        out["rank_metric"] = metric
    if kind == "verdict" and "comparison_bodies" not in out:
        ids = as_dict(out.get("comparisons"))
        found: dict[str, Any] = {}
        for suite, cid in ids.items():
            got = records_matching(store, str(cid), exact=True, kinds=("comparison",))
            if got:
                found[str(suite)] = fill_directions(store, json.loads(got[0][2]))
        out["comparison_bodies"] = found
    return out


def _primary_metric(body: dict[str, Any], store: Store | None = None) -> str | None:
    from harness.suite import load_suite, suite_for_run
    from harness.types import RunRecord

    try:  # on disk with the run's hash, else the suite snapshot the run stored
        return suite_for_run(store, RunRecord.model_validate(body)).primary_metric
    except (InputError, ValueError):
        pass
    for ref in (body.get("suite_path"), body.get("suite")):
        if not ref:
            continue
        try:
            s = load_suite(ref)
        except Exception:  # a moved user suite, an unregistered name: fall back below
            continue
        if s.content_hash == body.get("suite_hash") or ref == body.get("suite_path"):
            return s.primary_metric
    return None


def worst_samples(store: Store, body: dict[str, Any], k: int) -> tuple[str | None, list[dict[str, Any]]]:
    """The k worst-scoring samples of a run by its suite's primary metric in that metric's stored
    direction (below its best value; else the first score with a value, below 1), with their texts
    (`harness.store.reports.worst_samples` picks them, streaming and keeping only k candidates)."""
    if k <= 0:
        return None, []
    metric = _primary_metric(body, store)
    metrics = as_dict(body.get("metrics"))
    if metric is not None and metric not in metrics and not any(m.startswith(metric + ".") for m in metrics):
        metric = None
    raw = as_dict(body.get("metric_info")).get(metric or "")
    try:
        info = MetricInfo.model_validate(raw) if raw else None
    except ValueError:
        info = None
    used, worst = worst_results(store, str(body["id"]), metric, k, info)
    return used, [
        {
            "sample_id": r.sample_id,
            "metric": s.name,
            "value": v,
            "detail": s.detail,
            "input": last_user_content(r.prompt),
            "output": r.completion.text,
            "reference": r.reference,
            "error": r.completion.error,
            "scores": {x.name: fnum(x.value) for x in r.scores},
        }
        for v, r, s in worst
    ]
