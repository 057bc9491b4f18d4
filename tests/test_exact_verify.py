"""Exact prompt-lookup verification (harness/models/exact_verify.py, `lookup_generate(exact=True)`):
every emitted token equals `generate`'s greedy token and comes from bit-for-bit the same logits
(the top-two gap at every token equals the one `generate` scored), with drafts accepted on the way;
each pass stays within the probed row bound; the probe finds the bound; the cache layer writes each
row where its own tokens end; and where exactness cannot hold the batch decodes plainly."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.models import exact_verify, parse_spec
from harness.models.hf import HFBackend
from harness.models.hf_fast import batch_layout, lookup_generate
from harness.models.tiny import build_tiny_gemma3
from harness.types import GenerationConfig

TEXTS = [
    "ok ok ok",
    "the tracking number 1 2 3 4 5 6 7 8 9 shows the tracking number 1 2 3 4 5",
    "refund refund refund please",
    "The app crashes on the settings page. The app crashes on the settings page.",
    "I cannot log in to my account after resetting the password, please help me log in",
]
MAX_NEW = 40


@pytest.fixture(scope="module", params=["gemma3-bfloat16", "llama-bfloat16", "llama-float32"])
def hf(request: pytest.FixtureRequest, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    arch, dtype = request.param.split("-")
    path = (
        tiny_model
        if arch == "llama"  # Gemma 3 with a window its prompts do not reach, and GQA (2 heads, 1 kv)
        else build_tiny_gemma3(tmp_path_factory.mktemp("gemma3") / "m", sliding_window=256, seed=1)
    )
    spec = parse_spec(f"hf:{path}", workspace=tmp_path_factory.mktemp("ws"), dtype=dtype)
    return HFBackend(spec, batch_size=8, device="cpu", prefix_cache=False, prompt_lookup="off")


def _rows(hf: Any, texts: list[str]) -> list[list[int]]:
    return [hf._encode(hf.render([{"role": "user", "content": t}])) for t in texts]


def _generate(hf: Any, rows: list[list[int]]) -> tuple[list[list[int]], list[list[float]]]:
    """`generate`'s greedy tokens per row (up to and with EOS) and the top-two gap of its scores."""
    import torch

    ids, attn, _ = batch_layout(rows, 0, hf.tokenizer.pad_token_id)
    with torch.inference_mode():
        out = hf.model.generate(
            input_ids=ids, attention_mask=attn, max_new_tokens=MAX_NEW, do_sample=False, temperature=None,
            top_p=None, top_k=None, pad_token_id=hf.tokenizer.pad_token_id, eos_token_id=hf.eos_ids,
            output_scores=True, return_dict_in_generate=True,
        )  # fmt: skip
    toks, gaps = [], []
    for r in range(len(rows)):
        row = out.sequences[r, ids.shape[1] :].tolist()
        n = next((i + 1 for i, t in enumerate(row) if t in hf.eos_ids), len(row))
        toks.append(row[:n])
        top = [s[r].float().topk(2).values for s in out.scores[:n]]
        gaps.append([float(t[0] - t[1]) for t in top])
    return toks, gaps


def _exact(
    hf: Any, rows: list[list[int]], k: int = 4
) -> tuple[list[list[int]], list[list[float]], list[tuple[int, int]]]:
    """Exact lookup's tokens and gaps per row, and the (rows, tokens) of each decode pass."""
    ids, attn, _ = batch_layout(rows, 0, hf.tokenizer.pad_token_id)
    shapes: list[tuple[int, int]] = []
    hook = hf.model.register_forward_pre_hook(
        lambda _m, _a, kw: shapes.append(tuple(kw["input_ids"].shape)), with_kwargs=True
    )
    margins: list[list[float]] = []
    try:
        toks = lookup_generate(
            hf.model, rows, ids, attn, prefix_len=0, cache=None, max_new_tokens=MAX_NEW, eos_ids=hf.eos_ids,
            stopping=None, pad_id=hf.tokenizer.pad_token_id, num_tokens=k, margins=margins, exact=True,
        )  # fmt: skip
    finally:
        hook.remove()
    trimmed = [t[: len(g)] for t, g in zip(toks, margins, strict=True)]
    return trimmed, margins, shapes[1:]  # without the prompt pass


@pytest.mark.parametrize("layout", ["padded", "unpadded"])
def test_exact_lookup_computes_every_token_as_generate(hf: Any, layout: str) -> None:
    texts = TEXTS if layout == "padded" else [TEXTS[1]] * 3  # equal lengths: `generate` passes no mask
    rows = _rows(hf, texts)
    assert (len({len(r) for r in rows}) > 1) == (layout == "padded")
    want_toks, want_gaps = _generate(hf, rows)
    toks, gaps, passes = _exact(hf, rows)
    assert toks == want_toks
    assert gaps == want_gaps  # the same logits bit for bit: every top-two gap equal, not approximately
    # drafts were accepted: the decode passes emitted more tokens than they held rows
    assert sum(len(t) - 1 for t in toks) > sum(r for r, _ in passes)


