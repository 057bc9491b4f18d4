"""The output-health rules of a gate (`max_truncated`, `max_repetition`) and the verdict's health
warnings.

A candidate can pass every metric rule with outputs a person would never ship: a model that never
learned to stop runs each answer to the length limit, repeating a heading, and a presence check
still passes. These rules read the candidate run's `health` (harness.health, recorded by every
run), not a metric, so they need no baseline; the baseline's rate, when there is a baseline run, is
stated for context only. A run without health recorded (made before tunebench measured it) fails
closed: re-running it records it (generations come from the cache). `health_notes` gives the
warnings every verdict prints under it, whatever its rules say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..health import counts_for_health, health_warnings
from ..store import Store
from ..types import RunRecord
from .policy import Rule, _g
from .verdict import RuleResult

_LABELS = {
    "truncated": "ended at the length limit",
    "repeated_lines": "repeated lines",
    "repeated_ngrams": "repeated 4-grams",
}


def measures(rule: Rule) -> tuple[str, ...]:
    """The health keys a rule reads (the larger of them is held to the threshold)."""
    if rule.rule == "max_truncated":
        return ("truncated",)
    m = rule.measure or "max"
    return ("repeated_lines", "repeated_ngrams") if m == "max" else (m,)


def _rate(health: Mapping[str, float], keys: tuple[str, ...]) -> float | None:
    values = [float(health[k]) for k in keys if k in health]
    return max(values) if len(values) == len(keys) else None


def _no_health(store: Store, run: RunRecord) -> str:
    """Why a run has no health: it predates the measurement, or it generated nothing to measure."""
    generated = any(counts_for_health(r.completion) for r in store.iter_results(run.id))
    if not generated:
        return (
            f"candidate run {run.id} has no generated outputs to measure (log-likelihood samples "
            "only, or every generation failed)"
        )
    return (
        f"candidate run {run.id} has no output health recorded (a run made before tunebench "
        f"measured it): re-run to record output health (`tunebench run {run.suite} --model "
        f"{run.model.label} --split {run.split}`; cached generations make it quick)"
    )


def _describe(health: Mapping[str, float], keys: tuple[str, ...]) -> str:
    parts = [f"{_LABELS[k]} {float(health[k]):.0%}" for k in keys]
    return parts[0] if len(parts) == 1 else "the larger of " + " and ".join(parts)


def health_rule(
    store: Store,
    rule: Rule,
    base: dict[str, Any],
    cand: RunRecord,
    baseline: RunRecord | None,
    min_samples: int,
) -> RuleResult:
    """Decide a max_truncated / max_repetition rule on the candidate's health."""
    assert rule.threshold is not None
    keys = measures(rule)
    base = {**base, "threshold": rule.threshold, "higher_is_better": False}
    if baseline is not None:
        base["baseline_run"] = baseline.id
        base["baseline_value"] = _rate(baseline.health, keys)
    value = _rate(cand.health, keys)
    if value is None:
        return RuleResult(**base, passed=False, reason=_no_health(store, cand))
    n = int(cand.health.get("n", 0))
    base.update(value=value, n=n)
    if n < min_samples:
        return RuleResult(
            **base,
            passed=False,
            reason=f"too few samples: n={n} generated outputs < policy min_samples {min_samples}",
        )
    ok = value <= rule.threshold
    what = _describe(cand.health, keys)
    if rule.rule == "max_truncated":
        what = f"{round(value * n)} of {n} outputs ({value:.0%}) ended at the length limit"
    context = ""
    if baseline is not None:
        b = base["baseline_value"]
        context = (
            f" (baseline {b:.0%})" if b is not None else " (the baseline run has no output health recorded)"
        )
    reason = f"{rule.rule}: {what} {'<=' if ok else '>'} {_g(rule.threshold)}{context}"
    if not ok and rule.rule == "max_truncated":
        reason += f"; the model may not be ending its answers (read some: `tunebench show {cand.id} --full`)"
    return RuleResult(**base, passed=ok, reason=reason)


def health_notes(runs: Mapping[str, RunRecord]) -> list[str]:
    """One warning per thing that stands out in a candidate run's health (most outputs hit the
    length limit, most are empty), named by suite; printed under every verdict."""
    return [
        f"{suite}: candidate run {run.id}: {w}"
        for suite, run in runs.items()
        for w in health_warnings(run.health, run.id)
    ]
