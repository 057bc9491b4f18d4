"""tunebench models [--suite S]: model versions, their blessed suites and the verdicts that used them."""

from __future__ import annotations

import argparse
import json

from ..fmt import num, table
from ..registry_models import list_versions, verdicts_referencing
from .common import open_store

N_METRICS = 3
N_VERDICTS = 3


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="list blessed model versions with a few metrics and the latest verdicts that used them",
        description="List model versions (`tunebench bless`): name, version, suite, run, a few metrics, "
        "when they were blessed, whether they are the suite's current blessed baseline (*), and the "
        "latest gate verdicts that used them as a baseline or gated their run.",
    )
    p.add_argument("--suite", default=None, help="only versions blessed for this suite")
    p.add_argument("--format", choices=["text", "json"], default="text", help="output format (default text)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    store = open_store(args)
    versions = list_versions(store, args.suite)
    current = {v.suite: v.id for v in versions}  # oldest first: the last one per suite wins
    rows = []
    items = []
    for v in reversed(versions):
        verdicts = verdicts_referencing(store, v)
        items.append(
            {
                **v.model_dump(mode="json"),
                "current": current[v.suite] == v.id,
                "verdicts": [
                    {
                        "id": b.get("id"),
                        "passed": b.get("passed"),
                        "candidate": b.get("candidate"),
                        "created_at": b.get("created_at"),
                    }
                    for b in verdicts
                ],
            }
        )
        metrics = ", ".join(f"{k}={num(m.value)}" for k, m in list(v.metrics.items())[:N_METRICS])
        vtext = ", ".join(
            f"{'PASS' if b.get('passed') else 'FAIL'} {b.get('id')}" for b in verdicts[:N_VERDICTS]
        )
        rows.append(
            [
                v.name,
                f"v{v.version}",
                v.suite + (" *" if current[v.suite] == v.id else ""),
                v.run_id,
                metrics,
                v.blessed_at[:19].replace("T", " "),
                vtext or "-",
            ]
        )
    if args.format == "json":
        print(json.dumps(items, indent=2))
        return 0
    if not versions:
        print(
            "no model versions"
            + (f" for suite {args.suite}" if args.suite else "")
            + "; bless a run with `tunebench bless RUN`"
        )
        return 0
    print(
        table(
            ["name", "version", "suite", "run", "metrics", "blessed at (UTC)", "latest verdicts"],
            rows,
            align="lllllll",
        )
    )
    print("* the suite's current blessed baseline (`tunebench gate --against blessed`)")
    return 0
