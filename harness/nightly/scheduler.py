"""The long-running scheduler (`tunebench schedule`): passes of a plan on its cron, in the plan's
time zone, one at a time, under a lease so that a second scheduler of the plan refuses to start."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import date as Date
from datetime import datetime, timedelta
from pathlib import Path

from ..errors import InputError
from ..store import Store
from ..store.nightly import pass_finished, unfinished_dates
from .context import VerdictRenderer
from .cron import make_trigger
from .lease import Lease, LockHeld
from .passes import run_nightly
from .plan import load_plan

log = logging.getLogger("tunebench.schedule")

TEST_CRON_ENV = "TUNEBENCH_SCHEDULE_CRON"
"""Test-only: overrides the plan's cron in `tunebench schedule` (6 fields = seconds first)."""


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
    render_verdict: VerdictRenderer | None = None,
) -> int:
    """Run passes of the plan on its cron until `stop` is set (SIGTERM in the CLI), then stop the
    running pass between items and return 0. Holds the lease "schedule:<plan>" throughout: a second
    scheduler of the plan refuses (LockHeld) unless the first goes away within `lock_wait_s`. On
    start, an unfinished pass of the last two days (a killed pass) is resumed at once.
    `render_verdict` is passed to each pass (`run_nightly`)."""
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
                current,
                store,
                date=d,
                workspace=ws,
                stop=pass_stop,
                progress=progress,
                echo=echo,
                render_verdict=render_verdict,
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
