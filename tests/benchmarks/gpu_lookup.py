"""Exact prompt-lookup verification on the device a machine has (CUDA where present): the
lm-eval generation benchmark's setting (bench_lmeval.py: ticket-triage test items, 0-shot, greedy,
64 new tokens, stop at a newline, batch 8) on the embedded Gemma 3, three ways on one loaded model:
transformers' `generate`, tunebench's plain greedy loop, and exact prompt lookup. Each is timed
(best of `--repeat`, alternating) and every output is compared with `generate`'s (text and token
count); `exact rows` counts the rows the exact path decoded itself (the rest it declined and
decoded plainly). Run by tests/benchmarks/gpu_check.sh (part `lookup`); lm-eval itself is not
needed.

    python tests/benchmarks/gpu_lookup.py --n 40 --repeat 2
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40, help="ticket-triage test items")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    from harness import load_split, load_suite, parse_spec
    from harness.models.exact_verify import row_bounds
    from harness.models.hf import HFBackend
    from harness.prompts import build_messages
    from harness.types import GenerationConfig

    suite = load_suite("ticket-triage")
    prompts = [build_messages(s, suite.prompt) for s in load_split(suite, "test", args.n)]
    config = GenerationConfig(max_new_tokens=64, temperature=0.0, stop=["\n"])
    t0 = time.perf_counter()
    exact = HFBackend(
        parse_spec("default"), batch_size=args.batch_size, prefix_cache=False, prompt_lookup="exact"
    )
    print(f"load {time.perf_counter() - t0:.1f}s on {exact.device} ({getattr(exact.model, 'dtype', '?')})")
    # row counts whose linear products compute a row as an 8- (16-) row product does, 1..64 probed
    print(f"row bounds: 8 rows {row_bounds(exact.model, 8, 64)}, 16 rows {row_bounds(exact.model, 16, 64)}")
    generate = HFBackend.from_model(
        exact.spec, exact.model, exact.tokenizer, batch_size=args.batch_size, prefix_cache=False
    )
    generate.greedy_loop = False  # transformers' generate
    loop = HFBackend.from_model(
        exact.spec, exact.model, exact.tokenizer, batch_size=args.batch_size, prefix_cache=False
    )
    sides = {"generate": generate, "loop": loop, "exact": exact}
    best: dict[str, float] = {}
    outs: dict[str, list[tuple[str, int]]] = {}
    exact_rows = 0
    for rep in range(args.repeat):
        for name in list(sides) if rep % 2 == 0 else list(sides)[::-1]:
            t = time.perf_counter()
            got = sides[name].generate(prompts, config)
            dt = time.perf_counter() - t
            best[name] = min(best.get(name, dt), dt)
            outs.setdefault(name, [(c.text, c.completion_tokens) for c in got])
            if name == "exact":
                exact_rows = sum(bool(c.raw and c.raw.get("prompt_lookup") == "exact") for c in got)
            print(f"run {rep + 1} {name}: {dt:.2f}s", flush=True)
    ref = outs["generate"]
    for name in ("loop", "exact"):
        same = sum(a == b for a, b in zip(outs[name], ref, strict=True))
        print(
            f"{name}: best {best[name]:.2f}s vs generate {best['generate']:.2f}s -> "
            f"{best['generate'] / best[name]:.2f}x; identical to generate {same}/{len(ref)}"
            + (f"; exact rows {exact_rows}/{len(ref)}" if name == "exact" else ""),
            flush=True,
        )


if __name__ == "__main__":
    main()
