"""Benchmark: three LoRA adapters evaluated on one loaded base (harness.models.multi) vs three
separate loads, on the embedded Gemma 3 270M (issue 8, part 5).

Creates three random LoRA adapters (peft, r=8, attention projections, lora_B perturbed so each one
changes the outputs), then generates the ticket-triage test prompts (0-shot, greedy, the suite's
generation config) for each adapter:

* in-process: `MultiAdapterHF(default, {a, b, c})` (one base load, `load_adapter` + `set_adapter`)
  vs three `HFBackend(default+lora:X)` loads, each timed from load to last output; outputs compared;
* end to end (`--cli`): one process calling `run_adapters` vs three `tunebench run ticket-triage
  --model default+lora:X` processes (what a user runs without multi-adapter support), each on an
  empty store so nothing is served from a cache.

    export TUNEBENCH_MODELS=/work/main/.tunebench/models
    python tests/benchmarks/bench_multi_adapter.py --n 16 --cli
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def make_adapters(out: Path, base_dir: Path, k: int = 3) -> dict[str, Path]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    paths = {}
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype="auto")
    cfg = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], lora_dropout=0.0)
    peft_model = get_peft_model(model, cfg)
    for j in range(k):
        name = "abc"[j]
        torch.manual_seed(100 + j)
        with torch.no_grad():
            for pname, p in peft_model.named_parameters():
                if "lora_B" in pname:
                    p.normal_(0.0, 0.02)
        paths[name] = out / f"adapter-{name}"
        peft_model.save_pretrained(paths[name])
    return paths


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=16, help="ticket-triage test items per adapter")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: TUNEBENCH_THREADS or all cores)")
    ap.add_argument("--max-new-tokens", type=int, default=None, help="override the suite's max_new_tokens")
    ap.add_argument("--cli", action="store_true", help="also time one process vs three `tunebench run` processes")
    args = ap.parse_args()
    if args.threads:
        os.environ["TUNEBENCH_THREADS"] = str(args.threads)

    from harness import load_split, load_suite, parse_spec
    from harness.models.hf import HFBackend
    from harness.models.multi import MultiAdapterHF
    from harness.prompts import build_messages

    load = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="bench-multi-"))
    ws = Path(os.environ.get("TUNEBENCH_HOME") or tmp / "ws")
    base = parse_spec("default", workspace=ws)
    adapters = make_adapters(tmp, Path(base.base))
    suite = load_suite("ticket-triage")
    cfg = suite.generation
    if args.max_new_tokens:
        cfg = cfg.model_copy(update={"max_new_tokens": args.max_new_tokens})
    prompts = [build_messages(s, suite.prompt) for s in load_split(suite, "test", args.n)]
    specs = {name: parse_spec(f"default+lora:{p}", workspace=ws) for name, p in adapters.items()}  # hash once

    t0 = time.perf_counter()
    multi = MultiAdapterHF(base, adapters, batch_size=args.batch_size, workspace=ws)
    multi_out = {}
    for name in adapters:
        multi_out[name] = [c.text for c in multi.backend(name).generate(prompts, cfg)]
    t_multi = time.perf_counter() - t0
    del multi

    t0 = time.perf_counter()
    sep_out = {}
    loads = []
    for name, spec in specs.items():
        t1 = time.perf_counter()
        hf = HFBackend(spec, batch_size=args.batch_size)
        loads.append(time.perf_counter() - t1)
        sep_out[name] = [c.text for c in hf.generate(prompts, cfg)]
        del hf
    t_sep = time.perf_counter() - t0
    same = sum(multi_out[k] == sep_out[k] for k in adapters)
    distinct = len({tuple(v) for v in multi_out.values()})
    print(f"in-process, {len(prompts)} prompts x {len(adapters)} adapters: one base {t_multi:.1f}s, "
          f"three loads {t_sep:.1f}s (loads {', '.join(f'{x:.1f}s' for x in loads)}) -> {t_sep / t_multi:.2f}x; "
          f"identical outputs {same}/{len(adapters)} adapters; {distinct} distinct output sets", flush=True)
    result = {"n": len(prompts), "multi_s": t_multi, "separate_s": t_sep, "ratio": t_sep / t_multi,
              "separate_load_s": loads, "identical": same}

    if args.cli:
        exe = str(Path(sys.executable).with_name("tunebench"))
        env = {**os.environ, "TUNEBENCH_HOME": str(ws)}
        t0 = time.perf_counter()
        code = (
            "import sys, json\n"
            "from harness import load_suite, parse_spec\n"
            "from harness.models.multi import run_adapters\n"
            "from harness.store import Store\n"
            f"recs = run_adapters(load_suite('ticket-triage'), parse_spec('default'), {json.dumps({k: str(v) for k, v in adapters.items()})}, "
            f"Store('sqlite:///{tmp}/multi.db'), 'test', {args.n}, batch_size={args.batch_size})\n"
            "print([r.metrics['category'].value for r in recs])\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
        t_one = time.perf_counter() - t0
        t0 = time.perf_counter()
        for name, p in adapters.items():
            subprocess.run([exe, "--store", f"sqlite:///{tmp}/sep-{name}.db", "run", "ticket-triage", "--model",
                            f"default+lora:{p}", "--limit", str(args.n), "--batch-size", str(args.batch_size),
                            "--no-progress"], check=True, env=env, capture_output=True)
        t_three = time.perf_counter() - t0
        print(f"end to end: one process with run_adapters {t_one:.1f}s, three `tunebench run` processes "
              f"{t_three:.1f}s -> {t_three / t_one:.2f}x", flush=True)
        result.update({"cli_one_s": t_one, "cli_three_s": t_three, "cli_ratio": t_three / t_one})
    print(json.dumps({"machine": platform.node(), "cpus": os.cpu_count(), "load": load,
                      "date": time.strftime("%Y-%m-%d"), **result}))


if __name__ == "__main__":
    main()
