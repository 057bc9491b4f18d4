"""Nightly runs: a plan (models x suites, a gate policy, a schedule, alert webhooks), one idempotent
pass per (plan, date), alerts, a long-running scheduler, install templates, and trend points.

Plan (`Plan`, YAML, unknown keys are errors, every problem is reported as file:line):

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

One pass (`run_nightly`) for (plan, date) runs every model x suite (`run_suite` with tags {nightly,
date, model}; cached generations make unchanged pairs cheap), gates each model against its baseline
(`evaluate_gate`), alerts, and writes reports under WORKSPACE/nightly/<plan>/<date>/. Its progress is
recorded in the store (`nightly_passes`, `nightly_items`, `nightly_alerts`), so a second pass for
the same date finishes what was unfinished and repeats nothing:

* an item (model, suite) whose run finished is never run again (a run finished by a killed pass is
  found by its tags); an unfinished run resumes (`run_suite` finds it by its config key) and
  regenerates nothing it had cached;
* a model's verdict is stored together with its items' verdict ids in one transaction;
* an alert is recorded per (key, webhook) and never sent again once delivered; a delivery that
  failed after its retries is retried by the next pass.

Passes of one plan never overlap: each holds a lease in the `locks` table (owner, expiry it extends
while it runs; a lease of a dead process on this host is taken over at once, others when they expire).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shlex
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date as Date
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from .errors import InputError, Problem, TunebenchError
from .store import Store, nightly_alerts, nightly_items, nightly_passes, now_iso, records, runs
from .types import ModelSpec, RunRecord, Suite
from .yamlio import _line_of, read_yaml, validate_model

log = logging.getLogger("tunebench.schedule")

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
TEMPLATES = Path(__file__).parent / "templates"
TEST_CRON_ENV = "TUNEBENCH_SCHEDULE_CRON"
"""Test-only: overrides the plan's cron in `tunebench schedule` (6 fields = seconds first)."""

ItemStatus = Literal["pending", "running", "ran", "done", "error"]
Outcome = Literal["pass", "fail", "error", "pending"]


# --------------------------------------------------------------------------- plan


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
    from .models import parse_spec

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


# --------------------------------------------------------------------------- cron


_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_FIELDS = [
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
]


def cron_fields(expr: str) -> list[str]:
    """The fields of a crontab expression (macros expanded; 5 fields, or 6 with seconds first),
    each checked; ValueError naming the bad field."""
    text = _MACROS.get(expr.strip().lower(), expr.strip())
    parts = text.split()
    if len(parts) not in (5, 6):
        raise ValueError(
            f"cron {expr!r}: expected 5 fields (minute hour day month weekday), got {len(parts)}"
        )
    specs = _FIELDS if len(parts) == 6 else _FIELDS[1:]
    for (name, lo, hi), part in zip(specs, parts, strict=True):
        cron_values(part, lo, hi, name)
    return parts


def cron_values(part: str, lo: int, hi: int, name: str = "field") -> set[int]:
    """The values one crontab field selects (names: jan..dec, sun..sat; day of week 7 = 0)."""
    names = _MONTHS if name == "month" else _DAYS if name == "day of week" else None
    out: set[int] = set()

    def value(tok: str) -> int:
        t = tok.strip().lower()
        if names and t[:3] in names and len(t) >= 3:
            return names.index(t[:3]) + (1 if name == "month" else 0)
        if not t.isdigit():
            raise ValueError(f"cron {name} {part!r}: {tok!r} is not a number")
        v = int(t)
        if not lo <= v <= hi:
            raise ValueError(f"cron {name} {part!r}: {v} is outside {lo}-{hi}")
        return v

    for item in part.split(","):
        rng, slash, step_s = item.partition("/")
        step = 1
        if slash:
            if not step_s.isdigit() or int(step_s) < 1:
                raise ValueError(f"cron {name} {part!r}: bad step {step_s!r}")
            step = int(step_s)
        if rng in ("*", "?"):
            a, b = lo, hi
        elif "-" in rng:
            x, _, y = rng.partition("-")
            a, b = value(x), value(y)
            if a > b:
                raise ValueError(f"cron {name} {part!r}: range {rng!r} runs backwards")
        else:
            a = value(rng)
            b = hi if slash else a
        out.update(range(a, b + 1, step))
    if name == "day of week" and 7 in out:
        out.discard(7)
        out.add(0)
    return out


def _cron_dow_names(part: str) -> str:
    """A crontab day-of-week field as APScheduler 3 reads it: names, since its numbers start at
    Monday = 0 while crontab's start at Sunday = 0."""
    if part.strip() in ("*", "?"):
        return "*"
    days = cron_values(part, 0, 7, "day of week")
    return ",".join(_DAYS[d] for d in sorted(days, key=lambda d: (d - 1) % 7))


def make_trigger(cron: str, tz: str | ZoneInfo) -> Any:
    """An APScheduler CronTrigger for a crontab expression read in `tz` (5 fields via
    `CronTrigger.from_crontab`; 6 fields = seconds first, used by tests)."""
    from apscheduler.triggers.cron import CronTrigger

    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    parts = cron_fields(cron)
    if len(parts) == 5:
        return CronTrigger.from_crontab(" ".join([*parts[:4], _cron_dow_names(parts[4])]), timezone=zone)
    sec, minute, hour, day, month, dow = parts
    return CronTrigger(
        second=sec,
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_cron_dow_names(dow),
        timezone=zone,
    )


def _compact(values: set[int], lo: int, hi: int, width: int = 0) -> str:
    if values == set(range(lo, hi + 1)):
        return "*"
    return ",".join(str(v).zfill(width) for v in sorted(values))


def cron_to_oncalendar(cron: str, tz: str) -> tuple[str, list[str]]:
    """A systemd OnCalendar= expression for a 5-field crontab in `tz`, and notes on differences."""
    m, h, dom, mon, dow = cron_fields(cron)[-5:]
    notes = []
    days = cron_values(dow, 0, 7, "day of week")
    dom_v = cron_values(dom, 1, 31, "day of month")
    if dow.strip() not in ("*", "?") and dom.strip() not in ("*", "?"):
        notes.append("cron runs when the day of month OR the weekday matches; systemd needs both")
    weekday = (
        ""
        if dow.strip() in ("*", "?")
        else ",".join(_DAYS[d].capitalize() for d in sorted(days, key=lambda d: (d - 1) % 7)) + " "
    )
    date_part = f"*-{_compact(cron_values(mon, 1, 12, 'month'), 1, 12, 2)}-{_compact(dom_v, 1, 31, 2)}"
    time_part = f"{_compact(cron_values(h, 0, 23, 'hour'), 0, 23, 2)}:{_compact(cron_values(m, 0, 59, 'minute'), 0, 59, 2)}:00"
    return f"{weekday}{date_part} {time_part} {tz}", notes


