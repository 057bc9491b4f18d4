"""tunebench data validate FILE | data check TRAIN --against SUITE..."""

from __future__ import annotations

import argparse
import sys

from ..data import validate_file


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="validate or check datasets")
    dsub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    v = dsub.add_parser("validate", help="check a JSONL/CSV/Parquet dataset; problems as file:line")
    v.add_argument("file")
    v.set_defaults(func=validate)
    try:
        from . import data_check

        data_check.add_parser(dsub)
    except ImportError:
        pass
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def validate(args: argparse.Namespace) -> int:
    from ..errors import InputError

    samples, problems = validate_file(args.file)
    if problems:
        raise InputError(
            f"{args.file}: {len(problems)} problem(s)",
            problems=problems,
            hint="each line says file:line: what is wrong; fix them and run again",
        )
    print(f"{args.file}: ok, {len(samples)} samples", file=sys.stdout)
    return 0
