"""tunebench compare RUN_A RUN_B: paired comparison of a baseline (A) and a candidate (B)."""

from __future__ import annotations

import argparse

from ..compare import compare_runs
from ..errors import InputError
from .common import open_store


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="compare two runs of the same suite: deltas with paired CIs, regressions, serving cost",
        description="Compare run B (candidate) with run A (baseline) on the same suite version, split and "
        "samples: per-metric delta B - A with a paired-bootstrap CI, p-value and win/tie/loss counts, the "
        "largest per-sample regressions and improvements, and serving cost. The comparison is stored.",
    )
    p.add_argument("run_a", metavar="RUN_A", help="baseline run id (or a unique prefix)")
    p.add_argument("run_b", metavar="RUN_B", help="candidate run id (or a unique prefix)")
    p.add_argument(
        "--top", type=int, default=5, help="how many regressions and improvements to show (default 5)"
    )
    p.add_argument("--format", choices=["text", "json"], default="text", help="output format (default text)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument(
        "--rank-by", default=None, help="rank samples by this metric (default: the suite's primary metric)"
    )
    p.add_argument(
        "--suite",
        default=None,
        help="the suite folder or suite.yaml the runs used, when it is not registered by name "
        "(needed for intervals of corpus-level metrics such as macro-F1)",
    )
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.top < 0:
        raise InputError(f"--top must be >= 0, got {args.top}")
    if args.n_boot < 1:
        raise InputError(f"--n-boot must be >= 1, got {args.n_boot}", hint="1000 is the default")
    store = open_store(args)
    cmp = compare_runs(
        store,
        args.run_a,
        args.run_b,
        n_boot=args.n_boot,
        seed=args.seed,
        top_k=args.top,
        suite=args.suite,
        rank_by=args.rank_by,
    )
    if args.format == "json":
        print(cmp.model_dump_json(indent=2))
    else:
        from reports.console.compare import render_comparison

        print(render_comparison(cmp))
        print(f"\nstored comparison {cmp.id}")
    return 0
