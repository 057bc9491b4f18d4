"""Prompt-lookup verification that computes every token as plain greedy decoding computes it.

Prompt lookup feeds a row its last token plus drafted tokens in one forward pass and keeps the
drafts the model agrees with. In exact arithmetic that is greedy decoding; in bf16 on a CPU it is
not quite: a multi-token pass rounds differently from the one-token steps of `generate` (measured
on Gemma 3 270M, Intel Xeon with AMX: 39/40 benchmark items identical, tests/benchmarks/README.md
row 5f). Three things change a token's arithmetic there, and this module removes each:

- **Rows per matrix product.** oneDNN picks its kernel by shape: on that CPU a row of `x @ W.T` is
  the same bit for bit in any bf16 product of 1 to 32 rows and differs beyond (fp32 there: 1, 2
  and 3+ rows are three kernels). `row_bounds` finds, for a model's own linear layers on this
  machine, the row counts that compute a row as `generate`'s batch of the same rows does (a probe
  with random rows, once per process), and the decoding loop keeps rows x tokens of each pass in
  that range.
- **Key layout.** Plain decoding keeps each row's keys contiguous (left padding, prompt, output);
  rejected drafts left in the cache as masked gaps shift later keys to other places in the
  softmax and value sums, which then add in another order. `RowOffsetLayer` writes each row's
  chunk at that row's own end, over any rejected drafts, so a row's keys sit where plain
  decoding puts them.
- **Attention shape.** SDPA on a chunk of queries, or with masked keys past the end, sums in
  another order than SDPA on one query over exactly its keys (checked: a tail of 10 masked keys
  changed the output). `exact_attention` runs, for each key length in the pass, one SDPA call of
  one query per row over exactly that many keys, through transformers' own `sdpa_attention_forward`
  with the mask `generate` would pass (None when the batch has no padding), so each query takes the
  call a plain decode step makes (SDPA computes each batch row alone: checked on Gemma 3's shapes,
  a group of rows equal to the same rows inside the whole batch).

It is registered with transformers as the attention implementation "tunebench_exact", switched on
only for the verifying passes (`exact_pass`). Used by `hf_fast.lookup_generate(exact=True)`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .kv_buffer import BufferedLayer, plain_filled_layers

IMPLEMENTATION = "tunebench_exact"
_PROBE_MAX_ROWS = 64
_invariant_cache: dict[tuple, tuple[int, int]] = {}


@dataclass
class _Pass:
    """One verifying pass: where each row's chunk starts in its cache rows, the keys plain decoding
    would attend (a boolean (rows, capacity) mask: False for left padding), whether `generate`
    would pass no mask at all, and the queries grouped by how many keys each attends."""

    starts: Any  # (rows,) long, on the cache's device
    valid: Any
    no_mask: bool
    groups: list[tuple[int, Any, Any]]  # (key length, row index, query index)


_ACTIVE: _Pass | None = None


def exact_attention(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[Any, None]:
    """The attention of a verifying pass, query by query as plain decode steps compute it (module
    doc). `key`/`value` come from `RowOffsetLayer.update`; `attention_mask` is not read."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    step = _ACTIVE
    if step is None:
        raise RuntimeError(f"attention implementation {IMPLEMENTATION!r} used outside exact_pass()")
    rows, heads, width, _ = query.shape
    out = query.new_zeros(rows, width, heads, value.shape[-1])
    for length, r, i in step.groups:
        q = query[r, :, i].unsqueeze(2)  # (group, heads, 1, dim)
        mask = None if step.no_mask else step.valid[r, :length][:, None, None, :]
        o, _ = sdpa_attention_forward(
            module, q, key[r, :, :length], value[r, :, :length], mask, scaling=scaling
        )
        out[r, i] = o[:, 0]
    return out, None


