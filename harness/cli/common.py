"""Helpers shared by CLI commands."""

from __future__ import annotations

import argparse

from ..models.base import DEFAULT_BATCH_SIZE
from ..store import Store
from ..types import ModelSpec


def open_store(args: argparse.Namespace) -> Store:
    return Store(args.store, workspace=args.workspace)


def add_model_options(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument(
        "--model",
        required=required,
        help="model spec: default | hf:PATH[+lora:ADAPTER] | openai:MODEL@URL | mock:SCRIPT",
    )
    p.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "bfloat16", "float16", "float32"],
        help="weights dtype (hf)",
    )
    p.add_argument(
        "--quantization",
        choices=["nf4", "none"],
        default=None,
        help="load the hf base in 4-bit NF4 (default: what the adapter was trained on)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help=f"generation batch size (hf; default {DEFAULT_BATCH_SIZE})",
    )


def model_spec(args: argparse.Namespace) -> ModelSpec:
    from ..models import parse_spec

    q = None if args.quantization in (None, "none") else args.quantization
    spec = parse_spec(args.model, workspace=args.workspace, dtype=args.dtype, quantization=q)
    if args.quantization == "none" and spec.quantization:
        spec = spec.model_copy(update={"quantization": None})
    return spec
