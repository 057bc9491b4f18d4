"""tunebench run SUITE --model SPEC [--split] [--limit N]"""

from __future__ import annotations

import argparse

from reports.console.run_summary import health_lines, usage_line

from ..fmt import metrics_table
from ..inspect_run import latency_label
from ..runner import run_suite
from ..suite import load_suite
from .common import add_model_options, model_spec, open_store


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a suite on a model and store the result")
    p.add_argument("suite", help="built-in suite name, a suite folder, or a suite.yaml")
    add_model_options(p)
    p.add_argument("--split", default="test", help="dataset split to evaluate (default test)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N samples")
    p.add_argument("--prompt", default=None, help="use the suite's prompt variant with this name")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    suite = load_suite(args.suite)
    prompt = None
    if args.prompt:
        from ..errors import InputError
        from ..registry import Registry

        reg: Registry[object] = Registry("prompt variant")
        for v in suite.variants:
            reg.add(v.name, v)
        if suite.prompt.name not in reg:
            reg.add(suite.prompt.name, suite.prompt)
        prompt = reg.get(args.prompt)
        if prompt is None:
            raise InputError(f"no prompt variant {args.prompt!r}")
    spec = model_spec(args)
    store = open_store(args)
    rec = run_suite(
        suite,
        spec,
        store=store,
        split=args.split,
        limit=args.limit,
        prompt=prompt,  # type: ignore[arg-type]
        batch_size=args.batch_size,
        progress=not args.no_progress,
    )
    print(
        f"run {rec.id}  {suite.ref}  model={spec.label}  split={rec.split}  prompt={rec.prompt.name}  n={rec.n_samples}"
    )
    print(metrics_table(rec.metrics))
    u, t = rec.usage, rec.timing
    print(usage_line(u, latency_label(u)))
    for line in health_lines(rec.health, rec.id):
        print(line)
    print(
        f"generated {int(t.get('generated', 0))}, from cache {int(t.get('cached', 0))}, "
        f"wall {t.get('total_s', 0):.1f}s" + ("  (resumed an unfinished run)" if t.get("resumed") else "")
    )
    return 0