def cron_to_utc(cron: str, tz: str, year: int | None = None) -> tuple[list[str], str]:
    """GitHub Actions reads schedules in UTC: the UTC crontab line(s) for `cron` in `tz` (one per UTC
    offset the zone uses in `year`), and a note. When the shift cannot be expressed (a fractional
    offset, or a shift across midnight with a restricted day), the cron is returned unchanged."""
    parts = cron_fields(cron)[-5:]
    zone = ZoneInfo(tz)
    year = year or datetime.now(dt_timezone.utc).year
    offsets: list[int] = []
    for month in (1, 7):
        delta = datetime(year, month, 1, 12, tzinfo=zone).utcoffset() or timedelta(0)
        mins = int(delta.total_seconds() // 60)
        if mins not in offsets:
            offsets.append(mins)
    if offsets == [0]:
        return [" ".join(parts)], f"{tz} is UTC"
    m, h, dom, mon, dow = parts
    hours = cron_values(h, 0, 23, "hour")
    restricted = any(x.strip() not in ("*", "?") for x in (dom, mon, dow))
    lines = []
    for off in offsets:
        if off % 60:
            return [" ".join(parts)], f"{tz} has a UTC offset of {off} minutes: the schedule is read as UTC"
        shifted = {hh - off // 60 for hh in hours}
        if restricted and any(not 0 <= s <= 23 for s in shifted):
            return [
                " ".join(parts)
            ], f"shifting {cron!r} from {tz} to UTC crosses midnight: the schedule is read as UTC"
        line = " ".join([m, _compact({s % 24 for s in shifted}, 0, 23), dom, mon, dow])
        if line not in lines:
            lines.append(line)
    zones = " and ".join(f"UTC{o // 60:+d}" for o in offsets)
    note = f"{cron} in {tz} ({zones}) is scheduled at each UTC offset: the first to fire runs the pass, the second repeats nothing"
    return lines, note


# --------------------------------------------------------------------------- locks


class LockHeld(TunebenchError):
    """Another process holds the lease (a scheduler or a pass of the same plan)."""


def _owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_dead(owner: str) -> bool:
    """True when `owner` is a process on this host that no longer exists."""
    host, _, rest = owner.partition(":")
    pid_s = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_s.isdigit():
        return False
    pid = int(pid_s)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Lease:
    """A named lease in the store's `locks` table: one owner at a time; the owner extends its expiry
    from a heartbeat thread; an expired lease, or one of a dead process on this host, is taken over."""

    def __init__(self, store: Store, name: str, *, ttl_s: float = 60.0, owner: str | None = None):
        from .store import locks

        self.store = store
        self.name = name
        self.ttl_s = ttl_s
        self.owner = owner or _owner_id()
        self.table = locks
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def holder(self) -> dict[str, Any] | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(select(self.table).where(self.table.c.name == self.name)).mappings().first()
        return dict(row) if row else None

    def _try(self) -> bool:
        now = time.time()
        row = self.holder()
        t = self.table
        with self.store.engine.begin() as conn:
            if row is None:
                try:
                    conn.execute(
                        insert(t).values(
                            name=self.name, owner=self.owner, acquired_at=now, expires_at=now + self.ttl_s
                        )
                    )
                except IntegrityError:
                    return False
                return True
            if row["owner"] != self.owner and row["expires_at"] > now and not _owner_dead(row["owner"]):
                return False
            res = conn.execute(
                update(t)
                .where(t.c.name == self.name, t.c.owner == row["owner"])
                .values(owner=self.owner, acquired_at=now, expires_at=now + self.ttl_s)
            )
            return bool(res.rowcount == 1)

    def acquire(self, wait_s: float = 0.0, poll_s: float = 0.5) -> bool:
        deadline = time.monotonic() + max(0.0, wait_s)
        while True:
            try:
                got = self._try()
            except IntegrityError:
                got = False
            if got:
                self.lost = False
                self._stop.clear()
                self._thread = threading.Thread(target=self._beat, name=f"lease-{self.name}", daemon=True)
                self._thread.start()
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll_s)

    def _beat(self) -> None:
        t = self.table
        while not self._stop.wait(self.ttl_s / 4):
            try:
                with self.store.engine.begin() as conn:
                    res = conn.execute(
                        update(t)
                        .where(t.c.name == self.name, t.c.owner == self.owner)
                        .values(expires_at=time.time() + self.ttl_s)
                    )
                if res.rowcount != 1:
                    self.lost = True
                    log.error("lease %s was taken over by another process", self.name)
                    return
            except Exception as e:  # a busy store: try again at the next beat
                log.warning("lease %s: heartbeat failed: %s", self.name, e)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        t = self.table
        with self.store.engine.begin() as conn:
            conn.execute(t.delete().where(t.c.name == self.name, t.c.owner == self.owner))

    def describe_holder(self) -> str:
        row = self.holder()
        if not row:
            return "nobody"
        since = datetime.fromtimestamp(row["acquired_at"], dt_timezone.utc).isoformat(timespec="seconds")
        return f"{row['owner']} since {since}"


# --------------------------------------------------------------------------- webhooks


def redact_url(url: str) -> str:
    """scheme://host/... : webhook URLs carry their secret in the path."""
    m = re.match(r"^(https?://[^/?#]+)", url)
    return (m.group(1) + "/...") if m else "(webhook)"


def _webhook_key(template: str) -> str:
    """What the store keeps of a webhook: redacted, plus a hash to tell two apart."""
    return f"{redact_url(template) if '$' not in template else template} #{hashlib.sha256(template.encode()).hexdigest()[:12]}"


def expand_webhook(template: str) -> str | None:
    """$VAR / ${VAR} read from the environment; None when a variable is unset."""
    missing = [
        m.group(1) or m.group(2)
        for m in re.finditer(r"\$(?:\{(\w+)\}|(\w+))", template)
        if (m.group(1) or m.group(2)) not in os.environ
    ]
    return None if missing else os.path.expandvars(template)


def post_webhook(
    url: str,
    payload: dict[str, Any],
    *,
    retries: int = 3,
    backoff_s: float = 1.0,
    timeout_s: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bool, int, str | None]:
    """POST `payload` as JSON; retry connection errors, timeouts, 5xx, 408 and 429 with exponential
    backoff (`backoff_s * 2**n`, capped at 60 s), at most `retries` times. Returns (delivered,
    attempts, last error). Never raises."""
    body = json.dumps(payload, ensure_ascii=False, default=str).encode()
    attempts = 0
    last: str | None = None
    for i in range(retries + 1):
        attempts += 1
        retryable = True
        try:
            req = urllib.request.Request(
                url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "tunebench-nightly"},
            )
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                resp.read()
                if 200 <= resp.status < 300:
                    return True, attempts, None
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
            retryable = e.code >= 500 or e.code in (408, 429)
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            last = f"{type(e).__name__}: {reason}"
        log.warning("webhook %s: attempt %d/%d failed: %s", redact_url(url), attempts, retries + 1, last)
        if not retryable or i == retries:
            break
        sleep(min(60.0, backoff_s * 2**i))
    return False, attempts, last


