"""Adapter sanity, before any sample runs: an adapter that changes nothing is refused.

A LoRA adapter can load without error and compute exactly the base model: freshly initialised
(lora_B is zero until training moves it, so an adapter saved before training is a no-op), target
modules that name nothing in this base (PEFT then has nothing to attach), or weights whose keys do
not match this base's modules (PEFT leaves the unmatched ones at their zero initialisation). Each
would be evaluated as a "candidate" that is really the base; silent no-op adapters are a
long-running complaint against other harnesses and servers (lm-evaluation-harness #2432, vLLM
#49354, #34186). So, for any spec with an adapter, when the backend loads it:

- `attach_adapter`: target modules matching no module of the base are refused before loading,
  and a load that fails on this base (shape mismatch) is an InputError naming the base;
- `check_adapter_effect`: every lora_B weight zero is refused, saying so; then the adapted and the
  base model (PEFT's `disable_adapter()`) score a few canary prompts, and an adapter whose largest
  next-token logit change is below `RTOL` times the logits' scale is refused, naming what to check.

Both raise InputError (exit 2). The check runs forward passes in inference mode: it belongs to
evaluation only, never to a 4-bit model that is still being trained (PLATFORM.md: on CPU such a
forward pass repacks the 4-bit weights and later LoRA gradients are zero); the trainer never calls it.

`base_identity_warnings` compares the base an adapter records it was trained on (tunebench's
tunebench_adapter.json `base_hash`/`base_revision`/`base_model`, else PEFT's adapter_config.json
`base_model_name_or_path`) with the base it is loaded on; a difference is a warning stored in the
run and repeated by every comparison that uses it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..types import ModelSpec
from .spec import read_adapter_meta, weights_digest, weights_hash

CANARY_PROMPTS = (
    "The capital of France is",
    "Question: What is 12 plus 7?\nAnswer:",
    'Classify the ticket: "I was charged twice this month."\nCategory:',
    "def add(a, b):\n    return",
)
RTOL = 1e-4
"""An adapter must move some canary logit by more than RTOL * max(1, max |base logit|). A no-op
adapter moves none at all (x + 0 is exact in every dtype); in 16-bit precision any real change is at
least one rounding step of the logit, far above this."""


def adapter_config(adapter: str | Path) -> dict[str, Any]:
    p = Path(adapter) / "adapter_config.json"
    try:
        return dict(json.loads(p.read_text()))
    except (OSError, json.JSONDecodeError, TypeError, ValueError):
        return {}


def _targets(cfg: dict[str, Any]) -> list[str] | str | None:
    t = cfg.get("target_modules")
    if isinstance(t, str) or (isinstance(t, list) and t):
        return t
    return None


def unmatched_targets(base_model: Any, cfg: dict[str, Any]) -> str | None:
    """Why the adapter's target modules attach to nothing in `base_model` (None when some match or
    the config leaves them to PEFT's defaults)."""
    targets = _targets(cfg)
    if targets is None or targets == "all-linear":
        return None
    names = [n for n, _ in base_model.named_modules() if n]
    if isinstance(targets, str):
        if any(re.fullmatch(targets, n) for n in names):
            return None
        shown = repr(targets)
    else:
        if any(n == t or n.endswith("." + t) for n in names for t in targets):
            return None
        shown = ", ".join(sorted(targets))
    leaves = sorted(
        {n.rsplit(".", 1)[-1] for n in names if not any(c.isdigit() for c in n.rsplit(".", 1)[-1])}
    )
    return (
        f"its target modules ({shown}) match no module of the base (the base has: {', '.join(leaves[:20])})"
    )


