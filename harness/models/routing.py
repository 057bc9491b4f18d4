"""Routing each row of a batch to its own LoRA adapter, for every forward pass of a decoding loop.

PEFT routes mixed-adapter rows with `PeftModel._enable_peft_forward_hooks(adapter_names=...)`: a
context that, on every call, walks all the model's modules twice (to check the names, then to hook
every LoRA layer) and hooks each LoRA layer to receive the names. On the embedded Gemma 3 with 3
adapters that walk took about 5.8 ms per forward pass (cProfile: 1.5 s of a 16 s mixed-adapter
generation; tests/benchmarks/README.md row 10h). `route_adapters` installs the same hooks (PEFT's
own hook function, the same argument) on the same modules, found once per model and adapter set,
and checks the names against the adapters those modules hold, as PEFT does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

_ATTR = "_tunebench_routed_modules"


def routed_modules(model: Any) -> tuple[list[Any], set[str]]:
    """The modules PEFT hooks for `adapter_names` (LoRA layers and auxiliary training wrappers) and
    the adapter names they hold, found once per model and set of loaded adapters."""
    from peft.tuners.lora import LoraLayer
    from peft.utils.other import AuxiliaryTrainingWrapper

    key = tuple(sorted(getattr(model, "peft_config", {}) or {}))
    cached = getattr(model, _ATTR, None)
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]
    modules = [m for m in model.modules() if isinstance(m, (LoraLayer, AuxiliaryTrainingWrapper))]
    names: set[str] = set()
    for m in modules:
        if isinstance(m, LoraLayer):
            names |= set(m.lora_A.keys()) | set(m.lora_embedding_A.keys())
    object.__setattr__(model, _ATTR, (key, modules, names))
    return modules, names


@contextlib.contextmanager
def route_adapters(model: Any, adapter_names: Sequence[str]) -> Iterator[None]:
    """Within the context, forward passes of the PEFT `model` run row i with adapter
    `adapter_names[i]` ("__base__": no adapter), as PEFT's `adapter_names` argument routes them.
    Refuses unknown names (ValueError, PEFT's message) and training mode."""
    from peft.tuners.lora.model import _adapter_names_pre_forward_hook

    if model.training:
        raise ValueError("Cannot pass `adapter_names` when the model is in training mode.")
    modules, known = routed_modules(model)
    unknown = {n for n in adapter_names if n != "__base__"} - known
    if unknown:
        raise ValueError(f"Trying to infer with non-existing adapter(s): {', '.join(sorted(unknown))}")
    hook = partial(_adapter_names_pre_forward_hook, adapter_names=list(adapter_names))
    handles = [m.register_forward_pre_hook(hook, with_kwargs=True) for m in modules]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