# --------------------------------------------------------------------------- nightly pass


@dataclass
class _Ctx:
    plan: Plan
    store: Store
    date: str
    workspace: str | None
    policy: Any
    suites: list[tuple[PlanSuite, Suite]]
    specs: dict[str, ModelSpec]
    echo: Callable[[str], None]
    progress: bool
    retry_errors: bool
    backend_factory: Callable[[PlanModel, ModelSpec], Any] | None
    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: {"ran": 0, "reused": 0, "errors": 0})


@dataclass
class NightlyResult:
    """What one pass did; `body` is the stored "nightly" record."""

    plan: str
    date: str
    status: str
    exit_code: int
    body: dict[str, Any]
    report_dir: Path | None
    counts: dict[str, int]


def _validate_date(d: str) -> str:
    try:
        return Date.fromisoformat(d).isoformat()
    except ValueError:
        raise InputError(f"--date {d!r}: expected YYYY-MM-DD") from None


def _prepare(
    plan: Plan, store: Store, workspace: str | None
) -> tuple[Any, list[tuple[PlanSuite, Suite]], dict[str, ModelSpec]]:
    """Load the policy, the suites and the model specs; InputError before anything is written."""
    from .gate import load_policy
    from .models import parse_spec
    from .suite import load_suite

    where = plan.path or "plan"
    policy = load_policy(plan.resolve(plan.policy))
    suites: list[tuple[PlanSuite, Suite]] = []
    problems: list[Problem] = []
    node = read_yaml(plan.path)[1] if plan.path else None
    for i, ps in enumerate(plan.suites):
        try:
            s = load_suite(plan.suite_ref(ps))
        except InputError as e:
            problems.append(Problem(where, _line_of(node, ("suites", i)), f"suites.{i}: {e.args[0]}"))
            continue
        if ps.split is not None and ps.split not in s.dataset.splits:
            problems.append(
                Problem(
                    where,
                    _line_of(node, ("suites", i, "split")),
                    f"suites.{i}.split: suite {s.name!r} has no split {ps.split!r} (it has {', '.join(s.dataset.splits)})",
                )
            )
        if any(s.name == t.name for _, t in suites):
            problems.append(
                Problem(where, _line_of(node, ("suites", i)), f"suites.{i}: suite {s.name!r} is listed twice")
            )
        suites.append((ps, s))
    specs: dict[str, ModelSpec] = {}
    for i, m in enumerate(plan.models):
        try:
            specs[m.name] = parse_spec(plan.spec_text(m), workspace=workspace)
        except InputError as e:
            problems.append(
                Problem(where, _line_of(node, ("models", i, "spec")), f"models.{i}.spec: {e.args[0]}")
            )
    if not problems:
        names = {s.name for _, s in suites}
        try:
            policy_suites = policy.suite_names()
        except InputError as e:
            raise InputError(f"{plan.policy}: {e.args[0]}") from None
        missing = sorted({n for n in policy_suites.values() if n not in names})
        if missing:
            problems.append(
                Problem(
                    where,
                    _line_of(node, ("suites",)),
                    f"suites: the policy's rules use suite(s) the plan does not run: {', '.join(missing)}",
                )
            )
        for i, m in enumerate(plan.models):
            refs = [m.baseline] if isinstance(m.baseline, str) else m.baseline
            if refs == ["blessed"] or (len(refs) == 1 and refs[0] in {x.name for x in plan.models}):
                continue
            for ref in refs:
                try:
                    store.get_run(ref)
                except InputError as e:
                    problems.append(
                        Problem(
                            where,
                            _line_of(node, ("models", i, "baseline")),
                            f"models.{i}.baseline: {e.args[0]}",
                        )
                    )
    if problems:
        raise InputError(f"{where}: cannot run the nightly plan", problems=problems)
    return policy, suites, specs


def _put_item(store: Store, plan: str, d: str, model: str, suite: str, **values: Any) -> None:
    t = nightly_items
    values["updated_at"] = now_iso()
    with store.engine.begin() as conn:
        res = conn.execute(
            update(t)
            .where(t.c.plan == plan, t.c.date == d, t.c.model == model, t.c.suite == suite)
            .values(**values)
        )
        if res.rowcount == 0:
            conn.execute(
                insert(t).values(
                    plan=plan, date=d, model=model, suite=suite, **{"status": "pending", **values}
                )
            )


def _load_items(store: Store, plan: str, d: str) -> dict[tuple[str, str], dict[str, Any]]:
    t = nightly_items
    with store.engine.connect() as conn:
        rows = conn.execute(select(t).where(t.c.plan == plan, t.c.date == d)).mappings().all()
    return {(r["model"], r["suite"]): dict(r) for r in rows}


def _find_tagged_run(
    store: Store,
    tags: dict[str, str],
    suite: str,
    spec: ModelSpec,
    split: str,
    limit: int | None,
    statuses: Sequence[str],
) -> RunRecord | None:
    """A finished run this item already made (a pass killed after the run finished)."""
    q = (
        select(runs.c.record)
        .where(runs.c.suite == suite, runs.c.status.in_(list(statuses)), runs.c.record.contains(tags["date"]))
        .order_by(runs.c.created_at.desc())
    )
    with store.engine.connect() as conn:
        for (raw,) in conn.execute(q):
            try:
                rec = RunRecord.model_validate_json(raw)
            except ValueError:
                continue
            if (
                all(rec.tags.get(k) == v for k, v in tags.items())
                and rec.split == split
                and rec.limit == limit
                and rec.model.identity == spec.identity
            ):
                return rec
    return None


def _make_backend(model: PlanModel, spec: ModelSpec) -> Any:
    from .models import create_backend

    opts = model.options
    if spec.backend == "openai":
        from .models.openai_backend import OpenAIBackend

        kw = {k: v for k, v in opts.model_dump().items() if v is not None and k != "batch_size"}
        return OpenAIBackend(spec, **kw)
    return create_backend(spec, batch_size=opts.batch_size)


def _first_error(store: Store, run_id: str) -> str:
    for r in store.iter_results(run_id, batch=100):
        if r.completion.error:
            return r.completion.error
    return "unknown error"


def _blessed(store: Store, suite: str) -> tuple[str | None, Any]:
    from .registry_models import blessed_version

    v = blessed_version(store, suite)
    return (v.run_id if v else None), v