def attach_adapter(model: Any, spec: ModelSpec, adapter_name: str = "default") -> Any:
    """PeftModel.from_pretrained(model, spec.adapter), refusing (InputError) an adapter whose target
    modules are not in the base or whose weights do not fit it."""
    from .loading import import_bitsandbytes_offline

    import_bitsandbytes_offline()  # before peft imports it: no Hub lookup at run time
    from peft import PeftModel

    assert spec.adapter is not None
    cfg = adapter_config(spec.adapter)
    why = unmatched_targets(model, cfg)
    if why:
        raise _refusal(spec, why, "the adapter was trained for another architecture, or on another base")
    try:
        return PeftModel.from_pretrained(model, spec.adapter, adapter_name=adapter_name)
    except (ValueError, RuntimeError, KeyError) as e:
        raise _refusal(
            spec, f"it does not load on this base ({type(e).__name__}: {str(e).splitlines()[0][:300]})", ""
        ) from None


def zero_lora_b(model: Any, adapter_name: str) -> bool | None:
    """True when the adapter has lora_B weights and every one is zero; None when it has none."""
    pat = re.compile(rf"lora_(embedding_)?B\.{re.escape(adapter_name)}(\.|$)")
    found = [p for n, p in model.named_parameters() if pat.search(n)]
    if not found:
        return None
    return all(not bool(p.detach().ne(0).any()) for p in found)


def max_logit_changes(
    model: Any, tokenizer: Any, names: Sequence[str], prompts: tuple[str, ...] = CANARY_PROMPTS
) -> dict[str, tuple[float, float]]:
    """{adapter: (largest |adapted - base| logit over every position of the canary prompts, largest
    |base logit|)} for each adapter in `names`, from one forward pass: every canary once per adapter
    and once with no adapter ("__base__"), routed by PEFT's `adapter_names`, right-padded so that
    every real position sees only real tokens. A row's base and adapted logits come from the same
    pass, so an adapter that adds exactly zero shows a change of exactly zero."""
    import torch

    device = next(model.parameters()).device
    encoded = [list(tokenizer(text, add_special_tokens=True)["input_ids"]) for text in prompts]
    width = max(len(e) for e in encoded)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    groups = [*names, "__base__"]
    ids = torch.tensor([e + [pad] * (width - len(e)) for _ in groups for e in encoded])
    mask = torch.tensor([[1] * len(e) + [0] * (width - len(e)) for _ in groups for e in encoded])
    routes = [g for g in groups for _ in encoded]
    with torch.inference_mode():
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), adapter_names=routes).logits
    n = len(encoded)
    base = logits[len(names) * n :]
    real = mask[:n].bool().to(device)
    base_real = base[real].float()
    scale = float(base_real.abs().max())
    return {
        name: (float((logits[i * n : (i + 1) * n][real].float() - base_real).abs().max()), scale)
        for i, name in enumerate(names)
    }


def check_adapter_effect(model: Any, tokenizer: Any, spec: ModelSpec, adapter_name: str = "default") -> float:
    """InputError unless the adapter `adapter_name` changes the base model's next-token logits;
    returns the largest change."""
    return check_adapter_effects(model, tokenizer, {adapter_name: spec})[adapter_name]


def check_adapter_effects(model: Any, tokenizer: Any, specs: dict[str, ModelSpec]) -> dict[str, float]:
    """check_adapter_effect for every adapter of `specs` ({adapter name: its spec}) attached to one
    PEFT model, in one forward pass for all of them (`max_logit_changes`); {name: largest change}."""
    was_training = bool(getattr(model, "training", False))
    model.eval()
    try:
        for name, spec in specs.items():
            if zero_lora_b(model, name):
                raise _refusal(
                    spec,
                    "every lora_B weight is zero, so it adds nothing to the base (LoRA initialises lora_B "
                    "to zero: the adapter was saved before any training step, or training did not update it)",
                    "train it (a trainer run should report lora_B weights that moved), and check that the "
                    "folder holds the trained adapter",
                )
        changes = max_logit_changes(model, tokenizer, list(specs))
    finally:
        if was_training:
            model.train()
    for name, spec in specs.items():
        delta, scale = changes[name]
        tol = RTOL * max(1.0, scale)
        if delta <= tol:
            rec = recorded_base(spec.adapter or "")
            raise _refusal(
                spec,
                f"it changes no next-token logit on {len(CANARY_PROMPTS)} canary prompts by more than "
                f"{tol:.2g} (largest change {delta:.2g})",
                "check that its lora_B weights are not all zero, that its target modules "
                f"({_targets(adapter_config(spec.adapter or '')) or 'PEFT defaults'}) exist in this base, and that it "
                f"was trained on this base (recorded: {rec.get('model') or 'unknown'}; loaded: {spec.base})",
            )
    return {name: changes[name][0] for name in specs}


