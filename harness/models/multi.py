"""Several LoRA adapters on one loaded base: adapter switching and mixed-adapter batches.

`MultiAdapterHF(base_spec, {"a": PATH, "b": PATH})` loads the base once, attaches every adapter with
`PeftModel.load_adapter` and exposes one backend per adapter (`.backend("a")`): a view implementing
the ModelBackend protocol that activates its adapter (`set_adapter`) before generating or scoring.
Each view's `spec` is exactly the spec `hf:BASE+lora:PATH` parses to (same base and adapter hashes,
precision and quantization), so generation-cache keys are the same as with a separate load: a run
made either way is served from the other's cache.

Mixed batches: `generate_mixed([(name, messages), ...])` generates rows for different adapters (and
`BASE`, the base without adapter) in one batch, through PEFT's `adapter_names` argument to generate:
each row's LoRA layers apply only its own adapter, the base weights are shared. The base's weights
and the 262k-entry LM head are read once per decode step for every adapter's rows instead of once per
adapter, which is where the speed comes from. Greedy rows equal a separate load's outputs (tested
on a tiny model and measured on the embedded Gemma: tests/benchmarks/README.md).

`run_adapters(suite, base, adapters, store=...)` runs a suite split for every adapter on one load and
returns their RunRecords. With `mixed=True` (the default) and a greedy generation config, the prompts
the first adapter generates are generated in the same batches for the adapters that run after it
(those not in the cache already) and kept until their run asks for them, so each batch holds
`batch_size` prompts for every adapter. The first run's `generation_s` then includes the other
adapters' rows; theirs is near zero. Sampled configs (temperature > 0) generate per adapter, so their
seeded batches are the ones a separate load would draw. The base is loaded only when some
generation is not cached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..types import Completion, GenerationConfig, ModelSpec
from .base import Messages, ProgressFn
from .spec import parse_spec

BASE = "__base__"
"""The row tag of the base model without adapter in a mixed batch (PEFT's own name for it)."""


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

    def batch_key(self, messages: Messages) -> tuple[int, str]:
        return self.parent.hf.batch_key(messages)

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
        mixed_batch_size: int | None = None,
        threads: int | None = None,
        device: str | None = None,
        workspace: str | Path | None = None,
    ):
        """`batch_size`: prompts per batch of one adapter's view; `mixed_batch_size` (default
        `batch_size`): rows per batch of `generate_mixed`, whatever adapters they belong to."""
        if not adapters:
            raise InputError("MultiAdapterHF needs at least one adapter")
        base = parse_spec(base_spec, workspace=workspace) if isinstance(base_spec, str) else base_spec
        if base.backend != "hf":
            raise InputError(f"multi-adapter evaluation needs an hf base, got {base.label!r}")
        self.base_spec = base
        bad = [name for name in adapters if not name or name == BASE]
        if bad:
            raise InputError(f"adapter name {bad[0]!r} is reserved or empty; pick another")
        self.paths = {name: str(Path(p)) for name, p in adapters.items()}
        self.specs = {name: adapter_spec(base, p, workspace=workspace) for name, p in self.paths.items()}
        self.batch_size, self.threads, self.device = batch_size, threads, device
        self.mixed_batch_size = max(1, mixed_batch_size or batch_size)
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
        from .adapter_check import attach_adapter, check_adapter_effects, unmatched_targets
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
        check_adapter_effects(model, hf.tokenizer, self.specs)  # one forward pass for all of them
        model.eval()
        exact_mixed_batches(model)
        hf.model = model
        hf.spec = self.base_spec
        self._active = next(iter(self.specs))
        model.set_adapter(self._active)
        model.eval()
        return hf

    def activate(self, name: str) -> Any:
        """Make `name` the active adapter; returns the HFBackend."""
        hf = self.hf
        if self._active != name:
            hf.model.set_adapter(name)
            hf.model.eval()
            self._active = name
        return hf

    def generate_mixed(
        self,
        rows: Sequence[tuple[str, Messages]],
        config: GenerationConfig,
        progress: ProgressFn | None = None,
    ) -> list[Completion]:
        """Generate `(adapter name or BASE, messages)` rows in mixed batches of `mixed_batch_size`
        rows; completions in row order."""
        hf = self.hf
        return self.generate_mixed_text([(name, hf.render(m)) for name, m in rows], config, progress)

    def generate_mixed_text(
        self, rows: Sequence[tuple[str, str]], config: GenerationConfig, progress: ProgressFn | None = None
    ) -> list[Completion]:
        """`generate_mixed` for prompts already rendered to text."""
        for name, _ in rows:
            if name != BASE and name not in self.specs:
                raise InputError(f"no adapter named {name!r}; have {', '.join([BASE, *self.specs])}")
        hf = self.hf
        saved, hf.batch_size = hf.batch_size, self.mixed_batch_size
        try:
            return list(
                hf.generate_text(
                    [text for _, text in rows], config, progress, adapter_names=[name for name, _ in rows]
                )
            )
        finally:
            hf.batch_size = saved


