"""The deploy gate: a YAML policy of rules over paired comparisons in, a verdict with one reason per
rule and an exit code out.

Policy (`GatePolicy`, unknown keys are errors, every problem is reported as file:line):

    name: support-bot
    alpha: 0.05          # 1 - CI level of every rule
    holm: false          # Holm-adjust the improves/non_inferior rules (see below)
    min_samples: 30      # every rule fails when its n is below this
    n_boot: 1000         # bootstrap resamples of the comparisons
    rules:
      - {suite: ticket-triage, metric: category, rule: improves, margin: 0.02}
      - {suite: ./suites/general, metric: exact, rule: non_inferior, margin: 0.03}
      - {suite: ticket-triage, metric: schema_valid, rule: at_least, threshold: 0.95}
      - {suite: ticket-triage, metric: category, rule: max_regressed_samples, max: 5}
      - {suite: ticket-triage, metric: category, rule: min_samples, min: 100}

`suite` is a registered suite name or a path (a folder or suite.yaml, relative to the policy file).
`delta` is candidate - baseline from `compare_runs` (paired bootstrap CI at level 1 - alpha).

* improves: the lower CI bound of delta > margin (default 0).
* non_inferior: the lower CI bound of delta > -margin (default 0).
* at_least: the candidate's own lower CI bound of the metric >= threshold. At alpha 0.05 this is the
  run's stored 95% CI; at another alpha a mean-type metric is re-bootstrapped from the stored
  per-sample scores (a corpus-level metric keeps its stored 95% CI when alpha >= 0.05, which is
  conservative, and fails closed when alpha < 0.05). Needs no baseline.
* max_regressed_samples: the per-sample losses (samples where the candidate scores lower than the
  baseline) <= max.
* min_samples: n >= min. n is the paired n of the comparison when there is a baseline, else the
  candidate's n of the metric.

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
label) and every comparison it made. `resolve_candidate` turns `--candidate` values (run ids, or a
model spec to run on every policy suite) into runs.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from . import stats
from .compare import Comparison, MetricDelta, compare_runs
from .errors import InputError, Problem
from .fmt import num
from .registry_models import ModelVersion, blessed_version
from .store import Store, new_run_id
from .types import RunRecord
from .yamlio import _line_of, read_yaml, validate_model

VERDICT_SCHEMA_VERSION = 1
RuleKind = Literal["improves", "non_inferior", "at_least", "max_regressed_samples", "min_samples"]
COMPARISON_RULES = ("improves", "non_inferior", "max_regressed_samples")
HOLM_RULES = ("improves", "non_inferior")
SPEC_PREFIXES = ("hf:", "openai:", "mock:")


# --------------------------------------------------------------------------- policy


class Rule(BaseModel):
    """One gate rule on one metric of one suite."""

    model_config = ConfigDict(extra="forbid")
    suite: str = Field(
        description="registered suite name, or a suite folder / suite.yaml (relative to the policy)"
    )
    metric: str = Field(description="metric name as runs report it, e.g. category or summary_rouge.rougeL")
    rule: RuleKind
    margin: float | None = Field(
        None, ge=0, description="improves: delta CI low > margin; non_inferior: > -margin"
    )
    threshold: float | None = Field(None, description="at_least: candidate CI low >= threshold")
    max: int | None = Field(None, ge=0, description="max_regressed_samples: losses <= max")
    min: int | None = Field(None, ge=0, description="min_samples: n >= min")

    @model_validator(mode="after")
    def _check_params(self) -> Rule:
        needs = {"at_least": "threshold", "max_regressed_samples": "max", "min_samples": "min"}
        allowed = {
            "improves": {"margin"},
            "non_inferior": {"margin"},
            "at_least": {"threshold"},
            "max_regressed_samples": {"max"},
            "min_samples": {"min"},
        }[self.rule]
        need = needs.get(self.rule)
        if need and getattr(self, need) is None:
            example = {"threshold": "threshold: 0.9", "max": "max: 5", "min": "min: 100"}[need]
            raise ValueError(f"rule {self.rule} needs '{need}' (e.g. {example})")
        extra = [
            k
            for k in ("margin", "threshold", "max", "min")
            if getattr(self, k) is not None and k not in allowed
        ]
        if extra:
            raise ValueError(
                f"{', '.join(repr(k) for k in extra)} does not apply to rule {self.rule} "
                f"(it takes {', '.join(sorted(allowed))})"
            )
        return self

    def describe(self) -> str:
        if self.rule == "improves":
            return f"improves(margin={_g(self.margin or 0.0)})"
        if self.rule == "non_inferior":
            return f"non_inferior(margin={_g(self.margin or 0.0)})"
        if self.rule == "at_least":
            return f"at_least({_g(self.threshold)})"
        if self.rule == "max_regressed_samples":
            return f"max_regressed_samples({self.max})"
        return f"min_samples({self.min})"


class GatePolicy(BaseModel):
    """A gate policy file. Load it with `load_policy` (errors name file:line)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    alpha: float = Field(0.05, gt=0, lt=1, description="1 - CI level of every rule")
    holm: bool = Field(False, description="Holm-adjust improves/non_inferior rules (module docstring)")
    min_samples: int = Field(30, ge=0, description="every rule fails when its n is below this")
    n_boot: int = Field(1000, ge=1, description="bootstrap resamples of each comparison")
    seed: int = Field(0, description="bootstrap seed")
    rules: list[Rule] = Field(min_length=1)

    _path: str | None = PrivateAttr(None)
    _sha256: str | None = PrivateAttr(None)
    _lines: list[int | None] = PrivateAttr(default_factory=list)

    @property
    def path(self) -> str | None:
        return self._path

    @property
    def sha256(self) -> str | None:
        return self._sha256

    def line_of(self, i: int) -> int | None:
        return self._lines[i] if i < len(self._lines) else None

    def suite_ref(self, rule: Rule) -> str:
        """What `load_suite` accepts for the rule's suite: a name, or a path resolved against the
        policy file's folder."""
        if not _path_like(rule.suite):
            return rule.suite
        p = Path(rule.suite)
        if not p.is_absolute() and self._path:
            q = Path(self._path).parent / p
            if q.exists() or not p.exists():
                p = q
        return str(p)

    def suite_names(self) -> dict[str, str]:
        """rule.suite -> suite name (paths are loaded to read the name; InputError if they fail)."""
        from .suite import load_suite

        out: dict[str, str] = {}
        for r in self.rules:
            if r.suite in out:
                continue
            out[r.suite] = load_suite(self.suite_ref(r)).name if _path_like(r.suite) else r.suite
        return out


