"""The nightly plan file: models x suites, a gate policy, a schedule and alert webhooks (`Plan`,
YAML, unknown keys are errors). `load_plan` reports every problem as file:line.

    name: support-bot
    models:
      - {name: candidate, spec: "hf:./models/base+lora:./adapters/nightly", baseline: blessed}
      - name: vllm-candidate
        spec: openai:support-bot@http://gpu-box:8000/v1
        baseline: candidate            # blessed | RUN_ID (one per suite, or a list) | a model of this plan
        options: {max_retries: 2, timeout_s: 30}
    suites:
      - ticket-triage                  # a registered name, a folder or a suite.yaml (relative to the plan)
      - {suite: ./suites/general, split: test, limit: 200}
    policy: gate.yaml                  # a gate policy (relative to the plan)
    schedule: {cron: "0 2 * * *", timezone: Europe/Berlin}
    alerts: {webhooks: ["${SLACK_WEBHOOK_URL}"], on: [fail, error]}
    workspace: ./.tunebench            # optional (relative to the plan)
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from ..errors import InputError, Problem
from ..yamlio import _line_of, read_yaml, validate_model
from .cron import cron_fields

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


class BackendOptions(BaseModel):
    """Backend settings of one plan model (those a backend does not use are ignored)."""

    model_config = ConfigDict(extra="forbid")
    batch_size: int = Field(8, ge=1, description="generation batch size (hf)")
    max_retries: int | None = Field(None, ge=0, le=20, description="openai: retries per request")
    timeout_s: float | None = Field(None, gt=0, description="openai: per-request timeout")
    concurrency: int | None = Field(None, ge=1, le=256, description="openai: requests in flight")
    backoff_base_s: float | None = Field(None, ge=0, description="openai: first retry backoff")
    backoff_max_s: float | None = Field(None, ge=0, description="openai: backoff cap")


class PlanModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME_PATTERN, description="short name used in history, alerts and trends")
    spec: str = Field(min_length=1, description="model spec (paths relative to the plan file)")
    baseline: str | list[str] = Field(
        "blessed",
        description="'blessed' (each suite's blessed version), a model of this plan (its run the same "
        "night), or run ids (one per suite)",
    )
    options: BackendOptions = Field(default_factory=BackendOptions)


class PlanSuite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    suite: str = Field(min_length=1, description="registered name, suite folder or suite.yaml")
    split: str | None = Field(None, description="default: the baseline run's split, else test")
    limit: int | None = Field(None, ge=1, description="default: the baseline run's limit")


class ScheduleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cron: str = Field("0 2 * * *", description="5-field crontab (or @daily ...); 6 fields = seconds first")
    timezone: str = Field("UTC", description="IANA time zone the cron and the pass date are read in")
    misfire_grace_s: int = Field(
        3600, ge=1, description="a pass that could not start on time still runs this late"
    )

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except Exception:
            raise ValueError(f"unknown time zone {v!r} (an IANA name such as Europe/Berlin or UTC)") from None
        return v

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        cron_fields(v)
        return v


class AlertConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    webhooks: list[str] = Field(
        default_factory=list, description="URLs to POST JSON to; $VAR / ${VAR} are read from the environment"
    )
    on: list[Literal["fail", "error", "pass"]] = Field(
        default_factory=lambda: ["fail", "error"],  # type: ignore[arg-type]
        description="which model outcomes alert",
    )
    retries: int = Field(3, ge=0, le=10, description="retries of a failed delivery")
    backoff_s: float = Field(1.0, ge=0, le=60, description="first retry delay; doubles per retry")
    timeout_s: float = Field(10.0, gt=0, le=120, description="per-request timeout")

    @field_validator("webhooks")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        for url in v:
            if "$" not in url and not url.startswith(("http://", "https://")):
                raise ValueError(f"webhook {url!r}: expected an http(s):// URL or $ENV_VAR")
        return v


class Plan(BaseModel):
    """A nightly plan file. Load it with `load_plan` (errors name file:line)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME_PATTERN, description="plan name (a folder name in reports)")
    description: str = ""
    models: list[PlanModel] = Field(min_length=1)
    suites: list[PlanSuite] = Field(min_length=1)
    policy: str = Field(description="gate policy file (relative to the plan)")
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    alerts: AlertConfig = Field(default_factory=AlertConfig)
    workspace: str | None = Field(None, description="workspace folder (relative to the plan)")

    _path: str | None = PrivateAttr(None)

    @field_validator("suites", mode="before")
    @classmethod
    def _suite_strings(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"suite": s} if isinstance(s, str) else s for s in v]
        return v

    @property
    def path(self) -> str | None:
        return self._path

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.schedule.timezone)

    def resolve(self, rel: str) -> str:
        """A path from the plan, relative to the plan file's folder (kept when it exists as given)."""
        p = Path(rel).expanduser()
        if p.is_absolute() or not self._path:
            return str(p)
        q = Path(self._path).parent / p
        return str(q) if q.exists() or not p.exists() else str(p)

    def suite_ref(self, s: PlanSuite) -> str:
        return self.resolve(s.suite) if _path_like(s.suite) else s.suite

    def spec_text(self, m: PlanModel) -> str:
        """The model spec with relative mock:/hf: paths resolved against the plan file."""
        backend, sep, body = m.spec.strip().partition(":")
        if backend == "mock" and body != "echo":
            return f"mock:{self.resolve(body)}"
        if backend == "hf":
            base, plus, adapter = body.partition("+lora:")
            base = self.resolve(base) if base.startswith((".", "/", "~")) else base
            return f"hf:{base}" + (f"+lora:{self.resolve(adapter)}" if plus else "")
        if backend == "default" or m.spec.startswith("default+lora:"):
            base, plus, adapter = m.spec.partition("+lora:")
            return base + (f"+lora:{self.resolve(adapter)}" if plus else "")
        return m.spec.strip()

    def workspace_path(self) -> str | None:
        return self.resolve(self.workspace) if self.workspace else None

    def today(self) -> str:
        return datetime.now(self.tz).date().isoformat()


