"""Several LoRA adapters on one loaded base (harness/models/multi.py, issue 8 part 5, issue 15
part 3): every adapter's outputs equal a separate `hf:BASE+lora:A` load, switched or in mixed
batches (rows tagged by adapter, PEFT's `adapter_names`), and its cache keys are the separate
load's keys. The speed figure (one base, three adapters vs three loads) is in
tests/benchmarks/bench_multi_adapter.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lora_builders import make_adapters

from harness import load_suite, parse_spec
from harness.errors import InputError
from harness.models.hf import HFBackend
from harness.models.multi import BASE, MultiAdapterHF, run_adapters
from harness.runner import generation_key, run_suite
from harness.store import Store
from harness.types import GenerationConfig

PROMPTS = [
    [{"role": "user", "content": "I was charged twice for my subscription."}],
    [
        {"role": "system", "content": "Reply in JSON."},
        {"role": "user", "content": "My parcel has not arrived."},
    ],
    [{"role": "user", "content": "The app crashes when I open settings."}],
]
CFG = GenerationConfig(max_new_tokens=8)


@pytest.fixture(scope="module")
def adapters(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_adapters(tiny_model, tmp_path_factory.mktemp("adapters"))


def test_outputs_and_cache_keys_equal_separate_loads(
    tiny_model: Path, adapters: dict[str, Path], tmp_path: Path
) -> None:
    base = parse_spec(f"hf:{tiny_model}", workspace=tmp_path, dtype="float32")
    multi = MultiAdapterHF(base, adapters, batch_size=2, device="cpu", workspace=tmp_path)
    assert not multi.loaded  # specs and keys are known before anything is loaded
    texts: dict[str, list[str]] = {}
    # switch back and forth: a, b, c, then a again
    for name in ["a", "b", "c", "a"]:
        view = multi.backend(name)
        got = [c.text for c in view.generate(PROMPTS, CFG)]
        if name in texts:
            assert got == texts[name]
        texts[name] = got
    assert len({tuple(t) for t in texts.values()}) == 3  # the adapters really differ
    for name, path in adapters.items():
        single_spec = parse_spec(f"hf:{tiny_model}+lora:{path}", workspace=tmp_path, dtype="float32")
        view = multi.backend(name)
        assert view.spec.identity == single_spec.identity
        assert [generation_key(view.spec, CFG, p) for p in PROMPTS] == [
            generation_key(single_spec, CFG, p) for p in PROMPTS
        ]
        single = HFBackend(single_spec, batch_size=2, device="cpu")
        assert [c.text for c in single.generate(PROMPTS, CFG)] == texts[name]
        reqs = [(view.render(PROMPTS[0]), " refund")]
        assert view.loglikelihood(reqs)[0][0] == pytest.approx(single.loglikelihood(reqs)[0][0], abs=1e-4)


def test_run_adapters_shares_the_cache_with_single_loads(
    tiny_model: Path, adapters: dict[str, Path], workspace: Path, tiny_suite: Path
) -> None:
    suite = load_suite(tiny_suite)
    store = Store()
    base = parse_spec(f"hf:{tiny_model}", dtype="float32")
    records = run_adapters(suite, base, adapters, store, split="test", limit=4, batch_size=4)
    assert [r.model.adapter for r in records] == [str(p.resolve()) for p in adapters.values()]
    assert all(r.status == "completed" and r.timing["generated"] == 4 for r in records)

    class NoModel:
        def __init__(self, spec: Any):
            self.spec = spec

        def generate(self, *_a: Any, **_k: Any) -> Any:
            raise AssertionError("a separate load of the same adapter must be served from the cache")

    for name, path in adapters.items():
        single_spec = parse_spec(f"hf:{tiny_model}+lora:{path}", dtype="float32")
        rec = run_suite(
            suite,
            single_spec,
            store=store,
            split="test",
            limit=4,
            backend=NoModel(single_spec),
            progress=False,
        )
        assert rec.timing["generated"] == 0
        mine = next(r for r in records if r.model.adapter == single_spec.adapter)
        assert rec.metrics == mine.metrics, name


@pytest.fixture(scope="module")
def separate(
    tiny_model: Path, adapters: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[Any]]:
    """Each adapter (and the bare base, as BASE) loaded alone, one prompt per generate call."""
    ws = tmp_path_factory.mktemp("separate-ws")
    specs = {name: f"hf:{tiny_model}+lora:{path}" for name, path in adapters.items()}
    specs[BASE] = f"hf:{tiny_model}"
    out = {}
    for name, raw in specs.items():
        hf = HFBackend(parse_spec(raw, workspace=ws, dtype="float32"), batch_size=1, device="cpu")
        out[name] = [(c.text, c.completion_tokens, c.finish_reason) for c in hf.generate(PROMPTS, CFG)]
    assert len({tuple(v) for v in out.values()}) == 4  # every adapter changes the outputs
    return out


def test_mixed_batches_equal_single_adapter_generation(
    tiny_model: Path, adapters: dict[str, Path], separate: dict[str, list[Any]], tmp_path: Path
) -> None:
    base = parse_spec(f"hf:{tiny_model}", workspace=tmp_path, dtype="float32")
    multi = MultiAdapterHF(
        base, adapters, batch_size=2, mixed_batch_size=12, device="cpu", workspace=tmp_path
    )
    rows = [(name, p) for p in PROMPTS for name in [*adapters, BASE]]
    outs = multi.generate_mixed(rows, CFG)
    assert {c.raw["batch_size"] for c in outs} == {12}  # all four models' rows in one generate call
    for (name, p), c in zip(rows, outs, strict=True):
        assert (c.text, c.completion_tokens, c.finish_reason) == separate[name][PROMPTS.index(p)], name
    # another order, split over batches of 5 rows with different neighbours and padding
    rows = rows[::-1][1:] + rows[-1:]
    multi.mixed_batch_size = 5
    outs = multi.generate_mixed(rows, CFG)
    assert sorted({c.raw["batch_size"] for c in outs}) == [2, 5]  # 12 rows: 5 + 5 + 2
    for (name, p), c in zip(rows, outs, strict=True):
        assert (c.text, c.completion_tokens, c.finish_reason) == separate[name][PROMPTS.index(p)], name
    with pytest.raises(InputError, match="no adapter named 'zz'"):
        multi.generate_mixed([("zz", PROMPTS[0])], CFG)


def test_run_adapters_generates_mixed_batches(
    tiny_model: Path, adapters: dict[str, Path], workspace: Path, tiny_suite: Path
) -> None:
    suite = load_suite(tiny_suite)
    base = parse_spec(f"hf:{tiny_model}", dtype="float32")
    mixed_store = Store(f"sqlite:///{workspace}/mixed.db")
    switched_store = Store(f"sqlite:///{workspace}/switched.db")  # nothing cached from the other
    mixed = run_adapters(suite, base, adapters, mixed_store, split="test", limit=4, batch_size=4)
    switched = run_adapters(
        suite, base, adapters, switched_store, split="test", limit=4, batch_size=4, mixed=False
    )
    for m, s in zip(mixed, switched, strict=True):
        assert m.timing["generated"] == 4 and m.metrics == s.metrics
        got = {r.sample_id: r.completion for r in mixed_store.iter_results(m.id)}
        want = {r.sample_id: r.completion for r in switched_store.iter_results(s.id)}
        assert {k: c.text for k, c in got.items()} == {k: c.text for k, c in want.items()}
        # each batch held the 4 prompts for all 3 adapters; the switched path 4 prompts of one
        assert {c.raw["batch_size"] for c in got.values()} == {12}
        assert {c.raw["batch_size"] for c in want.values()} == {4}


def _alone_logits(model: Any, name: str, enc: Any) -> Any:
    """The logits of `enc` with only adapter `name` active (BASE: adapters disabled)."""
    import torch

    if name == BASE:
        with torch.inference_mode(), model.disable_adapter():
            return model(**enc).logits
    model.set_adapter(name)
    with torch.inference_mode():
        return model(**enc).logits


def test_mixed_rows_equal_the_single_adapter_forward_in_bf16(
    tiny_model: Path, adapters: dict[str, Path], tmp_path: Path
) -> None:
    """In bf16 PEFT's own mixed-batch forward rounds each LoRA update before adding it, unlike its
    single-adapter forward; `exact_mixed_batches` adds it the single-adapter way: equal logits."""
    import torch

    texts = ["I was charged twice", "The app crashes when I open settings"]
    base = parse_spec(f"hf:{tiny_model}", workspace=tmp_path, dtype="bfloat16")
    with pytest.warns(UserWarning, match="trained on"):  # the adapters were trained on fp32
        multi = MultiAdapterHF(base, adapters, device="cpu", workspace=tmp_path)
        model = multi.hf.model
    tok = multi.hf.tokenizer
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    names = [*adapters, BASE]
    rows = {k: v.repeat_interleave(len(names), dim=0) for k, v in enc.items()}
    with torch.inference_mode():
        mixed = model(**rows, adapter_names=names * len(texts)).logits
    assert mixed.dtype == torch.bfloat16
    for j, name in enumerate(names):
        assert torch.equal(mixed[j :: len(names)], _alone_logits(model, name, enc)), name


@pytest.mark.parametrize("with_base", [False, True], ids=["adapters-only", "with-base"])
def test_mixed_rows_in_adapter_blocks_equal_the_single_adapter_forward_in_bf16(
    tiny_model: Path, adapters: dict[str, Path], tmp_path: Path, with_base: bool
) -> None:
    """Rows grouped in one block per adapter, as hf batches them: with only adapter rows the
    updates are added in one step for all rows (`_covers_in_order`), with base rows per block;
    either way each row's logits equal its adapter's single-adapter forward bit for bit."""
    import torch

    from harness.models.multi import _covers_in_order, adapter_groups
    from harness.models.routing import route_adapters

    texts = ["I was charged twice", "The app crashes when I open settings"]
    base = parse_spec(f"hf:{tiny_model}", workspace=tmp_path, dtype="bfloat16")
    with pytest.warns(UserWarning, match="trained on"):
        multi = MultiAdapterHF(base, adapters, device="cpu", workspace=tmp_path)
        model = multi.hf.model
    enc = multi.hf.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    names = [*adapters, BASE] if with_base else list(adapters)
    blocks = [n for n in names for _ in texts]
    assert _covers_in_order([g for g in adapter_groups(blocks) if g[0] != BASE], len(blocks)) != with_base
    rows = {k: v.repeat(len(names), 1) for k, v in enc.items()}
    with torch.inference_mode(), route_adapters(model, blocks):
        mixed = model(**rows).logits
    for j, name in enumerate(names):
        alone = _alone_logits(model, name, enc)
        assert torch.equal(mixed[j * len(texts) : (j + 1) * len(texts)], alone), name


def test_mixed_batches_decode_in_the_greedy_loop_like_generate(
    tiny_model: Path, adapters: dict[str, Path], tmp_path: Path
) -> None:
    """Greedy mixed batches run through hf_fast.lookup_generate (finished rows leave the batch, the
    adapter names follow the rows that stay) and equal PEFT's `generate(adapter_names=...)`, bf16."""
    from harness.models.hf_fast import generation_module

    base = parse_spec(f"hf:{tiny_model}", workspace=tmp_path, dtype="bfloat16")
    with pytest.warns(UserWarning, match="trained on"):
        multi = MultiAdapterHF(base, adapters, device="cpu", mixed_batch_size=12, workspace=tmp_path)
        hf = multi.hf
    rows = [(name, p) for p in PROMPTS for name in [*adapters, BASE]]
    hf.greedy_loop = False
    free = [c.text for c in multi.generate_mixed(rows, GenerationConfig(max_new_tokens=20))]
    # a stop string some rows write early and others late or never: rows finish apart
    for stop in sorted({t[k : k + 2] for t in free for k in range(1, len(t) - 2)}):
        config = GenerationConfig(max_new_tokens=20, stop=[stop])
        expected = [(c.text, c.completion_tokens, c.finish_reason) for c in multi.generate_mixed(rows, config)]
        if len({n for _, n, _ in expected}) > 2:
            break
    assert len({n for _, n, _ in expected}) > 2
    hf.greedy_loop = True
    rows_per_pass: list[int] = []
    hook = generation_module(hf.model).register_forward_pre_hook(
        lambda _m, _a, kw: rows_per_pass.append(int(kw["input_ids"].shape[0])), with_kwargs=True
    )
    try:
        got = [(c.text, c.completion_tokens, c.finish_reason) for c in multi.generate_mixed(rows, config)]
    finally:
        hook.remove()
    assert got == expected
    assert max(rows_per_pass) == 12 and min(rows_per_pass) < 12  # finished rows left the batch


