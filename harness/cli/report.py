"""tunebench report REF: a Markdown, HTML or JSON report of a run, a comparison or a verdict."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ..errors import InputError
from ..workspace import workspace_dir
from .common import open_store

SUFFIX = {"md": ".md", "html": ".html", "json": ".json"}
BY_SUFFIX = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".json": "json"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write a Markdown, HTML or JSON report of a run, comparison or verdict",
        description="Render a stored run (id or unique prefix), comparison or gate verdict (id) as Markdown "
        "sized for a PR comment, one self-contained HTML file (forest plot of the deltas with their CIs, "
        "tables, side-by-side diffs of the worst regressions), or JSON following the tunebench.report/v1 "
        "schema. The file is written atomically and its path printed.",
    )
    p.add_argument("ref", metavar="REF", help="run id (or a unique prefix), comparison id or verdict id")
    p.add_argument(
        "--format",
        choices=["md", "html", "json"],
        default=None,
        help="output format (default: from the --out suffix, else md)",
    )
    p.add_argument(
        "--out",
        default=None,
        help="output file, or - for stdout (default: WORKSPACE/reports/REF-ID.FORMAT)",
    )
    p.add_argument("--worst", type=int, default=5, help="worst samples shown in a run report (default 5)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from reports import load_target, render, write_atomic

    if args.worst < 0:
        raise InputError(f"--worst must be >= 0, got {args.worst}")
    fmt = args.format
    if fmt is None:
        suffix = Path(args.out).suffix.lower() if args.out and args.out != "-" else ""
        fmt = BY_SUFFIX.get(suffix, "md")
    store = open_store(args)
    kind, body = load_target(store, args.ref, worst=args.worst)
    text = render(kind, body, fmt)
    if args.out == "-":
        sys.stdout.write(text)
        return 0
    if args.out:
        out = Path(args.out).expanduser()
    else:
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", str(body.get("id") or args.ref))
        out = workspace_dir(args.workspace) / "reports" / f"{kind}-{name}{SUFFIX[fmt]}"
    if out.is_dir():
        raise InputError(f"--out {out} is a folder", hint="give a file path, or - for stdout")
    path = write_atomic(out, text)
    print(path)
    return 0