def _split_limit(ctx: _Ctx, model: PlanModel, ps: PlanSuite, suite: Suite) -> tuple[str, int | None]:
    """The plan's split/limit, else the baseline run's (so candidate and baseline pair up)."""
    base: RunRecord | None = None
    if ps.split is None or ps.limit is None:
        refs = [model.baseline] if isinstance(model.baseline, str) else model.baseline
        rid: str | None = None
        if refs == ["blessed"]:
            rid = _blessed(ctx.store, suite.name)[0]
        elif not (len(refs) == 1 and refs[0] in {m.name for m in ctx.plan.models}):
            for ref in refs:
                rec = ctx.store.get_run(ref)
                if rec.suite == suite.name:
                    base = rec
        if rid:
            base = ctx.store.get_run(rid)
    split = ps.split or (base.split if base else "test")
    limit = ps.limit if ps.limit is not None else (base.limit if base else None)
    return split, limit


def _run_item(ctx: _Ctx, model: PlanModel, ps: PlanSuite, suite: Suite) -> None:
    from .runner import LazyBackend, run_suite

    plan, store, d = ctx.plan, ctx.store, ctx.date
    key = (model.name, suite.name)
    row = ctx.items.get(key)
    label = f"  {model.name} x {suite.name}:"
    if row and row["status"] in ("ran", "done") and row["run_id"]:
        ctx.counts["reused"] += 1
        ctx.echo(f"{label} run {row['run_id']} already finished")
        return
    if row and row["status"] == "error" and not ctx.retry_errors:
        ctx.counts["reused"] += 1
        ctx.echo(f"{label} already failed ({row['error']}); --retry-errors runs it again")
        return
    spec = ctx.specs[model.name]
    split, limit = _split_limit(ctx, model, ps, suite)
    tags = {"nightly": plan.name, "date": d, "model": model.name}
    _put_item(store, plan.name, d, model.name, suite.name, status="running", error=None)
    statuses = ("completed",) if ctx.retry_errors else ("completed", "failed")
    rec = _find_tagged_run(store, tags, suite.name, spec, split, limit, statuses)
    error: str | None = None
    if rec is not None:
        ctx.counts["reused"] += 1
        ctx.echo(f"{label} found finished run {rec.id}")
        if rec.status == "failed":
            error = str(rec.tags.get("error") or "run failed")
    else:
        factory = ctx.backend_factory or _make_backend
        lazy = LazyBackend(spec, lambda s: factory(model, s))
        t0 = time.perf_counter()
        try:
            rec = run_suite(
                suite,
                spec,
                store=store,
                split=split,
                limit=limit,
                backend=lazy,
                batch_size=model.options.batch_size,
                progress=ctx.progress,
                tags=tags,
            )
        except KeyboardInterrupt:
            raise
        except Exception as e:  # one broken model must not stop the others
            error = f"{type(e).__name__}: {e}".strip()
            log.exception("nightly %s %s: %s x %s failed", plan.name, d, model.name, suite.name)
        if rec is not None:
            ctx.counts["ran"] += 1
            n, errs = rec.n_samples, int(rec.usage.get("errors", 0))
            if n and errs >= n:
                error = f"all {n} generations failed: {_first_error(store, rec.id)}"
                # drop NaN latencies (no request succeeded): JSON stores them as null, which would not load
                usage = {k: v for k, v in rec.usage.items() if v == v}
                rec = rec.model_copy(
                    update={"status": "failed", "usage": usage, "tags": {**rec.tags, "error": error}}
                )
                store.update_run(rec)
            gen = int(rec.timing.get("generated", 0))
            extra = f", {errs} generation error(s)" if errs and not error else ""
            if not error:
                ctx.echo(
                    f"{label} run {rec.id} ({gen} generated, {n - gen} cached{extra}) in {time.perf_counter() - t0:.1f}s"
                )
    if error:
        ctx.counts["errors"] += 1
        ctx.echo(f"{label} ERROR {error}" + (f" (run {rec.id})" if rec else ""))
        _put_item(
            store,
            plan.name,
            d,
            model.name,
            suite.name,
            status="error",
            error=error[:2000],
            run_id=rec.id if rec else None,
        )
    else:
        assert rec is not None
        _put_item(store, plan.name, d, model.name, suite.name, status="ran", run_id=rec.id, error=None)
    ctx.items = _load_items(store, plan.name, d)


def _baselines(
    ctx: _Ctx, model: PlanModel
) -> tuple[dict[str, str], dict[str, Any], dict[str, str], str | None]:
    """(suite -> baseline run, suite -> blessed version, suite -> why missing, against)."""
    names = [s.name for _, s in ctx.suites]
    refs = [model.baseline] if isinstance(model.baseline, str) else list(model.baseline)
    out: dict[str, str] = {}
    versions: dict[str, Any] = {}
    missing: dict[str, str] = {}
    if refs == ["blessed"]:
        for n in names:
            rid, v = _blessed(ctx.store, n)
            if rid:
                out[n], versions[n] = rid, v
            else:
                missing[n] = f"no blessed model version for suite {n!r} (bless one: `tunebench bless RUN`)"
        return out, versions, missing, "blessed"
    if len(refs) == 1 and refs[0] in {m.name for m in ctx.plan.models}:
        for n in names:
            row = ctx.items.get((refs[0], n))
            if row and row["status"] in ("ran", "done") and row["run_id"]:
                out[n] = row["run_id"]
            else:
                why = f" ({row['error']})" if row and row.get("error") else ""
                missing[n] = f"baseline model {refs[0]!r} has no run of suite {n!r} on {ctx.date}{why}"
        return out, versions, missing, None
    for ref in refs:
        rec = ctx.store.get_run(ref)
        out[rec.suite] = rec.id
    for n in names:
        if n not in out:
            missing[n] = f"no baseline run for suite {n!r} (none of the plan's baseline runs is of it)"
    return out, versions, missing, None


def _gate_model(ctx: _Ctx, model: PlanModel) -> str | None:
    """Decide the model's verdict when one of its runs has not been gated yet; store the verdict and
    mark its items done in one transaction. Returns a gate error, if any."""
    from .gate import evaluate_gate

    mine = {s: r for (m, s), r in ctx.items.items() if m == model.name}
    if not any(r["status"] == "ran" for r in mine.values()):
        return None
    cand = {s: r["run_id"] for s, r in mine.items() if r["status"] in ("ran", "done") and r["run_id"]}
    try:
        base, versions, missing, against = _baselines(ctx, model)
        verdict = evaluate_gate(
            ctx.store,
            ctx.policy,
            cand,
            base,
            baseline_versions=versions,
            missing_baseline=missing,
            against=against,
            candidate_label=f"{model.name} ({ctx.specs[model.name].label})",
            notes=[f"nightly {ctx.plan.name} {ctx.date}"],
            save=False,
        )
    except Exception as e:
        log.exception("nightly gate of %s failed", model.name)
        return f"gate: {type(e).__name__}: {e}"
    t = nightly_items
    with ctx.store.engine.begin() as conn:
        conn.execute(
            insert(records).values(
                id=verdict.id,
                kind="verdict",
                created_at=now_iso(),
                ref=verdict.candidate[:200],
                body=json.dumps(verdict.model_dump(mode="json"), ensure_ascii=False, default=str),
            )
        )
        conn.execute(
            update(t)
            .where(
                t.c.plan == ctx.plan.name,
                t.c.date == ctx.date,
                t.c.model == model.name,
                t.c.status.in_(["ran", "done"]),
            )
            .values(verdict_id=verdict.id, status="done", updated_at=now_iso())
        )
    ctx.items = _load_items(ctx.store, ctx.plan.name, ctx.date)
    failed = sum(1 for r in verdict.rules if not r.passed)
    ctx.echo(
        f"  {model.name}: verdict {'PASS' if verdict.passed else 'FAIL'} "
        f"({len(verdict.rules) - failed}/{len(verdict.rules)} rules passed) {verdict.id}"
    )
    return None


