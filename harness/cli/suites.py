"""tunebench suites: list built-in suites."""

from __future__ import annotations

import argparse

from ..fmt import table
from ..suite import builtin_suites, load_split, load_suite


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("suites", help="list built-in suites")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    rows = []
    for name in builtin_suites():
        s = load_suite(name)
        sizes = []
        for split in s.dataset.splits:
            try:
                sizes.append(f"{split}={len(load_split(s, split))}")
            except Exception:
                sizes.append(f"{split}=?")
        rows.append(
            (s.name, s.version, s.content_hash[:12], " ".join(sizes), ", ".join(sc.name for sc in s.scorers))
        )
    print(table(["suite", "version", "hash", "splits", "scorers"], rows, align="lllll"))
    return 0
