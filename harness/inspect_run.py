"""Looking inside a stored run: whole samples by id, and what its latency numbers measured.

`tunebench show RUN --sample ID` / `--full` read through these; the rendering lives in
reports/console/sample_view.py.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from .errors import InputError
from .store import Store
from .types import RunRecord, SampleResult


def latency_is_batch(usage: dict[str, float], first: SampleResult | None = None) -> bool:
    """Whether the run's latency numbers time batches rather than single requests. A batching
    backend (hf) generates a batch at once and can only time the batch, so every request in it
    gets the batch's time. Records made before `usage["latency_is_batch"]` existed are judged by
    one stored completion (`first`): the hf backend records its batch size there."""
    if "latency_is_batch" in usage:
        return bool(usage["latency_is_batch"])
    if first is not None:
        raw: dict[str, Any] = first.completion.raw or {}
        try:
            return int(raw.get("batch_size", 1)) > 1
        except (TypeError, ValueError):
            return False
    return False


def latency_label(usage: dict[str, float], first: SampleResult | None = None) -> str:
    """ "latency" where each request was timed on its own, "batch time" where only batches were."""
    return "batch time" if latency_is_batch(usage, first) else "latency"


def first_result(store: Store, run: RunRecord) -> SampleResult | None:
    return next(iter(store.iter_results(run.id, batch=1)), None)


def run_samples(store: Store, run: RunRecord, sample_ids: Sequence[str] | None = None) -> list[SampleResult]:
    """The run's samples in run order: all of them, or those with `sample_ids` (in that order).
    An id the run does not have is an InputError naming the closest ones."""
    if sample_ids is None:
        return list(store.iter_results(run.id))
    found = {r.sample_id: r for r in store.iter_results(run.id, sample_ids=sample_ids)}
    missing = [s for s in sample_ids if s not in found]
    if missing:
        known = store.sample_ids(run.id)
        close = difflib.get_close_matches(missing[0], known, n=3)
        raise InputError(
            f"run {run.id} has no sample {missing[0]!r}"
            + (f" (and {len(missing) - 1} more missing)" if len(missing) > 1 else ""),
            hint=(f"did you mean {', '.join(close)}? " if close else "")
            + f"the run has {len(known)} samples"
            + (f", e.g. {', '.join(known[:3])}" if known else ""),
        )
    return [found[s] for s in dict.fromkeys(sample_ids)]
