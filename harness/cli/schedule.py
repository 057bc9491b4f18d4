"""tunebench schedule --plan P: run nightly passes on the plan's cron until SIGTERM;
tunebench schedule install --plan P --kind cron|systemd|github-actions: write scheduler files."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..nightly import INSTALL_KINDS, LockHeld, install_files, run_scheduler
from .nightly import render_verdict


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "schedule",
        help="run nightly passes of a plan on its cron (until SIGTERM), or `schedule install` cron/systemd/CI files",
        description="Long-running scheduler (APScheduler): runs `tunebench nightly` passes of the plan on its "
        "schedule.cron in schedule.timezone, one at a time (coalesced; a pass that could not start on time runs "
        "within misfire_grace_s). A lease in the store keeps a second scheduler of the plan from starting. "
        "SIGTERM or Ctrl-C stops the running pass between items and exits 0; an unfinished pass resumes on the "
        "next start. `tunebench schedule install` writes a crontab line, a systemd service and timer, or a "
        "GitHub Actions workflow instead.",
    )
    p.add_argument("--plan", default=None, help="nightly plan YAML file")
    p.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for a running scheduler of the plan to go away (default: refuse at once)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("-v", "--verbose", action="store_true", help="log the scheduler's own messages")
    p.set_defaults(func=main)
    s = p.add_subparsers(dest="schedule_command", metavar="install")
    i = s.add_parser(
        "install",
        help="write a crontab line, a systemd service + timer, or a GitHub Actions workflow for the plan",
        description="Write the files that run `tunebench nightly --plan P` on the plan's schedule: "
        "--kind cron (a crontab with CRON_TZ), systemd (a oneshot service and a timer with OnCalendar= in the "
        "plan's time zone), github-actions (a workflow; GitHub reads cron in UTC, so each UTC offset of the "
        "zone is scheduled). Prints to stdout without --out.",
    )
    i.add_argument("--plan", default=argparse.SUPPRESS, help="nightly plan YAML file")
    i.add_argument("--kind", required=True, choices=list(INSTALL_KINDS), help="what to write")
    i.add_argument(
        "--out",
        default=None,
        metavar="PATH",
        help="file to write (systemd: a folder for the .service and .timer); default: stdout",
    )
    i.set_defaults(func=install)


def main(args: argparse.Namespace) -> int:
    if not args.plan:
        raise InputError("--plan is required", hint="tunebench schedule --plan plan.yaml")
    if args.wait < 0:
        raise InputError(f"--wait must be >= 0, got {args.wait}")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if not args.verbose:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    stop = threading.Event()
    handlers: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        handlers[sig] = signal.signal(sig, lambda *_: stop.set())

    def echo(msg: str) -> None:
        print(msg, flush=True)

    try:
        return run_scheduler(
            args.plan,
            store_url=args.store,
            workspace=args.workspace,
            stop=stop,
            lock_wait_s=args.wait,
            progress=not args.no_progress and sys.stderr.isatty(),
            echo=echo,
            render_verdict=render_verdict,
        )
    except LockHeld as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        for sig, h in handlers.items():
            signal.signal(sig, h)


def install(args: argparse.Namespace) -> int:
    if not getattr(args, "plan", None):
        raise InputError("--plan is required", hint="tunebench schedule install --plan plan.yaml --kind cron")
    files = install_files(args.plan, args.kind, workspace=args.workspace, store_url=args.store)
    if args.out is None:
        for name, text in files.items():
            if len(files) > 1:
                print(f"# ---- {name}")
            print(text, end="" if text.endswith("\n") else "\n")
        return 0
    out = Path(args.out)
    if len(files) > 1 or out.is_dir():
        out.mkdir(parents=True, exist_ok=True)
        targets = {out / name: text for name, text in files.items()}
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        targets = {out: next(iter(files.values()))}
    for path, text in targets.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0
