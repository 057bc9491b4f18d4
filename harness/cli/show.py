"""tunebench show RUN: metrics with CIs and the worst samples."""

from __future__ import annotations

import argparse

from ..fmt import metrics_table, num
from ..store.reports import worst_samples
from ..suite import load_suite
from ..types import last_user_content
from .common import open_store


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("show", help="show one run: metrics with CIs, worst samples")
    p.add_argument("run", help="run id (or a unique prefix)")
    p.add_argument("--worst", type=int, default=5, help="how many failing samples to print")
    p.add_argument("--metric", help="rank samples by this score (default: the suite's primary metric)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    store = open_store(args)
    rec = store.get_run(args.run)
    print(f"run {rec.id}  {rec.suite}@{rec.suite_version}+{rec.suite_hash[:12]}  status={rec.status}")
    print(f"model {rec.model.label}  prompt {rec.prompt.name}  split {rec.split}  n={rec.n_samples}")
    print(metrics_table(rec.metrics))
    u = rec.usage
    if u:
        print(
            f"prompt tokens/request {num(u.get('prompt_tokens_mean'), 1)}  latency p50 "
            f"{num(u.get('latency_p50_s'), 2)}s  p95 {num(u.get('latency_p95_s'), 2)}s  errors {int(u.get('errors', 0))}"
        )
    metric = args.metric
    if metric is None:
        for ref in (rec.suite_path, rec.suite):
            try:
                metric = load_suite(ref).primary_metric if ref else None
            except Exception:
                continue
            break
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