def _path_like(s: str) -> bool:
    return "/" in s or "\\" in s or s.endswith((".yaml", ".yml")) or s.startswith(".")


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file; InputError listing file:line problems (exit code 2)."""
    p = Path(path)
    data, node, _ = read_yaml(p)
    if not isinstance(data, dict):
        raise InputError(
            f"{p}: expected a YAML mapping at the top level, got {type(data).__name__}",
            problems=[Problem(str(p), 1, "a plan is a mapping with name, models, suites, policy, ...")],
        )
    plan = validate_model(data, Plan, path=str(p), node=node, what="nightly plan")
    plan._path = str(p.resolve())
    problems: list[Problem] = []
    names = [m.name for m in plan.models]
    for i, m in enumerate(plan.models):
        if names.index(m.name) != i:
            problems.append(
                Problem(
                    str(p),
                    _line_of(node, ("models", i, "name")),
                    f"models.{i}.name: duplicate model name {m.name!r}",
                )
            )
        refs = [m.baseline] if isinstance(m.baseline, str) else list(m.baseline)
        if not refs:
            problems.append(
                Problem(str(p), _line_of(node, ("models", i, "baseline")), f"models.{i}.baseline: empty list")
            )
        for ref in refs:
            if ref == m.name:
                problems.append(
                    Problem(
                        str(p),
                        _line_of(node, ("models", i, "baseline")),
                        f"models.{i}.baseline: a model cannot be its own baseline",
                    )
                )
            if ref in names and len(refs) > 1:
                problems.append(
                    Problem(
                        str(p),
                        _line_of(node, ("models", i, "baseline")),
                        f"models.{i}.baseline: a model baseline ({ref!r}) must stand alone",
                    )
                )
            if ref == "blessed" and len(refs) > 1:
                problems.append(
                    Problem(
                        str(p),
                        _line_of(node, ("models", i, "baseline")),
                        f"models.{i}.baseline: 'blessed' must stand alone",
                    )
                )
    try:
        model_order(plan)
    except ValueError as e:
        problems.append(Problem(str(p), _line_of(node, ("models",)), f"models: {e}"))
    from ..models import parse_spec

    for i, m in enumerate(plan.models):
        try:
            parse_spec(plan.spec_text(m), resolve=False)
        except InputError as e:
            problems.append(
                Problem(str(p), _line_of(node, ("models", i, "spec")), f"models.{i}.spec: {e.args[0]}")
            )
    if problems:
        raise InputError(f"{p}: invalid nightly plan", problems=problems)
    return plan


def model_order(plan: Plan) -> list[PlanModel]:
    """Models ordered so that a model used as another's baseline runs first (ValueError on a cycle)."""
    by_name = {m.name: m for m in plan.models}
    done: list[PlanModel] = []
    seen: set[str] = set()

    def visit(m: PlanModel, stack: tuple[str, ...]) -> None:
        if m.name in seen:
            return
        if m.name in stack:
            raise ValueError(f"baseline cycle: {' -> '.join((*stack, m.name))}")
        if isinstance(m.baseline, str) and m.baseline in by_name:
            visit(by_name[m.baseline], (*stack, m.name))
        seen.add(m.name)
        done.append(m)

    for m in plan.models:
        visit(m, ())
    return done
