"""tunebench demo [--quick]: the main job, end to end on the embedded model."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="data check, best-prompt baseline, LoRA candidate, comparison (embedded Gemma 3 270M)"
    )
    p.add_argument(
        "--quick", action="store_true", help="smaller run (about 5 minutes on 2 CPU cores); used in CI"
    )
    p.add_argument(
        "--quantization",
        choices=["auto", "nf4", "none"],
        default=None,
        help="candidate training: nf4 = QLoRA, none = LoRA (default: nf4 on CUDA, none on CPU; see README)",
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    run_demo(
        quick=args.quick,
        workspace=args.workspace,
        store_url=args.store,
        progress=not args.no_progress,
        quantization=args.quantization,
    )
    return 0