def test_mixed_batches_share_each_adapters_prefix_like_separate_loads(
    tiny_model: Path, adapters: dict[str, Path], tmp_path: Path
) -> None:
    """With the shared-prefix cache on (the default), a mixed batch computes the prompts' shared
    prefix once per adapter and gives each row its own adapter's keys and values: its outputs
    equal each adapter loaded alone with the cache on, in bf16."""
    system = "You triage customer-support tickets for a web shop. Reply with one JSON object only."
    prompts = [[{"role": "system", "content": system}, p[-1]] for p in PROMPTS]
    config = GenerationConfig(max_new_tokens=12)
    ws = tmp_path / "ws"
    names = [*adapters, BASE]
    want: dict[str, list[Any]] = {}
    with pytest.warns(UserWarning, match="trained on"):
        for name in names:
            raw = f"hf:{tiny_model}" + ("" if name == BASE else f"+lora:{adapters[name]}")
            hf = HFBackend(parse_spec(raw, workspace=ws, dtype="bfloat16"), batch_size=3, device="cpu")
            assert hf.prefix_cache is not None
            want[name] = [(c.text, c.completion_tokens, c.finish_reason) for c in hf.generate(prompts, config)]
            assert all((c.raw or {}).get("prefix_cached_tokens", 0) >= 16 for c in hf.generate(prompts, config))
        base = parse_spec(f"hf:{tiny_model}", workspace=ws, dtype="bfloat16")
        multi = MultiAdapterHF(base, adapters, device="cpu", mixed_batch_size=12, workspace=ws)
        rows = [(name, p) for p in prompts for name in names]
        outs = multi.generate_mixed(rows, config)
    assert len({tuple(v) for v in want.values()}) >= 3  # in bf16 two of the tiny adapters agree here
    assert multi.hf.prefix_cache is not None and multi.hf.prefix_cache.computed == 4  # once per adapter
    for (name, p), c in zip(rows, outs, strict=True):
        assert (c.raw or {}).get("prefix_cached_tokens", 0) >= 16
        assert (c.text, c.completion_tokens, c.finish_reason) == want[name][prompts.index(p)], name


