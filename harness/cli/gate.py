"""tunebench gate --policy P --candidate X [--baseline RUN ... | --against blessed]: the deploy gate."""

from __future__ import annotations

import argparse

from ..errors import InputError
from ..gate import evaluate_gate, load_policy, resolve_baselines, resolve_candidate
from ..models.base import DEFAULT_BATCH_SIZE
from .common import open_store


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gate",
        help="decide a candidate against a baseline with a YAML policy: exit 0 pass, 1 fail, 2 input error",
        description="Evaluate every rule of a gate policy (improves, non_inferior, at_least, "
        "max_regressed_samples, min_samples on paired comparisons of the candidate with the baseline; "
        "max_truncated, max_repetition on the candidate's output health), print one line per rule and "
        "store the verdict. Missing data fails closed. Exit code 0 when every "
        "rule passes, 1 when one fails, 2 on an input error (a malformed policy names file:line).",
    )
    p.add_argument("--policy", required=True, help="gate policy YAML file")
    p.add_argument(
        "--candidate",
        action="append",
        required=True,
        metavar="RUN_OR_SPEC",
        help="a candidate run id (repeatable, one per suite), or a model spec to run on every policy suite",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="RUN",
        help="a baseline run id (repeatable, one per suite)",
    )
    g.add_argument(
        "--against",
        choices=["blessed"],
        default=None,
        help="use each suite's blessed model version (`tunebench bless`) as the baseline",
    )
    p.add_argument("--format", choices=["text", "json"], default="text", help="output format (default text)")
    p.add_argument(
        "--split",
        default=None,
        help="split to run a model-spec candidate on (default: the baseline run's split, else test)",
    )
    p.add_argument(
        "--limit",
        type=int,
        default=None,
        help="evaluate a model-spec candidate on the first N samples (default: the baseline run's limit)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help=f"generation batch size for a model-spec candidate (default {DEFAULT_BATCH_SIZE})",
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit must be >= 1, got {args.limit}")
    policy = load_policy(args.policy)
    store = open_store(args)
    needs_baseline = any(
        r.rule in ("improves", "non_inferior", "max_regressed_samples") for r in policy.rules
    )
    if needs_baseline and not args.baseline and not args.against:
        raise InputError(
            "the policy has rules that compare with a baseline, but no baseline was given",
            hint="add --baseline RUN (one per suite) or --against blessed",
        )
    baselines = resolve_baselines(store, policy, baseline=args.baseline, against=args.against)
    candidates = resolve_candidate(
        store,
        policy,
        args.candidate,
        baselines=baselines,
        split=args.split,
        limit=args.limit,
        workspace=args.workspace,
        batch_size=args.batch_size,
        progress=not args.no_progress and args.format == "text",
    )
    verdict = evaluate_gate(
        store,
        policy,
        candidates.runs,
        baselines.runs,
        baseline_versions=baselines.versions,
        missing_baseline=baselines.missing,
        against=args.against,
        candidate_label=candidates.label,
        notes=candidates.notes + baselines.notes,
    )
    if args.format == "json":
        print(verdict.model_dump_json(indent=2))
    else:
        from reports.console.gate import render_verdict

        print(render_verdict(verdict))
        print(f"stored verdict {verdict.id}")
    return verdict.exit_code