def _path_like(s: str) -> bool:
    return "/" in s or "\\" in s or s.endswith((".yaml", ".yml")) or s.startswith(".")


def load_policy(path: str | Path) -> GatePolicy:
    """Read and validate a policy file; InputError listing file:line problems (exit code 2)."""
    p = Path(path)
    data, node, _ = read_yaml(p)
    if not isinstance(data, dict):
        raise InputError(
            f"{p}: expected a YAML mapping at the top level, got {type(data).__name__}",
            problems=[Problem(str(p), 1, "a policy is a mapping with name, rules, ...")],
        )
    policy = validate_model(data, GatePolicy, path=str(p), node=node, what="gate policy")
    policy._path = str(p)
    policy._sha256 = hashlib.sha256(p.read_bytes()).hexdigest()
    policy._lines = [_line_of(node, ("rules", i)) for i in range(len(policy.rules))]
    return policy


# --------------------------------------------------------------------------- verdict records


class RuleResult(BaseModel):
    """One rule's outcome, with the numbers it was decided on."""

    rule: str = Field(description="the rule as text, e.g. non_inferior(margin=0.02)")
    suite: str
    metric: str
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
    p_value: float | None = None
    p_adjusted: float | None = Field(None, description="Holm-adjusted p-value (holm: true)")
    wins: int | None = None
    ties: int | None = None
    losses: int | None = None
    n: int | None = None
    candidate_run: str | None = None
    baseline_run: str | None = None
    comparison_id: str | None = None

    def numbers(self) -> str:
        parts: list[str] = []
        level = f"{round(100 * self.ci_level, 2):g}% CI" if self.ci_level else "CI"
        if self.kind in HOLM_RULES:
            if self.delta is not None:
                parts.append(f"delta={_signed(self.delta)}")
            if self.ci_low is not None or self.ci_high is not None:
                parts.append(f"{level} [{num(self.ci_low)}, {num(self.ci_high)}]")
            if self.p_value is not None:
                p = f"p={_p(self.p_value)}"
                if self.p_adjusted is not None:
                    p += f" (holm {_p(self.p_adjusted)})"
                parts.append(p)
        elif self.kind == "at_least":
            if self.value is not None:
                parts.append(f"value={num(self.value)}")
            if self.ci_low is not None or self.ci_high is not None:
                parts.append(f"{level} [{num(self.ci_low)}, {num(self.ci_high)}]")
        elif self.kind == "max_regressed_samples" and self.losses is not None:
            parts.append(f"W/T/L={self.wins}/{self.ties}/{self.losses}")
        if self.n is not None:
            parts.append(f"n={self.n}")
        return " ".join(parts) or "-"


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
    passed: bool
    exit_code: int

    def to_text(self) -> str:
        width = max((len(f"{r.suite}:{r.metric} {r.rule}") for r in self.rules), default=0)
        lines = []
        for r in self.rules:
            head = f"{r.suite}:{r.metric} {r.rule}".ljust(width)
            lines.append(f"{'PASS' if r.passed else 'FAIL'}  {head}  {r.numbers()}  {r.reason}")
        for note in self.notes:
            lines.append(f"note: {note}")
        failed = sum(1 for r in self.rules if not r.passed)
        pol = self.policy.get("name", "?")
        if self.passed:
            lines.append(
                f"verdict: PASS  {len(self.rules)} rule(s) of policy {pol} passed; "
                f"candidate {self.candidate} vs baseline {self.baseline}"
            )
        else:
            lines.append(
                f"verdict: FAIL  {failed} of {len(self.rules)} rule(s) of policy {pol} failed; "
                f"candidate {self.candidate} vs baseline {self.baseline}"
            )
        return "\n".join(lines)


