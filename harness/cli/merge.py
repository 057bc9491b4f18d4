"""tunebench merge ADAPTER --out DIR"""

from __future__ import annotations

import argparse

from ..merge import merge_adapter


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("merge", help="merge a LoRA adapter into its base model and save it")
    p.add_argument("adapter", help="adapter folder (from `tunebench train`)")
    p.add_argument("--out", required=True, help="output folder for the merged model")
    p.add_argument("--base", help="base model (default: the one the adapter was trained on)")
    p.add_argument(
        "--dtype",
        choices=["bfloat16", "float16", "float32"],
        help="default: the adapter's training precision",
    )
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    out = merge_adapter(args.adapter, args.out, base=args.base, dtype=args.dtype)
    print(f"merged model written to {out}; evaluate it with --model hf:{out}")
    return 0
