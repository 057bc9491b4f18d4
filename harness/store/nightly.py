"""What the nightly workflow (harness/nightly) reads and writes: pass progress (`nightly_passes`),
items (`nightly_items`), alert deliveries (`nightly_alerts`), the leases in `locks`, the verdict and
"nightly" records a pass stores, and the runs a pass or a trend looks up."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from ..types import RunRecord
from .core import Store, now_iso
from .schema import locks, nightly_alerts, nightly_items, nightly_passes, records, runs

# -- leases ------------------------------------------------------------------------------------------


def lease_holder(store: Store, name: str) -> dict[str, Any] | None:
    """The row of lease `name` (owner, acquired_at, expires_at), None when nobody holds it."""
    with store.engine.connect() as conn:
        row = conn.execute(select(locks).where(locks.c.name == name)).mappings().first()
    return dict(row) if row else None


def lease_insert(store: Store, name: str, owner: str, now: float, ttl_s: float) -> bool:
    """Take a lease nobody holds; False when another process inserted it first."""
    try:
        with store.engine.begin() as conn:
            conn.execute(
                insert(locks).values(name=name, owner=owner, acquired_at=now, expires_at=now + ttl_s)
            )
    except IntegrityError:
        return False
    return True


def lease_take_over(store: Store, name: str, previous: str, owner: str, now: float, ttl_s: float) -> bool:
    """Take lease `name` from `previous` (expired or dead); False when it changed hands meanwhile."""
    try:
        with store.engine.begin() as conn:
            res = conn.execute(
                update(locks)
                .where(locks.c.name == name, locks.c.owner == previous)
                .values(owner=owner, acquired_at=now, expires_at=now + ttl_s)
            )
    except IntegrityError:
        return False
    return bool(res.rowcount == 1)


def lease_extend(store: Store, name: str, owner: str, expires_at: float) -> bool:
    """Move the expiry of `owner`'s lease; False when `owner` no longer holds it."""
    with store.engine.begin() as conn:
        res = conn.execute(
            update(locks).where(locks.c.name == name, locks.c.owner == owner).values(expires_at=expires_at)
        )
    return bool(res.rowcount == 1)


def lease_release(store: Store, name: str, owner: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(locks.delete().where(locks.c.name == name, locks.c.owner == owner))


# -- passes ------------------------------------------------------------------------------------------


def start_pass(store: Store, plan: str, date: str, started_at: str) -> dict[str, Any] | None:
    """Mark the pass of (plan, date) running (a new row, or the existing one); returns the row it
    had before (None for a first pass)."""
    t = nightly_passes
    with store.engine.begin() as conn:
        row = conn.execute(select(t).where(t.c.plan == plan, t.c.date == date)).mappings().first()
        if row is None:
            conn.execute(insert(t).values(plan=plan, date=date, status="running", started_at=started_at))
        else:
            conn.execute(update(t).where(t.c.plan == plan, t.c.date == date).values(status="running"))
    return dict(row) if row is not None else None


def finish_pass(store: Store, plan: str, date: str, status: str, body: dict[str, Any]) -> None:
    """Store the pass's status and summary and, when complete, its "nightly" record (id body["id"],
    replaced by a later pass of the same date), in one transaction."""
    t = nightly_passes
    with store.engine.begin() as conn:
        conn.execute(
            update(t)
            .where(t.c.plan == plan, t.c.date == date)
            .values(status=status, finished_at=body["finished_at"], summary=json.dumps(body, default=str))
        )
        if status == "complete":
            blob = json.dumps(body, ensure_ascii=False, default=str)
            res = conn.execute(update(records).where(records.c.id == body["id"]).values(body=blob))
            if res.rowcount == 0:
                conn.execute(
                    insert(records).values(
                        id=body["id"], kind="nightly", created_at=now_iso(), ref=plan, body=blob
                    )
                )


def pass_finished(store: Store, plan: str, date: str) -> bool:
    """True when the pass of (plan, date) is complete and every alert was delivered."""
    with store.engine.connect() as conn:
        row = conn.execute(
            select(nightly_passes.c.status).where(
                nightly_passes.c.plan == plan, nightly_passes.c.date == date
            )
        ).first()
        if row is None or row[0] != "complete":
            return False
        pending = conn.execute(
            select(nightly_alerts.c.key).where(
                nightly_alerts.c.plan == plan,
                nightly_alerts.c.date == date,
                nightly_alerts.c.status != "sent",
            )
        ).first()
    return pending is None


def unfinished_dates(store: Store, plan: str) -> list[str]:
    """Dates whose pass started but did not complete (killed or stopped), oldest first."""
    t = nightly_passes
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(t.c.date).where(t.c.plan == plan, t.c.status != "complete").order_by(t.c.date)
        )
        return [r[0] for r in rows]


# -- items -------------------------------------------------------------------------------------------