def register() -> None:
    """Make "tunebench_exact" a known attention implementation (once per process). Verifying passes
    hand the model a prepared 4D mask, so the mask builder registered beside it is never asked."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    if AttentionInterface._global_mapping.get(IMPLEMENTATION) is not exact_attention:
        AttentionInterface.register(IMPLEMENTATION, exact_attention)
        AttentionMaskInterface.register(IMPLEMENTATION, sdpa_mask)


class RowOffsetLayer(BufferedLayer):
    """A cache layer whose rows each end where their own tokens end: an update writes each row's
    chunk at that row's start (`exact_pass`'s `starts`), over rejected drafts, and returns the
    buffer up to the furthest row's end. Built from a filled plain or sliding-window layer after the
    prompt pass (`from_layer(layer, spare)`: room for `spare` more tokens a row); the sliding window
    must not be reached (`verify_plan` checks). A `kv_buffer.BufferedLayer` (its buffer, views and
    batch operations) with its own update."""

    is_sliding = False

    def _reseed(self) -> None:
        super()._reseed()
        # the room past the filled tokens holds zeros, never stale memory: rows end apart, and a
        # view up to the furthest row's end shows the shorter rows' unwritten slots
        self._kbuf[:, :, self.filled :].zero_()
        self._vbuf[:, :, self.filled :].zero_()

    def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        import torch

        step = _ACTIVE
        if step is None:
            raise RuntimeError("RowOffsetLayer updated outside exact_pass()")
        rows, _, width, _ = key_states.shape
        at = step.starts[:, None] + torch.arange(width, device=step.starts.device)[None, :]
        end = int(at.max()) + 1
        if end > self._kbuf.shape[-2]:
            raise RuntimeError(f"exact verification cache full ({self._kbuf.shape[-2]} tokens)")
        index = torch.arange(rows, device=at.device)[:, None].expand_as(at)
        self._kbuf[index, :, at] = key_states.transpose(1, 2)
        self._vbuf[index, :, at] = value_states.transpose(1, 2)
        self.filled = end
        self._show()
        return self.keys, self.values


def row_offset_cache(cache: Any, capacity: int) -> bool:
    """Swap every layer of a filled DynamicCache for a `RowOffsetLayer` holding `capacity` tokens;
    False (cache untouched) unless `kv_buffer.plain_filled_layers(cache)`."""
    if not plain_filled_layers(cache):
        return False
    layers = cache.layers
    cache.layers = [RowOffsetLayer.from_layer(layer, capacity - layer.keys.shape[-2]) for layer in layers]
    return True


def query_groups(starts: Sequence[int], widths: Sequence[int], device: Any) -> list[tuple[int, Any, Any]]:
    """The queries of a pass grouped by key length: row r's i-th token (i < widths[r]) attends
    keys 0 .. starts[r] + i, as the plain decode step that computes that token does."""
    import torch

    by_len: dict[int, tuple[list[int], list[int]]] = {}
    for r, (s, w) in enumerate(zip(starts, widths, strict=True)):
        for i in range(w):
            rs, qs = by_len.setdefault(s + i + 1, ([], []))
            rs.append(r)
            qs.append(i)
    return [
        (n, torch.tensor(rs, device=device), torch.tensor(qs, device=device))
        for n, (rs, qs) in sorted(by_len.items())
    ]


@contextlib.contextmanager
def exact_pass(
    model: Any, starts: Sequence[int], widths: Sequence[int], valid: Any, no_mask: bool
) -> Iterator[None]:
    """Run the model's attention as `exact_attention` for one verifying pass (see `_Pass`)."""
    import torch

    global _ACTIVE
    register()
    config = model.config
    before = config._attn_implementation
    device = valid.device
    _ACTIVE = _Pass(
        starts=torch.tensor(list(starts), device=device),
        valid=valid,
        no_mask=no_mask,
        groups=query_groups(starts, widths, device),
    )
    config._attn_implementation = IMPLEMENTATION
    try:
        yield
    finally:
        config._attn_implementation = before
        _ACTIVE = None


def verify_plan(
    model: Any, rows: int, prompt_tokens: int, new_tokens: int, draft_tokens: int, window: int | None
) -> tuple[int, int, int]:
    """(lo, hi, capacity) for exact verification of a batch of `rows` prompts `prompt_tokens` wide
    (padded): each pass may hold lo..hi rows x tokens, and each row's cache needs `capacity` token
    slots. (0, 0, 0) where exactness cannot hold: the model's attention is not transformers' "sdpa"
    (plain decoding would run another kernel), the batch is beyond the probed rows, or the tokens
    would reach a sliding window (plain decoding's window layers would then drop keys)."""
    if getattr(getattr(model, "config", None), "_attn_implementation", None) != "sdpa":
        return 0, 0, 0
    # probed only up to the largest pass this batch can make
    lo, hi = row_bounds(model, rows, limit=max(rows, min(_PROBE_MAX_ROWS, rows * (draft_tokens + 1))))
    capacity = prompt_tokens + new_tokens + max(draft_tokens + 1, lo) + 1
    if not hi or (window is not None and capacity >= window):
        return 0, 0, 0
    return lo, hi, capacity


def _linear_weights(model: Any) -> list[Any]:
    """One weight per distinct (shape, dtype) among the model's linear layers."""
    import torch

    seen: dict[tuple, Any] = {}
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            w = module.weight
            seen.setdefault((tuple(w.shape), w.dtype, w.device.type), w)
    return list(seen.values())


def row_bounds(model: Any, rows: int, limit: int = _PROBE_MAX_ROWS) -> tuple[int, int]:
    """(lo, hi) around `rows`: every linear layer of `model` computes each row of an M-row product
    bit for bit as in a `rows`-row product, for every M in lo..hi (0, 0 when `rows` > `limit`).
    `generate` decodes a batch of `rows` rows in `rows`-row products, so a verifying pass of M rows
    x tokens in lo..hi computes them alike. Probed with random rows (kernels are chosen by shape,
    not by values) once per process, model shapes, `rows` and thread count."""
    import torch

    if rows > limit:
        return 0, 0
    weights = _linear_weights(model)
    key = (
        tuple((tuple(w.shape), w.dtype, w.device.type) for w in weights),
        torch.get_num_threads(),
        rows,
        limit,
    )
    if key in _invariant_cache:
        return _invariant_cache[key]
    lo, hi = 1, limit
    gen = torch.Generator().manual_seed(0)
    linear = torch.nn.functional.linear
    with torch.inference_mode():
        for w in weights:
            x = torch.randn(-(-limit // rows) * rows, w.shape[1], generator=gen).to(w.dtype).to(w.device)
            ref = torch.cat([linear(x[i : i + rows], w) for i in range(0, x.shape[0], rows)])
            for m in range(rows + 1, hi + 1):
                if not torch.equal(linear(x[:m], w), ref[:m]):
                    hi = m - 1
                    break
            for m in range(rows - 1, lo - 1, -1):
                if not torch.equal(linear(x[:m], w), ref[:m]):
                    lo = m + 1
                    break
    _invariant_cache[key] = (lo, hi)
    return lo, hi
