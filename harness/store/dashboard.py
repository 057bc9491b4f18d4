"""Read-only queries the dashboard runs (dashboard/data.py turns them into tables).

Nothing here writes. Queries that could touch a big run page through it in SQL (one page of
samples, the texts of given samples only) and never load every completion of a run at once.
Rows come back as plain tuples and dicts; stored JSON columns (a run's record, a sample's prompt
and completion) are returned as stored, for the caller to decode tolerantly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, exists, func, or_, select

from ..types import RunRecord
from .core import Store
from .schema import metrics, records, runs, samples, scores


def display_url(url: str) -> str:
    """The store URL with any password hidden."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is shown as given
        return url


def run_rows(store: Store, limit: int | None = None) -> list[tuple[Any, ...]]:
    """All runs, newest first: (id, created_at, suite, suite_version, model, prompt_name, split,
    status, record JSON)."""
    q = select(
        runs.c.id,
        runs.c.created_at,
        runs.c.suite,
        runs.c.suite_version,
        runs.c.model,
        runs.c.prompt_name,
        runs.c.split,
        runs.c.status,
        runs.c.record,
    ).order_by(runs.c.created_at.desc(), runs.c.id.desc())
    if limit:
        q = q.limit(limit)
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(q)]


def find_run(store: Store, run_id: str) -> RunRecord | None:
    """The run with exactly this id, or None (no prefix matching, unlike Store.get_run)."""
    with store.engine.connect() as conn:
        row = conn.execute(select(runs.c.record).where(runs.c.id == run_id)).first()
    return RunRecord.model_validate_json(row[0]) if row else None


def metric_rows(store: Store, run_id: str) -> list[tuple[Any, ...]]:
    """One run's stored metrics: (name, value, ci_low, ci_high, n)."""
    q = select(metrics.c.name, metrics.c.value, metrics.c.ci_low, metrics.c.ci_high, metrics.c.n).where(
        metrics.c.run_id == run_id
    )
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(q)]


def metric_history_rows(store: Store, suite: str | None = None) -> list[tuple[Any, ...]]:
    """Every completed run's metrics joined with the run, oldest first: (run id, created_at, suite,
    model, prompt_name, split, metric, value, ci_low, ci_high, n)."""
    q = (
        select(
            runs.c.id,
            runs.c.created_at,
            runs.c.suite,
            runs.c.model,
            runs.c.prompt_name,
            runs.c.split,
            metrics.c.name,
            metrics.c.value,
            metrics.c.ci_low,
            metrics.c.ci_high,
            metrics.c.n,
        )
        .select_from(runs.join(metrics, metrics.c.run_id == runs.c.id))
        .where(runs.c.status == "completed")
        .order_by(runs.c.created_at)
    )
    if suite:
        q = q.where(runs.c.suite == suite)
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(q)]


def score_names(store: Store, run_id: str) -> list[str]:
    """The names of a run's per-sample scores, sorted."""
    q = select(scores.c.name).where(scores.c.run_id == run_id).distinct().order_by(scores.c.name)
    with store.engine.connect() as conn:
        return [r[0] for r in conn.execute(q)]


def samples_page(
    store: Store,
    run_id: str,
    *,
    search: str = "",
    metric: str | None = None,
    max_value: float | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[int, list[dict[str, Any]], dict[str, dict[str, float | None]]]:
    """(matching count, one page of samples in run order, sample_id -> score name -> value for the
    page's samples). A sample row holds idx, sample_id, prompt, reference and completion (as stored).
    `search` matches, case-insensitively, the sample id, prompt, reference or completion; `metric`
    with `max_value` keeps samples whose score `metric` is at most `max_value`."""
    cond = [samples.c.run_id == run_id]
    if search:
        pat = f"%{search.lower()}%"
        cond.append(
            or_(
                func.lower(samples.c.sample_id).like(pat),
                func.lower(samples.c.prompt).like(pat),
                func.lower(samples.c.completion).like(pat),
                func.lower(func.coalesce(samples.c.reference, "")).like(pat),
            )
        )
    if metric:
        sc = [scores.c.run_id == run_id, scores.c.sample_id == samples.c.sample_id, scores.c.name == metric]
        if max_value is not None:
            sc.append(scores.c.value <= max_value)
        cond.append(exists(select(scores.c.name).where(and_(*sc))))
    where = and_(*cond)
    with store.engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(samples).where(where)).scalar_one())
        rows = [
            dict(r)
            for r in conn.execute(
                select(
                    samples.c.idx,
                    samples.c.sample_id,
                    samples.c.prompt,
                    samples.c.reference,
                    samples.c.completion,
                )
                .where(where)
                .order_by(samples.c.idx)
                .offset(offset)
                .limit(limit)
            ).mappings()
        ]
        ids = [r["sample_id"] for r in rows]
        vals: dict[str, dict[str, float | None]] = {}
        if ids:
            q = select(scores.c.sample_id, scores.c.name, scores.c.value).where(
                scores.c.run_id == run_id, scores.c.sample_id.in_(ids)
            )
            for sid, name, v in conn.execute(q):
                vals.setdefault(sid, {})[name] = v
    return total, rows, vals


def sample_text_rows(store: Store, run_id: str, sample_ids: Sequence[str]) -> list[tuple[Any, ...]]:
    """(sample_id, prompt, reference, completion) of the given samples only, as stored."""
    out: list[tuple[Any, ...]] = []
    ids = list(dict.fromkeys(sample_ids))
    with store.engine.connect() as conn:
        for i in range(0, len(ids), 500):
            q = select(
                samples.c.sample_id, samples.c.prompt, samples.c.reference, samples.c.completion
            ).where(samples.c.run_id == run_id, samples.c.sample_id.in_(ids[i : i + 500]))
            out.extend(tuple(r) for r in conn.execute(q))
    return out


def score_by_sample(store: Store, run_id: str, name: str) -> dict[str, float | None]:
    """sample_id -> the per-sample score `name` (no completions loaded)."""
    q = select(scores.c.sample_id, scores.c.value).where(scores.c.run_id == run_id, scores.c.name == name)
    with store.engine.connect() as conn:
        return {sid: v for sid, v in conn.execute(q)}


def sample_order(store: Store, run_id: str) -> dict[str, int]:
    """sample_id -> its position in the run."""
    q = select(samples.c.sample_id, samples.c.idx).where(samples.c.run_id == run_id)
    with store.engine.connect() as conn:
        return {sid: idx for sid, idx in conn.execute(q)}


def has_records(store: Store, kind: str) -> bool:
    """Whether any record of this kind is stored."""
    with store.engine.connect() as conn:
        return conn.execute(select(records.c.id).where(records.c.kind == kind).limit(1)).first() is not None
