"""tunebench runs: the stored runs as a table."""

from __future__ import annotations

import argparse

from ..fmt import num, table
from .common import open_store


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list stored runs")
    p.add_argument("--suite", help="only this suite")
    p.add_argument("--model", help="only models whose spec contains this text")
    p.add_argument("--status", choices=["running", "completed", "failed"])
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    store = open_store(args)
    recs = store.list_runs(suite=args.suite, model=args.model, status=args.status, limit=args.limit)
    if not recs:
        print("no runs stored yet; try `tunebench run ticket-triage --model default --limit 20`")
        return 0
    rows = []
    for r in recs:
        primary = next(iter(r.metrics.items()), None)
        rows.append(
            (
                r.id,
                r.created_at.replace("+00:00", "Z"),
                f"{r.suite}@{r.suite_version}",
                r.model.label[-48:],
                r.prompt.name,
                r.split,
                r.n_samples,
                r.status,
                f"{primary[0]}={num(primary[1].value)}" if primary else "-",
            )
        )
    print(
        table(
            ["run", "created", "suite", "model", "prompt", "split", "n", "status", "first metric"],
            rows,
            align="lllllllll",
        )
    )
    return 0
