"""`tunebench show RUN --suite`: print the suite a run was made with, from the snapshot the run
stored (for a run made before snapshots were stored: from disk, when its suite.yaml still has the
run's content hash)."""

from __future__ import annotations

from reports.console.suite import render_suite_snapshot

from ..errors import InputError
from ..store import Store
from ..store.snapshots import get_suite_snapshot, suite_snapshot_for_hash
from ..suite import draw_fewshot, snapshot_id, suite_for_run, suite_snapshot
from ..types import RunRecord


def print_suite(store: Store, rec: RunRecord) -> int:
    body = get_suite_snapshot(store, snapshot_id(rec.suite_hash, rec.prompt, rec.split))
    if body is None:
        body = suite_snapshot_for_hash(store, rec.suite_hash)
        if body is not None:  # another prompt or split of the same suite: the suite part holds
            body = {**body, "split": rec.split, "prompt": rec.prompt.model_dump(mode="json")}
            body.pop("prompt_messages", None)
            body.pop("fewshot_ids", None)
    if body is None:
        suite = suite_for_run(None, rec)  # InputError (exit 2) when it is not on disk either
        try:
            fewshot = draw_fewshot(suite, rec.prompt, rec.split)
        except InputError:
            fewshot = []
        body = suite_snapshot(suite, rec.prompt, rec.split, fewshot)
    print(render_suite_snapshot(body, rec.id), end="")
    return 0
