"""Greedy batches decode in harness/models/hf_fast.lookup_generate (no drafts) instead of
transformers' `generate`: finished rows leave the batch, a last running row keeps one finished row
beside it, and every output (text, token count, finish reason) equals `generate`'s, on a Llama and
on a Gemma 3 whose prompts outgrow its sliding attention window."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.models import parse_spec
from harness.models.hf import HFBackend
from harness.models.tiny import build_tiny_gemma3
from harness.types import GenerationConfig

INPUTS = [
    "hi",
    "My package has not arrived yet, the tracking number shows no updates since Monday.",
    "refund please",
    "The app crashes every time I open the settings page on Android. " * 2,
    "I cannot log in to my account after resetting the password, please help.",
    "Could you add a dark mode to the dashboard?",
    "Paris is the capital of France.",
]
SYSTEM = "You triage customer-support tickets. Reply with the category, the priority and a summary."
PROMPTS = [[{"role": "system", "content": SYSTEM}, {"role": "user", "content": x}] for x in INPUTS]


def _key(c: Any) -> tuple[str, int, str]:
    return (c.text, c.completion_tokens, c.finish_reason)


@pytest.fixture(scope="module", params=["llama-float32", "llama-bfloat16", "gemma3-window8-bfloat16"])
def spec(request: pytest.FixtureRequest, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    arch, dtype = request.param.rsplit("-", 1)
    path = tiny_model if arch == "llama" else build_tiny_gemma3(tmp_path_factory.mktemp("gemma3") / "m")
    return parse_spec(f"hf:{path}", workspace=tmp_path_factory.mktemp("ws"), dtype=dtype)


@pytest.mark.parametrize("prefix_cache", [False, True], ids=["no-prefix", "prefix-cache"])
def test_greedy_loop_equals_generate(spec: Any, prefix_cache: bool) -> None:
    b = HFBackend(spec, batch_size=4, device="cpu", prefix_cache=prefix_cache, prompt_lookup="off")
    b.greedy_loop = False
    free = [c.text for c in b.generate(PROMPTS, GenerationConfig(max_new_tokens=24, temperature=0.0))]
    # a stop string the model writes, at different places in different rows: rows end apart
    for stop in sorted({t[k : k + 2] for t in free for k in range(1, len(t) - 2)}):
        config = GenerationConfig(max_new_tokens=24, temperature=0.0, stop=[stop])
        expected = [_key(c) for c in b.generate(PROMPTS, config)]
        if len({n for _, n, _ in expected}) > 2:
            break
    b.greedy_loop = True
    rows_per_pass: list[int] = []
    hook = b.model.register_forward_pre_hook(
        lambda _m, _a, kw: rows_per_pass.append(int(kw["input_ids"].shape[0])), with_kwargs=True
    )
    try:
        outs = b.generate(PROMPTS, config)
    finally:
        hook.remove()
    assert [_key(c) for c in outs] == expected
    if prefix_cache and getattr(b.model.config, "sliding_window", None) is None:  # the Llama used it
        assert all(c.raw and c.raw.get("prefix_cached_tokens", 0) >= 16 for c in outs)
    assert len({n for _, n, _ in expected}) > 2 and {f for _, _, f in expected} >= {"stop"}
    # finished rows left the batch, but never down to a lone row (batches of 4 and 3 prompts)
    assert min(rows_per_pass) == 2 and max(rows_per_pass) == 4


def test_window_is_outgrown_with_a_sliding_cache(spec: Any) -> None:
    """The Gemma 3 case really decodes past its sliding window, and the loop's cache keeps its
    sliding layers as `generate`'s does (a plain cache keeps every token: other kernel shapes)."""
    b = HFBackend(spec, batch_size=4, device="cpu", prefix_cache=False)
    window = getattr(b.model.config, "sliding_window", None)
    if window is None:
        assert "Llama" in type(b.model).__name__
        return
    assert min(len(b.tokenizer(b.render(p))["input_ids"]) for p in PROMPTS) > 3 * window
    layer_types: list[str] = []

    def seen(_m: Any, _a: Any, kw: dict[str, Any]) -> None:
        cache = kw.get("cache", kw.get("past_key_values"))
        layer_types.extend(type(layer).__name__ for layer in getattr(cache, "layers", []))

    hook = b.model.register_forward_pre_hook(seen, with_kwargs=True)
    try:
        b.generate(PROMPTS[:2], GenerationConfig(max_new_tokens=4, temperature=0.0))
    finally:
        hook.remove()
    assert "DynamicSlidingWindowLayer" in layer_types


