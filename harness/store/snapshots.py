"""Suite snapshots: the resolved suite a run was made with, as a `records` row of kind
"suite_snapshot" (id: the snapshot id, ref: the suite's content hash), written once per (suite hash,
prompt, split) by the runner and read back to replay a run whose suite is not on disk
(`harness.suite.suite_for_run`). Stored as JSON in the records table: no migration."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from .core import Store, _insert_ignore, now_iso
from .schema import records

SUITE_SNAPSHOT = "suite_snapshot"


def put_suite_snapshot(store: Store, snapshot_id: str, suite_hash: str, body: dict[str, Any]) -> None:
    """Store a snapshot unless one with this id is there already (concurrent runs may race)."""
    row = {
        "id": snapshot_id,
        "kind": SUITE_SNAPSHOT,
        "created_at": now_iso(),
        "ref": suite_hash,
        "body": json.dumps(body, ensure_ascii=False, default=str),
    }
    with store.engine.begin() as conn:
        if conn.execute(select(records.c.id).where(records.c.id == snapshot_id)).first() is None:
            conn.execute(_insert_ignore(store.engine.dialect.name, records), [row])


def get_suite_snapshot(store: Store, snapshot_id: str) -> dict[str, Any] | None:
    """The snapshot with this id (see `harness.suite.snapshot_id`), or None."""
    with store.engine.connect() as conn:
        row = conn.execute(
            select(records.c.body).where(records.c.id == snapshot_id, records.c.kind == SUITE_SNAPSHOT)
        ).first()
    return dict(json.loads(row[0])) if row else None


def suite_snapshot_for_hash(store: Store, suite_hash: str) -> dict[str, Any] | None:
    """The oldest snapshot of the suite with this content hash (any prompt or split), or None."""
    with store.engine.connect() as conn:
        row = conn.execute(
            select(records.c.body)
            .where(records.c.kind == SUITE_SNAPSHOT, records.c.ref == suite_hash)
            .order_by(records.c.created_at, records.c.id)
            .limit(1)
        ).first()
    return dict(json.loads(row[0])) if row else None
