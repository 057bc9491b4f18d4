"""Deciding a gate: every rule of a policy on paired comparisons of stored runs, one reason per
rule, and the verdict.

`delta` is candidate - baseline from `compare_runs`. Each suite's pair of runs is compared ONCE
(`compare_runs` at the policy's alpha, stored as one comparison record): every rule of that suite
reads the same comparison, and its bootstrap replicates come from the same resample indices for
every metric (samples kept alike). The comparison uses B = max(n_boot, 2000, ceil(40 m / alpha))
resamples, m the size of the Holm family (1 without Holm), so the smallest level has about 40
replicates in its tail.

improves / non_inferior (`margin`). Each rule tests its own null in the metric's good direction
(`direction.higher_is_better`): with d = delta (B - A), or A - B when lower is better,

* improves:      H0: d <= margin,   shown when rejected;
* non_inferior:  H0: d <= -margin,  shown when rejected.

Its p-value is the bootstrap p (1 + #{d*_b <= t}) / (B + 1) over the comparison's replicates d*
(mean-type metrics: the mean delta of each resample; corpus metrics: the corpus statistic
recomputed on each resample). Without Holm a rule passes iff p <= alpha: a one-sided test at
alpha, i.e. its one-sided (1 - alpha) lower confidence bound of d clears the threshold (`bound`,
`stats.lower_confidence_bound`; an upper bound of delta when lower is better). With `holm: true`
the family is every improves/non_inferior rule of the policy (m of them; a rule that failed closed
before any test counts as p = 1): sort the p-values ascending, pass the rank-i rule while
p_(i) <= alpha / (m - i + 1), and at the first failure stop: that rule and every later-ranked one
fail. `p_adjusted` is the Holm-adjusted p (`stats.holm`) that decision amounts to (pass iff
p_adjusted <= alpha), `test_level` the level each rule was (or would have been) compared with and
`bound` the one-sided bound at that level. The family-wise false-pass rate at the margins is at most
alpha (tests/gate/test_holm_simulation.py). The stored `ci_low`/`ci_high` stay the comparison's
two-sided CI of delta at level 1 - alpha (`ci_level`), whatever the test level; the reason says
"regressed beyond the margin" when that whole CI lies beyond -margin, and "non-inferiority not
shown" when it straddles. A rule whose margin is below the minimum detectable effect at its n and
level (80% power, `margin.power_warning`) carries a warning.

Every rule also fails when its n (paired n for comparison rules, the candidate's n for at_least,
its number of generated outputs for an output-health rule) is below the policy's `min_samples`. Missing data fails closed, with a reason naming what is missing:
no candidate run for the suite, no baseline run (for rules that need one), the metric missing from a
run, runs that cannot be compared (compare_runs' refusal, quoted), a delta without an interval, and
(comparison rules) samples that one run scored and the other has no value for (`missing`).
max_regressed_samples counts the samples that got worse in the metric's direction. at_least,
max_regressed_samples, min_samples and the output-health rules (max_truncated, max_repetition:
`health_rules`, decided on the candidate run's recorded health, failing closed when it has none)
are not part of Holm's family. Whatever the rules say, the verdict's `warnings` name every
candidate run that ran most of its outputs to the length limit (or left most empty).

`evaluate_gate` reads stored runs only and stores the verdict (kind "verdict", ref = the candidate
label) and the one comparison per suite it made; `resolve` finds the runs it is given.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import stats
from ..compare import Comparison, MetricDelta, compare_runs
from ..errors import InputError
from ..fmt import num
from ..registry_models import ModelVersion
from ..store import Store, new_run_id
from ..types import RunRecord
from .direction import higher_is_better
from .health_rules import health_notes, health_rule
from .margin import Pending, decide, pending
from .missing import dropped, failure_warning, missing_reason, missing_sides
from .policy import COMPARISON_RULES, HEALTH_RULES, HOLM_RULES, GatePolicy, Rule, _g, _path_like
from .verdict import RuleResult, Verdict


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass
class _Ctx:
    store: Store
    policy: GatePolicy
    names: dict[str, str]
    candidate_runs: dict[str, str]
    baseline_runs: dict[str, str]
    missing_baseline: dict[str, str]
    n_boot: int = 1000
    comparisons: dict[str, Comparison | InputError] = field(default_factory=dict)
    records: dict[str, RunRecord] = field(default_factory=dict)

    def run(self, run_id: str) -> RunRecord:
        if run_id not in self.records:
            self.records[run_id] = self.store.get_run(run_id)  # unknown id: InputError, exit 2
        return self.records[run_id]

    def compare(self, suite: str, rule: Rule) -> Comparison | InputError:
        """The one comparison of the suite's runs (at the policy's alpha, `n_boot` resamples)."""
        if suite not in self.comparisons:
            ref = self.policy.suite_ref(rule)
            try:
                self.comparisons[suite] = compare_runs(
                    self.store,
                    self.baseline_runs[suite],
                    self.candidate_runs[suite],
                    n_boot=self.n_boot,
                    seed=self.policy.seed,
                    alpha=self.policy.alpha,
                    suite=ref if _path_like(rule.suite) else None,
                )
            except InputError as e:
                self.comparisons[suite] = e
        return self.comparisons[suite]


def _lookup(mapping: dict[str, str], rule: Rule, name: str) -> str | None:
    return mapping.get(name) or mapping.get(rule.suite)


def _metric_missing(metric: str, run: RunRecord, side: str) -> str | None:
    if metric in run.metrics:
        return None
    have = sorted(run.metrics)
    close = difflib.get_close_matches(metric, have, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"metric {metric!r} missing from the {side} run {run.id} (it reports {', '.join(have) or 'no metrics'}){hint}"


def _fail(base: dict[str, Any], reason: str, **kw: Any) -> RuleResult:
    return RuleResult(**{**base, **kw}, passed=False, reason=reason)


def _error_text(e: InputError) -> str:
    text = str(e.args[0]).replace("\n", " ").replace("  - ", "").strip()
    return text + (f" (hint: {e.hint})" if e.hint else "")


def evaluate_gate(
    store: Store,
    policy: GatePolicy,
    candidate_runs: dict[str, str],
    baseline_runs: dict[str, str],
    *,
    baseline_versions: dict[str, ModelVersion] | None = None,
    missing_baseline: dict[str, str] | None = None,
    against: str | None = None,
    candidate_label: str | None = None,
    baseline_label: str | None = None,
    notes: Sequence[str] = (),
    save: bool = True,
) -> Verdict:
    """Decide every rule of `policy` on stored runs and return (and store) the verdict.

    `candidate_runs` / `baseline_runs` map a suite name (or the rule's `suite` string) to a run id.
    `missing_baseline` gives the reason a suite has no baseline (e.g. nothing blessed), used in the
    rules' reasons. Unknown run ids raise InputError; everything else that is missing fails its rule.
    """
    names = policy.suite_names()
    ctx = _Ctx(store, policy, names, {}, {}, dict(missing_baseline or {}))
    for rule in policy.rules:
        name = names[rule.suite]
        c = _lookup(candidate_runs, rule, name)
        b = _lookup(baseline_runs, rule, name)
        if c:
            ctx.candidate_runs[name] = c
        if b:
            ctx.baseline_runs[name] = b
    all_notes = list(notes)
    extra = sorted(set(candidate_runs) - set(names) - set(names.values()))
    if extra:
        all_notes.append(
            f"candidate runs of suites the policy does not name were ignored: {', '.join(extra)}"
        )

    m = sum(1 for r in policy.rules if r.rule in HOLM_RULES)
    ctx.n_boot = stats.resamples_for(policy.alpha, m if policy.holm else 1, max(policy.n_boot, 2000))
    outcomes = [_evaluate_rule(ctx, rule, i) for i, rule in enumerate(policy.rules)]
    results = decide(outcomes, policy)

    passed = bool(results) and all(r.passed for r in results)
    suites = list(dict.fromkeys(names[r.suite] for r in policy.rules))
    versions = baseline_versions or {}
    cand_label = candidate_label or _label_of_runs(ctx, ctx.candidate_runs.values()) or "(no candidate runs)"
    if baseline_label is None:
        if versions:
            baseline_label = ", ".join(f"{v.label} ({s})" for s, v in versions.items())
        else:
            baseline_label = _label_of_runs(ctx, ctx.baseline_runs.values()) or "(no baseline runs)"
    comparisons = {s: cmp.id for s, cmp in ctx.comparisons.items() if isinstance(cmp, Comparison)}
    verdict = Verdict(
        id=f"verdict-{new_run_id()}",
        created_at=_now(),
        policy={
            "name": policy.name,
            "path": str(Path(policy.path).resolve()) if policy.path else None,
            "sha256": policy.sha256,
            "alpha": policy.alpha,
            "holm": policy.holm,
            "min_samples": policy.min_samples,
            "n_boot": ctx.n_boot,
        },
        candidate=cand_label,
        baseline=baseline_label,
        against=against,
        runs={
            s: {"baseline": ctx.baseline_runs.get(s), "candidate": ctx.candidate_runs.get(s)} for s in suites
        },
        baseline_versions={s: v.id for s, v in versions.items()},
        comparisons=comparisons,
        rules=results,
        notes=all_notes,
        warnings=health_notes({s: ctx.run(rid) for s, rid in ctx.candidate_runs.items()}),
        passed=passed,
        exit_code=0 if passed else 1,
    )
    if save:
        store.put_record("verdict", verdict.id, verdict.model_dump(mode="json"), ref=verdict.candidate[:200])
    return verdict


def _label_of_runs(ctx: _Ctx, run_ids: Any) -> str:
    labels = []
    for rid in run_ids:
        labels.append(ctx.run(rid).model.label)
    return ", ".join(dict.fromkeys(labels))


def _find(cmp: Comparison, metric: str) -> MetricDelta | None:
    try:
        return cmp.metric(metric)
    except KeyError:
        return None


def _evaluate_rule(ctx: _Ctx, rule: Rule, index: int) -> RuleResult | Pending:
    """The rule's result, or (improves / non_inferior with a comparison in hand) its pending test."""
    policy = ctx.policy
    name = ctx.names[rule.suite]
    base: dict[str, Any] = {
        "rule": rule.describe(),
        "suite": name,
        "metric": rule.target,
        "kind": rule.rule,
        "line": policy.line_of(index),
    }
    cand_id = ctx.candidate_runs.get(name)
    if cand_id is None:
        return _fail(base, f"no candidate run for suite {name!r}")
    cand = ctx.run(cand_id)
    base["candidate_run"] = cand.id
    if cand.suite != name:
        return _fail(
            base,
            f"suite mismatch: candidate run {cand.id} is of suite {cand.suite!r}, the rule is on {name!r}",
        )
    if cand.status != "completed":
        return _fail(base, f"candidate run {cand.id} is {cand.status}, not completed")
    base_id = ctx.baseline_runs.get(name)
    if rule.rule in HEALTH_RULES:
        other = ctx.run(base_id) if base_id is not None else None
        context = other if other is not None and other.suite == name else None
        return health_rule(ctx.store, rule, base, cand, context, policy.min_samples)
    metric = rule.target
    missing = _metric_missing(metric, cand, "candidate")
    if missing:
        return _fail(base, missing)
    cm = cand.metrics[metric]
    base["value"] = cm.value

    needs_baseline = rule.rule in COMPARISON_RULES
    if base_id is None and needs_baseline:
        why = ctx.missing_baseline.get(name) or f"no baseline run for suite {name!r}"
        return _fail(base, why)

    md: MetricDelta | None = None
    if base_id is not None and (needs_baseline or rule.rule == "min_samples"):
        basel = ctx.run(base_id)
        base["baseline_run"] = basel.id
        if basel.suite != name:
            return _fail(
                base,
                f"suite mismatch: baseline run {basel.id} is of suite {basel.suite!r}, the rule is on {name!r}",
            )
        missing = _metric_missing(metric, basel, "baseline")
        if missing:
            return _fail(base, missing)
        cmp = ctx.compare(name, rule)
        if isinstance(cmp, InputError):
            return _fail(base, "cannot compare: " + _error_text(cmp))
        base["comparison_id"] = cmp.id
        md = _find(cmp, metric)
        if md is None:
            return _fail(base, f"metric {metric!r} missing from comparison {cmp.id}")
        base.update(
            value=md.b,
            baseline_value=md.a,
            delta=md.delta,
            p_value=md.p_value,
            wins=md.wins,
            ties=md.ties,
            losses=md.losses,
            n=md.n,
        )
        if needs_baseline:
            base.update(ci_low=md.ci_low, ci_high=md.ci_high, ci_level=1 - policy.alpha)
            counts = missing_sides(md)
            if counts is not None:
                base.update(missing_baseline=counts[0], missing_candidate=counts[1])
                if dropped(md):
                    return _fail(base, missing_reason(md))
                note = failure_warning(md)
                if note is not None:
                    base.setdefault("warnings", []).append(note)
    elif rule.rule in ("at_least", "min_samples"):
        base["n"] = cm.n

    n = base.get("n")
    if n is None or n < policy.min_samples:
        return _fail(base, f"too few samples: n={n} < policy min_samples {policy.min_samples}")

    if rule.rule in HOLM_RULES:
        assert md is not None
        return pending(rule, base, md, higher_is_better(cand, metric))
    if rule.rule == "max_regressed_samples":
        assert md is not None and rule.max is not None
        base["threshold"] = float(rule.max)
        higher = higher_is_better(cand, metric)
        base["higher_is_better"] = higher
        worse = md.losses  # compare counts W/T/L in the metric's direction
        if worse is None:
            return _fail(base, f"no per-sample win/tie/loss counts for {metric!r} ({md.note or md.kind})")
        ok = worse <= rule.max
        how = "" if higher else " (lower is better: samples where the candidate scores higher)"
        return RuleResult(
            **base,
            passed=ok,
            reason=f"max_regressed_samples: {worse} sample(s) regressed {'<=' if ok else '>'} {rule.max}{how}",
        )
    if rule.rule == "min_samples":
        assert rule.min is not None
        base["threshold"] = float(rule.min)
        ok = n >= rule.min
        return RuleResult(**base, passed=ok, reason=f"min_samples: n={n} {'>=' if ok else '<'} {rule.min}")

    # at_least
    assert rule.threshold is not None
    base["threshold"] = rule.threshold
    lo, hi, level, why = _candidate_ci(ctx, cand, metric, policy.alpha)
    base.update(ci_low=lo, ci_high=hi, ci_level=level)
    if lo is None:
        return _fail(base, f"at_least: no lower CI bound for {metric!r} ({why})")
    ok = lo >= rule.threshold
    return RuleResult(
        **base,
        passed=ok,
        reason=f"at_least: lower CI bound {num(lo)} {'>=' if ok else '<'} {_g(rule.threshold)}"
        + (
            f" (point estimate {num(cm.value)})"
            if not ok and cm.value is not None and cm.value >= rule.threshold
            else ""
        )
        + (f"; {why}" if why else ""),
    )


def _candidate_ci(
    ctx: _Ctx, run: RunRecord, metric: str, alpha: float
) -> tuple[float | None, float | None, float | None, str]:
    """(low, high, level, note) of the candidate's own metric at level 1 - alpha."""
    m = run.metrics[metric]
    if abs(alpha - 0.05) < 1e-12:
        return m.ci_low, m.ci_high, 0.95, "" if m.ci_low is not None else "the run stored no interval"
    values = [
        float(s.value)
        for row in ctx.store.score_table(run.id).values()
        if (s := row.get(metric)) is not None and s.value is not None
    ]
    is_mean = (
        bool(values)
        and m.value is not None
        and abs(sum(values) / len(values) - m.value) <= 1e-9 * max(1, abs(m.value))
    )
    if is_mean:
        _, lo, hi = stats.bootstrap_ci(values, n_boot=ctx.policy.n_boot, alpha=alpha, seed=ctx.policy.seed)
        return lo, hi, 1 - alpha, ""
    if alpha > 0.05:
        return m.ci_low, m.ci_high, 0.95, "corpus-level metric: the run's stored 95% CI (wider than required)"
    return (
        None,
        None,
        None,
        f"corpus-level metric stored only with a 95% CI; alpha {alpha:g} needs a wider one",
    )