def _verdict_bodies(store: Store, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    ids = [i for i in dict.fromkeys(ids) if i]
    if not ids:
        return {}
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(records.c.id, records.c.body).where(records.c.id.in_(ids), records.c.kind == "verdict")
        )
        return {i: json.loads(b) for i, b in rows}


def _model_summary(ctx: _Ctx, model: PlanModel, gate_error: str | None) -> dict[str, Any]:
    mine = [(s, ctx.items.get((model.name, s.name))) for _, s in ctx.suites]
    vid = next((r["verdict_id"] for _, r in mine if r and r.get("verdict_id")), None)
    verdict = _verdict_bodies(ctx.store, [vid] if vid else []).get(vid or "")
    items = []
    for s, r in mine:
        it: dict[str, Any] = {
            "suite": s.name,
            "status": r["status"] if r else "pending",
            "run_id": r["run_id"] if r else None,
            "error": r["error"] if r else None,
        }
        if r and r["run_id"] and r["status"] != "error":
            rec = ctx.store.get_run(r["run_id"])
            pm = s.primary_metric or next(iter(rec.metrics), None)
            mv = rec.metrics.get(pm) if pm else None
            it["metric"] = pm
            it["value"], it["ci_low"], it["ci_high"] = (
                (mv.value, mv.ci_low, mv.ci_high) if mv else (None, None, None)
            )
            it["split"], it["n"] = rec.split, rec.n_samples
        items.append(it)
    errors = [it for it in items if it["status"] == "error"]
    failed_rules = [
        {k: r.get(k) for k in ("suite", "metric", "rule", "reason", "value", "delta", "ci_low", "ci_high")}
        for r in (verdict or {}).get("rules", [])
        if not r.get("passed")
    ]
    if errors or gate_error:
        outcome: Outcome = "error"
    elif verdict is not None:
        outcome = "pass" if verdict.get("passed") else "fail"
    else:
        outcome = "pending"
    return {
        "name": model.name,
        "spec": ctx.specs[model.name].label,
        "baseline": model.baseline,
        "outcome": outcome,
        "verdict_id": vid,
        "verdict_passed": None if verdict is None else bool(verdict.get("passed")),
        "failed_rules": failed_rules,
        "errors": [{"suite": e["suite"], "run_id": e["run_id"], "error": e["error"]} for e in errors]
        + ([{"suite": None, "run_id": None, "error": gate_error}] if gate_error else []),
        "items": items,
    }


def alert_payload(
    plan: Plan, d: str, m: dict[str, Any], policy_name: str, report: str | None
) -> dict[str, Any]:
    """Slack-compatible: a top-level "text" plus the structured details under "tunebench"."""
    head = {"fail": "FAILED the gate", "error": "had errors", "pass": "passed the gate"}.get(
        m["outcome"], m["outcome"]
    )
    lines = [f"tunebench nightly {plan.name} {d}: {m['name']} ({m['spec']}) {head} (policy {policy_name})"]
    for r in m["failed_rules"]:
        lines.append(f"• FAIL {r['suite']}:{r['metric']} {r['rule']}: {r['reason']}")
    for e in m["errors"]:
        where = f"{e['suite']}: " if e["suite"] else ""
        lines.append(f"• ERROR {where}{e['error']}" + (f" (run {e['run_id']})" if e["run_id"] else ""))
    if report:
        lines.append(f"report: {report}")
    return {
        "text": "\n".join(lines),
        "tunebench": {
            "event": {"fail": "verdict_failed", "error": "run_error", "pass": "verdict_passed"}.get(
                m["outcome"], m["outcome"]
            ),
            "plan": plan.name,
            "date": d,
            "model": m["name"],
            "spec": m["spec"],
            "outcome": m["outcome"],
            "policy": policy_name,
            "verdict_id": m["verdict_id"],
            "failed_rules": m["failed_rules"],
            "errors": m["errors"],
            "runs": {it["suite"]: it["run_id"] for it in m["items"]},
            "report": report,
        },
    }


def _send_alerts(ctx: _Ctx, m: dict[str, Any], report: str | None) -> list[dict[str, Any]]:
    """Alert every webhook once per (model, outcome, verdict, errored suites); a delivered alert is
    never sent again, a failed one is retried by the next pass."""
    cfg = ctx.plan.alerts
    if m["outcome"] not in cfg.on or not cfg.webhooks:
        return []
    errs = ",".join(sorted(str(e["suite"]) for e in m["errors"]))
    key = f"{m['name']}:{m['outcome']}:{m['verdict_id'] or '-'}:{errs}"[:300]
    payload = alert_payload(ctx.plan, ctx.date, m, ctx.policy.name, report)
    t = nightly_alerts
    out = []
    for template in cfg.webhooks:
        wk = _webhook_key(template)[:1000]
        cond = (t.c.plan == ctx.plan.name, t.c.date == ctx.date, t.c.key == key, t.c.webhook == wk)
        with ctx.store.engine.connect() as conn:
            row = conn.execute(select(t).where(*cond)).mappings().first()
        if row and row["status"] == "sent":
            out.append({"webhook": wk, "status": "sent", "attempts": row["attempts"], "repeat": True})
            continue
        url = expand_webhook(template)
        prev = int(row["attempts"]) if row else 0
        err: str | None
        if url is None:
            ok, attempts, err = False, 0, f"environment variable in {template!r} is not set"
            log.warning("webhook %s skipped: %s", template, err)
        else:
            ok, attempts, err = post_webhook(
                url, payload, retries=cfg.retries, backoff_s=cfg.backoff_s, timeout_s=cfg.timeout_s
            )
        values: dict[str, Any] = {
            "status": "sent" if ok else "failed",
            "attempts": prev + attempts,
            "last_error": err,
            "payload": json.dumps(payload, ensure_ascii=False, default=str),
            "updated_at": now_iso(),
        }
        with ctx.store.engine.begin() as conn:
            if row:
                conn.execute(update(t).where(*cond).values(**values))
            else:
                conn.execute(
                    insert(t).values(plan=ctx.plan.name, date=ctx.date, key=key, webhook=wk, **values)
                )
        ctx.echo(
            f"  alert {m['name']} ({m['outcome']}) -> {wk}: "
            + ("sent" if ok else f"FAILED after {attempts} attempt(s): {err}")
        )
        out.append({"webhook": wk, "status": values["status"], "attempts": values["attempts"], "error": err})
    return out


