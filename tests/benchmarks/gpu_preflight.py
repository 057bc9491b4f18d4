"""Preflight on a lent GPU machine, before the long checks of gpu_check.sh: versions of what will
run, tunebench's own modules import, and bitsandbytes' CUDA kernels answer (an NF4 4-bit linear
layer against its full-precision original, one step of the paged 8-bit AdamW that the trainer uses
on CUDA). Exit 1 when something is missing or wrong.

    PYTHONPATH=/tmp/site:. python3 tests/benchmarks/gpu_preflight.py
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import sys


def versions() -> None:
    names = [
        "torch", "transformers", "peft", "trl", "bitsandbytes", "accelerate", "datasets", "huggingface_hub",
        "tokenizers", "safetensors", "pyarrow", "numpy", "pandas", "pydantic", "sqlalchemy", "openai",
        "click", "hf-xet", "regex", "anyio", "idna", "fsspec", "typer",
    ]  # fmt: skip
    for n in names:
        try:
            print(f"  {n} {md.version(n)}")
        except md.PackageNotFoundError:
            print(f"  {n} MISSING")


def check_bnb() -> list[str]:
    import bitsandbytes as bnb
    import torch

    errors = []
    torch.manual_seed(0)
    ref = torch.nn.Linear(256, 128, bias=False)
    q = bnb.nn.Linear4bit(256, 128, bias=False, compute_dtype=torch.bfloat16, quant_type="nf4")
    q.weight = bnb.nn.Params4bit(ref.weight.data.clone(), requires_grad=False, quant_type="nf4")
    q = q.cuda()
    x = torch.randn(8, 256)
    want = ref(x)
    got = q(x.cuda().to(torch.bfloat16)).float().cpu()
    rel = float((got - want).norm() / want.norm())
    print(f"  nf4 Linear4bit vs fp32 original: relative error {rel:.4f} (4-bit weights: expect ~0.1)")
    if not (rel == rel and rel < 0.25):
        errors.append(f"nf4 linear relative error {rel}")
    p = torch.nn.Parameter(torch.randn(4096, device="cuda"))
    before = p.detach().clone()
    opt = bnb.optim.PagedAdamW8bit([p], lr=1e-2)
    p.grad = torch.ones_like(p)
    opt.step()
    moved = float((p.detach() - before).abs().mean())
    print(f"  paged_adamw_8bit: one step moved the parameters by {moved:.4f} on average (lr 1e-2)")
    if not (0.001 < moved < 0.1):
        errors.append(f"paged 8-bit AdamW step moved {moved}")
    return errors


def main() -> int:
    import torch

    print(f"python {sys.version.split()[0]}; torch {torch.__version__}, CUDA {torch.version.cuda}")
    print(f"GPU: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'NONE'}")
    versions()
    errors = []
    for mod in ["harness", "harness.cli.main", "trainers", "trainers.sft", "trl", "datasets", "reports",
                "harness.models.multi", "harness.pairwise", "gguf"]:  # fmt: skip
        try:
            importlib.import_module(mod)
        except Exception as e:  # noqa: BLE001 - report every missing piece at once
            errors.append(f"import {mod}: {type(e).__name__}: {e}")
    if torch.cuda.is_available():
        try:
            errors += check_bnb()
        except Exception as e:  # noqa: BLE001
            errors.append(f"bitsandbytes on CUDA: {type(e).__name__}: {e}")
    else:
        errors.append("no CUDA device")
    for e in errors:
        print("PREFLIGHT ERROR:", e)
    print("preflight", "FAILED" if errors else "ok")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
