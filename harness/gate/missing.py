"""Missing data fails closed, read from the comparison (harness/compare pairs the samples).

A sample that errored or has no score on one side scores the metric's failure value there when the
metric declares one (a bounded per-sample metric: 0 for accuracy-like metrics), so a candidate that
errors on its hard items pays for it in the delta; the rule then reports how many samples each side
had scored as failures. Where the metric has no failure value (perplexity, corpus metrics, unbounded
scores) such samples are dropped from the pairing, and a comparison rule whose paired n is therefore
below the runs' sample count fails, with a reason naming per side how many were dropped and why.
Samples that are not applicable to either side (a scorer limited to some task types) are neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..compare import MetricDelta


def missing_sides(md: MetricDelta) -> tuple[int, int] | None:
    """(baseline, candidate): samples each side errored on or lacks a score for (scored as failures
    or dropped); None for a metric without per-sample values (a run-level count)."""
    if md.n_paired is None:
        return None
    return md.n_failed_a + md.n_dropped_a, md.n_failed_b + md.n_dropped_b


def dropped(md: MetricDelta) -> bool:
    """True when the pairing lost samples that one side could not score and no failure value stands
    in for them: the rule must fail."""
    return md.n_paired is not None and (md.n_dropped_a + md.n_dropped_b) > 0


def _per_side(counts: Mapping[str, Mapping[Any, int]], side: str) -> str:
    parts = [f"{n} {why}" for why, n in sorted(counts.get(side, {}).items()) if n]
    return ", ".join(parts) or "0"


def missing_reason(md: MetricDelta) -> str:
    return (
        f"missing data fails closed: dropped from the pairing: baseline {_per_side(md.dropped, 'a')}, "
        f"candidate {_per_side(md.dropped, 'b')} ({md.name!r} has no failure value, so the paired "
        f"n={md.n_paired} would hide them)"
    )


def failure_warning(md: MetricDelta) -> str | None:
    """A note for a rule whose samples were scored as failures (the rule is still decided)."""
    if not (md.n_failed_a or md.n_failed_b):
        return None
    fv = md.info.failure_value if md.info is not None else None
    value = f" ({fv:g})" if fv is not None else ""
    return (
        f"scored as failures{value}: baseline {_per_side(md.failed, 'a')}, "
        f"candidate {_per_side(md.failed, 'b')}"
    )