def _write_reports(ctx: _Ctx, body: dict[str, Any]) -> Path:
    out = _report_dir(ctx)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "summary.json": json.dumps(body, indent=2, ensure_ascii=False, default=str) + "\n",
        "summary.md": summary_markdown(body),
    }
    verdicts = _verdict_bodies(ctx.store, [m["verdict_id"] for m in body["models"]])
    try:
        import reports

        for m in body["models"]:
            v = verdicts.get(m["verdict_id"] or "")
            if v is not None:
                files[f"verdict-{m['name']}.md"] = reports.render("verdict", v, "md", store=ctx.store)
    except Exception as e:  # the reports package is optional here: the summary is enough
        log.warning("verdict reports not rendered: %s", e)
    for name, text in files.items():
        tmp = out / f".{name}.{os.getpid()}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out / name)
    return out


def summary_markdown(body: dict[str, Any]) -> str:
    """The pass summary as Markdown (one table row per model x suite, then failed rules and errors)."""

    def f(x: Any) -> str:
        return "-" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)

    icon = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "pending": "pending"}
    lines = [
        f"### tunebench nightly {body['plan']} {body['date']}: {icon.get(body['outcome'], body['outcome'])}",
        "",
        f"policy {body['policy']['name']} · status {body['status']} · exit code {body['exit_code']}",
        "",
        "| model | suite | run | status | metric | value | 95% CI | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in body["models"]:
        for it in m["items"]:
            ci = f"[{f(it.get('ci_low'))}, {f(it.get('ci_high'))}]" if it.get("ci_low") is not None else "-"
            lines.append(
                f"| {m['name']} | {it['suite']} | {it['run_id'] or '-'} | {it['status']} | {it.get('metric') or '-'} "
                f"| {f(it.get('value'))} | {ci} | {icon.get(m['outcome'], m['outcome'])} |"
            )
    for m in body["models"]:
        if m["failed_rules"] or m["errors"]:
            lines += ["", f"**{m['name']}** ({m['spec']}): {icon.get(m['outcome'], m['outcome'])}"]
            lines += [
                f"- FAIL `{r['suite']}:{r['metric']} {r['rule']}`: {r['reason']}" for r in m["failed_rules"]
            ]
            lines += [f"- ERROR {e['suite'] or 'gate'}: {e['error']}" for e in m["errors"]]
    if body.get("alerts"):
        lines += [
            "",
            "alerts: " + ", ".join(f"{a['model']} -> {a['webhook']} {a['status']}" for a in body["alerts"]),
        ]
    return "\n".join(lines) + "\n"


def nightly_record_id(plan: str, d: str) -> str:
    return "nightly-" + hashlib.sha256(f"{plan}\0{d}".encode()).hexdigest()[:24]


def run_nightly(
    plan: Plan,
    store: Store,
    *,
    date: str | None = None,
    workspace: str | None = None,
    stop: threading.Event | None = None,
    lock_wait_s: float = 0.0,
    retry_errors: bool = False,
    progress: bool = False,
    echo: Callable[[str], None] | None = None,
    backend_factory: Callable[[PlanModel, ModelSpec], Any] | None = None,
) -> NightlyResult:
    """One idempotent pass of `plan` for `date` (default: today in the plan's time zone); see the
    module docstring. InputError (before anything is written) on a bad plan; LockHeld when another
    pass of the plan is running. `stop` set: the pass stops between items (status "interrupted")."""
    d = _validate_date(date) if date else plan.today()
    say = echo or (lambda s: None)
    workspace = workspace or plan.workspace_path()
    policy, suites, specs = _prepare(plan, store, workspace)
    lease = Lease(store, f"nightly:{plan.name}")
    if not lease.acquire(lock_wait_s):
        raise LockHeld(f"another nightly pass of plan {plan.name!r} is running ({lease.describe_holder()})")
    try:
        ctx = _Ctx(
            plan, store, d, workspace, policy, suites, specs, say, progress, retry_errors, backend_factory
        )
        return _pass(ctx, stop, lease)
    finally:
        lease.release()


def _pass(ctx: _Ctx, stop: threading.Event | None, lease: Lease) -> NightlyResult:
    plan, store, d = ctx.plan, ctx.store, ctx.date
    t = nightly_passes
    started = now_iso()
    with store.engine.begin() as conn:
        row = conn.execute(select(t).where(t.c.plan == plan.name, t.c.date == d)).mappings().first()
        if row is None:
            conn.execute(insert(t).values(plan=plan.name, date=d, status="running", started_at=started))
        else:
            started = row["started_at"]
            conn.execute(update(t).where(t.c.plan == plan.name, t.c.date == d).values(status="running"))
    ctx.items = _load_items(store, plan.name, d)
    again = (
        ""
        if row is None
        else " (already complete: checking)"
        if row["status"] == "complete"
        else " (resuming)"
    )
    ctx.echo(
        f"nightly {plan.name} {d}{again}: {len(plan.models)} model(s) x {len(ctx.suites)} suite(s), policy {ctx.policy.name}"
    )
    models: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    interrupted = False
    report_dir = _report_dir(ctx)
    for model in model_order(plan):
        for ps, suite in ctx.suites:
            if (stop is not None and stop.is_set()) or lease.lost:  # lost: another pass took over
                interrupted = True
                break
            _run_item(ctx, model, ps, suite)
        if interrupted:
            break
        gate_error = _gate_model(ctx, model)
        m = _model_summary(ctx, model, gate_error)
        models.append(m)
        for a in _send_alerts(ctx, m, str(report_dir / "summary.md")):
            alerts.append({"model": m["name"], **a})
    order = {"error": 3, "fail": 2, "pending": 1, "pass": 0}
    worst = max((m["outcome"] for m in models), key=lambda o: order[o], default="pending")
    status = "interrupted" if interrupted else "complete"
    exit_code = 1 if interrupted or worst in ("fail", "error") else 0
    body: dict[str, Any] = {
        "id": nightly_record_id(plan.name, d),
        "plan": plan.name,
        "date": d,
        "status": status,
        "outcome": "pending" if interrupted else worst,
        "exit_code": exit_code,
        "plan_path": plan.path,
        "policy": {"name": ctx.policy.name, "path": ctx.policy.path, "sha256": ctx.policy.sha256},
        "started_at": started,
        "finished_at": now_iso(),
        "models": models,
        "alerts": alerts,
        "counts": dict(ctx.counts),
    }
    out = _write_reports(ctx, body)
    body["reports"] = {
        "dir": str(out),
        "summary_md": str(out / "summary.md"),
        "summary_json": str(out / "summary.json"),
    }
    with store.engine.begin() as conn:
        conn.execute(
            update(t)
            .where(t.c.plan == plan.name, t.c.date == d)
            .values(status=status, finished_at=body["finished_at"], summary=json.dumps(body, default=str))
        )
        if status == "complete":
            blob = json.dumps(body, ensure_ascii=False, default=str)
            res = conn.execute(update(records).where(records.c.id == body["id"]).values(body=blob))
            if res.rowcount == 0:
                conn.execute(
                    insert(records).values(
                        id=body["id"], kind="nightly", created_at=now_iso(), ref=plan.name, body=blob
                    )
                )
    word = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "pending": "INCOMPLETE"}[body["outcome"]]
    ctx.echo(
        f"nightly {plan.name} {d}: {word} ({ctx.counts['ran']} run(s) made, {ctx.counts['reused']} reused, "
        f"{ctx.counts['errors']} new error(s)); report {out / 'summary.md'}"
        + ("; stopped between items, run again to resume" if interrupted else "")
    )
    return NightlyResult(plan.name, d, status, exit_code, body, out, dict(ctx.counts))