def _g(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"


def _signed(x: float) -> str:
    return f"{x:+.3f}"


def _p(x: float) -> str:
    return f"{x:.3g}" if x >= 0.001 else f"{x:.1e}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


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


# --------------------------------------------------------------------------- evaluation


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


# --------------------------------------------------------------------------- resolving runs


@dataclass
class Resolved:
    """Run ids per suite name, a label, and why suites lack runs."""

    runs: dict[str, str] = field(default_factory=dict)
    label: str | None = None
    versions: dict[str, ModelVersion] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def is_model_spec(text: str) -> bool:
    t = text.strip()
    return t == "default" or t.startswith("default+") or t.startswith(SPEC_PREFIXES)


def _runs_by_suite(store: Store, run_ids: Sequence[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for rid in run_ids:
        rec = store.get_run(rid)  # unknown id -> InputError (exit 2)
        if rec.suite in out and out[rec.suite] != rec.id:
            raise InputError(
                f"two {what} runs of suite {rec.suite!r}: {out[rec.suite]} and {rec.id}",
                hint=f"give one --{what} run per suite",
            )
        out[rec.suite] = rec.id
    return out


def resolve_baselines(
    store: Store, policy: GatePolicy, *, baseline: Sequence[str] = (), against: str | None = None
) -> Resolved:
    """Baseline run per policy suite: from `--baseline RUN` ids (one per suite, keyed by the run's
    suite) or, with against="blessed", each suite's blessed model version."""
    if baseline and against:
        raise InputError("give either --baseline RUN or --against blessed, not both")
    names = policy.suite_names()
    out = Resolved()
    if against is not None:
        if against != "blessed":
            raise InputError(f"--against {against!r}: only 'blessed' is supported")
        for name in dict.fromkeys(names.values()):
            v = blessed_version(store, name)
            if v is None:
                out.missing[name] = (
                    f"no blessed model version for suite {name!r} (bless one: `tunebench bless RUN`)"
                )
            else:
                out.runs[name] = v.run_id
                out.versions[name] = v
        return out
    out.runs = _runs_by_suite(store, baseline, "baseline")
    for name in dict.fromkeys(names.values()):
        if name not in out.runs:
            out.missing[name] = f"no baseline run for suite {name!r} (none of the --baseline runs is of it)"
    return out


def resolve_candidate(
    store: Store,
    policy: GatePolicy,
    candidates: Sequence[str],
    *,
    baselines: Resolved | None = None,
    split: str | None = None,
    limit: int | None = None,
    workspace: str | Path | None = None,
    batch_size: int = 8,
    progress: bool = True,
) -> Resolved:
    """Candidate run per policy suite. Each value is a run id (its suite is read from its record;
    one per suite) or a model spec: the spec is run on every policy suite that has no candidate run
    yet, on `split` (default: the baseline run's split, else test) and `limit` (default: the
    baseline run's limit) so it is comparable with the baseline; cached generations make re-runs
    cheap."""
    specs = [c for c in candidates if is_model_spec(c)]
    ids = [c for c in candidates if not is_model_spec(c)]
    if len(specs) > 1:
        raise InputError(
            f"more than one candidate model spec: {', '.join(specs)}", hint="give one model spec"
        )
    if not candidates:
        raise InputError(
            "no --candidate given", hint="--candidate RUN_ID (one per suite) or --candidate MODEL_SPEC"
        )
    out = Resolved(runs=_runs_by_suite(store, ids, "candidate"))
    if specs:
        from .models import parse_spec
        from .runner import run_suite
        from .suite import load_suite

        spec = parse_spec(specs[0], workspace=workspace)
        out.label = spec.label
        done: set[str] = set()
        for rule in policy.rules:
            name = policy.suite_names()[rule.suite]
            if name in out.runs or name in done:
                continue
            done.add(name)
            suite = load_suite(policy.suite_ref(rule))
            base_rec = None
            if baselines is not None and name in baselines.runs:
                base_rec = store.get_run(baselines.runs[name])
            sp = split or (base_rec.split if base_rec else "test")
            lim = limit if limit is not None else (base_rec.limit if base_rec else None)
            rec = run_suite(
                suite, spec, store=store, split=sp, limit=lim, batch_size=batch_size, progress=progress
            )
            out.runs[name] = rec.id
            out.notes.append(
                f"ran {spec.label} on {suite.ref} split={sp}"
                + (f" limit={lim}" if lim else "")
                + f": run {rec.id}"
            )
    return out
