"""tunebench bless RUN: record the run's model as a model version and its suite's blessed baseline."""

from __future__ import annotations

import argparse

from ..fmt import metrics_table
from ..registry_models import bless
from .common import open_store


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bless",
        help="record a run's model as a model version and the blessed baseline of its suite",
        description="Record RUN's model as a model version (NAME vVERSION) with the run's metrics, and make "
        "it the blessed baseline of the run's suite: `tunebench gate --against blessed` compares candidates "
        "with it. The latest bless of a suite wins.",
    )
    p.add_argument("run", metavar="RUN", help="a completed run id (or a unique prefix)")
    p.add_argument("--name", default=None, help="model name (default: the run's model label)")
    p.add_argument(
        "--version",
        default=None,
        help="version (default: this name's version of the same model, else the next number)",
    )
    p.add_argument("--note", default="", help="free text stored with the version")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    store = open_store(args)
    mv = bless(store, args.run, name=args.name, version=args.version, note=args.note)
    print(
        f"blessed {mv.label} for suite {mv.suite}@{mv.suite_version} (run {mv.run_id}, split {mv.split})  id {mv.id}"
    )
    print(metrics_table(mv.metrics))
    return 0