def _report_dir(ctx: _Ctx) -> Path:
    if ctx.workspace:
        ws = Path(ctx.workspace)
    elif ctx.store.url.startswith("sqlite:///"):
        ws = Path(ctx.store.url[len("sqlite:///") :]).parent
    else:
        from .workspace import workspace_dir

        ws = workspace_dir(None)
    return ws / "nightly" / ctx.plan.name / ctx.date


def pass_finished(store: Store, plan: str, d: str) -> bool:
    """True when the pass of (plan, date) is complete and every alert was delivered."""
    with store.engine.connect() as conn:
        row = conn.execute(
            select(nightly_passes.c.status).where(nightly_passes.c.plan == plan, nightly_passes.c.date == d)
        ).first()
        if row is None or row[0] != "complete":
            return False
        pending = conn.execute(
            select(nightly_alerts.c.key).where(
                nightly_alerts.c.plan == plan, nightly_alerts.c.date == d, nightly_alerts.c.status != "sent"
            )
        ).first()
    return pending is None


def pass_history(store: Store, plan: str | None = None) -> list[dict[str, Any]]:
    """Completed passes (their "nightly" record bodies), oldest date first."""
    bodies = [r["body"] for r in store.get_records("nightly", ref=plan)]
    return sorted(bodies, key=lambda b: (b.get("date", ""), b.get("plan", "")))


def unfinished_dates(store: Store, plan: str) -> list[str]:
    """Dates whose pass started but did not complete (killed or stopped), oldest first."""
    t = nightly_passes
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(t.c.date).where(t.c.plan == plan, t.c.status != "complete").order_by(t.c.date)
        )
        return [r[0] for r in rows]


# --------------------------------------------------------------------------- trends


def trend_points(
    store: Store,
    suite: str,
    metric: str,
    model: str | None = None,
    *,
    plan: str | None = None,
    nightly_only: bool = False,
) -> list[dict[str, Any]]:
    """One point per completed run of `suite` that reports `metric`, oldest first:
    {date, model, value, ci_low, ci_high, verdict_passed, run_id, plan, nightly}. Nightly runs carry
    their pass date, plan model name and the model's verdict that night; plain runs their creation
    date, model label and verdict_passed None. `model` matches a plan model name or a model label."""
    q = (
        select(runs.c.record)
        .where(runs.c.suite == suite, runs.c.status == "completed")
        .order_by(runs.c.created_at, runs.c.id)
    )
    with store.engine.connect() as conn:
        recs = [RunRecord.model_validate_json(r[0]) for r in conn.execute(q)]
        t = nightly_items
        item_rows = conn.execute(
            select(t.c.run_id, t.c.verdict_id, t.c.plan).where(t.c.suite == suite, t.c.run_id.is_not(None))
        ).all()
    verdict_of = {r[0]: r[1] for r in item_rows}
    verdicts = _verdict_bodies(store, [v for v in verdict_of.values() if v])
    out = []
    for rec in recs:
        is_nightly = "nightly" in rec.tags and "date" in rec.tags
        if nightly_only and not is_nightly:
            continue
        if plan is not None and rec.tags.get("nightly") != plan:
            continue
        name = str(rec.tags.get("model") or rec.model.label) if is_nightly else rec.model.label
        if model is not None and model not in (name, rec.model.label):
            continue
        mv = rec.metrics.get(metric)
        if mv is None:
            continue
        v = verdicts.get(verdict_of.get(rec.id) or "")
        out.append(
            {
                "date": str(rec.tags["date"]) if is_nightly else rec.created_at[:10],
                "model": name,
                "value": mv.value,
                "ci_low": mv.ci_low,
                "ci_high": mv.ci_high,
                "verdict_passed": None if v is None else bool(v.get("passed")),
                "run_id": rec.id,
                "plan": rec.tags.get("nightly") if is_nightly else None,
                "nightly": is_nightly,
            }
        )
    out.sort(key=lambda p: (p["date"], p["model"]))
    return out


# --------------------------------------------------------------------------- scheduler