def exact_mixed_batches(model: Any) -> int:
    """Make PEFT's mixed-batch LoRA forward add each adapter's update the way its single-adapter
    forward does; returns the number of layers changed.

    PEFT's single-adapter `lora.Linear.forward` adds the update, computed in the adapter's dtype
    (fp32: PEFT loads adapters of a bf16 base in fp32), to the base layer's bf16 output and rounds
    the sum once; its `_mixed_batch_forward` rounds the update to bf16 first and then adds (two
    roundings). On the embedded Gemma (bf16) that changed 7 of 24 greedy outputs of 8 tokens
    against separate loads. This forward keeps PEFT's routing (the `adapter_names` hooks, the
    "__base__" rows) and computes each row as the single-adapter path does, so mixed rows equal
    separate loads. Adapter variants (DoRA and others) and non-Linear layers keep PEFT's own."""
    from peft.tuners.lora.layer import Linear

    changed = 0
    for module in model.modules():
        if isinstance(module, Linear) and hasattr(module, "_mixed_batch_forward"):
            peft_forward = module._mixed_batch_forward
            setattr(module, "_mixed_batch_forward", _single_path_mixed_forward(module, peft_forward))  # noqa: B010
            changed += 1
    return changed


_GROUPS: dict[tuple[str, ...], list[tuple[str, Any]]] = {}


def adapter_groups(adapter_names: Sequence[str]) -> list[tuple[str, Any]]:
    """[(adapter, its rows)] in order of first appearance: a slice when the rows form one block (hf
    groups a batch's rows by adapter), else a list of indices. Shared by every layer of a forward
    pass (each LoRA layer of a step sees the same names), so it is worked out once per step."""
    key = tuple(adapter_names)
    got = _GROUPS.get(key)
    if got is None:
        got = []
        for name in dict.fromkeys(key):
            rows = [i for i, n in enumerate(key) if n == name]
            block = rows[-1] - rows[0] + 1 == len(rows)
            got.append((name, slice(rows[0], rows[-1] + 1) if block else rows))
        if len(_GROUPS) >= 256:
            _GROUPS.clear()
        _GROUPS[key] = got
    return got


def _single_path_mixed_forward(layer: Any, peft_forward: Any) -> Any:
    import torch
    import torch.nn.functional as F  # noqa: N812

    def forward(x: Any, *args: Any, adapter_names: list[str], **kwargs: Any) -> Any:
        groups = adapter_groups(adapter_names)
        if any(name in layer.lora_variant for name, _ in groups):
            return peft_forward(x, *args, adapter_names=adapter_names, **kwargs)
        kwargs.pop("alora_offsets", None)  # a variant's argument, not the base layer's
        result = layer.base_layer(x, *args, **kwargs)
        dtype = result.dtype
        live = [(name, rows) for name, rows in groups if name != BASE and name in layer.lora_A]
        if not live:
            return result
        # PEFT's single-adapter arithmetic, with the functional calls its modules make (nn.Linear is
        # F.linear; dropout in eval mode or with p=0 returns its input); the input cast once
        cast = layer.lora_A[live[0][0]].weight.dtype
        xs = layer._cast_input_dtype(x, cast)
        updates = []
        for name, rows in live:
            lora_a, lora_b, drop = layer.lora_A[name], layer.lora_B[name], layer.lora_dropout[name]
            sub = (
                xs[rows]
                if lora_a.weight.dtype == cast
                else layer._cast_input_dtype(x[rows], lora_a.weight.dtype)
            )
            if drop.training and not isinstance(drop, torch.nn.Identity):
                sub = drop(sub)
            update = F.linear(F.linear(sub, lora_a.weight, lora_a.bias), lora_b.weight, lora_b.bias)
            updates.append(update * layer.scaling[name])
        if _covers_in_order(live, result.shape[0]) and len({u.dtype for u in updates}) == 1:
            # every row has an adapter, in blocks in row order: one add and one rounding for all
            return (result + torch.cat(updates)).to(dtype)
        for (_, rows), update in zip(live, updates, strict=True):
            result[rows] = (result[rows] + update).to(dtype)
        return result

    return forward


