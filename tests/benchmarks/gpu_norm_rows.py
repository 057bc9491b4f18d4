"""Does Gemma 3's RMSNorm compute a row alike whatever the number of rows in the batch? A probe of
the reduction that gpu_mixed_identity.py found first to differ on CUDA (tests/benchmarks/README.md,
"Fourth lease"): the same random bf16 rows normalized in batches of 1 to 64 rows, each batch's first
rows compared bit for bit with an 8-row batch's, for the whole norm and for its fp32 mean alone.
Needs torch only.

    python tests/benchmarks/gpu_norm_rows.py [--device cuda]
"""

from __future__ import annotations

import argparse

import torch


def rms_norm(h: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """transformers' Gemma3RMSNorm arithmetic: fp32, scale by (1 + weight), back to the input dtype."""
    f = h.float()
    out = f * torch.rsqrt(f.pow(2).mean(-1, keepdim=True) + eps)
    return (out * (1.0 + weight.float())).type_as(h)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--width", type=int, default=640, help="hidden size (Gemma 3 270M: 640)")
    args = ap.parse_args()
    torch.manual_seed(0)
    x = (torch.randn(64, 1, args.width) * 3).bfloat16().to(args.device)
    w = (torch.randn(args.width) * 0.1).bfloat16().to(args.device)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"torch {torch.__version__} on {name}")
    ref_norm, ref_mean = rms_norm(x[:8], w), x[:8].float().pow(2).mean(-1, keepdim=True)
    for rows in [1, 2, 4, 8, 9, 16, 23, 24, 32, 48, 64]:
        k = min(rows, 8)
        norm = rms_norm(x[:rows], w)
        mean = x[:rows].float().pow(2).mean(-1, keepdim=True)
        print(
            f"rows {rows:2d}: first {k} rows equal to the 8-row batch's: norm {torch.equal(norm[:k], ref_norm[:k])}, "
            f"fp32 mean {torch.equal(mean[:k], ref_mean[:k])}"
        )


if __name__ == "__main__":
    main()
