"""Plain-text rendering of a gate verdict (`tunebench gate`, the demo): one line per rule with the
numbers it was decided on and its reason (then its warnings, indented), the notes, then the verdict
line and under it the verdict's own warnings (the candidate's output health)."""

from __future__ import annotations

from harness.fmt import num
from harness.gate import HEALTH_RULES, HOLM_RULES, RuleResult, Verdict


def _signed(x: float) -> str:
    return f"{x:+.3f}"


def _p(x: float) -> str:
    return f"{x:.3g}" if x >= 0.001 else f"{x:.1e}"


def rule_numbers(r: RuleResult) -> str:
    """The numbers a rule was decided on, e.g. `delta=+0.050 95% CI [0.010, 0.090] p=0.02 n=200`."""
    parts: list[str] = []
    level = f"{round(100 * r.ci_level, 2):g}% CI" if r.ci_level else "CI"
    if r.kind in HOLM_RULES:
        if r.delta is not None:
            parts.append(f"delta={_signed(r.delta)}")
        if r.ci_low is not None or r.ci_high is not None:
            parts.append(f"{level} [{num(r.ci_low)}, {num(r.ci_high)}]")
        if r.p_value is not None:
            p = f"p={_p(r.p_value)}"
            if r.p_adjusted is not None:
                p += f" (holm {_p(r.p_adjusted)})"
            parts.append(p)
    elif r.kind == "at_least":
        if r.value is not None:
            parts.append(f"value={num(r.value)}")
        if r.ci_low is not None or r.ci_high is not None:
            parts.append(f"{level} [{num(r.ci_low)}, {num(r.ci_high)}]")
    elif r.kind in HEALTH_RULES:
        if r.value is not None:
            parts.append(f"rate={num(r.value)}")
        if r.baseline_value is not None:
            parts.append(f"baseline={num(r.baseline_value)}")
    elif r.kind == "max_regressed_samples" and r.losses is not None:
        parts.append(f"W/T/L={r.wins}/{r.ties}/{r.losses}")
    if r.n is not None:
        parts.append(f"n={r.n}")
    return " ".join(parts) or "-"


def render_verdict(v: Verdict) -> str:
    width = max((len(f"{r.suite}:{r.metric} {r.rule}") for r in v.rules), default=0)
    lines = []
    for r in v.rules:
        head = f"{r.suite}:{r.metric} {r.rule}".ljust(width)
        lines.append(f"{'PASS' if r.passed else 'FAIL'}  {head}  {rule_numbers(r)}  {r.reason}")
        lines.extend(f"      warning: {w}" for w in r.warnings)
    for note in v.notes:
        lines.append(f"note: {note}")
    failed = sum(1 for r in v.rules if not r.passed)
    pol = v.policy.get("name", "?")
    if v.passed:
        lines.append(
            f"verdict: PASS  {len(v.rules)} rule(s) of policy {pol} passed; "
            f"candidate {v.candidate} vs baseline {v.baseline}"
        )
    else:
        lines.append(
            f"verdict: FAIL  {failed} of {len(v.rules)} rule(s) of policy {pol} failed; "
            f"candidate {v.candidate} vs baseline {v.baseline}"
        )
    lines.extend(f"warning: {w}" for w in v.warnings)
    return "\n".join(lines)
