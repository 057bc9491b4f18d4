"""Which way is better for a metric of a run: the one place the gate decides direction (improves,
non_inferior, max_regressed_samples all ask here). The answer is the metric's declared semantics
(harness.metrics): stored with the run, else its suite's scorer declarations; never a name guess."""

from __future__ import annotations

from ..metrics import metric_info_for
from ..types import RunRecord


def higher_is_better(run: RunRecord, metric: str) -> bool:
    """True when a larger value of `metric` is better, as the run's metric semantics say. A metric
    whose semantics cannot be found is an input error (exit 2), not a guess."""
    return metric_info_for(run, metric).higher_is_better
