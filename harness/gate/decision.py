"""Deciding a gate: every rule of a policy on paired comparisons of stored runs, one reason per
rule, and the verdict.

`delta` is candidate - baseline from `compare_runs` (paired bootstrap CI at level 1 - alpha).

Every rule also fails when its n (paired n for comparison rules, the candidate's n for at_least) is
below the policy's `min_samples`. Missing data fails closed, with a reason naming what is missing:
no candidate run for the suite, no baseline run (for rules that need one), the metric missing from a
run, runs that cannot be compared (compare_runs' refusal, quoted), a delta without an interval.

Holm (holm: true). The family is every improves/non_inferior rule of the policy (m of them). Their
p-values are the comparisons' p-values of H0: delta = 0 (exact McNemar for binary metrics, else the
paired-bootstrap p); a rule whose p-value is unavailable counts as p = 1 (it fails anyway, and it still
counts in m, which is the conservative choice). `p_adjusted` is `stats.holm` of those p-values. The
rules are ranked by p-value (ties in policy order); the rank-i rule (1-based) is decided by its CI
recomputed at level 1 - alpha / (m - i + 1), i.e. `compare_runs(..., alpha=alpha / (m - i + 1))`,
so the smallest p-value gets the Bonferroni level alpha / m and the largest gets alpha. Each rule
is decided by its own CI at its level; there is no step-down stop (a rule is not failed because a
smaller-p rule failed). at_least, max_regressed_samples and min_samples are not adjusted.

`evaluate_gate` reads stored runs only and stores the verdict (kind "verdict", ref = the candidate
label) and every comparison it made; `resolve` finds the runs it is given.
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
from .policy import COMPARISON_RULES, HOLM_RULES, GatePolicy, Rule, _g, _path_like
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
    comparisons: dict[tuple[str, float], Comparison | InputError] = field(default_factory=dict)
    records: dict[str, RunRecord] = field(default_factory=dict)

    def run(self, run_id: str) -> RunRecord:
        if run_id not in self.records:
            self.records[run_id] = self.store.get_run(run_id)  # unknown id: InputError, exit 2
        return self.records[run_id]

    def compare(self, suite: str, rule: Rule, alpha: float) -> Comparison | InputError:
        key = (suite, alpha)
        if key not in self.comparisons:
            ref = self.policy.suite_ref(rule)
            try:
                self.comparisons[key] = compare_runs(
                    self.store,
                    self.baseline_runs[suite],
                    self.candidate_runs[suite],
                    n_boot=self.policy.n_boot,
                    seed=self.policy.seed,
                    alpha=alpha,
                    suite=ref if _path_like(rule.suite) else None,
                )
            except InputError as e:
                self.comparisons[key] = e
        return self.comparisons[key]


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

    # Holm: rank the improves/non_inferior rules by their p-values at the policy alpha
    levels: dict[int, float] = {}
    p_adjusted: dict[int, float] = {}
    if policy.holm:
        family = [i for i, r in enumerate(policy.rules) if r.rule in HOLM_RULES]
        pvals = [_p_value(ctx, policy.rules[i]) for i in family]
        ps = [1.0 if p is None else p for p in pvals]
        m = len(family)
        for i, (adj, _reject) in zip(family, stats.holm(ps, policy.alpha) if m else [], strict=True):
            p_adjusted[i] = adj
        ranked = sorted(range(m), key=lambda k: (ps[k], k))
        for rank, k in enumerate(ranked, start=1):
            levels[family[k]] = policy.alpha / (m - rank + 1)

    results = []
    for i, rule in enumerate(policy.rules):
        alpha = levels.get(i, policy.alpha)
        res = _evaluate_rule(ctx, rule, i, alpha)
        if i in p_adjusted:
            reason = res.reason + f" (Holm level alpha={_g(round(alpha, 6))})"
            res = res.model_copy(update={"p_adjusted": p_adjusted[i], "reason": reason})
        results.append(res)

    passed = bool(results) and all(r.passed for r in results)
    suites = list(dict.fromkeys(names[r.suite] for r in policy.rules))
    versions = baseline_versions or {}
    cand_label = candidate_label or _label_of_runs(ctx, ctx.candidate_runs.values()) or "(no candidate runs)"
    if baseline_label is None:
        if versions:
            baseline_label = ", ".join(f"{v.label} ({s})" for s, v in versions.items())
        else:
            baseline_label = _label_of_runs(ctx, ctx.baseline_runs.values()) or "(no baseline runs)"
    comparisons = {
        s: cmp.id
        for (s, a), cmp in ctx.comparisons.items()
        if a == policy.alpha and isinstance(cmp, Comparison)
    }
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


def _p_value(ctx: _Ctx, rule: Rule) -> float | None:
    name = ctx.names[rule.suite]
    if name not in ctx.candidate_runs or name not in ctx.baseline_runs:
        return None
    cmp = ctx.compare(name, rule, ctx.policy.alpha)
    if isinstance(cmp, InputError):
        return None
    md = _find(cmp, rule.metric)
    return md.p_value if md is not None else None


def _find(cmp: Comparison, metric: str) -> MetricDelta | None:
    try:
        return cmp.metric(metric)
    except KeyError:
        return None


def _evaluate_rule(ctx: _Ctx, rule: Rule, index: int, alpha: float) -> RuleResult:
    policy = ctx.policy
    name = ctx.names[rule.suite]
    base: dict[str, Any] = {
        "rule": rule.describe(),
        "suite": name,
        "metric": rule.metric,
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
    missing = _metric_missing(rule.metric, cand, "candidate")
    if missing:
        return _fail(base, missing)
    cm = cand.metrics[rule.metric]
    base["value"] = cm.value

    base_id = ctx.baseline_runs.get(name)
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
        missing = _metric_missing(rule.metric, basel, "baseline")
        if missing:
            return _fail(base, missing)
        cmp = ctx.compare(name, rule, alpha)
        if isinstance(cmp, InputError):
            return _fail(base, "cannot compare: " + _error_text(cmp))
        base["comparison_id"] = cmp.id
        md = _find(cmp, rule.metric)
        if md is None:
            return _fail(base, f"metric {rule.metric!r} missing from comparison {cmp.id}")
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
            base.update(ci_low=md.ci_low, ci_high=md.ci_high, ci_level=1 - alpha)
    elif rule.rule in ("at_least", "min_samples"):
        base["n"] = cm.n

    n = base.get("n")
    if n is None or n < policy.min_samples:
        return _fail(base, f"too few samples: n={n} < policy min_samples {policy.min_samples}")

    if rule.rule in HOLM_RULES:
        assert md is not None
        bound = (rule.margin or 0.0) if rule.rule == "improves" else -(rule.margin or 0.0)
        base["threshold"] = bound
        if md.delta is None or md.ci_low is None:
            why = md.note or "no interval"
            return _fail(base, f"no confidence interval for the delta of {rule.metric!r} ({why})")
        ok = md.ci_low > bound
        op = ">" if ok else "<="
        what = "improves" if rule.rule == "improves" else "non-inferior"
        if ok:
            verdict = what
        elif rule.rule == "improves":
            verdict = "does not improve"
        elif md.ci_high is not None and md.ci_high < bound:
            verdict = "regressed beyond the margin"  # the whole CI lies below -margin
        else:
            verdict = "non-inferiority not shown: a regression beyond the margin is not ruled out"

        return RuleResult(
            **base,
            passed=ok,
            reason=f"{rule.rule}: lower CI bound of delta {num(md.ci_low)} {op} {_g(bound)}: {verdict}",
        )
    if rule.rule == "max_regressed_samples":
        assert md is not None and rule.max is not None
        base["threshold"] = float(rule.max)
        if md.losses is None:
            return _fail(
                base, f"no per-sample win/tie/loss counts for {rule.metric!r} ({md.note or md.kind})"
            )
        ok = md.losses <= rule.max
        return RuleResult(
            **base,
            passed=ok,
            reason=f"max_regressed_samples: {md.losses} sample(s) regressed {'<=' if ok else '>'} {rule.max}",
        )
    if rule.rule == "min_samples":
        assert rule.min is not None
        base["threshold"] = float(rule.min)
        ok = n >= rule.min
        return RuleResult(**base, passed=ok, reason=f"min_samples: n={n} {'>=' if ok else '<'} {rule.min}")

    # at_least
    assert rule.threshold is not None
    base["threshold"] = rule.threshold
    lo, hi, level, why = _candidate_ci(ctx, cand, rule.metric, policy.alpha)
    base.update(ci_low=lo, ci_high=hi, ci_level=level)
    if lo is None:
        return _fail(base, f"at_least: no lower CI bound for {rule.metric!r} ({why})")
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
