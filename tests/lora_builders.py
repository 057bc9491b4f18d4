"""Random LoRA adapters for a tiny test model: lora_B starts at zero (a no-op adapter), so it is
drawn at random here and every adapter changes the outputs differently."""

from __future__ import annotations

import json
from pathlib import Path


def make_adapter(base: Path, out: Path, seed: int) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)  # lora_A's random init too: the same adapter whatever ran before
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0),
    )
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.5)  # lora_B starts at zero: perturb it so each adapter differs
    model.save_pretrained(out)
    (out / "tunebench_adapter.json").write_text(
        json.dumps({"quantization": "none", "base_precision": "float32"})
    )
    return out


def make_adapters(base: Path, root: Path) -> dict[str, Path]:
    """Three adapters a, b, c of `base` under `root`."""
    return {name: make_adapter(base, root / name, seed) for name, seed in (("a", 1), ("b", 2), ("c", 3))}