def _covers_in_order(groups: Sequence[tuple[str, Any]], n: int) -> bool:
    """Whether the groups' rows are slices that tile rows 0..n-1 in order."""
    at = 0
    for _, rows in groups:
        if not isinstance(rows, slice) or rows.start != at:
            return False
        at = rows.stop
    return at == n


class _LookaheadView(AdapterView):
    """An adapter view of run_adapters: its generation also covers the adapters that run later."""

    def __init__(self, ahead: _Lookahead, name: str):
        super().__init__(ahead.multi, name, ahead.multi.specs[name])
        self.ahead = ahead

    def generate(
        self, prompts: Sequence[Messages], config: GenerationConfig, progress: ProgressFn | None = None
    ) -> list[Completion]:
        return self.ahead.generate(self.name, prompts, config, progress)


class _Lookahead:
    """When adapter X generates prompts, the same prompts are generated in the same mixed batches
    for every adapter that runs after X and has them neither cached nor kept already; those
    completions are kept (by generation key) until that adapter's run asks for them."""

    def __init__(self, multi: MultiAdapterHF, store: Any, order: Sequence[str]):
        self.multi, self.store, self.order = multi, store, list(order)
        self.kept: dict[str, Completion] = {}

    def _key(self, name: str, config: GenerationConfig, messages: Messages) -> str:
        from ..runner import generation_key

        return generation_key(self.multi.specs[name], config, messages)

    def generate(
        self, name: str, prompts: Sequence[Messages], config: GenerationConfig, progress: ProgressFn | None
    ) -> list[Completion]:
        if config.temperature > 0:  # sampled: per adapter, seeded batches as a separate load draws them
            return self.multi.backend(name).generate(prompts, config, progress)
        out: list[Completion | None] = [None] * len(prompts)
        rows: list[tuple[str, Messages]] = []
        slots: list[int] = []
        for i, m in enumerate(prompts):
            kept = self.kept.pop(self._key(name, config, m), None)
            if kept is not None:
                out[i] = kept
            else:
                rows.append((name, m))
                slots.append(i)
        own = len(rows)
        if rows:
            later = self.order[self.order.index(name) + 1 :]
            wanted = {self._key(n, config, m): (n, m) for n in later for _, m in rows[:own]}
            cached = self.store.get_generations(list(wanted)) if wanted else {}
            extra = [(k, row) for k, row in wanted.items() if k not in cached and k not in self.kept]
            outs = self.multi.generate_mixed(rows + [row for _, row in extra], config)
            for i, c in zip(slots, outs[:own], strict=True):
                out[i] = c
            for (k, _row), c in zip(extra, outs[own:], strict=True):
                self.kept[k] = c
        if progress:
            progress(len(prompts))
        return [c for c in out if c is not None]


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
    mixed: bool = True,
) -> list[Any]:
    """Run `suite` on `split` for every adapter on one loaded base; RunRecords in adapter order.
    `batch_size` prompts per batch for each adapter; with `mixed` (greedy configs) one batch holds
    them for every adapter still to run (up to `batch_size` x adapters rows)."""
    from ..runner import LazyBackend, run_suite

    multi = MultiAdapterHF(
        base,
        adapters,
        batch_size=batch_size,
        mixed_batch_size=batch_size * len(adapters),
        threads=threads,
        workspace=workspace,
    )
    ahead = _Lookahead(multi, store, list(multi.specs))
    records = []

    def view(name: str) -> Any:
        backend = _LookaheadView(ahead, name) if mixed else multi.backend(name)
        return lambda _spec: backend

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
