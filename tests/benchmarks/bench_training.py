"""Benchmark: training tokens/s of `tunebench train` (trainers.train) vs a plain TRL SFTTrainer script
with the same configuration on the same data, and tunebench with packing on vs off (issue 8, part 7).

Same model (the embedded Gemma 3 270M), same ~40 short ticket-triage examples, same LoRA (r=16,
alpha 32, all linear layers, dropout 0.05 unless --lora-dropout says otherwise), batch 4, the same number of optimizer steps, lr 2e-4,
bf16/auto dtype, completion-only loss, 1 torch thread unless --threads says otherwise. tokens/s is measured the same way for all:
non-pad tokens of the collated training batches (attention-mask sum, or every token of a
padding-free packed batch) divided by the Trainer's `train_runtime`. Each variant runs in its own
process, one after the other. Targets: tunebench >= 1.0x the plain TRL rate; with packing on these
short examples >= 1.5x tunebench's unpacked rate. Not a test: numbers go in tests/benchmarks/README.md.

    export TUNEBENCH_MODELS=/work/main/.tunebench/models
    python tests/benchmarks/bench_training.py --n 40 --steps 10
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
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[2]
LORA = {"r": 16, "alpha": 32, "dropout": 0.05, "targets": "all-linear"}
THREADS = {"n": 1}


def write_data(path: Path, n: int) -> Path:
    rows = [
        json.loads(line)
        for line in (ROOT / "suites/ticket-triage/data/train.jsonl").read_text().splitlines()[:n]
    ]
    path.write_text("".join(json.dumps({"messages": r["messages"]}) + "\n" for r in rows), encoding="utf-8")
    return path


def run_tunebench(data: Path, out: Path, base: str, steps: int, batch: int, packing: bool) -> dict[str, Any]:
    from trainers import TrainConfig, train

    cfg = TrainConfig(
        base_model=base,
        train_file=str(data),
        output_dir=str(out),
        quantization="none",
        dtype="auto",
        lora_r=LORA["r"],
        lora_alpha=LORA["alpha"],
        lora_dropout=LORA["dropout"],
        target_modules=LORA["targets"],
        learning_rate=2e-4,
        max_steps=steps,
        per_device_batch_size=batch,
        max_seq_length=256,
        packing=packing,
        warmup_ratio=0.0,
        lr_scheduler="linear",
        threads=THREADS["n"],
        logging_steps=1,
        seed=0,
    )
    r = train(cfg, progress=False)
    return {
        "tokens_per_s": r.tokens_per_s,
        "train_runtime_s": r.train_runtime_s,
        "steps": r.steps,
        "first_loss": r.first_loss,
        "final_loss": r.final_loss,
        "tokens": round(r.tokens_per_s * r.train_runtime_s),
    }


def run_trl(data: Path, out: Path, base: str, steps: int, batch: int) -> dict[str, Any]:
    """The plain TRL script a user would write: SFTTrainer + SFTConfig + LoraConfig."""
    import datasets
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    torch.set_num_threads(THREADS["n"])
    rows = []
    for line in data.read_text().splitlines():
        msgs = json.loads(line)["messages"]
        rows.append({"prompt": msgs[:-1], "completion": msgs[-1:]})
    ds = datasets.Dataset.from_list(rows)
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype="auto")
    args = SFTConfig(
        output_dir=str(out),
        max_steps=steps,
        per_device_train_batch_size=batch,
        learning_rate=2e-4,
        lr_scheduler_type="linear",
        warmup_steps=0,
        max_length=256,
        packing=False,
        completion_only_loss=True,
        bf16=model.dtype == torch.bfloat16,
        use_cpu=True,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
        seed=0,
        optim="adamw_torch",
    )
    peft_config = LoraConfig(
        task_type="CAUSAL_LM",
        r=LORA["r"],
        lora_alpha=LORA["alpha"],
        lora_dropout=LORA["dropout"],
        target_modules=LORA["targets"],
    )
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=peft_config
    )
    seen = {"tokens": 0}

    def count(module: Any, _args: Any, kwargs: Any) -> None:
        # non-pad tokens of every training forward, as tunebench counts them (the collator is not the
        # place: accelerate's dataloader collates one batch ahead)
        if module.training:
            mask = kwargs.get("attention_mask")
            ids = kwargs.get("input_ids")
            seen["tokens"] += int(mask.sum()) if mask is not None else int(ids.numel())

    model.register_forward_pre_hook(count, with_kwargs=True)
    output = trainer.train()
    runtime = float(output.metrics["train_runtime"])
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {
        "tokens_per_s": seen["tokens"] / runtime,
        "train_runtime_s": runtime,
        "steps": trainer.state.global_step,
        "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None,
        "tokens": seen["tokens"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40, help="training examples")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument(
        "--variant", choices=["trl", "tunebench", "tunebench-packed"], help="run one variant (internal)"
    )
    ap.add_argument("--variants", nargs="+", default=["trl", "tunebench", "tunebench-packed"])
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument(
        "--lora-dropout", type=float, default=0.05, help="LoRA dropout of every variant (row 11c compares 0.05 and 0)"
    )
    ap.add_argument("--threads", type=int, default=1, help="torch threads of every variant")
    args = ap.parse_args()
    LORA["dropout"] = args.lora_dropout
    THREADS["n"] = args.threads
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-train-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.variant:
        from harness.models.embedded import ensure_default_model

        base = str(ensure_default_model())
        data = work / "train.jsonl"
        if args.variant == "trl":
            res = run_trl(data, work / "trl", base, args.steps, args.batch)
        else:
            res = run_tunebench(
                data,
                work / args.variant,
                base,
                args.steps,
                args.batch,
                packing=args.variant.endswith("packed"),
            )
        print("RESULT " + json.dumps(res), flush=True)
        return
    write_data(work / "train.jsonl", args.n)
    load = os.getloadavg()[0]
    results: dict[str, Any] = {}
    for v in args.variants:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--variant",
                v,
                "--steps",
                str(args.steps),
                "--batch",
                str(args.batch),
                "--workdir",
                str(work),
                "--lora-dropout",
                str(args.lora_dropout),
                "--threads",
                str(args.threads),
            ],
            capture_output=True,
            text=True,
        )
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            print(proc.stdout[-3000:], proc.stderr[-3000:])
            raise SystemExit(f"variant {v} failed")
        results[v] = json.loads(line[len("RESULT ") :])
        r = results[v]
        print(
            f"{v:17s}: {r['tokens_per_s']:7.1f} tokens/s ({r['tokens']} tokens in {r['train_runtime_s']:.1f}s, "
            f"{r['steps']} steps; loss {r['first_loss']:.3f} -> {r['final_loss']:.3f}; process {time.perf_counter() - t0:.0f}s)",
            flush=True,
        )
    if "trl" in results and "tunebench" in results:
        print(
            f"tunebench / plain TRL: {results['tunebench']['tokens_per_s'] / results['trl']['tokens_per_s']:.2f}x "
            "tokens/s (target >= 1.0x)"
        )
    if "tunebench" in results and "tunebench-packed" in results:
        print(
            f"packing on / off: {results['tunebench-packed']['tokens_per_s'] / results['tunebench']['tokens_per_s']:.2f}x "
            "tokens/s (target >= 1.5x)"
        )
    print(
        json.dumps(
            {
                "machine": platform.node(),
                "cpus": os.cpu_count(),
                "load": load,
                "date": time.strftime("%Y-%m-%d"),
                "n": args.n,
                "steps": args.steps,
                "batch": args.batch,
                "lora_dropout": args.lora_dropout,
                "threads": args.threads,
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
