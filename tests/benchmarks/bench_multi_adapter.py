"""Benchmark: three LoRA adapters evaluated on one loaded base in mixed batches
(harness.models.multi) vs three separate loads, on the embedded Gemma 3 270M (issue 8 part 5,
issue 15 part 3).

Creates three random LoRA adapters (peft, r=8, attention projections, lora_B perturbed so each one
changes the outputs), then generates the ticket-triage test prompts (0-shot, greedy, the suite's
generation config) for each adapter:

* in-process: `MultiAdapterHF(default, {a, b, c}).generate_mixed` (one base load; every batch holds
  `--batch-size` prompts for each of the three adapters, rows tagged by adapter through PEFT's
  `adapter_names`) vs three `HFBackend(default+lora:X)` loads generating `--batch-size` prompts per
  batch, each side timed from load to last output; outputs compared prompt by prompt. The sides run
  back to back, alternating, `--repeat` times; the best of each is reported, with the 1-minute load.
  `--switched` adds the older one-load path (`set_adapter` per adapter, batches of one adapter);
* end to end (`--cli`): one process calling `run_adapters` (mixed) vs three `tunebench run
  ticket-triage --model default+lora:X` processes, each on an empty store.

    export TUNEBENCH_MODELS=/work/main/.tunebench/models
    python tests/benchmarks/bench_multi_adapter.py --n 16 --threads 1 --repeat 2 --cli
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def make_adapters(out: Path, base_dir: Path, k: int = 3) -> dict[str, Path]:
    import torch
    from peft import LoraConfig, get_peft_model

    from harness.models.loading import load_causal_lm

    paths = {}
    model = load_causal_lm(str(base_dir), dtype="auto")
    cfg = LoraConfig(
        r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], lora_dropout=0.0
    )
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


def adapters_and_prompts(n: int, prefix: str) -> tuple[Path, Path, Any, dict[str, Path], Any, list[Any]]:
    """What the multi-adapter scripts share: a temporary folder (returned first; the adapters are in
    it), a workspace (TUNEBENCH_HOME, else a temporary one), the
    embedded base's spec, three random adapters of it (`make_adapters`), the ticket-triage suite and
    its first `n` test prompts (0-shot)."""
    from harness import load_split, load_suite, parse_spec
    from harness.prompts import build_messages

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    ws = Path(os.environ.get("TUNEBENCH_HOME") or tmp / "ws")
    base = parse_spec("default", workspace=ws)
    adapters = make_adapters(tmp, Path(base.base))
    suite = load_suite("ticket-triage")
    prompts = [build_messages(s, suite.prompt) for s in load_split(suite, "test", n)]
    return tmp, ws, base, adapters, suite, prompts


def mixed_outputs(multi: Any, prompts: list[Any], config: Any, b: int) -> tuple[dict[str, list[str]], int]:
    """Greedy texts per adapter from `multi.generate_mixed`, batched as the separate loads batch:
    prompts in HFBackend's batch order (longest first), `b` at a time, each mixed batch holding those
    `b` prompts for every adapter (as run_adapters does), so every row is padded to the width it has
    in the separate load's batch. Returns the texts and the number of batches."""
    hf = multi.hf
    keys = [hf.batch_key(p) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: keys[i])
    out: dict[str, list[str]] = {name: [""] * len(prompts) for name in multi.specs}
    batches = 0
    for start in range(0, len(order), b):
        rows = [(name, i) for i in order[start : start + b] for name in multi.specs]
        outs = multi.generate_mixed([(name, prompts[i]) for name, i in rows], config)
        for (name, i), c in zip(rows, outs, strict=True):
            out[name][i] = c.text
        batches += 1
    return out, batches


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=16, help="ticket-triage test items per adapter")
    ap.add_argument("--batch-size", type=int, default=8, help="prompts per batch for each adapter")
    ap.add_argument(
        "--separate-batch-size", type=int, default=None, help="separate loads' batch (default --batch-size)"
    )
    ap.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: TUNEBENCH_THREADS or all cores)"
    )
    ap.add_argument("--max-new-tokens", type=int, default=None, help="override the suite's max_new_tokens")
    ap.add_argument("--repeat", type=int, default=2, help="alternating runs of each side; best is reported")
    ap.add_argument("--switched", action="store_true", help="also time one load with set_adapter switching")
    ap.add_argument(
        "--cli", action="store_true", help="also time one process vs three `tunebench run` processes"
    )
    args = ap.parse_args()
    from harness.allocator import tune_malloc

    tune_malloc()  # as the tunebench CLI process does (harness/allocator.py); both sides run with it
    if args.threads:
        os.environ["TUNEBENCH_THREADS"] = str(args.threads)

    from harness import parse_spec
    from harness.models import hf as hf_module
    from harness.models.hf import HFBackend
    from harness.models.multi import MultiAdapterHF

    tmp, ws, base, adapters, suite, prompts = adapters_and_prompts(args.n, "bench-multi-")
    cfg = suite.generation
    if args.max_new_tokens:
        cfg = cfg.model_copy(update={"max_new_tokens": args.max_new_tokens})
    specs = {name: parse_spec(f"default+lora:{p}", workspace=ws) for name, p in adapters.items()}  # hash once
    k, b = len(adapters), args.batch_size
    sep_b = args.separate_batch_size or b

    def mixed() -> tuple[float, dict[str, list[str]], dict[str, Any]]:
        t0 = time.perf_counter()
        multi = MultiAdapterHF(base, adapters, batch_size=b, mixed_batch_size=b * k, workspace=ws)
        t_load = time.perf_counter()
        _ = multi.hf  # load
        t_load = round(time.perf_counter() - t_load, 2)
        out, batches = mixed_outputs(multi, prompts, cfg, b)
        return time.perf_counter() - t0, out, {"load_s": t_load, "batches": batches, "rows_per_batch": b * k}

    def separate() -> tuple[float, dict[str, list[str]], dict[str, Any]]:
        t0 = time.perf_counter()
        out, loads = {}, []
        for name, spec in specs.items():
            t1 = time.perf_counter()
            hf = HFBackend(spec, batch_size=sep_b)
            loads.append(round(time.perf_counter() - t1, 2))
            out[name] = [c.text for c in hf.generate(prompts, cfg)]
            del hf
        return time.perf_counter() - t0, out, {"load_s": loads}

    def switched() -> tuple[float, dict[str, list[str]], dict[str, Any]]:
        t0 = time.perf_counter()
        multi = MultiAdapterHF(base, adapters, batch_size=b, workspace=ws)
        out = {name: [c.text for c in multi.backend(name).generate(prompts, cfg)] for name in adapters}
        return time.perf_counter() - t0, out, {}

    sides = {"mixed": mixed, "separate": separate, **({"switched": switched} if args.switched else {})}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    outputs: dict[str, list[dict[str, list[str]]]] = {name: [] for name in sides}
    for rep in range(args.repeat):
        order = list(sides) if rep % 2 == 0 else list(sides)[::-1]
        for name in order:
            # each side starts as a fresh process would: without the process's shared tokenizer
            # (models/hf.py shares it among backends of one base; the side that ran first would
            # otherwise pay its 3.4 s load for both)
            hf_module._TOKENIZERS.clear()
            before = load1()
            t, out, info = sides[name]()
            runs[name].append({"s": round(t, 2), "load_before": before, "load_after": load1(), **info})
            outputs[name].append(out)
            print(f"run {rep + 1} {name}: {t:.1f}s (1-min load {before} -> {load1()}) {info}", flush=True)
            gc.collect()
    best = {name: min(r["s"] for r in rs) for name, rs in runs.items()}
    ref = outputs["separate"][0]
    identical = {
        name: [sum(o[a] == ref[a] for a in adapters) for o in outs]
        for name, outs in outputs.items()
        if name != "separate"
    }
    same_prompts = sum(x == y for a in adapters for x, y in zip(outputs["mixed"][0][a], ref[a], strict=True))
    distinct = len({tuple(v) for v in ref.values()})
    print(
        f"in-process, {len(prompts)} prompts x {k} adapters, batch {b} prompts per adapter "
        f"({b * k} rows per mixed batch; separate loads batch {sep_b}): best of {args.repeat}: mixed "
        f"{best['mixed']:.1f}s, three loads {best['separate']:.1f}s -> {best['separate'] / best['mixed']:.2f}x"
        + (f"; switched {best['switched']:.1f}s" if "switched" in best else "")
        + f"; identical outputs {same_prompts}/{len(prompts) * k} (adapters per run: {identical}); "
        f"{distinct} distinct output sets",
        flush=True,
    )
    result: dict[str, Any] = {
        "n": len(prompts),
        "batch_size": b,
        "best_s": best,
        "ratio": best["separate"] / best["mixed"],
        "runs": runs,
        "identical_prompts": same_prompts,
        "identical_adapters": identical,
    }

    if args.cli:
        exe = str(Path(sys.executable).with_name("tunebench"))
        env = {**os.environ, "TUNEBENCH_HOME": str(ws)}
        code = (
            "import sys, json\n"
            "from harness import load_suite, parse_spec\n"
            "from harness.models.multi import run_adapters\n"
            "from harness.store import Store\n"
            f"recs = run_adapters(load_suite('ticket-triage'), parse_spec('default'), {json.dumps({k: str(v) for k, v in adapters.items()})}, "
            f"Store(sys.argv[1]), 'test', {args.n}, batch_size={b})\n"
            "print([r.metrics['category'].value for r in recs])\n"
        )
        cli: dict[str, list[float]] = {"one": [], "three": []}
        for rep in range(args.repeat):
            for side in ["one", "three"] if rep % 2 == 0 else ["three", "one"]:
                t0 = time.perf_counter()
                if side == "one":
                    subprocess.run(
                        [sys.executable, "-c", code, f"sqlite:///{tmp}/multi-{rep}.db"],
                        check=True,
                        env=env,
                        capture_output=True,
                    )
                else:
                    for name, p in adapters.items():
                        subprocess.run(
                            [
                                exe,
                                "--store",
                                f"sqlite:///{tmp}/sep-{rep}-{name}.db",
                                "run",
                                "ticket-triage",
                                "--model",
                                f"default+lora:{p}",
                                "--limit",
                                str(args.n),
                                "--batch-size",
                                str(b),
                                "--no-progress",
                            ],
                            check=True,
                            env=env,
                            capture_output=True,
                        )
                cli[side].append(round(time.perf_counter() - t0, 2))
                print(f"cli run {rep + 1} {side}: {cli[side][-1]:.1f}s (load {load1()})", flush=True)
        from harness.store import Store

        def texts(url: str, adapter: Path) -> dict[str, str]:
            store = Store(url)
            (run,) = [r for r in store.list_runs() if r.model.adapter == str(adapter.resolve())]
            return {r.sample_id: r.completion.text for r in store.iter_results(run.id)}

        cli_same = sum(
            texts(f"sqlite:///{tmp}/multi-0.db", p) == texts(f"sqlite:///{tmp}/sep-0-{name}.db", p)
            for name, p in adapters.items()
        )
        print(f"end to end: stored outputs identical for {cli_same}/{k} adapters", flush=True)
        result["cli_identical_adapters"] = cli_same
        t_one, t_three = min(cli["one"]), min(cli["three"])
        print(
            f"end to end: one process with run_adapters {t_one:.1f}s, three `tunebench run` processes "
            f"{t_three:.1f}s -> {t_three / t_one:.2f}x",
            flush=True,
        )
        result.update({"cli_one_s": cli["one"], "cli_three_s": cli["three"], "cli_ratio": t_three / t_one})
    print(
        json.dumps(
            {
                "machine": platform.node(),
                "cpus": os.cpu_count(),
                "load_end": load1(),
                "date": time.strftime("%Y-%m-%d"),
                **result,
            }
        )
    )


if __name__ == "__main__":
    main()
