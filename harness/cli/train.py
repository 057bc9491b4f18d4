"""tunebench train CONFIG.yaml [--eval-suite SUITE ...]"""

from __future__ import annotations

import argparse
from typing import Any

import yaml

from ..errors import InputError
from ..fmt import num, table
from ..training import train_candidates
from .common import open_store


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train QLoRA/LoRA candidate(s) from a YAML config (a `sweep:` grid gives several)"
    )
    p.add_argument("config", help="training YAML (see trainers/README.md for every key)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (YAML value), e.g. --set learning_rate=1e-4",
    )
    p.add_argument(
        "--eval-suite",
        action="append",
        default=[],
        help="evaluate each candidate on this suite after training",
    )
    p.add_argument("--eval-split", default="test")
    p.add_argument("--eval-limit", type=int, default=None)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=main)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise InputError(f"--set {item!r}: expected KEY=VALUE")
        out[key.strip()] = yaml.safe_load(value)
    return out


def main(args: argparse.Namespace) -> int:
    from trainers import expand_sweep, read_config

    base, grid = read_config(args.config, parse_overrides(args.set))
    configs = expand_sweep(base, grid) if grid else [base]
    store = open_store(args)
    results = train_candidates(
        configs,
        store=store,
        eval_suites=args.eval_suite,
        eval_split=args.eval_split,
        eval_limit=args.eval_limit,
        workspace=args.workspace,
        progress=not args.no_progress,
    )
    rows = []
    metric_names: list[str] = []
    for _body, runs in results:
        for r in runs:
            for m in list(r.metrics)[:4]:
                if f"{r.suite}:{m}" not in metric_names:
                    metric_names.append(f"{r.suite}:{m}")
    for body, runs in results:
        cfg = body["config"]
        vals = {f"{r.suite}:{m}": num(v.value) for r in runs for m, v in r.metrics.items()}
        rows.append(
            [
                body["id"],
                cfg["lora_r"],
                cfg["learning_rate"],
                body.get("epochs") if body.get("epochs") is not None else cfg["num_epochs"],
                body["quantization"],
                num(body["first_loss"]),
                num(body["final_loss"]),
                f"{body['wall_time_s']:.0f}s",
                f"{body['tokens_per_s']:.0f}",
            ]
            + [vals.get(m, "-") for m in metric_names]
        )
    print(
        table(
            ["training run", "r", "lr", "epochs", "quant", "loss first", "loss last", "wall", "tok/s"]
            + metric_names,
            rows,
        )
    )
    for body, _ in results:
        print(f"adapter: {body['adapter_path']}  (sha256 {body['adapter_hash'][:12]})")
        eot = body.get("eot_prob") or {}
        if eot:
            where = ", ".join(f"{num(v)} on {k}" for k, v in eot.items())
            print(f"p({body.get('eot_token') or 'end of turn'}) right after the reference answer: {where}")
        for note in body.get("notes", []) + (
            [body.get("quantization_note")] if body.get("quantization_note") else []
        ):
            print(f"note: {note}")
    return 0
