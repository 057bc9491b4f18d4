"""`tunebench` command line: a thin layer over the library. One module per command."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn

from ..allocator import tune_malloc
from ..errors import InputError, TunebenchError

COMMANDS = [
    "run",
    "runs",
    "show",
    "suites",
    "data",
    "baseline",
    "train",
    "compare",
    "judge",
    "merge",
    "demo",
    "gate",
    "bless",
    "models",
    "serve",
    "report",
    "dashboard",
    "rate",
    "nightly",
    "schedule",
    "export",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # usage errors exit 2 with a hint
        self.print_usage(sys.stderr)
        print(f"error: {message}\nhint: `{self.prog} --help` lists the options", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tunebench", description="Evaluation-first harness for fine-tuned language models.")
    parser.add_argument("--workspace", help="workspace folder (default ./.tunebench or $TUNEBENCH_HOME)")
    parser.add_argument(
        "--store",
        default=os.environ.get("TUNEBENCH_STORE") or None,
        help="store URL (default $TUNEBENCH_STORE, else sqlite:///WORKSPACE/tunebench.db); a team store: "
        "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB (extra `postgres`)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        mod = importlib.import_module(f".{name}", __package__)
        mod.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    tune_malloc()  # reuse freed tensor memory instead of faulting in new pages (harness/allocator.py)
    # library noise that says nothing to a tunebench user
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except InputError as e:
        print(e.render(), file=sys.stderr)
        return 2
    except TunebenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "interrupted; finished generations are cached, run the same command again to resume",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
