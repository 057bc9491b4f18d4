"""Several LoRA adapters on one loaded base (PEFT adapter switching).

`MultiAdapterHF(base_spec, {"a": PATH, "b": PATH})` loads the base once, attaches every adapter with
`PeftModel.load_adapter` and exposes one backend per adapter (`.backend("a")`): a view implementing
the ModelBackend protocol that activates its adapter (`set_adapter`) before generating or scoring.
Each view's `spec` is exactly the spec `hf:BASE+lora:PATH` parses to (same base and adapter hashes,
precision and quantization), so generation-cache keys are the same as with a separate load: a run
made either way is served from the other's cache.

`run_adapters(suite, base, adapters, store=...)` runs a suite split for every adapter on one load
and returns their RunRecords. The base is loaded only when some generation is not cached.

Measured on the embedded Gemma 3 270M (tests/benchmarks/bench_multi_adapter.py, README there):
three adapters on one load against three separate loads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..types import Completion, GenerationConfig, ModelSpec
from .base import Messages, ProgressFn
from .spec import parse_spec


def adapter_spec(base: ModelSpec, adapter: str | Path, *, workspace: str | Path | None = None) -> ModelSpec:
    """The spec `BASE+lora:ADAPTER` parses to, for a base spec parsed before (same identity)."""
    raw = base.raw or f"hf:{base.base}"
    if base.adapter:
        raise InputError(f"base spec {raw!r} already has an adapter; give the bare base")
    spec = parse_spec(
        f"{raw}+lora:{adapter}", workspace=workspace, dtype=base.dtype, quantization=base.quantization
    )
    if spec.quantization != base.quantization:
        raise InputError(
            f"adapter {adapter} was trained on a {spec.quantization or 'none'} base but the shared base is "
            f"loaded as {base.quantization or 'none'}: load adapters of one precision together",
        )
    return spec


class AdapterView:
    """One adapter of a MultiAdapterHF as a ModelBackend: switches the active adapter, then delegates."""

    def __init__(self, parent: MultiAdapterHF, name: str, spec: ModelSpec):
        self.parent = parent
        self.name = name
        self.spec = spec

    def generate(
        self, prompts: Sequence[Messages], config: GenerationConfig, progress: ProgressFn | None = None
    ) -> list[Completion]:
        hf = self.parent.activate(self.name)
        return hf.generate(prompts, config, progress)

    def render(self, messages: Messages) -> str:
        return self.parent.hf.render(messages)

    def loglikelihood(
        self, requests: Sequence[tuple[str, str]], *, add_bos: bool = False
    ) -> list[tuple[float, int]]:
        hf = self.parent.activate(self.name)
        return hf.loglikelihood(requests, add_bos=add_bos)

    def __repr__(self) -> str:
        return f"AdapterView({self.name!r}, adapter={self.spec.adapter!r})"


class MultiAdapterHF:
    """A base model loaded once with several named LoRA adapters; `backend(name)` is one adapter's
    view. The model is loaded on first use (`hf`), so specs and cache keys are known before."""

    def __init__(
        self,
        base_spec: ModelSpec | str,
        adapters: Mapping[str, str | Path],
        *,
        batch_size: int = 8,
        threads: int | None = None,
        device: str | None = None,
        workspace: str | Path | None = None,
    ):
        if not adapters:
            raise InputError("MultiAdapterHF needs at least one adapter")
        base = parse_spec(base_spec, workspace=workspace) if isinstance(base_spec, str) else base_spec
        if base.backend != "hf":
            raise InputError(f"multi-adapter evaluation needs an hf base, got {base.label!r}")
        self.base_spec = base
        self.paths = {name: str(Path(p)) for name, p in adapters.items()}
        self.specs = {name: adapter_spec(base, p, workspace=workspace) for name, p in self.paths.items()}
        self.batch_size, self.threads, self.device = batch_size, threads, device
        self._hf: Any = None
        self._active: str | None = None
        self.views = {name: AdapterView(self, name, spec) for name, spec in self.specs.items()}

    def backend(self, name: str) -> AdapterView:
        if name not in self.views:
            raise InputError(f"no adapter named {name!r}; have {', '.join(self.views)}")
        return self.views[name]

    @property
    def loaded(self) -> bool:
        return self._hf is not None

    @property
    def hf(self) -> Any:
        """The HFBackend holding the base with every adapter attached (loaded on first use)."""
        if self._hf is None:
            self._hf = self._load()
        return self._hf

    def _load(self) -> Any:
        from .adapter_check import adapter_config as read_adapter_config
        from .adapter_check import attach_adapter, check_adapter_effect, unmatched_targets
        from .hf import HFBackend

        hf = HFBackend(self.base_spec, batch_size=self.batch_size, threads=self.threads, device=self.device)
        base_model = hf.model
        model: Any = None
        for name, spec in self.specs.items():
            hf._check_adapter_precision(spec, base_model)
            assert spec.adapter is not None
            if model is None:
                model = attach_adapter(base_model, spec, name)
            else:
                why = unmatched_targets(model.get_base_model(), read_adapter_config(spec.adapter))
                if why:
                    raise InputError(f"adapter {spec.adapter} would be evaluated as a no-op: {why}")
                model.load_adapter(spec.adapter, adapter_name=name)
        # every adapter must change the base before any sample runs (models/adapter_check.py)
        for name, spec in self.specs.items():
            check_adapter_effect(model, hf.tokenizer, spec, name)
        model.eval()
        hf.model = model
        hf.spec = self.base_spec
        self._active = next(iter(self.specs))
        model.set_adapter(self._active)
        return hf

    def activate(self, name: str) -> Any:
        """Make `name` the active adapter; returns the HFBackend."""
        hf = self.hf
        if self._active != name:
            hf.model.set_adapter(name)
            hf.model.eval()
            self._active = name
        return hf


def run_adapters(
    suite: Any,
    base: ModelSpec | str,
    adapters: Mapping[str, str | Path],
    store: Any,
    split: str = "test",
    limit: int | None = None,
    *,
    prompt: Any = None,
    batch_size: int = 8,
    progress: bool = False,
    threads: int | None = None,
    workspace: str | Path | None = None,
) -> list[Any]:
    """Run `suite` on `split` for every adapter on one loaded base; RunRecords in adapter order."""
    from ..runner import LazyBackend, run_suite

    multi = MultiAdapterHF(base, adapters, batch_size=batch_size, threads=threads, workspace=workspace)
    records = []

    def view(name: str) -> Any:
        return lambda _spec: multi.backend(name)

    for name, spec in multi.specs.items():
        lazy = LazyBackend(spec, view(name))
        records.append(
            run_suite(
                suite,
                spec,
                store=store,
                split=split,
                limit=limit,
                prompt=prompt,
                backend=lazy,
                batch_size=batch_size,
                progress=progress,
            )
        )
    return records
