"""Cheaper generation that stays identical (harness/models/hf_fast.py, issue 16 part 3): the shared-
prefix KV cache and prompt-lookup decoding give the same greedy outputs as plain batched decoding
and as one prompt at a time, with left padding, mixed lengths, several batches and adapters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.models import parse_spec
from harness.models.hf import HFBackend
from harness.models.hf_fast import batch_layout, common_len, lookup_draft, shared_prefix_len, smallest_window
from harness.types import GenerationConfig

SYSTEM = (
    "You triage customer-support tickets. Reply with only a JSON object with the keys category, "
    "priority and summary."
)
FEWSHOT = [
    {"role": "user", "content": "I was charged twice for the monthly subscription."},
    {
        "role": "assistant",
        "content": '{"category": "billing", "priority": "high", "summary": "double charge"}',
    },
]
INPUTS = [
    "hi",
    "My package has not arrived yet, the tracking number shows no updates since Monday.",
    "refund please",
    "The app crashes every time I open the settings page on Android. " * 3,
    "I cannot log in to my account after resetting the password, please help.",
    "Could you add a dark mode to the dashboard?",
    "Paris is the capital of France.",
]
PROMPTS = [[{"role": "system", "content": SYSTEM}, *FEWSHOT, {"role": "user", "content": x}] for x in INPUTS]
GREEDY = GenerationConfig(max_new_tokens=12, temperature=0.0)


def backend(spec: Any, batch_size: int, **kw: Any) -> HFBackend:
    return HFBackend(spec, batch_size=batch_size, device="cpu", **kw)


@pytest.fixture(scope="module", params=["float32", "bfloat16"])
def spec(request: pytest.FixtureRequest, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return parse_spec(f"hf:{tiny_model}", workspace=tmp_path_factory.mktemp("ws"), dtype=request.param)


@pytest.fixture(scope="module")
def reference(spec: Any) -> list[tuple[str, int, str]]:
    """One prompt at a time, no prefix cache, no prompt lookup."""
    alone = backend(spec, 1, prefix_cache=False, prompt_lookup="off")
    return [_key(alone.generate([p], GREEDY)[0]) for p in PROMPTS]


def _key(c: Any) -> tuple[str, int, str]:
    return (c.text, c.completion_tokens, c.finish_reason)


def test_shared_prefix_is_long_and_lengths_differ(spec: Any) -> None:
    b = backend(spec, 4, prefix_cache=False)
    enc = [b.tokenizer(b.render(p), add_special_tokens=False)["input_ids"] for p in PROMPTS]
    assert len({len(e) for e in enc}) == len(enc)  # every batch is padded
    assert shared_prefix_len(enc) >= 40


def test_prefix_cache_gives_identical_outputs(spec: Any, reference: list[tuple[str, int, str]]) -> None:
    plain = backend(spec, 4, prefix_cache=False, prompt_lookup="off")
    cached = backend(spec, 4, prefix_cache=True, prompt_lookup="off")
    got_plain = [_key(c) for c in plain.generate(PROMPTS, GREEDY)]
    outs = cached.generate(PROMPTS, GREEDY)
    assert [_key(c) for c in outs] == got_plain == reference
    assert any(text for text, _, _ in reference)
    # both batches (4 + 3 prompts) used the cache: computed once, reused by the second batch
    assert all(c.raw and c.raw.get("prefix_cached_tokens", 0) >= 40 for c in outs)
    assert cached.prefix_cache is not None
    assert cached.prefix_cache.computed == 1 and cached.prefix_cache.reused == 1
    # a second call (the runner calls once per batch) reuses it again, with the same outputs
    again = cached.generate(PROMPTS[::-1], GREEDY)
    assert [_key(c) for c in again] == reference[::-1]
    assert cached.prefix_cache.computed == 1


def test_prefix_cache_crops_a_longer_stored_prefix(spec: Any, reference: list[tuple[str, int, str]]) -> None:
    """Two prompts that share more than the rest store a longer prefix; later batches use a cropped copy."""
    b = backend(spec, 2, prefix_cache=True, prompt_lookup="off")
    twins = [PROMPTS[1], [*PROMPTS[1][:-1], {"role": "user", "content": INPUTS[1] + " Thanks."}]]
    b.generate(twins, GREEDY)
    long_len = max(len(k[1]) for k in b.prefix_cache._entries)  # type: ignore[union-attr]
    outs = b.generate(PROMPTS, GREEDY)
    assert [_key(c) for c in outs] == reference
    used = {c.raw["prefix_cached_tokens"] for c in outs if c.raw and "prefix_cached_tokens" in c.raw}
    assert used and max(used) < long_len


def test_sampling_with_prefix_cache_is_unchanged(spec: Any) -> None:
    cfg = GenerationConfig(max_new_tokens=8, temperature=0.8, top_p=0.95, seed=3)
    plain = backend(spec, 4, prefix_cache=False).generate(PROMPTS, cfg)
    cached = backend(spec, 4, prefix_cache=True).generate(PROMPTS, cfg)
    assert [_key(c) for c in cached] == [_key(c) for c in plain]


LONG = GenerationConfig(max_new_tokens=40, temperature=0.0)


@pytest.fixture(scope="module")
def reference_long(spec: Any) -> list[tuple[str, int, str]]:
    alone = backend(spec, 1, prefix_cache=False, prompt_lookup="off")
    return [_key(alone.generate([p], LONG)[0]) for p in PROMPTS]


@pytest.mark.parametrize("tokens", [3, 10])
def test_batched_prompt_lookup_gives_identical_outputs(
    spec: Any, reference_long: list[tuple[str, int, str]], tokens: int
) -> None:
    """The whole batch decodes with drafts (different acceptance per row, rejected drafts masked),
    with the shared-prefix cache, and fewer forward passes than one per token."""
    b = backend(spec, 4, prefix_cache=True, prompt_lookup="on", prompt_lookup_tokens=tokens)
    calls = [0]
    hook = b.model.register_forward_pre_hook(lambda _m, _a: calls.__setitem__(0, calls[0] + 1))
    try:
        outs = b.generate(PROMPTS, LONG)
    finally:
        hook.remove()
    assert [_key(c) for c in outs] == reference_long
    assert {c.raw["batch_size"] for c in outs if c.raw} == {4, 3}
    assert all(c.raw and c.raw["prompt_lookup"] == "on" and c.raw["prefix_cached_tokens"] >= 40 for c in outs)
    # plain decoding: one prefix pass, then a prefill and 39 decode steps per batch
    assert calls[0] < 1 + 2 * 40


def test_batched_prompt_lookup_stops_and_pads_like_generate(spec: Any) -> None:
    """A stop string and EOS end rows at different lengths: texts, token counts and finish reasons
    equal plain decoding's."""
    b = backend(spec, 4, prompt_lookup="off")
    plain = b.generate(PROMPTS, LONG)
    stop = next(t[3:5] for t, _, _ in map(_key, plain) if len(t) > 6)  # a string the model writes
    cfg = GenerationConfig(max_new_tokens=40, temperature=0.0, stop=[stop])
    want = [_key(c) for c in backend(spec, 4, prompt_lookup="off").generate(PROMPTS, cfg)]
    assert any(f == "stop" for _, _, f in want)
    got = [
        _key(c) for c in backend(spec, 4, prompt_lookup="on", prompt_lookup_tokens=4).generate(PROMPTS, cfg)
    ]
    assert got == want


