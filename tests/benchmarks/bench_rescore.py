"""Benchmark: re-scoring 1,000 cached samples with a changed scorer list (issue 8, part 3).

A user suite of N ticket-triage-style samples (the built-in ticket-triage rows, repeated under new
ids) with the ticket-triage scorers is run once with a scripted mock backend (generations cached),
then the suite gains a regex scorer (a new content hash) and `run_suite` runs again: the second run
generates nothing and re-scores every sample from the cache. Reports the wall time of that second
run (target: under 2 s for 1,000 samples). Not a test: numbers go in tests/benchmarks/README.md.

    python tests/benchmarks/bench_rescore.py --n 1000
    python tests/benchmarks/bench_rescore.py --n 1000 --profile   # cProfile of the second run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[2]
TT = ROOT / "suites" / "ticket-triage"

SUITE_YAML = """\
name: rescore-bench
version: "0.1.0"
description: ticket-triage rows repeated, for the re-scoring benchmark
dataset:
  path: data/{split}.jsonl
  splits: [train, dev, test]
expects_json: true
primary_metric: category
prompt:
  name: plain
  system: Reply with a JSON object with keys category, priority and summary.
  template: "{input}"
generation:
  max_new_tokens: 64
  stop: ["\\n"]
scorers:
  - {name: json_valid, type: json_valid}
  - {name: schema_valid, type: json_schema, args: {schema: schema.json}}
  - {name: category, type: json_field_match, args: {field: category}}
  - {name: priority, type: json_field_match, args: {field: priority}}
  - {name: category_cls, type: classification, args: {field: category, labels: [billing, technical, account, shipping, refund, feature_request]}}
  - {name: summary_rouge, type: rouge, args: {field: summary, rouge_types: [rougeL]}}
"""

EXTRA_SCORER = '  - {name: mentions_refund, type: regex, args: {pattern: "refund", flags: i}}\n'

# the mock's answers: a keyword of the ticket decides the category, so some answers are right
MOCK_SCRIPT = {
    "default": '{"category": "technical", "priority": "medium", "summary": "app problem reported"}',
    "rules": [
        {
            "contains": "refund",
            "reply": '{"category": "refund", "priority": "low", "summary": "refund request"}',
        },
        {
            "contains": "money back",
            "reply": '{"category": "refund", "priority": "low", "summary": "money back"}',
        },
        {
            "contains": "charged",
            "reply": '{"category": "billing", "priority": "high", "summary": "charged twice"}',
        },
        {
            "contains": "password",
            "reply": '{"category": "account", "priority": "medium", "summary": "password reset"}',
        },
        {
            "contains": "package",
            "reply": '{"category": "shipping", "priority": "medium", "summary": "late package"}',
        },
        {"contains": "would be", "reply": "I think this is a feature request."},
    ],
}


def build_suite(root: Path, n: int) -> Path:
    """A suite folder whose test split holds n rows (ticket-triage rows under new ids)."""
    rows: list[dict[str, Any]] = []
    for split in ("test", "dev", "train"):
        with (TT / "data" / f"{split}.jsonl").open(encoding="utf-8") as f:
            rows += [json.loads(line) for line in f if line.strip()]
    (root / "data").mkdir(parents=True, exist_ok=True)
    shutil.copy(TT / "schema.json", root / "schema.json")
    with (root / "data" / "test.jsonl").open("w", encoding="utf-8") as f:
        for i in range(n):
            r = dict(rows[i % len(rows)])
            r["id"] = f"rb-{i:06d}"
            f.write(json.dumps(r) + "\n")
    for split in ("train", "dev"):
        shutil.copy(TT / "data" / f"{split}.jsonl", root / "data" / f"{split}.jsonl")
    (root / "suite.yaml").write_text(SUITE_YAML, encoding="utf-8")
    return root


def run_once(suite_dir: Path, store: Any, spec: Any, n: int) -> tuple[Any, float]:
    from harness import load_suite
    from harness.runner import run_suite

    suite = load_suite(suite_dir)
    t0 = time.perf_counter()
    rec = run_suite(suite, spec, store=store, split="test", limit=n, progress=False, batch_size=64)
    return rec, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000, help="samples in the suite")
    ap.add_argument("--repeat", type=int, default=3, help="re-scoring runs (each with a new scorer list)")
    ap.add_argument("--profile", action="store_true", help="cProfile the first re-scoring run")
    ap.add_argument("--keep", help="keep the workspace in this folder")
    args = ap.parse_args()

    import yaml

    from harness import parse_spec
    from harness.store import Store

    tmp = Path(args.keep or tempfile.mkdtemp(prefix="bench-rescore-"))
    os.environ["TUNEBENCH_HOME"] = str(tmp / "ws")
    suite_dir = build_suite(tmp / "suite", args.n)
    script = tmp / "mock.yaml"
    script.write_text(yaml.safe_dump(MOCK_SCRIPT), encoding="utf-8")
    store = Store(workspace=tmp / "ws")
    spec = parse_spec(f"mock:{script}", workspace=tmp / "ws")

    first, t_first = run_once(suite_dir, store, spec, args.n)
    print(
        f"first run: {args.n} samples, generated {first.timing['generated']:.0f}, wall {t_first:.2f}s",
        flush=True,
    )

    walls = []
    yaml_text = SUITE_YAML
    for k in range(args.repeat):
        # a changed scorer list (a new regex scorer each time) gives a new suite hash and re-scores
        yaml_text = yaml_text + EXTRA_SCORER.replace("mentions_refund", f"mentions_refund_{k}")
        (suite_dir / "suite.yaml").write_text(yaml_text, encoding="utf-8")
        if args.profile and k == 0:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            rec, dt = run_once(suite_dir, store, spec, args.n)
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(35)
        else:
            rec, dt = run_once(suite_dir, store, spec, args.n)
        name = f"mentions_refund_{k}"
        assert rec.timing["generated"] == 0, rec.timing
        assert rec.metrics[name].n == args.n, rec.metrics[name]
        walls.append(dt)
        print(
            f"re-score {k + 1}: generated {rec.timing['generated']:.0f}, cached {rec.timing['cached']:.0f}, "
            f"{name} on {rec.metrics[name].n} samples, wall {dt:.3f}s "
            f"(scoring {rec.timing['scoring_s']:.3f}s)",
            flush=True,
        )
    best = min(walls)
    print(
        f"re-scoring {args.n} cached samples: best {best:.3f}s, median {sorted(walls)[len(walls) // 2]:.3f}s "
        f"(target < 2 s)"
    )
    print(
        json.dumps(
            {
                "machine": platform.node(),
                "cpus": os.cpu_count(),
                "load": os.getloadavg()[0],
                "date": time.strftime("%Y-%m-%d"),
                "n": args.n,
                "first_s": t_first,
                "rescore_s": walls,
            }
        )
    )
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
