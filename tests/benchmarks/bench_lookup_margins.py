"""Benchmark (diagnostic): can a logit-margin guard make prompt-lookup decoding's greedy outputs
provably equal plain decoding's? For the lm-eval generation benchmark's items (ticket-triage test,
the suite's 0-shot prompt, batch 8, 64 new tokens, no prefix cache) it decodes every batch plainly
and with 5-token prompt-lookup drafts, recording at each emitted token the gap between the top two
logits (`lookup_generate(margins=...)`), and prints per item: equal outputs or where they part,
the largest gap difference between the two decodings while their tokens are still equal, and the
smallest gap each saw. A guard would have to redo every row whose smallest gap is below the largest
difference. Not a test: the figures go in tests/benchmarks/README.md.

    python tests/benchmarks/bench_lookup_margins.py --n 40 --threads 1
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40, help="ticket-triage test items (the first N)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lookup-tokens", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from harness import load_split, load_suite, parse_spec
    from harness.allocator import tune_malloc
    from harness.models.hf import HFBackend, _batch_order
    from harness.models.hf_fast import batch_layout, lookup_generate
    from harness.prompts import build_messages

    tune_malloc()
    suite = load_suite("ticket-triage")
    cfg = suite.generation
    samples = load_split(suite, "test", args.n)
    hf = HFBackend(parse_spec("default"), batch_size=args.batch_size, prefix_cache=False, prompt_lookup="off")
    texts = [hf.render(build_messages(s, suite.prompt)) for s in samples]
    enc = [hf._encode(t) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: _batch_order(texts[i], enc[i]))
    pad = hf.tokenizer.pad_token_id
    found: dict[str, tuple] = {}
    for start in range(0, len(order), args.batch_size):
        idx = order[start : start + args.batch_size]
        rows = [enc[i] for i in idx]
        runs = {}
        for k in (0, args.lookup_tokens):
            ids, attn, _ = batch_layout(rows, 0, pad)
            margins: list[list[float]] = []
            t0 = time.perf_counter()
            toks = lookup_generate(
                hf.model, rows, ids, attn, prefix_len=0, cache=None, max_new_tokens=cfg.max_new_tokens,
                eos_ids=hf.eos_ids, stopping=hf._stopping(tuple(cfg.stop)), pad_id=pad, num_tokens=k,
                margins=margins,
            )  # fmt: skip
            runs[k] = (toks, margins, time.perf_counter() - t0)
        print(
            f"batch {start // args.batch_size}: plain {runs[0][2]:.1f} s, lookup {runs[args.lookup_tokens][2]:.1f} s"
        )
        for j, i in enumerate(idx):
            found[samples[i].id] = (
                *(x[j] for x in runs[0][:2]),
                *(x[j] for x in runs[args.lookup_tokens][:2]),
            )
    worst, low = 0.0, []
    for sid, (plain, plain_gaps, look, look_gaps) in found.items():
        n = min(len(plain_gaps), len(look_gaps))
        part = next((j for j in range(n) if plain[j] != look[j]), None)
        diffs = [abs(plain_gaps[j] - look_gaps[j]) for j in range(1, n if part is None else part)]
        worst = max([worst, *diffs])
        smallest = min(look_gaps[1:], default=float("inf"))
        low.append(smallest)
        where = (
            "equal"
            if part is None
            else f"part at token {part} (gap plain {plain_gaps[part]:.4f}, lookup {look_gaps[part]:.4f})"
        )
        print(
            f"{sid}: {where}; largest gap difference before {max(diffs, default=0):.4f}; smallest gap: lookup {smallest:.4f}, plain {min(plain_gaps[1:], default=float('inf')):.4f}"
        )
    print(f"largest gap difference on equal prefixes: {worst:.4f}; items whose smallest lookup gap is below it: "
          f"{sum(g < worst for g in low)} of {len(low)}; at or below 2x it: {sum(g <= 2 * worst for g in low)}")  # fmt: skip


if __name__ == "__main__":
    main()
