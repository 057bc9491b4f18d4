"""Loading a causal LM as tunebench loads every model it converts, evaluates, trains or merges."""

from __future__ import annotations

from typing import Any


def nf4_config() -> Any:
    """QLoRA's 4-bit base: NF4 weights with double quantization, bf16 compute (bitsandbytes)."""
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def load_causal_lm(path: str, **kwargs: Any) -> Any:
    """`AutoModelForCausalLM.from_pretrained(path, **kwargs)` with no layer swapped for a kernel
    resolved on the Hugging Face Hub: transformers 5.2x kernelizes every model by default, which on
    CUDA looks kernels up on the Hub and fails offline (seen on an H200, tests/benchmarks/README.md,
    "On a GPU"); on CPU it made a refused lookup at run time. Raises what `from_pretrained` raises."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, use_kernels=False, **kwargs)
