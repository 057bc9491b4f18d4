"""tunebench show RUN: metrics with CIs and the worst samples."""

from __future__ import annotations

import argparse

from reports.console.run_summary import health_lines, usage_line
from reports.console.sample_view import sample_view

from ..errors import InputError
from ..fmt import metrics_table, num
from ..inspect_run import first_result, latency_label, run_samples
from ..store.reports import worst_samples
from ..suite import suite_for_run
from ..types import last_user_content
from .common import open_store


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("show", help="show one run: metrics with CIs, worst samples")
    p.add_argument("run", help="run id (or a unique prefix)")
    p.add_argument("--worst", type=int, default=5, help="how many failing samples to print")
    p.add_argument("--metric", help="rank samples by this score (default: the suite's primary metric)")
    p.add_argument(
        "--sample",
        action="append",
        metavar="ID",
        help="print this sample whole (every input turn, the complete output and reference, its "
        "scores) instead of the worst samples; repeatable",
    )
    p.add_argument(
        "--full", action="store_true", help="print every sample of the run whole instead of the worst samples"
    )
    p.add_argument(
        "--suite", action="store_true", help="print the suite the run was made with (stored YAML) and exit"
    )
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    store = open_store(args)
    rec = store.get_run(args.run)
    if getattr(args, "suite", False):
        from .show_suite import print_suite

        return print_suite(store, rec)
    print(f"run {rec.id}  {rec.suite}@{rec.suite_version}+{rec.suite_hash[:12]}  status={rec.status}")
    print(f"model {rec.model.label}  prompt {rec.prompt.name}  split {rec.split}  n={rec.n_samples}")
    print(metrics_table(rec.metrics))
    u = rec.usage
    label = latency_label(u, first_result(store, rec)) if u else "latency"
    if u:
        print(usage_line(u, label, errors=True))
    for line in health_lines(rec.health, rec.id):
        print(line)
    for w in rec.warnings:
        print(f"warning: {w}")
    if args.sample or args.full:
        for r in run_samples(store, rec, args.sample):
            print()
            print(sample_view(r, label))
        return 0
    metric = args.metric
    if metric is None:
        try:
            metric = suite_for_run(store, rec).primary_metric
        except InputError:
            metric = None
    # at least one, so that the heading says whether anything fails even with --worst 0
    _, worst = worst_samples(store, rec.id, metric, max(args.worst, 1), rec.metric_info.get(metric or ""))
    if worst:
        print(f"\nworst samples by {metric or 'first score'}:")
    for value, r, s in worst[: args.worst]:
        user = last_user_content(r.prompt)
        print(f"- {r.sample_id}  {s.name}={num(value)}  {s.detail}")
        print(f"    input:     {user[:160]!r}")
        print(f"    output:    {r.completion.text[:160]!r}")
        print(f"    reference: {(r.reference or '')[:160]!r}")
    return 0
