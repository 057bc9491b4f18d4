"""tunebench baseline SUITE --model SPEC [--variants FILE]: prints an estimate of the work and its
time first (reports.console.baseline), then selects on dev and runs the chosen variant on test."""

from __future__ import annotations

import argparse

from ..baseline import estimate_baseline, load_variants, select_baseline
from ..fmt import metrics_table
from ..suite import load_suite
from .common import add_model_options, model_spec, open_store


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("baseline", help="pick the best prompt variant on dev, then run it once on test")
    p.add_argument("suite")
    add_model_options(p)
    p.add_argument("--variants", help="YAML with `variants:` and/or `grid:` (default: the suite's variants)")
    p.add_argument("--metric", help="metric to maximize on dev (default: the suite's primary metric)")
    p.add_argument("--dev-split", default="dev")
    p.add_argument("--test-split", default="test")
    p.add_argument("--dev-limit", type=int, default=None, help="score variants on the first N dev samples")
    p.add_argument("--test-limit", type=int, default=None)
    p.add_argument("--no-test", action="store_true", help="select only; do not run the test split")
    p.add_argument(
        "--race",
        action="store_true",
        help="score variants on dev in rounds (25%%, 50%%, 100%% of the items) and drop those the leader "
        "beats significantly (paired bootstrap); choose among the variants scored on every item",
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    suite = load_suite(args.suite)
    variants, metric = None, args.metric
    if args.variants:
        vf = load_variants(args.variants)
        variants, metric = vf.expand(), metric or vf.metric
    spec = model_spec(args)
    store = open_store(args)
    est = estimate_baseline(
        suite,
        spec,
        store=store,
        variants=variants,
        dev_split=args.dev_split,
        dev_limit=args.dev_limit,
        run_test=not args.no_test,
        test_limit=args.test_limit,
    )
    from reports.console.baseline import estimate_lines

    print("\n".join(estimate_lines(est)), flush=True)
    res = select_baseline(
        suite,
        spec,
        store=store,
        variants=variants,
        metric=metric,
        dev_split=args.dev_split,
        test_split=args.test_split,
        dev_limit=args.dev_limit,
        test_limit=args.test_limit,
        run_test=not args.no_test,
        batch_size=args.batch_size,
        progress=not args.no_progress,
        racing=args.race,
    )
    print(res.to_text())
    if res.racing:
        from reports.console.racing import racing_text

        print(racing_text(res.model_dump(mode="json")))
    if res.test_run_id:
        rec = store.get_run(res.test_run_id)
        print(f"\nbaseline ({res.chosen}) on {res.test_split}: run {rec.id}")
        print(metrics_table(rec.metrics))
        from reports.console.run_summary import health_lines, usage_line

        from ..inspect_run import latency_label

        print(usage_line(rec.usage, latency_label(rec.usage), errors=True))
        for line in health_lines(rec.health, rec.id):
            print(line)
    return 0
