"""Benchmark: greedy batches through tunebench's decode loop (finished rows leave the batch;
harness/models/hf_fast.lookup_generate with no drafts) vs transformers' `generate`, on one loaded
model, same prompts, same batches. Not a test: numbers go in tests/benchmarks/README.md.

Sides alternate (generate, loop, generate, loop, ...) after a warm-up batch, so neither side gets
a warmer machine or the shared-prefix cache the other computed; the best run of each side is
compared, and every run's outputs must equal the first generate run's (text, tokens, finish).

    python tests/benchmarks/bench_greedy_loop.py --variant terse-1shot --n 150
    python tests/benchmarks/bench_greedy_loop.py --variant bare --model hf:BASE+lora:ADAPTER --n 150
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
    ap.add_argument("--variant", default="terse-1shot", help="a ticket-triage prompt variant, or 'bare'")
    ap.add_argument("--model", default="default")
    ap.add_argument("--split", default="test")
    ap.add_argument("--n", type=int, default=150)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=2, help="runs per side, alternating")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()

    import torch

    from harness import load_split, load_suite, parse_spec
    from harness.models.hf import HFBackend
    from harness.prompts import build_messages
    from harness.suite import draw_fewshot
    from harness.types import GenerationConfig, PromptConfig

    suite = load_suite("ticket-triage")
    if args.variant == "bare":
        prompt, shots = PromptConfig(name="bare", system=None, template="{input}"), []
    else:
        prompt = next(v for v in suite.variants if v.name == args.variant)
        shots = draw_fewshot(suite, prompt, args.split)
    prompts = [build_messages(s, prompt, shots) for s in load_split(suite, args.split, args.n)]
    gen = suite.generation
    cfg = GenerationConfig(max_new_tokens=gen.max_new_tokens, temperature=0.0, stop=list(gen.stop))
    backend = HFBackend(parse_spec(args.model), batch_size=args.batch_size, threads=args.threads)
    backend.generate(prompts[: args.batch_size], cfg)  # warm-up, and the shared prefix for both sides
    walls: dict[str, list[float]] = {"generate": [], "loop": []}
    first: list[tuple[str, int, str]] | None = None
    identical: list[int] = []
    for _ in range(args.repeat):
        for side in ("generate", "loop"):
            backend.greedy_loop = side == "loop"
            t0 = time.perf_counter()
            outs = backend.generate(prompts, cfg)
            walls[side].append(time.perf_counter() - t0)
            keys = [(c.text, c.completion_tokens, c.finish_reason) for c in outs]
            first = first or keys
            identical.append(sum(a == b for a, b in zip(first, keys, strict=True)))
            print(f"{side:>8}: {len(prompts)} samples in {walls[side][-1]:6.1f}s", flush=True)
    best = {side: min(w) for side, w in walls.items()}
    print(
        f"loop vs generate (best of {args.repeat}): {best['generate'] / best['loop']:.2f}x; "
        f"identical outputs per run: {identical} of {len(prompts)}"
    )
    print(
        json.dumps(
            {
                "machine": platform.node(),
                "cpus": os.cpu_count(),
                "torch_threads": torch.get_num_threads(),
                "date": time.strftime("%Y-%m-%d %H:%M"),
                "variant": args.variant,
                "model": args.model,
                "walls": walls,
                "identical": identical,
                "n": len(prompts),
            }
        )
    )


if __name__ == "__main__":
    main()
