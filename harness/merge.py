"""Merge a LoRA adapter into its base and save a standalone model folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .errors import InputError
from .models.loading import import_bitsandbytes_offline, load_causal_lm
from .models.spec import read_adapter_meta


def adapter_base(adapter: str | Path) -> str:
    meta = read_adapter_meta(adapter)
    if meta.get("base_model"):
        return str(meta["base_model"])
    cfg = Path(adapter) / "adapter_config.json"
    base = json.loads(cfg.read_text()).get("base_model_name_or_path") if cfg.exists() else None
    if not base:
        raise InputError(f"{adapter}: cannot tell the base model; pass --base")
    return str(base)


def merge_adapter(
    adapter: str | Path, out: str | Path, *, base: str | None = None, dtype: str | None = None
) -> Path:
    """Load base + adapter in the adapter's training precision (4-bit bases merge into their
    unquantized weights, with a warning), merge_and_unload, save model + tokenizer to `out`."""
    import torch

    import_bitsandbytes_offline()  # before peft imports it: no Hub lookup at run time
    from peft import PeftModel
    from transformers import AutoTokenizer

    ap = Path(adapter)
    if not (ap / "adapter_config.json").exists():
        raise InputError(f"{adapter}: not a PEFT adapter folder (no adapter_config.json)")
    base = base or adapter_base(ap)
    meta = read_adapter_meta(ap)
    if meta.get("quantization") not in (None, "none"):
        print(
            f"[tunebench] warning: adapter was trained on a {meta['quantization']} base; merging into the "
            "unquantized base weights, so outputs can differ from the 4-bit adapter",
            file=sys.stderr,
        )
    dtype = dtype or meta.get("base_precision") or "auto"
    torch_dtype = getattr(torch, dtype) if dtype in ("bfloat16", "float16", "float32") else "auto"
    model = load_causal_lm(base, dtype=torch_dtype)
    model = PeftModel.from_pretrained(model, str(ap)).merge_and_unload()
    tok = AutoTokenizer.from_pretrained(str(ap) if (ap / "tokenizer_config.json").exists() else base)
    outp = Path(out)
    outp.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(outp)
    tok.save_pretrained(outp)
    (outp / "tunebench_merged.json").write_text(
        json.dumps(
            {
                "base_model": base,
                "adapter": str(ap.resolve()),
                "dtype": dtype,
                **{f"adapter_{k}": v for k, v in meta.items()},
            },
            indent=2,
        )
    )
    return outp
