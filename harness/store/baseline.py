"""What `tunebench baseline` reads before it starts: how long this model took per item lately, from
the generation cache, for the time estimate (harness.baseline.estimate_baseline)."""

from __future__ import annotations

import json

from sqlalchemy import select

from .core import Store
from .schema import generations


def recent_item_seconds(store: Store, model_identity: str, limit: int = 200) -> list[float]:
    """Seconds per item of the `limit` most recent cached generations of a model
    (`model_identity` as the cache stores it: `stable_hash(spec.identity)`), newest first. A
    batching backend times the batch, so its time is divided by the batch size; untimed entries
    (latency 0) are left out. Failed generations are never cached, so none is counted."""
    q = (
        select(generations.c.completion)
        .where(generations.c.model_identity == model_identity)
        .order_by(generations.c.created_at.desc())
        .limit(limit)
    )
    out: list[float] = []
    with store.engine.connect() as conn:
        for (blob,) in conn.execute(q):
            c = json.loads(blob)
            latency = float(c.get("latency_s") or 0.0)
            if latency <= 0:
                continue
            try:
                size = max(1, int((c.get("raw") or {}).get("batch_size", 1)))
            except (TypeError, ValueError):
                size = 1
            out.append(latency / size)
    return out
