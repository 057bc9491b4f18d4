"""The gate policy file: `GatePolicy`, YAML, unknown keys are errors; `load_policy`
reports every problem as file:line.

    name: support-bot
    alpha: 0.05          # level of each rule's one-sided test (family-wise with holm: true)
    holm: false          # Holm's step-down across the improves/non_inferior rules (see decision)
    min_samples: 30      # every rule fails when its n is below this
    n_boot: 1000         # bootstrap resamples (at least; the gate raises it, see decision)
    rules:
      - {suite: ticket-triage, metric: category, rule: improves, margin: 0.02}
      - {suite: ./suites/general, metric: exact, rule: non_inferior, margin: 0.03}
      - {suite: ticket-triage, metric: schema_valid, rule: at_least, threshold: 0.95}
      - {suite: ticket-triage, metric: category, rule: max_regressed_samples, max: 5}
      - {suite: ticket-triage, metric: category, rule: min_samples, min: 100}

`suite` is a registered suite name or a path (a folder or suite.yaml, relative to the policy file).
`delta` is candidate - baseline from `compare_runs` (paired bootstrap CI at level 1 - alpha). "Better"
follows the metric's direction (for a lower-is-better metric, a lower candidate value is better).

* improves: better by more than margin (default 0): the one-sided test of H0 "better by at most
  margin" rejects at alpha (its one-sided lower confidence bound clears the margin).
* non_inferior: not worse by more than margin (default 0): H0 "worse by margin or more" rejected.
* at_least: the candidate's own lower CI bound of the metric >= threshold. At alpha 0.05 this is the
  run's stored 95% CI; at another alpha a mean-type metric is re-bootstrapped from the stored
  per-sample scores (a corpus-level metric keeps its stored 95% CI when alpha >= 0.05, which is
  conservative, and fails closed when alpha < 0.05). Needs no baseline.
* max_regressed_samples: the samples that got worse (scored lower than the baseline; higher for a
  lower-is-better metric) <= max.
* min_samples: n >= min. n is the paired n of the comparison when there is a baseline, else the
  candidate's n of the metric.

Output-health rules read the candidate run's `health` (harness.health: rates in [0, 1] over its
generated outputs, lower is better); they take no `metric`, only `threshold` in [0, 1], need no
baseline (the baseline's rate is stated for context) and fail closed on a run without health
recorded (made before tunebench measured it: re-run it). n is the number of generated outputs.

* max_truncated: the share of outputs that ended at the length limit (finish_reason "length",
  i.e. ran to generation.max_new_tokens) <= threshold.
      - {suite: ticket-triage, rule: max_truncated, threshold: 0.1}
* max_repetition: the repetition rate <= threshold. `measure` picks it: `max` (default, the larger
  of the two), `repeated_lines` (share of an output's non-empty lines that repeat an earlier line)
  or `repeated_ngrams` (share of its word 4-grams that repeat an earlier one); means over outputs.
      - {suite: ticket-triage, rule: max_repetition, threshold: 0.2, measure: repeated_lines}

How the rules are decided (and Holm) is in `decision`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from ..errors import InputError, Problem
from ..yamlio import _line_of, read_yaml, validate_model

RuleKind = Literal[
    "improves",
    "non_inferior",
    "at_least",
    "max_regressed_samples",
    "min_samples",
    "max_truncated",
    "max_repetition",
]
COMPARISON_RULES = ("improves", "non_inferior", "max_regressed_samples")
HOLM_RULES = ("improves", "non_inferior")
HEALTH_RULES = ("max_truncated", "max_repetition")
"""Rules on the candidate run's output health (harness.health), not on a metric."""
RepetitionMeasure = Literal["max", "repeated_lines", "repeated_ngrams"]


