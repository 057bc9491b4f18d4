"""Benchmark: batched hf generation on the embedded model, batch 8 vs batch 1 (issue 2).

Same prompts (ticket-triage test items, the suite's 0-shot prompt), greedy, same max_new_tokens,
one process, one machine, one go; reports samples/s and the ratio. Not a test: numbers go in
tests/benchmarks/README.md.

    python tests/benchmarks/bench_generation.py --n 16 --batch-sizes 1 8
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=16, help="prompts per configuration")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()

    import torch

    from harness import load_split, load_suite, parse_spec
    from harness.models.hf import HFBackend
    from harness.prompts import build_messages
    from harness.types import GenerationConfig

    suite = load_suite("ticket-triage")
    samples = load_split(suite, "test", args.n)
    prompts = [build_messages(s, suite.prompt) for s in samples]
    cfg = GenerationConfig(max_new_tokens=args.max_new_tokens)
    spec = parse_spec("default")
    results = {}
    backend = HFBackend(spec, batch_size=1, threads=args.threads)
    backend.generate(prompts[:1], cfg)  # warm-up
    outputs = {}
    for bs in args.batch_sizes:
        backend.batch_size = bs
        t0 = time.perf_counter()
        outs = backend.generate(prompts, cfg)
        dt = time.perf_counter() - t0
        toks = sum(c.completion_tokens for c in outs)
        results[bs] = {"samples_per_s": len(prompts) / dt, "tokens_per_s": toks / dt, "wall_s": dt}
        outputs[bs] = [c.text for c in outs]
        print(
            f"batch {bs:>2}: {len(prompts)} samples in {dt:6.1f}s  {len(prompts) / dt:6.2f} samples/s  {toks / dt:6.1f} tok/s",
            flush=True,
        )
    base = results[args.batch_sizes[0]]["samples_per_s"]
    for bs in args.batch_sizes[1:]:
        same = sum(a == b for a, b in zip(outputs[args.batch_sizes[0]], outputs[bs], strict=True))
        print(
            f"batch {bs} / batch {args.batch_sizes[0]}: {results[bs]['samples_per_s'] / base:.2f}x samples/s; "
            f"identical greedy outputs {same}/{len(prompts)}"
        )
    print(
        json.dumps(
            {
                "machine": platform.node(),
                "cpus": os.cpu_count(),
                "torch_threads": torch.get_num_threads(),
                "date": time.strftime("%Y-%m-%d"),
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
