"""Nightly runs: a plan (models x suites, a gate policy, a schedule, alert webhooks), one idempotent
pass per (plan, date), alerts, a long-running scheduler, install files, and trend points.

`plan` (the plan file), `passes` (one pass: `run_nightly`, built from `items`, `gating`, `summary`
and `alerts`), `lease` (passes and schedulers never overlap), `cron`, `scheduler` (APScheduler),
`install` (cron, systemd, GitHub Actions), `trends`. What they store is read and written through
`harness.store.nightly`; baselines are resolved as the gate resolves them (`harness.gate.resolve`).
"""

from ..store.nightly import pass_finished, unfinished_dates
from .alerts import alert_payload, expand_webhook, post_webhook, redact_url
from .context import VerdictRenderer
from .cron import cron_fields, cron_to_oncalendar, cron_to_utc, cron_values, make_trigger
from .install import INSTALL_KINDS, install_files
from .lease import Lease, LockHeld
from .passes import NightlyResult, nightly_record_id, pass_history, run_nightly
from .plan import (
    AlertConfig,
    BackendOptions,
    Plan,
    PlanModel,
    PlanSuite,
    ScheduleConfig,
    load_plan,
    model_order,
)
from .scheduler import TEST_CRON_ENV, run_scheduler
from .summary import summary_markdown
from .trends import trend_points

__all__ = [
    "INSTALL_KINDS",
    "TEST_CRON_ENV",
    "AlertConfig",
    "BackendOptions",
    "Lease",
    "LockHeld",
    "NightlyResult",
    "Plan",
    "PlanModel",
    "PlanSuite",
    "ScheduleConfig",
    "VerdictRenderer",
    "alert_payload",
    "cron_fields",
    "cron_to_oncalendar",
    "cron_to_utc",
    "cron_values",
    "expand_webhook",
    "install_files",
    "load_plan",
    "make_trigger",
    "model_order",
    "nightly_record_id",
    "pass_finished",
    "pass_history",
    "post_webhook",
    "redact_url",
    "run_nightly",
    "run_scheduler",
    "summary_markdown",
    "trend_points",
    "unfinished_dates",
]
