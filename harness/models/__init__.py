"""Model backends (`hf`, `openai`, `mock`) behind one Protocol, and model-spec parsing.
Backends import their heavy dependencies lazily."""

from __future__ import annotations

import importlib
from typing import Any

from .base import DEFAULT_BATCH_SIZE, Messages, ModelBackend, backend_registry
from .spec import SPEC_HELP, parse_spec, read_adapter_meta, weights_digest, weights_hash

_MODULES = {"hf": ".hf", "openai": ".openai_backend", "mock": ".mock"}


def create_backend(spec: Any, *, batch_size: int = DEFAULT_BATCH_SIZE, **options: Any) -> ModelBackend:
    """Instantiate the backend a spec names (importing its module on first use)."""
    name = spec.backend
    if name in _MODULES:
        importlib.import_module(_MODULES[name], __package__)
    if name == "hf":
        from .hf import HFBackend

        return HFBackend(spec, batch_size=batch_size, **options)
    factory = backend_registry.get(name)
    return factory(spec)


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "SPEC_HELP",
    "Messages",
    "ModelBackend",
    "backend_registry",
    "create_backend",
    "parse_spec",
    "read_adapter_meta",
    "weights_digest",
    "weights_hash",
]
