"""The improves / non_inferior rules of a gate: each a one-sided test of the paired delta against
its own margin, decided together (Holm's step-down with `holm: true`) from one bootstrap
distribution per comparison; the procedure is described in `decision`'s docstring.

`pending` turns a rule whose comparison is in hand into a `Pending` test; `decide` runs the tests of
the whole policy at once and writes each rule's result, reason and power warning."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import stats
from ..compare import MetricDelta
from ..fmt import num
from .policy import HOLM_RULES, GatePolicy, Rule, _g
from .verdict import RuleResult

POWER = 0.8
"""The power the gate's warnings ask of a rule (see `power_warning`)."""


@dataclass
class Pending:
    """An improves / non_inferior rule ready to be tested: `boot` holds the bootstrap replicates of
    the delta in the metric's good direction (B - A, or A - B when lower is better) and `threshold`
    the null boundary in that direction (margin, or -margin)."""

    rule: Rule
    base: dict[str, Any]
    md: MetricDelta
    higher: bool
    boot: NDArray[np.float64]
    threshold: float


def pending(rule: Rule, base: dict[str, Any], md: MetricDelta, higher: bool) -> Pending | RuleResult:
    """The rule's test, or its failed result when the comparison has no distribution to test."""
    margin = rule.margin or 0.0
    good = margin if rule.rule == "improves" else -margin
    # p_value becomes the rule's own p; the comparison's (H0: delta = 0) is in the comparison
    base = {**base, "threshold": good if higher else -good, "higher_is_better": higher, "p_value": None}
    if md.delta is None or md.ci_low is None:
        why = md.note or "no interval"
        return RuleResult(
            **base,
            passed=False,
            reason=f"no confidence interval for the delta of {rule.metric!r} ({why})",
        )
    boot = md.bootstrap_deltas
    if boot is None or not boot.size:
        return RuleResult(
            **base,
            passed=False,
            reason=f"no bootstrap distribution for the delta of {rule.metric!r} ({md.note or md.kind})",
        )
    return Pending(rule, base, md, higher, boot if higher else -boot, good)


def decide(outcomes: Sequence[RuleResult | Pending], policy: GatePolicy) -> list[RuleResult]:
    """Every rule's result: the pending improves / non_inferior tests decided together (Holm over
    all improves / non_inferior rules with `holm: true`, a rule that already failed counting as
    p = 1), the others as they are."""
    family = [
        i
        for i, o in enumerate(outcomes)
        if isinstance(o, Pending) or (isinstance(o, RuleResult) and o.kind in HOLM_RULES)
    ]
    boots = [o.boot if isinstance(o := outcomes[i], Pending) else None for i in family]
    thresholds = [o.threshold if isinstance(o := outcomes[i], Pending) else 0.0 for i in family]
    if not family:
        return [o for o in outcomes if isinstance(o, RuleResult)]
    tests = stats.margin_tests(boots, thresholds, policy.alpha, holm_adjust=policy.holm)
    done: dict[int, RuleResult] = {}
    for i, t in zip(family, tests, strict=True):
        o = outcomes[i]
        if isinstance(o, RuleResult):  # failed closed before any test: p = 1 in Holm's family
            update = {"p_value": None, "p_adjusted": t.p_adjusted, "test_level": t.level}
            done[i] = o.model_copy(update=update)
        else:
            done[i] = _result(o, t, policy, len(family))
    out: list[RuleResult] = []
    for i, o in enumerate(outcomes):
        if i not in done:
            assert isinstance(o, RuleResult)  # every pending test is in the family
        out.append(done.get(i) or o)  # type: ignore[arg-type]
    return out


