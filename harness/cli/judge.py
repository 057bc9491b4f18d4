"""tunebench judge RUN_A RUN_B --judge openai:MODEL@URL: pairwise LLM judging of two runs."""

from __future__ import annotations

import argparse

from ..errors import InputError
from .common import open_store


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "judge",
        help="pairwise LLM judging of two runs: B's win rate with CI, length-controlled, judge reliability",
        description="Ask an LLM judge (an OpenAI-compatible endpoint) which answer is better, run A's "
        "(baseline) or run B's (candidate), on the same samples, in both orders (a verdict that flips "
        "with the order is a tie). Prints B's win rate with a bootstrap CI, a length-controlled win rate, "
        "tie/error counts, the judge's reliability (position consistency, repeat agreement, length "
        "correlation, same-family warning, Cohen's kappa against human ratings when there are any), "
        "tokens and cost. Judge calls are cached and stored; the judgment is stored.",
    )
    p.add_argument("run_a", metavar="RUN_A", help="baseline run id (or a unique prefix)")
    p.add_argument("run_b", metavar="RUN_B", help="candidate run id (or a unique prefix)")
    p.add_argument("--judge", required=True, help="judge model: openai:MODEL@http://HOST:PORT/v1")
    p.add_argument("--n", type=int, default=None, help="judge a seeded sample of N pairs (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seed for the sample, the repeat subset and the CIs")
    p.add_argument(
        "--template", default="pairwise-v1", help="judge template (default pairwise-v1) or a .txt path"
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
    # check every input before anything is asked or written
    judge_spec(args.judge)
    load_template(args.template)
    prices = PriceTable.load(args.prices) if args.prices else None
    store = open_store(args)
    result = judge_pairwise(
        store,
        args.run_a,
        args.run_b,
        args.judge,
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
    )
    if args.format == "json":
        print(result.model_dump_json(indent=2))
    else:
        print(render_pairwise(result))
        print(f"\nstored judgment {result.id}")
    return 0
