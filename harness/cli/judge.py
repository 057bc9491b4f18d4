"""tunebench judge RUN_A RUN_B --judge SPEC [--judge SPEC ...]: pairwise LLM judging of two runs by one
judge or a panel."""

from __future__ import annotations

import argparse

from ..errors import InputError
from .common import open_store


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "judge",
        help="pairwise LLM judging of two runs: B's win rate with CI, length-controlled, judge reliability",
        description="Ask an LLM judge (an OpenAI-compatible endpoint, or a local model in process) which "
        "answer is better, run A's (baseline) or run B's (candidate), on the same samples, in both orders "
        "(a verdict that flips with the order is a tie). The verdict is read from the judge's "
        "probabilities over the answers 1 / 2 / tie where it gives them (in process; endpoints through "
        "logprobs), its reply text otherwise; a judge that gives the allowed answers too little "
        "probability abstains. Repeat --judge for a panel (majority verdict, Fleiss' kappa). Prints B's "
        "win rate with a bootstrap CI (not claimed when position consistency is too low), a "
        "length-controlled win rate, outcome counts, the judge's reliability, the human win rate "
        "estimated by prediction-powered inference when human ratings of these pairs exist, tokens and "
        "cost. Judge calls are cached and stored; the judgment is stored.",
    )
    p.add_argument("run_a", metavar="RUN_A", help="baseline run id (or a unique prefix)")
    p.add_argument("run_b", metavar="RUN_B", help="candidate run id (or a unique prefix)")
    p.add_argument(
        "--judge",
        required=True,
        action="append",
        help="judge model: openai:MODEL@http://HOST:PORT/v1, default (the embedded model, in process) or "
        "hf:PATH; repeat for a panel",
    )
    p.add_argument("--n", type=int, default=None, help="judge a seeded sample of N pairs (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seed for the sample, the repeat subset and the CIs")
    p.add_argument(
        "--template",
        default="auto",
        help="judge template or a .txt path; auto (default) = pairwise-choice-fewshot-v1, answers read from "
        "probabilities; pairwise-choice-v1 without worked examples; pairwise-v1 for a JSON verdict with "
        "reasoning",
    )
    p.add_argument(
        "--min-mass",
        type=float,
        default=0.5,
        help="abstain on an order whose probabilities give 1 / 2 / tie less than this in all (default 0.5)",
    )
    p.add_argument(
        "--min-consistency",
        type=float,
        default=0.6,
        help="claim no win rate below this position consistency (default 0.6)",
    )
    p.add_argument(
        "--repeat-fraction",
        type=float,
        default=0.2,
        help="share of pairs re-asked as new calls to measure repeat agreement (default 0.2)",
    )
    p.add_argument("--reference-guided", action="store_true", help="show the judge the reference answer")
    p.add_argument("--concurrency", type=int, default=4, help="judge requests in flight (default 4)")
    p.add_argument(
        "--max-retries", type=int, default=4, help="retries per call on 429/5xx/timeouts (default 4)"
    )
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per judge request (default 60)")
    p.add_argument(
        "--prices",
        default=None,
        help="YAML price table: MODEL: {input: USD per 1M tokens, output: USD per 1M tokens}",
    )
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--format", choices=["text", "json"], default="text", help="output format (default text)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from reports.console.judge import render_pairwise

    from ..judge import judge_spec, load_template
    from ..judge.pricing import PriceTable
    from ..pairwise import judge_pairwise

    if args.n is not None and args.n < 1:
        raise InputError(f"--n must be at least 1, got {args.n}")
    if not 0.0 <= args.repeat_fraction <= 1.0:
        raise InputError(f"--repeat-fraction must be in [0, 1], got {args.repeat_fraction}")
    if args.concurrency < 1:
        raise InputError(f"--concurrency must be at least 1, got {args.concurrency}")
    if args.max_retries < 0:
        raise InputError(f"--max-retries must be >= 0, got {args.max_retries}")
    if args.n_boot < 1:
        raise InputError(f"--n-boot must be >= 1, got {args.n_boot}")
    for name in ("min_mass", "min_consistency"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            raise InputError(f"--{name.replace('_', '-')} must be in [0, 1], got {getattr(args, name)}")
    # check every input before anything is asked or written
    for judge in args.judge:
        judge_spec(judge)
    if args.template != "auto":
        load_template(args.template)
    prices = PriceTable.load(args.prices) if args.prices else None
    store = open_store(args)
    result = judge_pairwise(
        store,
        args.run_a,
        args.run_b,
        args.judge if len(args.judge) > 1 else args.judge[0],
        n=args.n,
        seed=args.seed,
        template=args.template,
        repeat_fraction=args.repeat_fraction,
        reference_guided=args.reference_guided,
        concurrency=args.concurrency,
        max_retries=args.max_retries,
        timeout_s=args.timeout,
        prices=prices,
        n_boot=args.n_boot,
        min_mass=args.min_mass,
        min_consistency=args.min_consistency,
        workspace=args.workspace,
    )
    if args.format == "json":
        print(result.model_dump_json(indent=2))
    else:
        print(render_pairwise(result))
        print(f"\nstored judgment {result.id}")
    return 0