def test_sampling_still_goes_through_generate(spec: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.models import hf_fast

    b = HFBackend(spec, batch_size=4, device="cpu", prefix_cache=False)
    monkeypatch.setattr(hf_fast, "lookup_generate", None)  # would fail if called
    monkeypatch.setattr("harness.models.hf.lookup_generate", None)
    outs = b.generate(PROMPTS[:2], GenerationConfig(max_new_tokens=6, temperature=0.7, seed=1))
    assert all(c.error is None for c in outs)


def test_peft_model_held_by_a_trainer_decodes_like_generate(tiny_model: Path) -> None:
    """While a Trainer holds a PEFT model, accelerate wraps the PEFT model's forward in bf16
    autocast; `generate` runs the base model's forward inside it, unwrapped, and so does the loop
    (the training-time evaluation of early stopping goes through it)."""
    import torch
    from accelerate import Accelerator
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.types import ModelSpec

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    held = Accelerator(mixed_precision="bf16", cpu=True).prepare_model(model)
    held.eval()
    tok = AutoTokenizer.from_pretrained(tiny_model)
    spec = ModelSpec(
        backend="hf", base=str(tiny_model), adapter="training", adapter_hash="step", dtype="float32"
    )
    b = HFBackend.from_model(spec, held, tok, batch_size=4, device="cpu", prefix_cache=False)
    config = GenerationConfig(max_new_tokens=16, temperature=0.0)
    b.greedy_loop = False
    expected = [_key(c) for c in b.generate(PROMPTS, config)]
    b.greedy_loop = True
    assert [_key(c) for c in b.generate(PROMPTS, config)] == expected
    # the wrapper would have mattered: the wrapped forward's argmax differs somewhere
    ids = tok([b.render(p) for p in PROMPTS[:1]], return_tensors="pt")
    with torch.inference_mode():
        wrapped = held(**ids).logits.float()
        plain = held.get_base_model()(**ids).logits.float()
    assert not torch.equal(wrapped, plain)


def test_decoding_loop_feeds_the_model_on_its_device() -> None:
    """On CUDA the loop once added host-side step offsets to device-side positions (seen on an H200:
    every greedy batch failed). The meta device stands in for the GPU here: each tensor the model and
    the cache receive is on it, and the loop's bookkeeping never copies back from it (meta tensors
    hold no data). Rows stop apart (finished rows leave the batch) and drafts are accepted."""
    from types import SimpleNamespace

    import torch

    from harness.models.hf_fast import batch_layout, lookup_generate

    seen: list[tuple[str, str]] = []

    class Net:
        config = None

        def __call__(self, input_ids: Any, attention_mask: Any, position_ids: Any, **kwargs: Any) -> Any:
            for name, t in (("input_ids", input_ids), ("mask", attention_mask), ("positions", position_ids)):
                seen.append((name, t.device.type))
            logits = torch.zeros(input_ids.shape[0], input_ids.shape[1], 10)
            logits[..., 7] = 1.0  # always token 7: the prompts' 7 7 7 runs make drafts that are accepted
            return SimpleNamespace(logits=logits)

    class Cache:
        def batch_select_indices(self, index: Any) -> None:
            seen.append(("cache index", index.device.type))

    rows = [[1, 7, 7, 7, 2], [3, 4, 7, 7, 7, 7, 5, 6], [2, 7, 7, 7]]
    input_ids, attn, _ = batch_layout(rows, 0, 0)
    outs = lookup_generate(
        Net(),
        rows,
        input_ids,
        attn,
        prefix_len=0,
        cache=Cache(),
        max_new_tokens=12,
        eos_ids=[1],
        stopping=lambda ids, _scores: [ids.shape[1] >= 14],  # rows of different lengths end apart
        pad_id=0,
        num_tokens=3,
        device="meta",
    )
    assert [len([t for t in o if t == 7]) for o in outs] == [9, 6, 10]
    assert ("cache index", "meta") in seen  # a finished row left the batch
    assert {device for _, device in seen} == {"meta"}


def test_greedy_pick_is_argmax_first_index_on_ties() -> None:
    """The loop picks tokens with `max(...).indices` (faster than `argmax` on bf16 CPU logits); it
    must pick exactly what argmax picks, the first index among equal maxima included."""
    import torch

    from harness.models.hf_fast import greedy_pick

    gen = torch.Generator().manual_seed(0)
    for dtype in (torch.bfloat16, torch.float32):
        for _ in range(50):
            logits = (torch.randn(6, 3, 997, generator=gen) * 2).round().to(dtype)  # many exact ties
            assert torch.equal(greedy_pick(logits), logits.argmax(-1))
    tied = torch.zeros(2, 10, dtype=torch.bfloat16)
    tied[:, [3, 7]] = 1.0
    assert greedy_pick(tied).tolist() == [3, 3]


def test_only_plain_dynamic_caches_are_merged_per_adapter() -> None:
    """prefill_by_adapter merges per-adapter caches by their keys and values; a cache whose layers
    keep other state (a quantized or linear-attention layer, a subclass) prefills in one pass."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    from harness.models.hf_fast import mergeable_cache

    class OtherLayer(DynamicLayer):
        pass

    plain = DynamicCache()
    plain.layers = [DynamicLayer(), DynamicLayer()]
    assert mergeable_cache(plain)
    other = DynamicCache()
    other.layers = [DynamicLayer(), OtherLayer()]
    assert not mergeable_cache(other)
    assert not mergeable_cache(object())


def test_margins_are_the_top_two_gap_at_each_emitted_token(spec: Any) -> None:
    """`lookup_generate(margins=...)` records, per row and emitted token, the gap between the two
    largest logits the token was picked from: the first token's equals the gap of the prompt's
    last-position logits, every gap is >= 0, and recording them changes no token."""
    import torch

    from harness.models.hf_fast import batch_layout, lookup_generate

    hf = HFBackend(spec, batch_size=8, prefix_cache=False)
    rows = [hf._encode(hf.render(p)) for p in PROMPTS[:4]]
    pad = hf.tokenizer.pad_token_id

    def decode(margins: list[list[float]] | None, k: int) -> list[list[int]]:
        ids, attn, _ = batch_layout(rows, 0, pad)
        return lookup_generate(
            hf.model, rows, ids, attn, prefix_len=0, cache=None, max_new_tokens=12,
            eos_ids=hf.eos_ids, stopping=None, pad_id=pad, num_tokens=k, margins=margins,
        )  # fmt: skip

    for k in (0, 3):
        margins: list[list[float]] = []
        toks = decode(margins, k)
        assert toks == decode(None, k)
        assert len(margins) == len(rows)
        for row_toks, gaps in zip(toks, margins, strict=True):
            assert 1 <= len(gaps) <= len(row_toks) and all(g >= 0 for g in gaps)
    ids, attn, _ = batch_layout(rows, 0, pad)
    with torch.inference_mode():
        last = hf.model(input_ids=ids, attention_mask=attn).logits[:, -1].float()
    top = last.topk(2, dim=-1).values
    want = (top[:, 0] - top[:, 1]).tolist()
    assert [m[0] for m in margins] == pytest.approx(want, abs=1e-6)