def test_each_pass_stays_within_the_row_bound(hf: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _rows(hf, TEXTS[:3])
    want, _ = _generate(hf, rows)
    monkeypatch.setattr(exact_verify, "row_bounds", lambda _model, _rows, limit=64: (1, 8))
    toks, _, passes = _exact(hf, rows, k=6)
    assert toks == want
    assert max(r * w for r, w in passes) <= 8 and max(w for _, w in passes) > 1
    # a bound below the batch: no drafts at all, one token per row and pass
    monkeypatch.setattr(exact_verify, "row_bounds", lambda _model, _rows, limit=64: (1, 2))
    toks, _, passes = _exact(hf, rows, k=6)
    assert toks == want and max(w for _, w in passes) == 1


def test_padding_tokens_fill_a_pass_up_to_the_bound(hf: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """With 1-token drafts and at least 4 rows x tokens per pass, a lone row's chunk is padded past
    its draft (the cache has room for it) and the outputs stay `generate`'s."""
    rows = _rows(hf, TEXTS[:3])
    want, _ = _generate(hf, rows)
    monkeypatch.setattr(exact_verify, "row_bounds", lambda _model, _rows, limit=64: (4, 8))
    toks, _, passes = _exact(hf, rows, k=1)
    assert toks == want and min(r * w for r, w in passes) >= 4 and max(w for _, w in passes) > 2


def test_other_attention_kernels_decode_plainly(hf: Any) -> None:
    config = hf.model.config
    rows = _rows(hf, TEXTS[:3])
    before = config._attn_implementation
    config._attn_implementation = "eager"  # plain decoding would not run SDPA: nothing to emulate
    try:
        want, _ = _generate(hf, rows)
        toks, _, passes = _exact(hf, rows)
    finally:
        config._attn_implementation = before
    assert toks == want and max(w for _, w in passes) == 1


def test_backend_exact_mode_equals_generate_and_skips_the_prefix_cache(hf: Any) -> None:
    prompts = [[{"role": "user", "content": t}] for t in TEXTS]
    config = GenerationConfig(max_new_tokens=MAX_NEW, temperature=0.0)
    plain = HFBackend.from_model(hf.spec, hf.model, hf.tokenizer, batch_size=8, prefix_cache=False)
    plain.greedy_loop = False  # transformers' generate
    want = [(c.text, c.completion_tokens, c.finish_reason) for c in plain.generate(prompts, config)]
    exact = HFBackend.from_model(
        hf.spec, hf.model, hf.tokenizer, batch_size=8, prefix_cache=True, prompt_lookup="exact"
    )
    got = exact.generate(prompts, config)
    assert [(c.text, c.completion_tokens, c.finish_reason) for c in got] == want
    assert all(c.raw and c.raw.get("prompt_lookup") == "exact" for c in got)
    assert not any(c.raw.get("prefix_cached_tokens") for c in got if c.raw)


def test_a_reached_window_decodes_plainly(tiny_model: Path, tmp_path: Path) -> None:
    path = build_tiny_gemma3(tmp_path / "m", sliding_window=8)
    spec = parse_spec(f"hf:{path}", workspace=tmp_path / "ws", dtype="bfloat16")
    hf = HFBackend(spec, batch_size=8, device="cpu", prefix_cache=False, prompt_lookup="off")
    rows = _rows(hf, TEXTS[:3])
    want, _ = _generate(hf, rows)
    toks, _, passes = _exact(hf, rows)
    assert toks == want and max(w for _, w in passes) == 1  # no drafts: one token per row and pass


def test_probe_finds_where_rows_stop_being_computed_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(16, 24), torch.nn.Linear(24, 8)).to(torch.bfloat16)
    exact_verify._invariant_cache.clear()
    assert exact_verify.row_bounds(model, 4, limit=40) == (1, 40)  # small bf16 products: rows alike
    real = torch.nn.functional.linear
    calls = []

    def drifting(x: Any, w: Any, b: Any = None) -> Any:  # a lone row and 6+ rows round differently
        calls.append(x.shape[0])
        y = real(x, w, b)
        return y + 1e-2 if x.shape[0] > 5 or x.shape[0] == 1 else y

    monkeypatch.setattr(torch.nn.functional, "linear", drifting)
    exact_verify._invariant_cache.clear()
    assert exact_verify.row_bounds(model, 4, limit=40) == (2, 5)
    n = len(calls)
    assert exact_verify.row_bounds(model, 4, limit=40) == (2, 5) and len(calls) == n  # cached
    assert exact_verify.row_bounds(model, 41, limit=40) == (0, 0)
    exact_verify._invariant_cache.clear()


def test_a_lone_row_keeps_two_rows_per_pass_where_one_differs(
    hf: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _rows(hf, TEXTS[:3])
    want, _ = _generate(hf, rows)
    monkeypatch.setattr(exact_verify, "row_bounds", lambda _model, _rows, limit=64: (2, 8))
    toks, _, passes = _exact(hf, rows)
    assert toks == want and min(r * w for r, w in passes) >= 2


def test_row_offset_layer_writes_each_row_where_its_tokens_end() -> None:
    import torch
    from transformers.cache_utils import DynamicLayer

    layer = DynamicLayer()
    keys = torch.arange(2 * 3 * 2, dtype=torch.float32).reshape(2, 1, 3, 2)
    layer.update(keys, -keys)
    off = exact_verify.RowOffsetLayer.from_layer(layer, 7)  # room for 7 more tokens: 10 in all
    model = SimpleNamespace(config=SimpleNamespace(_attn_implementation="sdpa"))
    valid = torch.ones((2, 10), dtype=torch.bool)
    new = torch.full((2, 1, 2, 2), 100.0)
    new[1] = 200.0
    with exact_verify.exact_pass(model, [3, 1], [2, 2], valid, no_mask=False):
        assert model.config._attn_implementation == exact_verify.IMPLEMENTATION
        k, v = off.update(new, -new)
    assert model.config._attn_implementation == "sdpa"
    assert k.shape == (2, 1, 5, 2) and torch.equal(v, -k)
    assert torch.equal(k[0, 0, :3], keys[0, 0]) and (k[0, 0, 3:5] == 100).all()
    # row 1 ends after 1 token: its chunk overwrites what lay at 1..2 (rejected drafts)
    assert torch.equal(k[1, 0, :1], keys[1, 0, :1]) and (k[1, 0, 1:3] == 200).all()
    off.batch_select_indices(torch.tensor([1]))
    assert off.keys.shape[0] == 1 and (off.keys[0, 0, 1:3] == 200).all()
    with pytest.raises(RuntimeError, match="outside exact_pass"):
        off.update(new, new)


def test_queries_are_grouped_by_the_keys_a_plain_step_attends() -> None:
    groups = exact_verify.query_groups([5, 3, 5], [2, 3, 0], "cpu")
    got = {n: sorted(zip(r.tolist(), i.tolist(), strict=True)) for n, r, i in groups}
    assert got == {4: [(1, 0)], 5: [(1, 1)], 6: [(0, 0), (1, 2)], 7: [(0, 1)]}


@pytest.mark.slow
def test_embedded_gemma_exact_lookup_equals_generate_on_benchmark_items(workspace: Path) -> None:
    """The lm-eval benchmark's setting on the embedded Gemma 3 (bf16): ticket-triage test items,
    0-shot, batch 8, 64 new tokens; two batches, one holding tt-test-0032 (a base-model rambling
    whose near-tie flipped under plain prompt lookup on the Intel CPU, benchmark row 5f)."""
    from harness import load_split, load_suite
    from harness.models.hf import _batch_order
    from harness.prompts import build_messages

    suite = load_suite("ticket-triage")
    samples = load_split(suite, "test", 40)
    hf = HFBackend(parse_spec("default"), batch_size=8, prefix_cache=False, prompt_lookup="exact")
    prompts = [build_messages(s, suite.prompt) for s in samples]
    keys = [_batch_order(t, hf._encode(t)) for t in (hf.render(p) for p in prompts)]
    order = sorted(range(len(samples)), key=lambda i: keys[i])
    at = next(n for n, i in enumerate(order) if samples[i].id == "tt-test-0032") // 8 * 8
    pick = sorted(order[:8] + order[at : at + 8])
    config = GenerationConfig(max_new_tokens=64, temperature=0.0, stop=["\n"])
    chosen = [prompts[i] for i in pick]
    plain = HFBackend.from_model(hf.spec, hf.model, hf.tokenizer, batch_size=8, prefix_cache=False)
    plain.greedy_loop = False  # transformers' generate
    want = [(c.text, c.completion_tokens) for c in plain.generate(chosen, config)]
    passes: list[int] = []
    hook = hf.model.register_forward_pre_hook(lambda *_a, **_k: passes.append(1), with_kwargs=True)
    try:
        got = hf.generate(chosen, config)
    finally:
        hook.remove()
    assert "tt-test-0032" in {samples[i].id for i in pick} and len(pick) == 16
    assert [(c.text, c.completion_tokens) for c in got] == want
    assert all(c.raw and c.raw.get("prompt_lookup") == "exact" for c in got)
    assert len(passes) < 2 * max(n for _, n in want)  # drafts accepted: fewer passes than plain decoding
