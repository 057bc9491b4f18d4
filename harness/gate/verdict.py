"""The verdict record: one `RuleResult` per policy rule with the numbers it was decided on, the
outcome and the exit code. Stored as a record of kind "verdict"; `get_verdict` reads one back. Its
terminal text is `reports.console.gate`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..errors import InputError
from ..store import Store
from .policy import RuleKind

VERDICT_SCHEMA_VERSION = 3
"""2: improves / non_inferior rules carry the p-value of their own one-sided null (was H0: delta = 0),
the level and one-sided bound they were decided on, the direction, the minimum detectable effect,
per-side missing-sample counts and warnings. 3: output-health rules (kind max_truncated /
max_repetition, metric `health.<rate>`) and the verdict's own `warnings` (the candidate runs'
output health). Older records load with those fields empty."""


class RuleResult(BaseModel):
    """One rule's outcome, with the numbers it was decided on."""

    rule: str = Field(description="the rule as text, e.g. non_inferior(margin=0.02)")
    suite: str
    metric: str = Field(description="the rule's metric, or health.<rate> for an output-health rule")
    kind: RuleKind
    passed: bool
    reason: str
    line: int | None = Field(None, description="line of the rule in the policy file")
    value: float | None = Field(None, description="candidate's metric value")
    baseline_value: float | None = None
    delta: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    ci_level: float | None = Field(None, description="confidence level of ci_low/ci_high, e.g. 0.95")
    threshold: float | None = Field(None, description="the bound the statistic was held to")
    p_value: float | None = Field(
        None,
        description="improves/non_inferior: bootstrap p of the rule's own one-sided null "
        "(delta <= margin, delta <= -margin in the metric's good direction)",
    )
    p_adjusted: float | None = Field(None, description="Holm-adjusted p-value actually used (holm: true)")
    test_level: float | None = Field(
        None, description="level the rule's p was compared with: alpha, or Holm's alpha / (m - rank + 1)"
    )
    bound: float | None = Field(
        None,
        description="one-sided confidence bound of delta at 1 - test_level the rule was decided on "
        "(lower bound; upper bound when lower is better)",
    )
    higher_is_better: bool | None = Field(None, description="the metric's direction the rule used")
    mde: float | None = Field(
        None, description="minimum detectable effect at n, test_level and 80% power (improves/non_inferior)"
    )
    missing_baseline: int | None = Field(
        None, description="samples the candidate scored that have no baseline value (errored or dropped)"
    )
    missing_candidate: int | None = Field(
        None, description="samples the baseline scored that have no candidate value (errored or dropped)"
    )
    warnings: list[str] = Field(default_factory=list, description="e.g. the margin is below the MDE")
    wins: int | None = None
    ties: int | None = None
    losses: int | None = None
    n: int | None = None
    candidate_run: str | None = None
    baseline_run: str | None = None
    comparison_id: str | None = None


class Verdict(BaseModel):
    schema_version: int = VERDICT_SCHEMA_VERSION
    id: str
    created_at: str
    policy: dict[str, Any] = Field(
        description="name, path, sha256 of the policy file, alpha, holm, min_samples"
    )
    candidate: str = Field(description="candidate label: its model spec or its runs' model labels")
    baseline: str = Field(description="baseline label: blessed versions or the baseline runs' model labels")
    against: str | None = Field(None, description="'blessed' when the baselines are the blessed versions")
    runs: dict[str, dict[str, str | None]] = Field(
        default_factory=dict, description="suite -> {baseline, candidate} run ids"
    )
    baseline_versions: dict[str, str] = Field(default_factory=dict, description="suite -> model version id")
    comparisons: dict[str, str] = Field(default_factory=dict, description="suite -> comparison id (at alpha)")
    rules: list[RuleResult] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(
        default_factory=list,
        description="printed under the verdict whatever the rules say: a candidate run whose "
        "outputs mostly ran to the length limit (or are mostly empty)",
    )
    passed: bool
    exit_code: int


def get_verdict(store: Store, verdict_id: str) -> Verdict:
    """A stored verdict by id (or a unique prefix); InputError when there is none."""
    rows = [r for r in store.get_records("verdict") if str(r["id"]).startswith(verdict_id)]
    exact = [r for r in rows if r["id"] == verdict_id]
    if exact:
        rows = exact
    if not rows:
        raise InputError(
            f"no verdict {verdict_id!r} in {store.url}", hint="`tunebench gate` stores one per run"
        )
    if len(rows) > 1:
        raise InputError(f"verdict id prefix {verdict_id!r} is ambiguous ({len(rows)} verdicts)")
    return Verdict.model_validate(rows[0]["body"])