def test_mixed_prompt_pass_runs_each_adapters_rows_alone(
    tiny_model: Path, adapters: dict[str, Path], tmp_path: Path
) -> None:
    """A mixed batch prefills each adapter's rows in a pass of their own, as a separate load of that
    adapter prefills them (on some CPUs a bf16 prompt pass rounds a row differently with the number
    of rows: hf_fast.prefill_by_adapter), then decodes every row together."""
    from harness.models.hf_fast import generation_module

    base = parse_spec(f"hf:{tiny_model}", workspace=tmp_path, dtype="float32")
    multi = MultiAdapterHF(base, adapters, device="cpu", mixed_batch_size=12, workspace=tmp_path)
    hf = multi.hf
    names = [*adapters, BASE]
    rows = [(name, p) for p in PROMPTS for name in names]
    passes: list[tuple[int, int]] = []
    hook = generation_module(hf.model).register_forward_pre_hook(
        lambda _m, _a, kw: passes.append(tuple(kw["input_ids"].shape)), with_kwargs=True
    )
    try:
        outs = multi.generate_mixed(rows, GenerationConfig(max_new_tokens=4))
    finally:
        hook.remove()
    prompt_passes = [n for n, width in passes if width > 1]
    assert prompt_passes == [len(PROMPTS)] * len(names)
    assert max(n for n, width in passes if width == 1) == len(rows)  # decoded together
    assert [c.raw["batch_size"] for c in outs] == [len(rows)] * len(rows)
