"""Loading a causal LM as tunebench loads every model it converts, evaluates, trains or merges."""

from __future__ import annotations

import importlib.util
import logging
import sys
from typing import Any

_QUIET = ("kernels", "bitsandbytes")


def import_bitsandbytes_offline() -> None:
    """Import bitsandbytes (if installed) without its Hub lookup: on a CPU with avx512_bf16,
    bitsandbytes 0.50 fetches a 4-bit matmul kernel from the Hugging Face Hub when it is imported
    (through `kernels.get_kernel`), so any peft, trl or 4-bit import would reach the network at run
    time (or, offline, log two warnings). Imported here with the Hub switched to offline mode for
    that one import, bitsandbytes keeps its built-in CPU path, the one it uses offline anyway.
    Call before the first import of peft, trl or bitsandbytes; a no-op once it is imported."""
    if "bitsandbytes" in sys.modules or importlib.util.find_spec("bitsandbytes") is None:
        return
    from huggingface_hub import constants

    loggers = [logging.getLogger(name) for name in _QUIET]
    levels = [lg.level for lg in loggers]
    saved = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        import bitsandbytes  # noqa: F401
    finally:
        constants.HF_HUB_OFFLINE = saved
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def nf4_config() -> Any:
    """QLoRA's 4-bit base: NF4 weights with double quantization, bf16 compute (bitsandbytes)."""
    import_bitsandbytes_offline()
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
    import_bitsandbytes_offline()
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, use_kernels=False, **kwargs)