def test_prompt_lookup_falls_back_to_assisted_generation(
    spec: Any, reference: list[tuple[str, int, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With logits processors in play, transformers' batch-1 assisted generation is used (and no
    prefix cache: it would prefill the prefix twice)."""
    import harness.models.hf as hf_module

    monkeypatch.setattr(hf_module, "greedy_is_plain_argmax", lambda model: False)
    b = backend(spec, 4, prefix_cache=True, prompt_lookup="off", prompt_lookup_tokens=4)
    b.generate(PROMPTS, GREEDY)  # a prefix is stored: assisted generation must not use it
    b.prompt_lookup = "on"
    outs = b.generate(PROMPTS, GREEDY)
    assert [_key(c) for c in outs] == reference
    assert all(c.raw and c.raw["prompt_lookup"] == "on" and c.raw["batch_size"] == 1 for c in outs)
    assert all(c.raw and "prefix_cached_tokens" not in c.raw for c in outs)


def test_greedy_is_plain_argmax(spec: Any) -> None:
    from harness.models.hf_fast import greedy_is_plain_argmax

    b = backend(spec, 4)
    assert greedy_is_plain_argmax(b.model)
    b.model.generation_config.repetition_penalty = 1.3
    try:
        assert not greedy_is_plain_argmax(b.model)
    finally:
        b.model.generation_config.repetition_penalty = 1.0


def test_prompt_lookup_verify_and_auto(spec: Any, reference: list[tuple[str, int, str]]) -> None:
    """verify keeps the plain outputs and counts differences; auto uses lookup alone only after
    its first prompts all matched, and never after a difference."""
    verify = backend(spec, 4, prompt_lookup="verify")
    outs = verify.generate(PROMPTS, GREEDY)
    assert [_key(c) for c in outs] == reference
    tags = [c.raw["prompt_lookup"] for c in outs if c.raw]
    assert verify.lookup_checked == len(PROMPTS) == len(tags)
    assert verify.lookup_differed == tags.count("differs") and set(tags) <= {"same", "differs"}
    auto = backend(spec, 4, prompt_lookup="auto", prompt_lookup_verify_n=4)
    outs = auto.generate(PROMPTS, GREEDY)
    assert [_key(c) for c in outs] == reference
    tags = [c.raw.get("prompt_lookup") for c in outs if c.raw]
    assert tags.count("same") + tags.count("differs") == 4 == auto.lookup_checked
    if auto.lookup_differed:  # the second batch ran plain
        assert tags.count(None) == 3
    else:  # the second batch ran with lookup alone
        assert tags.count("on") == 3
    # a difference switches it off for the rest of the backend's life
    auto.lookup_differed = 1
    assert all(c.raw and "prompt_lookup" not in c.raw for c in auto.generate(PROMPTS[:2], GREEDY))
    # sampling never uses it
    assert backend(spec, 4, prompt_lookup="on")._lookup_mode(GenerationConfig(temperature=0.7)) == "off"


def test_bad_prompt_lookup_mode_refused(spec: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="prompt_lookup"):
        backend(spec, 4, prompt_lookup="sometimes")
    monkeypatch.setenv("TUNEBENCH_PREFIX_CACHE", "0")
    monkeypatch.setenv("TUNEBENCH_PROMPT_LOOKUP", "verify")
    b = backend(spec, 4)
    assert b.prefix_cache is None and b.prompt_lookup == "verify"


def test_adapters_keep_their_own_prefix_cache(tiny_model: Path, tmp_path: Path) -> None:
    """The cached prefix belongs to the weights that computed it: switching the active adapter of
    one loaded model must not reuse another adapter's keys and values."""
    from lora_builders import make_adapter

    from harness.models.multi import MultiAdapterHF

    adapters = {n: make_adapter(tiny_model, tmp_path / n, seed) for n, seed in (("a", 1), ("b", 2))}
    base = parse_spec(f"hf:{tiny_model}", workspace=tmp_path, dtype="float32")
    multi = MultiAdapterHF(base, adapters, batch_size=4, device="cpu", workspace=tmp_path)
    got = {n: [_key(c) for c in multi.backend(n).generate(PROMPTS, GREEDY)] for n in ("a", "b", "a")}
    for name, path in adapters.items():
        single = parse_spec(f"hf:{tiny_model}+lora:{path}", workspace=tmp_path, dtype="float32")
        alone = backend(single, 4, prefix_cache=False)
        assert got[name] == [_key(c) for c in alone.generate(PROMPTS, GREEDY)]
    assert got["a"] != got["b"]


def test_helpers() -> None:
    assert common_len([1, 2, 3], [1, 2, 4]) == 2
    assert shared_prefix_len([[1, 2, 3], [1, 2, 3, 4]]) == 2  # one token left to prefill
    assert shared_prefix_len([[5, 1], [6, 1]]) == 0
    # the first earlier occurrence of the last 2 tokens (else the last one), up to k tokens after it
    assert lookup_draft([1, 2, 3, 4, 9, 1, 2], 2) == [3, 4]
    assert lookup_draft([7, 5, 8, 6, 5], 3) == [8, 6, 5]
    assert lookup_draft([1, 2, 3], 3) == [] and lookup_draft([1, 2, 1], 0) == []
    ids, attn, width = batch_layout([[1, 2, 3, 4], [1, 2, 5]], 2, 0)
    assert width == 4
    assert ids.tolist() == [[1, 2, 3, 4], [1, 2, 0, 5]]
    assert attn.tolist() == [[1, 1, 1, 1], [1, 1, 0, 1]]

    class Cfg:
        sliding_window = 512
        layer_types = ["sliding_attention", "full_attention"]

    class M:
        config = Cfg()

    assert smallest_window(M()) == 512
    Cfg.layer_types = ["full_attention"]
    assert smallest_window(M()) is None
