"""Buffered key/value cache layers (harness/models/kv_buffer.py) hand the attention exactly what
transformers' DynamicLayer and DynamicSlidingWindowLayer hand it, step after step: across buffer
growth, a sliding window that fills, rows leaving the batch, multi-token steps, and the mask sizes."""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

from harness.models.kv_buffer import BufferedLayer, BufferedSlidingLayer, buffer_cache


def _states(gen: torch.Generator, rows: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(rows, 2, n, 4, generator=gen), torch.randn(rows, 2, n, 4, generator=gen)


@pytest.mark.parametrize("sliding", [False, True], ids=["full", "sliding"])
def test_buffered_layer_returns_what_the_dynamic_layer_returns(sliding: bool) -> None:
    gen = torch.Generator().manual_seed(0)
    window = 6

    def fresh() -> DynamicLayer:
        return DynamicSlidingWindowLayer(sliding_window=window) if sliding else DynamicLayer()

    plain, other = fresh(), fresh()
    prompt = _states(gen, 4, 5)
    plain.update(*prompt)
    other.update(*prompt)
    buffered = (BufferedSlidingLayer if sliding else BufferedLayer).from_layer(other, spare=2)
    rows = 4
    # one-token steps, multi-token steps (drafts), past the spare room and past the window
    for step, n in enumerate([1, 1, 3, 1, 4, 1, 1, 2, 1, 1, 5, 1]):
        if step == 6:  # two rows leave the batch
            keep = torch.tensor([0, 2])
            plain.batch_select_indices(keep)
            buffered.batch_select_indices(keep)
            rows = 2
        k, v = _states(gen, rows, n)
        want = plain.update(k.clone(), v.clone())
        got = buffered.update(k.clone(), v.clone())
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1]), step
        assert torch.equal(buffered.keys, plain.keys) and torch.equal(buffered.values, plain.values)
        assert buffered.get_seq_length() == plain.get_seq_length()
        assert buffered.get_mask_sizes(1) == plain.get_mask_sizes(1)
    assert isinstance(buffered, type(plain))  # readers that check the layer's kind still see it


def test_buffer_cache_swaps_dynamic_layers_only() -> None:
    gen = torch.Generator().manual_seed(1)
    cache = DynamicCache()
    for i in range(2):
        cache.update(*_states(gen, 2, 3), layer_idx=i)
    assert buffer_cache(cache, 8)
    assert [type(x) for x in cache.layers] == [BufferedLayer, BufferedLayer]
    assert cache.get_seq_length() == 3
    assert not buffer_cache(cache, 8)  # already buffered: left as it is
    assert not buffer_cache(DynamicCache(), 8)  # nothing filled yet
