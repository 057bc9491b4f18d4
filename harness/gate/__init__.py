"""The deploy gate: a YAML policy of rules over paired comparisons in, a verdict with one reason per
rule and an exit code out. `policy` (the file), `decision` (evaluate_gate), `margin` (the improves /
non_inferior tests and Holm's step-down), `missing` (missing data fails closed), `direction` (which
way is better for a metric), `health_rules` (max_truncated / max_repetition on output health),
`verdict` (the record), `resolve` (which runs are compared: baselines, shared with nightly plans,
and candidates). The verdict's terminal text is `reports.console.gate`."""

from .decision import evaluate_gate
from .policy import COMPARISON_RULES, HEALTH_RULES, HOLM_RULES, GatePolicy, Rule, RuleKind, load_policy
from .resolve import (
    Resolved,
    baseline_runs,
    is_model_spec,
    paired_split_limit,
    resolve_baselines,
    resolve_candidate,
)
from .verdict import VERDICT_SCHEMA_VERSION, RuleResult, Verdict, get_verdict

__all__ = [
    "COMPARISON_RULES",
    "HEALTH_RULES",
    "HOLM_RULES",
    "VERDICT_SCHEMA_VERSION",
    "GatePolicy",
    "Resolved",
    "Rule",
    "RuleKind",
    "RuleResult",
    "Verdict",
    "baseline_runs",
    "evaluate_gate",
    "get_verdict",
    "is_model_spec",
    "load_policy",
    "paired_split_limit",
    "resolve_baselines",
    "resolve_candidate",
]