def _refusal(spec: ModelSpec, why: str, hint: str) -> InputError:
    return InputError(
        f"adapter {spec.adapter} would be evaluated as a no-op on base {spec.base}: {why}",
        hint=hint or None,
    )


# -- recorded base identity -----------------------------------------------------------------------


def recorded_base(adapter: str | Path) -> dict[str, Any]:
    """What an adapter folder says about the base it was trained on: model (path or hub id), hash
    (weights_digest of the base folder) and revision (hub commit), each None when not recorded."""
    meta = read_adapter_meta(adapter)
    cfg = adapter_config(adapter)
    return {
        "model": meta.get("base_model") or cfg.get("base_model_name_or_path"),
        "hash": meta.get("base_hash"),
        "revision": meta.get("base_revision") or cfg.get("revision"),
    }


def base_identity(base_model: str, model: Any = None) -> dict[str, Any]:
    """What a trainer records about the base it trained on (tunebench_adapter.json keys): the
    weights digest of a local folder (the hash an eval run of that base records; computed here,
    not through a workspace cache, as a trainer has no workspace), or the hub commit transformers
    loaded (`config._commit_hash`)."""
    p = Path(base_model)
    if p.is_dir():
        return {"base_hash": weights_digest(p)}
    commit = getattr(getattr(model, "config", None), "_commit_hash", None)
    return {"base_revision": commit} if commit else {}


def base_identity_warnings(spec: ModelSpec) -> list[str]:
    """A warning when the adapter records a base that is not the one `spec` loads it on."""
    if not spec.adapter or not Path(spec.adapter).is_dir():
        return []
    rec = recorded_base(spec.adapter)
    why = _base_difference(rec, spec)
    if not why:
        return []
    return [
        f"adapter {spec.adapter} was trained on base {rec.get('model') or '?'} but is loaded on "
        f"{spec.base} ({why}): a LoRA adapter on another base computes something else; evaluate it on "
        "the base it was trained on"
    ]


def _base_difference(rec: dict[str, Any], spec: ModelSpec) -> str | None:
    loaded_hash, loaded_rev = spec.base_hash, spec.revision
    if rec["hash"] and loaded_hash:
        return None if rec["hash"] == loaded_hash else _hashes(rec["hash"], loaded_hash)
    model = rec["model"]
    if not model:
        return None
    path = Path(str(model)).expanduser()
    if path.is_dir():
        if loaded_hash is None:
            return "trained on a local folder, loaded from the hub"
        if path.resolve() == Path(spec.base).resolve():
            return None
        h = weights_hash(path)
        return None if h == loaded_hash else _hashes(h, loaded_hash)
    from .hub import cached_snapshot, looks_like_hub_id

    if not looks_like_hub_id(str(model)):  # a local folder that is not here any more: cannot tell
        return None
    if loaded_hash is None:  # both hub ids
        if str(model) != spec.base:
            return "another model id"
        if rec["revision"] and loaded_rev and rec["revision"] != loaded_rev:
            return f"commit {str(rec['revision'])[:12]} vs {loaded_rev[:12]}"
        return None
    snap = cached_snapshot(str(model), rec["revision"])
    if snap is None:  # a hub base that is not cached here to compare with: cannot tell
        return None
    h = weights_hash(snap)
    return None if h == loaded_hash else _hashes(h, loaded_hash)


def _hashes(trained: str, loaded: str) -> str:
    return f"weights sha256 {trained[:12]} at training, {loaded[:12]} here"
