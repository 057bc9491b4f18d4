"""Several LoRA adapters of one base served by name, as vLLM does with `--enable-lora --lora-modules
name=path`: the request's `model` picks the adapter (or the base, under its own name), and requests
for different adapters that arrive together are generated in ONE batch (PEFT's `adapter_names`,
harness/models/multi.py), so `openai:NAME@URL` specs on one server compare candidates side by side.

The router is the backend the MicroBatcher sees: its prompts are `(row tag, prompt)` pairs, tagged
by the HTTP layer from the request's model name (`route`), so requests with equal generation
parameters batch together whatever adapter they ask for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..models.base import Messages, ProgressFn
from ..models.multi import BASE, MultiAdapterHF
from ..types import Completion, GenerationConfig, ModelSpec


def parse_adapter_args(values: Sequence[str] | None) -> dict[str, str]:
    """`--adapter NAME=PATH` values as {name: path}, in order; names unique."""
    out: dict[str, str] = {}
    for raw in values or ():
        name, sep, path = raw.partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path:
            raise InputError(f"--adapter {raw!r}: expected NAME=PATH (the name clients send as model)")
        if name in out:
            raise InputError(f"--adapter {name!r} is given twice")
        out[name] = path
    return out


class AdapterRouter:
    """A MultiAdapterHF as a server backend: the base under `base_name`, each adapter under its
    own name. `model_names` lists them, base first."""

    def __init__(self, multi: MultiAdapterHF, base_name: str):
        if base_name in multi.specs:
            raise InputError(
                f"adapter name {base_name!r} is the base model's served name; pick another "
                "(or set the base's with --model-name)"
            )
        self.multi = multi
        self.base_name = base_name
        self.spec: ModelSpec = multi.base_spec
        self.model_names = [base_name, *multi.specs]

    def route(self, model: str) -> str:
        """The row tag for a served model name (the HTTP layer has checked it is one)."""
        return BASE if model == self.base_name else model

    def card(self, model: str) -> dict[str, Any]:
        """Extra /v1/models fields: an adapter names its parent model and its folder, as vLLM does."""
        if model == self.base_name:
            return {}
        return {"parent": self.base_name, "root": self.multi.paths[model]}

    def render(self, messages: Messages) -> str:
        return str(self.multi.hf.render(messages))

    def generate_text(
        self, rows: Sequence[tuple[str, str]], config: GenerationConfig, progress: ProgressFn | None = None
    ) -> list[Completion]:
        return self.multi.generate_mixed_text(rows, config, progress)

    def generate(
        self,
        rows: Sequence[tuple[str, Messages]],
        config: GenerationConfig,
        progress: ProgressFn | None = None,
    ) -> list[Completion]:
        return self.multi.generate_mixed(rows, config, progress)


def load_router(
    base: str | ModelSpec,
    adapters: Mapping[str, str | Path],
    *,
    base_name: str,
    batch_size: int = 8,
    workspace: str | Path | None = None,
    dtype: str = "auto",
    quantization: str | None = None,
) -> AdapterRouter:
    """Load the base once with every adapter attached (each adapter's sanity check runs at the load,
    `MultiAdapterHF._load`); a server batch of `batch_size` rows is one mixed batch."""
    from ..models import parse_spec

    if isinstance(base, str):
        q = None if quantization in (None, "none") else quantization
        spec = parse_spec(base, workspace=workspace, dtype=dtype, quantization=q)
    else:
        spec = base
    if spec.adapter:
        raise InputError(
            f"serve the bare base with --adapter NAME=PATH for each adapter, not {spec.raw or spec.label!r}"
        )
    if spec.backend != "hf":
        raise InputError(f"--adapter needs a local hf base model, got {spec.raw or spec.label!r}")
    multi = MultiAdapterHF(
        spec, adapters, batch_size=batch_size, mixed_batch_size=batch_size, workspace=workspace
    )
    router = AdapterRouter(multi, base_name)
    _ = multi.hf  # load now: at start-up, not on the first request
    return router
