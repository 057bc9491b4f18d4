"""Stage times of a finished `tunebench demo`, read from its workspace's store (SQLite).

Every run and record carries its own timestamps, so the table needs no log parsing: each run's
created_at -> finished_at, and each record's created_at, in the order they happened, with the gap
since the previous event. Used for the time-to-verdict tables in tests/benchmarks/README.md.

    python tests/benchmarks/demo_stages.py WORKSPACE/tunebench.db
"""

from __future__ import annotations

import argparse
import sqlite3
from datetime import datetime


def _t(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("db", help="the demo workspace's tunebench.db")
    args = ap.parse_args()
    con = sqlite3.connect(args.db)
    events: list[tuple[datetime, datetime, str]] = []
    for rid, suite, split, model, prompt, created, finished in con.execute(
        "select id, suite, split, model, prompt_name, created_at, finished_at from runs"
    ):
        label = f"run {rid[:8]} {suite}/{split} {prompt} {model[:60]}"
        events.append((_t(created), _t(finished) if finished else _t(created), label))
    for rid, kind, created in con.execute("select id, kind, created_at from records"):
        events.append((_t(created), _t(created), f"record {kind} {rid[:8]}"))
    events.sort()
    if not events:
        print("no runs or records")
        return
    start = events[0][0]
    prev_end = start
    print(f"{'start s':>8} {'took s':>7} {'gap s':>6}  event")
    for begin, end, label in events:
        print(
            f"{(begin - start).total_seconds():8.1f} {(end - begin).total_seconds():7.1f} "
            f"{(begin - prev_end).total_seconds():6.1f}  {label}"
        )
        prev_end = max(prev_end, end)
    print(f"first event to last: {(prev_end - start).total_seconds():.1f} s")


if __name__ == "__main__":
    main()