def load_items(store: Store, plan: str, date: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(model, suite) -> item row of the pass of (plan, date)."""
    t = nightly_items
    with store.engine.connect() as conn:
        rows = conn.execute(select(t).where(t.c.plan == plan, t.c.date == date)).mappings().all()
    return {(r["model"], r["suite"]): dict(r) for r in rows}


def put_item(store: Store, plan: str, date: str, model: str, suite: str, **values: Any) -> None:
    """Update the item's columns (a new item starts "pending")."""
    t = nightly_items
    values["updated_at"] = now_iso()
    with store.engine.begin() as conn:
        res = conn.execute(
            update(t)
            .where(t.c.plan == plan, t.c.date == date, t.c.model == model, t.c.suite == suite)
            .values(**values)
        )
        if res.rowcount == 0:
            conn.execute(
                insert(t).values(
                    plan=plan, date=date, model=model, suite=suite, **{"status": "pending", **values}
                )
            )


def save_model_verdict(
    store: Store, plan: str, date: str, model: str, verdict_id: str, ref: str, verdict: dict[str, Any]
) -> None:
    """Store a model's verdict record and mark its finished items done with its id, in one transaction."""
    t = nightly_items
    with store.engine.begin() as conn:
        conn.execute(
            insert(records).values(
                id=verdict_id,
                kind="verdict",
                created_at=now_iso(),
                ref=ref,
                body=json.dumps(verdict, ensure_ascii=False, default=str),
            )
        )
        conn.execute(
            update(t)
            .where(t.c.plan == plan, t.c.date == date, t.c.model == model, t.c.status.in_(["ran", "done"]))
            .values(verdict_id=verdict_id, status="done", updated_at=now_iso())
        )


def verdict_bodies(store: Store, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Verdict id -> body of the stored verdicts among `ids` (empty ids ignored)."""
    ids = [i for i in dict.fromkeys(ids) if i]
    if not ids:
        return {}
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(records.c.id, records.c.body).where(records.c.id.in_(ids), records.c.kind == "verdict")
        )
        return {i: json.loads(b) for i, b in rows}


def item_verdicts(store: Store, suite: str) -> dict[str, str | None]:
    """Run id -> verdict id of every nightly item of `suite` that has a run."""
    t = nightly_items
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(t.c.run_id, t.c.verdict_id).where(t.c.suite == suite, t.c.run_id.is_not(None))
        ).all()
    return {r[0]: r[1] for r in rows}


# -- runs --------------------------------------------------------------------------------------------


def find_run(
    store: Store,
    suite: str,
    statuses: Sequence[str],
    containing: str,
    match: Callable[[RunRecord], bool],
) -> RunRecord | None:
    """The newest run of `suite` with one of `statuses` whose record text contains `containing`
    (a cheap pre-filter) and that `match` accepts; records that do not load are skipped."""
    q = (
        select(runs.c.record)
        .where(runs.c.suite == suite, runs.c.status.in_(list(statuses)), runs.c.record.contains(containing))
        .order_by(runs.c.created_at.desc())
    )
    with store.engine.connect() as conn:
        for (raw,) in conn.execute(q):
            try:
                rec = RunRecord.model_validate_json(raw)
            except ValueError:
                continue
            if match(rec):
                return rec
    return None


def completed_runs(store: Store, suite: str) -> list[RunRecord]:
    """Every completed run of `suite`, oldest first."""
    q = (
        select(runs.c.record)
        .where(runs.c.suite == suite, runs.c.status == "completed")
        .order_by(runs.c.created_at, runs.c.id)
    )
    with store.engine.connect() as conn:
        return [RunRecord.model_validate_json(r[0]) for r in conn.execute(q)]


# -- alerts ------------------------------------------------------------------------------------------


def get_alert(store: Store, plan: str, date: str, key: str, webhook: str) -> dict[str, Any] | None:
    """The delivery row of one alert to one webhook, None before the first attempt."""
    t = nightly_alerts
    cond = (t.c.plan == plan, t.c.date == date, t.c.key == key, t.c.webhook == webhook)
    with store.engine.connect() as conn:
        row = conn.execute(select(t).where(*cond)).mappings().first()
    return dict(row) if row else None


def save_alert(
    store: Store, plan: str, date: str, key: str, webhook: str, values: dict[str, Any], *, exists: bool
) -> None:
    """Record a delivery attempt (status, attempts, last_error, payload, updated_at): update the row
    when it `exists`, else insert it."""
    t = nightly_alerts
    cond = (t.c.plan == plan, t.c.date == date, t.c.key == key, t.c.webhook == webhook)
    with store.engine.begin() as conn:
        if exists:
            conn.execute(update(t).where(*cond).values(**values))
        else:
            conn.execute(insert(t).values(plan=plan, date=date, key=key, webhook=webhook, **values))


__all__ = [
    "completed_runs",
    "find_run",
    "finish_pass",
    "get_alert",
    "item_verdicts",
    "lease_extend",
    "lease_holder",
    "lease_insert",
    "lease_release",
    "lease_take_over",
    "load_items",
    "pass_finished",
    "put_item",
    "save_alert",
    "save_model_verdict",
    "start_pass",
    "unfinished_dates",
    "verdict_bodies",
]
