"""tunebench nightly --plan P [--date YYYY-MM-DD]: one idempotent nightly pass of a plan."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from typing import Any

from ..errors import InputError
from ..nightly import LockHeld, load_plan, run_nightly
from ..store import Store


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "nightly",
        help="one nightly pass of a plan: run every model x suite, gate, alert; exit 0 pass, 1 fail/error, 2 input error",
        description="Run every model x suite of a nightly plan (cached generations make unchanged pairs "
        "cheap), gate each model against its baseline, write reports to WORKSPACE/nightly/PLAN/DATE/, record "
        "the history and POST an alert to the plan's webhooks when a verdict fails or a run errors. The pass "
        "is idempotent per (plan, date): running it again finishes what is unfinished and repeats nothing "
        "(no new runs, no second alert). Exit code 0 when every model passed, 1 when a verdict failed, a run "
        "errored or the pass was stopped, 2 on an input error (a malformed plan names file:line).",
    )
    p.add_argument("--plan", required=True, help="nightly plan YAML file")
    p.add_argument(
        "--date", default=None, help="pass date YYYY-MM-DD (default: today in the plan's time zone)"
    )
    p.add_argument(
        "--retry-errors",
        action="store_true",
        help="run again the items that errored (e.g. an endpoint was down)",
    )
    p.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for another pass of the plan to finish (default: refuse at once)",
    )
    p.add_argument("--format", choices=["text", "json"], default="text", help="output format (default text)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("-v", "--verbose", action="store_true", help="log every failed request of a model backend")
    p.set_defaults(func=main)


def render_verdict(verdict: dict[str, Any], store: Store) -> str:
    """A nightly pass's verdict-<model>.md: the Markdown verdict report of `reports`."""
    import reports

    return reports.render("verdict", verdict, "md", store=store)


def main(args: argparse.Namespace) -> int:
    if args.wait < 0:
        raise InputError(f"--wait must be >= 0, got {args.wait}")
    plan = load_plan(args.plan)
    workspace = args.workspace or plan.workspace_path()
    store = Store(args.store, workspace=workspace)
    stop = threading.Event()
    previous: Any = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    text = args.format == "text"
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:  # the pass reports a failed run once, with its first error
        logging.getLogger("harness.models.openai_backend").setLevel(logging.ERROR)
    try:
        res = run_nightly(
            plan,
            store,
            date=args.date,
            workspace=workspace,
            stop=stop,
            lock_wait_s=args.wait,
            retry_errors=args.retry_errors,
            progress=text and not args.no_progress and sys.stderr.isatty(),
            echo=print if text else None,
            render_verdict=render_verdict,
        )
    except LockHeld as e:
        print(f"error: {e}", file=sys.stderr)
        print("hint: --wait SECONDS waits for it to finish", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if not text:
        print(json.dumps(res.body, indent=2, ensure_ascii=False, default=str))
    return res.exit_code
