"""`tunebench serve` with three LoRA adapters on the device a machine has (CUDA where present):
the embedded Gemma 3 as "base" and three random adapters (bench_multi_adapter.make_adapters) served
by name from one process; `--n` ticket-triage test prompts asked of each of the four models by
concurrent clients (the real `openai` client over HTTP), so requests of different models share
batches. Reports the wall time, the server's batch counts, and how many answers equal a separate
load of that model (batch 8) generating the same prompts. Run by tests/benchmarks/gpu_check.sh
(part `serve`).

    python tests/benchmarks/gpu_serve.py --n 16 --batch-size 32
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=16, help="ticket-triage test prompts per model")
    ap.add_argument("--batch-size", type=int, default=32, help="the server's batch (rows)")
    args = ap.parse_args()

    import openai
    from bench_multi_adapter import adapters_and_prompts

    from harness import parse_spec
    from harness.models.hf import HFBackend
    from harness.serve import running_server
    from harness.types import GenerationConfig

    _, ws, base, adapters, suite, prompts = adapters_and_prompts(args.n, "gpu-serve-")
    cfg = GenerationConfig(
        max_new_tokens=suite.generation.max_new_tokens, temperature=0.0, stop=suite.generation.stop
    )
    models = ["base", *adapters]
    jobs = [(m, i) for i in range(len(prompts)) for m in models]
    t0 = time.perf_counter()
    with running_server(
        "default",
        model_name="base",
        adapters=adapters,
        workspace=ws,
        batch_size=args.batch_size,
        max_batch_wait_ms=200,
        lifetime_s=900,
    ) as handle:
        print(f"server up in {time.perf_counter() - t0:.1f}s at {handle.base_url}", flush=True)
        client = openai.OpenAI(base_url=handle.base_url, api_key="EMPTY", max_retries=0, timeout=300)

        def ask(job: tuple[str, int]) -> str:
            model, i = job
            r = client.chat.completions.create(
                model=model,
                messages=prompts[i],  # type: ignore[arg-type]
                temperature=0,
                max_tokens=cfg.max_new_tokens,
                stop=cfg.stop or None,
            )
            return r.choices[0].message.content or ""

        ask(jobs[0])  # warm-up
        before = handle.stats()
        t = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.batch_size) as pool:
            served = list(pool.map(ask, jobs))
        dt = time.perf_counter() - t
        after = handle.stats()
    batches = after["batches"] - before["batches"]
    print(
        f"served {len(jobs)} requests ({len(models)} models x {len(prompts)} prompts) in {dt:.1f}s: "
        f"{len(jobs) / dt:.2f} requests/s, {batches} batches, largest {after['largest_batch']} rows",
        flush=True,
    )
    same = 0
    for m in models:
        spec = parse_spec("default" if m == "base" else f"default+lora:{adapters[m]}", workspace=ws)
        want = [c.text for c in HFBackend(spec, batch_size=8).generate(prompts, cfg)]
        got = [s for (mm, _), s in zip(jobs, served, strict=True) if mm == m]
        same += sum(a == b for a, b in zip(got, want, strict=True))
    print(f"served answers equal to a separate load's (batch 8): {same}/{len(jobs)}", flush=True)


if __name__ == "__main__":
    main()
