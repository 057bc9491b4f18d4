"""Which way is better for a metric of a run: the one place the gate decides direction (improves,
non_inferior, max_regressed_samples all ask here)."""

from __future__ import annotations

from typing import Any

from ..types import RunRecord


def higher_is_better(run: RunRecord, metric: str) -> bool:
    """True when a larger value of `metric` is better, as the run's stored metric semantics say;
    True when the run stores none for it (records written before metric semantics existed)."""
    info: Any = (getattr(run, "metric_info", None) or {}).get(metric)
    if info is None:
        return True
    value = (
        info.get("higher_is_better") if isinstance(info, dict) else getattr(info, "higher_is_better", None)
    )
    return True if value is None else bool(value)
