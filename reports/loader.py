"""Resolve a reference (run id or prefix, comparison id, verdict id) to a report body, and add the
extras a report shows beyond the stored record (see `reports.common`)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from harness.errors import InputError
from harness.store import Store, records

from .common import Kind, as_dict, fnum

WORST_K = 5
RECORD_KINDS = ("comparison", "verdict")


def _records_matching(store: Store, ref: str, exact: bool) -> list[tuple[str, str, str]]:
    """(kind, id, body) of comparison/verdict records whose id is `ref` (or starts with it)."""
    cond = records.c.id == ref if exact else records.c.id.like(_like_prefix(ref), escape="\\")
    q = select(records.c.kind, records.c.id, records.c.body).where(cond, records.c.kind.in_(RECORD_KINDS))
    with store.engine.connect() as conn:
        return [(r[0], r[1], r[2]) for r in conn.execute(q)]


def _like_prefix(ref: str) -> str:
    return ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _run_matches(store: Store, ref: str, exact: bool) -> list[str]:
    from harness.store import runs

    cond = runs.c.id == ref if exact else runs.c.id.like(_like_prefix(ref), escape="\\")
    with store.engine.connect() as conn:
        return [r[0] for r in conn.execute(select(runs.c.id).where(cond))]


def load_target(store: Store, ref: str, *, worst: int = WORST_K) -> tuple[Kind, dict[str, Any]]:
    """(kind, body) for `ref`: a run, comparison or verdict id, or a unique prefix of one (an exact
    id wins over prefixes). The body carries the report extras (a run's worst samples, a verdict's
    comparisons). InputError (exit 2) when nothing, or more than one thing, matches."""
    ref = ref.strip()
    if not ref:
        raise InputError("empty report reference", hint="give a run, comparison or verdict id")
    hits = _records_matching(store, ref, exact=True)
    run_ids = _run_matches(store, ref, exact=True)
    if not hits and not run_ids:
        hits = _records_matching(store, ref, exact=False)
        run_ids = _run_matches(store, ref, exact=False)
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
    if kind == "run" and "worst_samples" not in out and out.get("id"):
        metric, rows = worst_samples(store, out, worst)
        out["worst_samples"] = rows
        out["rank_metric"] = metric
    if kind == "verdict" and "comparison_bodies" not in out:
        ids = as_dict(out.get("comparisons"))
        found: dict[str, Any] = {}
        for suite, cid in ids.items():
            got = _records_matching(store, str(cid), exact=True)
            got = [g for g in got if g[0] == "comparison"]
            if got:
                found[str(suite)] = json.loads(got[0][2])
        out["comparison_bodies"] = found
    return out


def _primary_metric(body: dict[str, Any]) -> str | None:
    from harness.suite import load_suite

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
    """The k lowest-scoring samples (score < 1) of a run by its suite's primary metric (else the
    first score with a value), with their texts; streamed, keeping only k candidates' texts."""
    if k <= 0:
        return None, []
    metric = _primary_metric(body)
    metrics = as_dict(body.get("metrics"))
    if metric is not None and metric not in metrics and not any(m.startswith(metric + ".") for m in metrics):
        metric = None
    kept: list[tuple[float, int, dict[str, Any]]] = []
    used: str | None = metric
    for i, r in enumerate(store.iter_results(str(body["id"]))):
        s = next((x for x in r.scores if x.name == metric), None) if metric else None
        if s is None:
            s = next((x for x in r.scores if x.value is not None), None)
        v = fnum(s.value) if s is not None else None
        if s is None or v is None or v >= 1.0:
            continue
        used = used or s.name
        user = next((m["content"] for m in reversed(r.prompt) if m.get("role") == "user"), "")
        row = {
            "sample_id": r.sample_id,
            "metric": s.name,
            "value": v,
            "detail": s.detail,
            "input": user,
            "output": r.completion.text,
            "reference": r.reference,
            "error": r.completion.error,
            "scores": {x.name: fnum(x.value) for x in r.scores},
        }
        kept.append((v, i, row))
        kept.sort(key=lambda t: (t[0], t[1]))
        del kept[k:]
    return used, [row for _, _, row in kept]