def run_scheduler(
    plan_path: str | Path,
    *,
    store_url: str | None = None,
    workspace: str | None = None,
    stop: threading.Event,
    lock_wait_s: float = 0.0,
    progress: bool = False,
    echo: Callable[[str], None] = print,
    cron: str | None = None,
) -> int:
    """Run passes of the plan on its cron until `stop` is set (SIGTERM in the CLI), then stop the
    running pass between items and return 0. Holds the lease "schedule:<plan>" throughout: a second
    scheduler of the plan refuses (LockHeld) unless the first goes away within `lock_wait_s`. On
    start, an unfinished pass of the last two days (a killed pass) is resumed at once."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.date import DateTrigger

    plan = load_plan(plan_path)
    ws = workspace or plan.workspace_path()
    store = Store(store_url, workspace=ws)
    lease = Lease(store, f"schedule:{plan.name}")
    if not lease.acquire(lock_wait_s):
        raise LockHeld(f"a scheduler of plan {plan.name!r} is already running ({lease.describe_holder()})")
    pass_stop = threading.Event()
    expr = cron or os.environ.get(TEST_CRON_ENV) or plan.schedule.cron
    trigger = make_trigger(expr, plan.tz)

    def job(date: str | None = None) -> None:
        if pass_stop.is_set():
            return
        try:
            current = load_plan(plan_path)
        except InputError as e:
            echo(f"schedule: plan not loaded, pass skipped:\n{e.render()}")
            return
        d = date or current.today()
        if pass_finished(store, current.name, d):
            log.debug("pass %s %s already complete", current.name, d)
            return
        try:
            res = run_nightly(
                current, store, date=d, workspace=ws, stop=pass_stop, progress=progress, echo=echo
            )
            echo(f"schedule: pass {current.name} {d} {res.status}, exit code {res.exit_code}")
        except LockHeld as e:
            echo(f"schedule: pass skipped: {e}")
        except InputError as e:
            echo(f"schedule: pass not run:\n{e.render()}")
        except Exception as e:
            log.exception("schedule: pass failed")
            echo(f"schedule: pass failed: {type(e).__name__}: {e}")

    sched = BackgroundScheduler(timezone=plan.tz)
    try:
        sched.add_job(
            job,
            trigger,
            id=f"nightly-{plan.name}",
            misfire_grace_time=plan.schedule.misfire_grace_s,
            coalesce=True,
            max_instances=1,
        )
        today = Date.fromisoformat(plan.today())
        recent = [
            d
            for d in unfinished_dates(store, plan.name)
            if Date.fromisoformat(d) >= today - timedelta(days=2)
        ]
        for d in recent[-1:]:
            echo(f"schedule: resuming the unfinished pass of {d}")
            sched.add_job(
                job,
                DateTrigger(run_date=datetime.now(plan.tz), timezone=plan.tz),
                args=[d],
                id=f"resume-{plan.name}",
                misfire_grace_time=plan.schedule.misfire_grace_s,
                max_instances=1,
            )
        sched.start()
        nxt = sched.get_job(f"nightly-{plan.name}").next_run_time
        echo(
            f"schedule: plan {plan.name} ({expr}, {plan.schedule.timezone}); next pass {nxt.isoformat() if nxt else 'never'}; "
            f"lease {lease.owner}"
        )
        while not stop.wait(0.5):
            if lease.lost:
                echo("schedule: lost the scheduler lease to another process; stopping")
                break
    finally:
        pass_stop.set()
        if sched.running:
            sched.shutdown(wait=True)
        lease.release()
    echo(f"schedule: stopped; lease {lease.name} released")
    return 0


# --------------------------------------------------------------------------- install


INSTALL_KINDS = ("cron", "systemd", "github-actions")


def _fill(template: str, values: dict[str, str]) -> str:
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    for k, v in values.items():
        text = text.replace(f"@@{k}@@", v)
    left = re.findall(r"@@\w+@@", text)
    if left:
        raise RuntimeError(f"template {template}: unfilled {', '.join(sorted(set(left)))}")
    return text


def _tunebench_exe() -> str:
    exe = Path(sys.executable).parent / "tunebench"
    return str(exe) if exe.exists() else f"{sys.executable} -m harness.cli.main"


def _systemd_quote(s: str) -> str:
    return (
        s if re.fullmatch(r"[\w@%+=:,./-]+", s) else '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    )


def install_files(
    plan_path: str | Path,
    kind: str,
    *,
    workspace: str | None = None,
    store_url: str | None = None,
    cwd: Path | None = None,
) -> dict[str, str]:
    """File name -> text of the scheduler files for `kind` (cron: a crontab; systemd: a service and
    a timer; github-actions: a workflow). Paths are absolute, except in the workflow (repository-relative)."""
    if kind not in INSTALL_KINDS:
        raise InputError(f"--kind {kind!r}: expected one of {', '.join(INSTALL_KINDS)}")
    plan = load_plan(plan_path)
    cwd = (cwd or Path.cwd()).resolve()
    plan_abs = Path(plan.path or plan_path).resolve()
    from .workspace import workspace_dir

    ws = str(workspace_dir(workspace or plan.workspace_path()))
    exe = _tunebench_exe()
    cron, tz = plan.schedule.cron, plan.schedule.timezone
    unit = f"tunebench-nightly-{plan.name}"
    store_arg = f" --store {shlex.quote(store_url)}" if store_url else ""
    if kind == "cron":
        log_file = str(Path(ws) / "nightly" / f"{plan.name}.log")
        cmd = (
            f"cd {shlex.quote(str(cwd))} && mkdir -p {shlex.quote(str(Path(log_file).parent))} && "
            f"{exe} --workspace {shlex.quote(ws)}{store_arg} nightly --plan {shlex.quote(str(plan_abs))} --no-progress "
            f">> {shlex.quote(log_file)} 2>&1"
        )
        five = " ".join(cron_fields(cron)[-5:])
        return {
            f"{unit}.crontab": _fill(
                "nightly-crontab.txt",
                {
                    "plan": plan.name,
                    "cron": five,
                    "timezone": tz,
                    "command": cmd.replace("%", "\\%"),
                },
            )
        }
    if kind == "systemd":
        on_calendar, notes = cron_to_oncalendar(cron, tz)
        exec_start = " ".join(
            _systemd_quote(x)
            for x in [
                *exe.split(" "),
                "--workspace",
                ws,
                *(["--store", store_url] if store_url else []),
                "nightly",
                "--plan",
                str(plan_abs),
                "--no-progress",
            ]
        )
        values = {
            "plan": plan.name,
            "unit": unit,
            "cwd": _systemd_quote(str(cwd)),
            "exec_start": exec_start,
            "cron": cron,
            "timezone": tz,
            "on_calendar": on_calendar,
            "notes": "".join(f"# note: {n}\n" for n in notes),
        }
        return {
            f"{unit}.service": _fill("nightly-systemd-service.txt", values),
            f"{unit}.timer": _fill("nightly-systemd-timer.txt", values),
        }
    lines, note = cron_to_utc(cron, tz)
    try:
        rel = str(plan_abs.relative_to(cwd))
    except ValueError:
        rel = str(plan_abs)
    schedule = "".join(f'    - cron: "{line}"\n' for line in lines)
    return {
        f"{unit}.yml": _fill(
            "nightly-workflow.yml",
            {
                "plan": plan.name,
                "plan_path": rel,
                "cron": cron,
                "timezone": tz,
                "note": note,
                "schedule": schedule.rstrip("\n"),
            },
        )
    }


__all__ = [
    "INSTALL_KINDS",
    "AlertConfig",
    "BackendOptions",
    "Lease",
    "LockHeld",
    "NightlyResult",
    "Plan",
    "PlanModel",
    "PlanSuite",
    "ScheduleConfig",
    "alert_payload",
    "cron_fields",
    "cron_to_oncalendar",
    "cron_to_utc",
    "install_files",
    "load_plan",
    "make_trigger",
    "model_order",
    "pass_finished",
    "pass_history",
    "post_webhook",
    "run_nightly",
    "run_scheduler",
    "summary_markdown",
    "trend_points",
    "unfinished_dates",
]