class Rule(BaseModel):
    """One gate rule on one metric of one suite."""

    model_config = ConfigDict(extra="forbid")
    suite: str = Field(
        description="registered suite name, or a suite folder / suite.yaml (relative to the policy)"
    )
    metric: str | None = Field(
        None,
        description="metric name as runs report it, e.g. category or summary_rouge.rougeL "
        "(every rule but the output-health ones, which take none)",
    )
    rule: RuleKind
    margin: float | None = Field(
        None, ge=0, description="improves: better by more than margin; non_inferior: not worse by more"
    )
    threshold: float | None = Field(
        None,
        description="at_least: candidate CI low >= threshold; max_truncated / max_repetition: the "
        "candidate's rate <= threshold (in [0, 1])",
    )
    max: int | None = Field(None, ge=0, description="max_regressed_samples: losses <= max")
    min: int | None = Field(None, ge=0, description="min_samples: n >= min")
    measure: RepetitionMeasure | None = Field(
        None,
        description="max_repetition: repeated_lines, repeated_ngrams, or max (default: the larger)",
    )

    @model_validator(mode="after")
    def _check_params(self) -> Rule:
        needs = {
            "at_least": "threshold",
            "max_regressed_samples": "max",
            "min_samples": "min",
            "max_truncated": "threshold",
            "max_repetition": "threshold",
        }
        allowed = {
            "improves": {"margin"},
            "non_inferior": {"margin"},
            "at_least": {"threshold"},
            "max_regressed_samples": {"max"},
            "min_samples": {"min"},
            "max_truncated": {"threshold"},
            "max_repetition": {"threshold", "measure"},
        }[self.rule]
        if self.rule in HEALTH_RULES:
            if self.metric is not None:
                raise ValueError(
                    f"rule {self.rule} reads the candidate run's output health and takes no 'metric'"
                    + (" (choose the rate with 'measure')" if self.rule == "max_repetition" else "")
                )
        elif self.metric is None:
            raise ValueError(f"rule {self.rule} needs 'metric' (e.g. metric: category)")
        need = needs.get(self.rule)
        if need and getattr(self, need) is None:
            example = {"threshold": "threshold: 0.9", "max": "max: 5", "min": "min: 100"}[need]
            if self.rule in HEALTH_RULES:
                example = "threshold: 0.1"
            raise ValueError(f"rule {self.rule} needs '{need}' (e.g. {example})")
        if self.rule in HEALTH_RULES and not 0 <= (self.threshold or 0.0) <= 1:
            raise ValueError(
                f"rule {self.rule}: threshold {self.threshold:g} is not a rate in [0, 1] "
                "(e.g. 0.1 allows 10% of outputs)"
            )
        extra = [
            k
            for k in ("margin", "threshold", "max", "min", "measure")
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
        if self.rule == "max_truncated":
            return f"max_truncated({_g(self.threshold)})"
        if self.rule == "max_repetition":
            how = f", measure={self.measure}" if self.measure and self.measure != "max" else ""
            return f"max_repetition({_g(self.threshold)}{how})"
        return f"min_samples({self.min})"

    @property
    def target(self) -> str:
        """What the rule is on, as verdicts name it: the metric, or `health.<rate>` for an
        output-health rule (`health.repetition` for the larger of the two repetition rates)."""
        if self.rule == "max_truncated":
            return "health.truncated"
        if self.rule == "max_repetition":
            m = self.measure or "max"
            return "health.repetition" if m == "max" else f"health.{m}"
        assert self.metric is not None  # the validator requires it for every other rule
        return self.metric


class GatePolicy(BaseModel):
    """A gate policy file. Load it with `load_policy` (errors name file:line)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    alpha: float = Field(
        0.05, gt=0, lt=1, description="level of each rule's one-sided test; CIs shown at 1 - alpha"
    )
    holm: bool = Field(False, description="Holm's step-down over improves/non_inferior rules (decision)")
    min_samples: int = Field(30, ge=0, description="every rule fails when its n is below this")
    n_boot: int = Field(
        1000, ge=1, description="bootstrap resamples of each comparison (at least; see decision)"
    )
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
        from ..suite import load_suite

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


def _g(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"