def _result(pt: Pending, t: stats.MarginTest, policy: GatePolicy, m: int) -> RuleResult:
    rule, md, hib = pt.rule, pt.md, pt.higher
    thr = pt.threshold if hib else -pt.threshold  # in delta (B - A) units, as stored
    bound = None if t.bound is None else (t.bound if hib else -t.bound)
    side = "lower" if hib else "upper"
    if t.passed:
        op = ">" if hib else "<"
    else:
        op = "<=" if hib else ">="
    if t.passed:
        verdict = "improves" if rule.rule == "improves" else "non-inferior"
    elif rule.rule == "improves":
        verdict = "does not improve"
    elif (
        (md.ci_high is not None and md.ci_high < thr) if hib else (md.ci_low is not None and md.ci_low > thr)
    ):
        verdict = "regressed beyond the margin"  # the whole (two-sided) CI lies beyond -margin
    else:
        verdict = "non-inferiority not shown: a regression beyond the margin is not ruled out"
    pct = f"{round(100 * (1 - t.level), 2):g}%"
    if policy.holm:
        rank_level = f"Holm level alpha={_g(round(t.level, 6))}"
        test = f"one-sided {pct}: p={_p(t.p_value)} {'<=' if t.p_value <= t.level else '>'} {rank_level}"
        test += f", adjusted p={_p(t.p_adjusted or 1.0)} over {m} rule(s)"
    else:
        test = (
            f"one-sided {pct}: p={_p(t.p_value)} {'<=' if t.p_value <= t.level else '>'} alpha {_g(t.level)}"
        )
    direction = " (lower is better)" if not hib else ""
    reason = (
        f"{rule.rule}: {side} CI bound of delta {num(bound)} {op} {_g(thr)}{direction}: {verdict} ({test})"
    )
    if t.stopped:
        reason = (
            f"{rule.rule}: not shown: Holm's step-down stopped at a rule ranked before this one "
            f"(its own p={_p(t.p_value)} would meet its level {_g(round(t.level, 6))}); "
            f"{side} CI bound of delta {num(bound)}{direction}"
        )
    warning = power_warning(rule, md, pt.boot, t.level)
    return RuleResult(
        **{
            **pt.base,
            "passed": t.passed,
            "reason": reason,
            "p_value": t.p_value,
            "p_adjusted": t.p_adjusted,
            "test_level": t.level,
            "bound": bound,
            "mde": warning[0],
            "warnings": [
                *pt.base.get("warnings", []),
                *([warning[1]] if warning[1] and not t.passed else []),
            ],
        }
    )


def power_warning(
    rule: Rule, md: MetricDelta, boot: NDArray[np.float64], level: float
) -> tuple[float | None, str]:
    """(minimum detectable effect at the rule's n and level, a warning when the rule's margin is
    below it).

    The MDE is the true effect beyond the rule's null boundary that a one-sided level-`level` test
    detects with probability `POWER` (`stats.minimum_detectable_effect`). sd(d) comes from the
    paired discordance for binary metrics (the comparison's win/loss counts), else from the
    bootstrap replicates (sd of the replicates times sqrt(n), which also covers corpus metrics).
    The warning says the margin is below the MDE: for non_inferior, a candidate no different from
    the baseline (delta 0, one margin above the boundary) passes with less than 80% probability; for
    improves with a margin, a true improvement of twice the margin (one margin above the boundary)
    does. An improves rule with margin 0 names no effect size and gets no warning, and a rule that
    passed gets none (its pass stands whatever the power); `mde` is recorded either way.
    """
    n = md.n
    if n < 2:
        return None, ""
    if md.binary and md.wins is not None and md.losses is not None:
        sd = stats.discordance_sd(md.losses / n, md.wins / n)
    else:
        sd = float(np.std(boot)) * float(np.sqrt(n))
    mde = stats.minimum_detectable_effect(sd, n, level, POWER)
    margin = rule.margin or 0.0
    if rule.rule == "improves" and margin <= 0.0:
        return mde, ""
    if margin >= mde:
        return mde, ""
    what = (
        f"an improvement of {_g(margin)}"
        if rule.rule == "improves"
        else f"non-inferiority within {_g(margin)}"
    )
    return (
        mde,
        f"n={n} cannot show {what} at alpha {_g(round(level, 6))} "
        f"(minimum detectable effect {num(mde)} at {round(100 * POWER):g}% power)",
    )


def _p(x: float) -> str:
    return f"{x:.3g}" if x >= 0.001 else f"{x:.1e}"
