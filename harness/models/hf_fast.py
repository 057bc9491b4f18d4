"""Cheaper generation for the hf backend that keeps greedy outputs identical.

Two features, both measured on tests/benchmarks/bench_lmeval.py (README row 5):

- Shared-prefix KV cache. The prompts of a run usually start with the same tokens (chat template,
  system prompt, few-shot examples): 102 of the ~140 tokens of every ticket-triage 0-shot prompt on
  Gemma 3. Their keys and values are computed once, copied per `generate` call and expanded to the
  batch, and only the rest of each prompt is prefilled. A batch is laid out as
  `[prefix][left padding][rest of the prompt]`: the padding moves from the start of the row to
  after the prefix. `generate` derives position ids from the attention mask (cumsum), so every real
  token keeps the position it has in the plain left-padded layout, and masked positions add exactly
  zero attention weight. Not used when the padded sequence could leave a sliding attention window
  (there the physical distance between tokens, which the window mask reads, would differ).
- Prompt-lookup decoding: draft tokens are copied from the row's own prompt and output (the
  n-gram lookup of transformers' `prompt_lookup_num_tokens`) and verified in one forward pass.
  transformers runs it one prompt at a time (assisted generation is batch-1 only: 0.85x of plain
  batch-8 decoding on the benchmark), so `lookup_generate` runs it for the whole batch: rows
  accept different numbers of drafts, rejected drafts stay in the cache masked out, positions
  advance per row. On the ticket-triage benchmark the base model copies its system prompt, so
  64 new tokens took about 3x fewer forward passes. Greedy-exact in exact arithmetic (the fp32
  tests), but in bf16 the verified chunk changes the shape of the matmuls and can flip a near-tie
  (10-token drafts changed 1 of 40 outputs; 5-token drafts none), so it is opt-in: `on`,
  `verify` (run both, keep the plain output, count differences) or `auto` (verify the first
  prompts, then use it only if every output matched), or `exact`: verification that computes
  every token bit for bit as `generate`'s one-token steps do (exact_verify.py; 40/40 identical
  and 1.82x vs lm-evaluation-harness on the Intel machine, benchmark row 5g). Models whose greedy
  decoding applies logits processors (repetition penalty, sequence bias, ...) use transformers'
  batch-1 path (`exact`: plain decoding).
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from .routing import route_adapters

PROMPT_LOOKUP_MODES = ("off", "on", "exact", "verify", "auto")
MIN_PREFIX_TOKENS = 16
"""A shorter shared prefix is not worth a separate forward pass."""


def env_prefix_cache() -> bool:
    """TUNEBENCH_PREFIX_CACHE=0 turns the shared-prefix cache off (default on)."""
    return os.environ.get("TUNEBENCH_PREFIX_CACHE", "1").strip().lower() not in ("0", "false", "off", "no")


def env_prompt_lookup() -> str:
    """TUNEBENCH_PROMPT_LOOKUP: off (default), on, exact, verify or auto."""
    mode = os.environ.get("TUNEBENCH_PROMPT_LOOKUP", "off").strip().lower() or "off"
    if mode not in PROMPT_LOOKUP_MODES:
        raise ValueError(
            f"TUNEBENCH_PROMPT_LOOKUP={mode!r}: expected one of {', '.join(PROMPT_LOOKUP_MODES)}"
        )
    return mode


def common_len(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def shared_prefix_len(rows: Sequence[Sequence[int]]) -> int:
    """Tokens every row starts with, leaving at least one token per row to prefill (the logits of
    the first new token come from it)."""
    if not rows:
        return 0
    n = min(len(r) for r in rows) - 1
    first = rows[0]
    for r in rows[1:]:
        n = min(n, common_len(first, r))
    return max(0, n)


def cache_kwarg() -> str:
    """The name `generate` takes a prefilled cache under: `cache` since transformers 5.2x
    (`past_key_values` is deprecated there), `past_key_values` before."""
    try:
        from transformers.generation import utils as gen_utils

        return "cache" if "cache" in getattr(gen_utils, "ALL_CACHE_NAMES", ()) else "past_key_values"
    except ImportError:  # pragma: no cover - transformers is a dependency of the hf backend
        return "past_key_values"


def smallest_window(model: Any) -> int | None:
    """The smallest sliding attention window of the model, None when it has none."""
    cfg = getattr(model, "config", None)
    cfg = getattr(cfg, "text_config", None) or cfg
    window = getattr(cfg, "sliding_window", None)
    layer_types = getattr(cfg, "layer_types", None)
    if window and (layer_types is None or any("sliding" in str(t) for t in layer_types)):
        return int(window)
    return None


def outgrows_window(model: Any, rows: Sequence[Sequence[int]], max_new_tokens: int) -> bool:
    """Whether the longest prompt plus its new tokens exceed the model's smallest sliding window (a
    cached prefix would then be laid out differently from plain decoding's columns)."""
    window = smallest_window(model)
    return window is not None and max(len(r) for r in rows) + max_new_tokens > window


def generation_module(model: Any) -> Any:
    """The module whose forward `generate` runs. A PEFT model generates through its base model (the
    LoRA layers live inside it), so a wrapper set on the PEFT model's own forward is not applied:
    while a Trainer holds the model, accelerate's bf16 autocast wraps it, and a forward through it
    changed 2 of 40 greedy outputs of a training-time evaluation. Other models run their own."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def adapter_key(model: Any) -> str:
    """Which weights answer now: the model object and, for PEFT models, the active adapter(s)."""
    active = getattr(model, "active_adapters", None) or getattr(model, "active_adapter", None)
    return f"{id(model)}:{active}"


def batch_layout(rows: Sequence[Sequence[int]], prefix_len: int, pad: int) -> tuple[Any, Any, int]:
    """(input_ids, attention_mask, width) for `[prefix][left padding][rest]`; prefix_len 0 gives the
    plain left-padded batch."""
    import torch

    rest = [r[prefix_len:] for r in rows]
    width = prefix_len + max(len(r) for r in rest)
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    if prefix_len:
        input_ids[:, :prefix_len] = torch.tensor(list(rows[0][:prefix_len]))
        attn[:, :prefix_len] = 1
    for row, ids in enumerate(rest):
        if ids:
            input_ids[row, width - len(ids) :] = torch.tensor(list(ids))
            attn[row, width - len(ids) :] = 1
    return input_ids, attn, width


class PrefixCache:
    """KV caches of shared prompt prefixes, kept across `generate` calls (a run calls it once per
    batch) and keyed by the weights that computed them (model object and active adapter). Call
    `clear()` after changing weights in place (training)."""

    def __init__(self, *, min_tokens: int = MIN_PREFIX_TOKENS, max_entries: int = 4):
        self.min_tokens = min_tokens
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, tuple[int, ...]], Any] = OrderedDict()
        self.computed = 0
        self.reused = 0

    def clear(self) -> None:
        self._entries.clear()

    def for_batch(
        self, model: Any, rows: Sequence[Sequence[int]], max_new_tokens: int, device: str
    ) -> tuple[int, Any]:
        """(prefix length, a fresh cache holding it expanded to len(rows)) for this batch, or (0, None)
        when no shared prefix is worth it. Reuses a stored prefix covering at least 90% of the
        batch's shared prefix (cropped to the tokens it shares), else computes and stores the
        batch's own."""
        import torch

        want = shared_prefix_len(rows)
        if outgrows_window(model, rows, max_new_tokens):
            return 0, None
        tag = adapter_key(model)
        best_len, best_key = 0, None
        for key in self._entries:
            if key[0] == tag:
                n = min(common_len(key[1], rows[0]), want)
                if n > best_len:
                    best_len, best_key = n, key
        if (
            best_key is not None
            and best_len >= self.min_tokens
            and (len(rows) == 1 or best_len >= 0.9 * want)
        ):
            n, stored = best_len, self._entries[best_key]
            self._entries.move_to_end(best_key)
            self.reused += 1
        elif len(rows) > 1 and want >= self.min_tokens:
            n, stored = want, self._compute(model, rows[0][:want], device)
            self._entries[(tag, tuple(rows[0][:want]))] = stored
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            self.computed += 1
        else:
            return 0, None
        with torch.inference_mode():
            cache = copy.deepcopy(stored)
            extra = cache.get_seq_length() - n
            if extra > 0:
                cache.crop(-extra)  # a negative count removes tokens in every transformers version
            if len(rows) > 1:
                cache.batch_repeat_interleave(len(rows))
        return n, cache

    def for_mixed_batch(
        self,
        model: Any,
        rows: Sequence[Sequence[int]],
        adapter_names: Sequence[str],
        max_new_tokens: int,
        device: str,
    ) -> tuple[int, Any]:
        """`for_batch` for a mixed-adapter batch (a PEFT model, one adapter name per row): the batch's
        shared prefix is computed once per adapter, alone and routed to that adapter as a mixed batch
        routes it, and each row of the returned cache holds its own adapter's keys and values, as a
        separate load of that adapter would (0, None when no shared prefix is worth it)."""
        import torch

        want = shared_prefix_len(rows)
        if len(rows) < 2 or want < self.min_tokens or outgrows_window(model, rows, max_new_tokens):
            return 0, None
        prefix = tuple(rows[0][:want])
        per_name: dict[str, Any] = {}
        names = list(dict.fromkeys(adapter_names))
        for name in names:
            key = (f"{id(model)}:mixed:{name}", prefix)
            if key in self._entries:
                self._entries.move_to_end(key)
                self.reused += 1
            else:
                with route_adapters(model, [name]):
                    self._entries[key] = self._compute(model, prefix, device)
                while len(self._entries) > max(self.max_entries, len(names)):
                    self._entries.popitem(last=False)
                self.computed += 1
            per_name[name] = self._entries[key]
        with torch.inference_mode():
            cache = copy.deepcopy(per_name[adapter_names[0]])
            cache.batch_repeat_interleave(len(rows))
            for name, stored in per_name.items():
                index = torch.tensor([i for i, n in enumerate(adapter_names) if n == name], device=device)
                for layer, own in zip(cache.layers, stored.layers, strict=True):
                    if own.keys.shape[-2] != want or layer.keys.shape[-2] != want:
                        return 0, None
                    layer.keys[index] = own.keys
                    layer.values[index] = own.values
        return want, cache

    @staticmethod
    def _compute(model: Any, prefix: Sequence[int], device: str) -> Any:
        import torch

        ids = torch.tensor([list(prefix)], dtype=torch.long, device=device)
        with torch.inference_mode():
            out = generation_module(model)(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=True)
        cache = getattr(out, "cache", None)
        if cache is None:
            cache = out.past_key_values
        return cache


# --------------------------------------------------------------------------------------------------
# Batched prompt-lookup decoding

_PROCESSOR_FIELDS = (
    "repetition_penalty",
    "encoder_repetition_penalty",
    "no_repeat_ngram_size",
    "bad_words_ids",
    "sequence_bias",
    "min_length",
    "min_new_tokens",
    "suppress_tokens",
    "begin_suppress_tokens",
    "forced_bos_token_id",
    "forced_eos_token_id",
    "exponential_decay_length_penalty",
    "diversity_penalty",
)


def greedy_is_plain_argmax(model: Any) -> bool:
    """Whether greedy `generate` picks the plain argmax of the logits: no logits processor is set in
    the model's generation config (repetition penalty, sequence bias, minimum length, ...)."""
    gc = getattr(model, "generation_config", None)
    if gc is None:
        return True
    for name in _PROCESSOR_FIELDS:
        v = getattr(gc, name, None)
        if v in (None, 0, 1.0, [], {}, False):
            continue
        return False
    return True


def greedy_pick(logits: Any) -> Any:
    """The argmax over the last dimension, the first index on ties as `argmax` picks it. torch's
    `max(...).indices` returns the same indices (tested) and on CPU is about 4x faster than
    `argmax` on bf16 logits (2.2 vs 10 ms for 24 rows of Gemma 3's 262k vocabulary, 2 threads: a
    fifth of a decode step)."""
    return logits.max(-1).indices


def lookup_draft(seq: Sequence[int], k: int, max_ngram: int = 2) -> list[int]:
    """Up to `k` tokens that followed the first earlier occurrence of the sequence's last n tokens
    (n from `max_ngram` down to 1), as transformers' PromptLookupCandidateGenerator drafts them."""
    n_tok = len(seq)
    if k <= 0:
        return []
    for n in range(min(max_ngram, n_tok - 1), 0, -1):
        tail = list(seq[n_tok - n :])
        first = tail[0]
        for start in range(0, n_tok - n):
            if seq[start] == first and list(seq[start : start + n]) == tail:
                end = min(start + n + k, n_tok)
                if start + n < end:
                    return list(seq[start + n : end])
    return []


def lookup_generate(
    model: Any,
    rows: Sequence[Sequence[int]],
    input_ids: Any,
    attn: Any,
    *,
    prefix_len: int,
    cache: Any,
    max_new_tokens: int,
    eos_ids: Sequence[int],
    stopping: Any,
    pad_id: int,
    num_tokens: int = 10,
    device: str = "cpu",
    adapter_names: Sequence[str] | None = None,
    margins: list[list[float]] | None = None,
    exact: bool = False,
) -> list[list[int]]:
    """Greedy decoding of a whole batch with prompt-lookup drafts: every step feeds each row its last
    token plus up to `num_tokens` tokens copied from its own prompt and output, and keeps the drafted
    tokens that equal the model's argmax (plus the argmax after them). Rejected drafts stay in the
    cache with attention mask 0 and positions continue per row, so every kept token is computed
    from exactly the tokens plain decoding would have seen. With `num_tokens=0` this is plain greedy
    decoding. A row that has finished leaves the batch (its cache rows are dropped), so the last
    long answers of a batch are decoded without the finished rows beside them: the forward pass
    computes a row bit for bit the same in any batch of two or more rows (measured on Gemma 3 in
    bf16; a lone row differs), so a last running row keeps one finished row beside it. Returns new
    tokens per row, padded like `generate` pads finished rows (to the longest row's length).
    `adapter_names` (a PEFT model, one name per row): each row runs with its own adapter, routed as
    PEFT's `generate(adapter_names=...)` routes it (its forward hooks), the names following the
    rows that stay in the batch. `margins` (an empty list): filled with one list per row, the
    logit gap between the top two tokens at each token the row emitted (0 on an exact tie).
    `exact`: verify drafts so that every token is computed bit for bit as `generate`'s greedy decoding
    of the same batch computes it (exact_verify.py: rows per product within the probed bound, each
    row's keys contiguous, attention query by query); where that cannot hold (a cache of another
    kind, the sliding window reached, more rows than the bound) the batch decodes plainly."""
    import torch
    from transformers import DynamicCache

    from . import exact_verify
    from .kv_buffer import buffer_cache

    b = len(rows)
    if cache is None:  # as `generate` builds it: sliding-window layers keep only their window
        config = getattr(model, "config", None)
        cache = DynamicCache(config=config) if config is not None else DynamicCache()
    # positions are bookkeeping on the host (per-row counters, moved to `device` with each step's
    # inputs); the attention mask lives on `device` with the cache it masks
    positions = (attn.cpu().cumsum(-1) - 1).clamp(min=0)
    attn = attn.to(device)
    window = smallest_window(model)
    cache_name = cache_kwarg()
    net = generation_module(model)
    out_tokens: list[list[int]] = [[] for _ in range(b)]
    if margins is not None:
        margins[:] = [[] for _ in range(b)]
    gaps: Any = None  # the last forward's top-two gaps, (rows, positions), when `margins` is given
    seqs = [list(r) for r in rows]
    done = [False] * b
    active = list(range(b))  # the rows still in the batch, in batch order
    # exact mode: each pass holds between row_min and row_cap rows x tokens (row_cap 0: not exact)
    row_min, row_cap, capacity = 1, 0, 0
    if exact and num_tokens > 0:
        row_min, row_cap, capacity = exact_verify.verify_plan(
            net, b, input_ids.shape[1], max_new_tokens, num_tokens, window
        )
        if not row_cap:
            num_tokens = 0

    def routed() -> Any:
        if adapter_names is None:
            return contextlib.nullcontext()
        return route_adapters(model, [adapter_names[r] for r in active])

    def forward(ids: Any, mask: Any, pos: Any, last_only: bool = False) -> Any:
        nonlocal gaps
        kwargs: dict[str, Any] = {cache_name: cache, "use_cache": True}
        if last_only:  # the prompt's logits: only its last position's are read
            kwargs["logits_to_keep"] = 1
        with routed():
            out = net(input_ids=ids.to(device), attention_mask=mask, position_ids=pos.to(device), **kwargs)
        if margins is not None:
            top = out.logits.topk(2, dim=-1).values.float()
            gaps = (top[..., 0] - top[..., 1]).cpu()
        return greedy_pick(out.logits).cpu()  # greedy: the plain argmax (checked by greedy_is_plain_argmax)

    def emit(r: int, tok: int, gap: Any = None) -> None:
        if margins is not None:
            margins[r].append(float("nan") if gap is None else float(gap))
        out_tokens[r].append(tok)
        seqs[r].append(tok)
        if tok in eos_ids or len(out_tokens[r]) >= max_new_tokens:
            done[r] = True
        elif stopping is not None and bool(stopping(torch.tensor([seqs[r]]), None)[0]):
            done[r] = True

    with torch.inference_mode():
        if adapter_names is not None and len(set(adapter_names)) > 1 and mergeable_cache(cache):
            # each adapter's rows prefilled alone, as a separate load of that adapter prefills
            # them; the decode steps then run the whole batch
            first, cache = prefill_by_adapter(
                model,
                input_ids[:, prefix_len:],
                attn,
                positions[:, prefix_len:],
                cache,
                adapter_names,
                device,
            )
        else:
            first = forward(input_ids[:, prefix_len:], attn, positions[:, prefix_len:], last_only=True)[:, -1]
        for r in range(b):
            emit(r, int(first[r]), None if gaps is None else gaps[r, -1])
        last_pos = positions[:, -1].clone()
        physical = input_ids.shape[1]
        if row_cap and not exact_verify.row_offset_cache(cache, capacity):
            row_cap, num_tokens = 0, 0
        if row_cap:  # each row's keys end where its tokens end; `valid` marks its left padding
            ends = [physical] * b
            no_mask = bool(attn.bool().all())
            valid = torch.ones((b, capacity), dtype=torch.bool, device=device)
            valid[:, :physical] = attn.bool()
        else:  # decode steps append to the cache in place instead of copying it each step (kv_buffer.py)
            buffer_cache(cache, max_new_tokens + 8)
        while True:
            running = [i for i, r in enumerate(active) if not done[r]]
            if not running:
                break
            keep = running
            n = len(running)
            if row_cap and -(-row_min // n) > row_cap // n:  # no width fits n rows: none leaves
                keep = list(range(len(active)))
            elif len(running) == 1 < len(active) and not row_cap:
                # one row alone takes other kernel paths than a batch (its logits differed in the
                # low bits on Gemma 3 in bf16); a finished row stays beside it, fed padding as
                # `generate` feeds finished rows
                keep = sorted([*running, next(i for i in range(len(active)) if i not in running)])
            if len(keep) < len(active):  # finished rows leave the batch
                index = torch.tensor(keep, dtype=torch.long)
                cache.batch_select_indices(index.to(device))
                attn, last_pos = attn[index.to(device)], last_pos[index]
                if row_cap:
                    valid = valid[index.to(device)]
                    ends = [ends[i] for i in keep]
                active = [active[i] for i in keep]
            live = [r for r in active if not done[r]]
            room = num_tokens
            if window is not None and not row_cap:  # keep every kept token inside the sliding window
                # (see module doc; exact mode checked its whole capacity against the window)
                left = max_new_tokens - min(len(out_tokens[r]) for r in live)
                room = min(room, max(0, window - physical - left))
            if row_cap:  # rows x tokens within the bound the linear layers keep rows invariant
                room = min(room, row_cap // len(active) - 1)
            drafts = [
                [] if done[r] else lookup_draft(seqs[r], min(room, max_new_tokens - len(out_tokens[r]) - 1))
                for r in active
            ]
            width = 1 + max(len(d) for d in drafts)
            if row_cap:  # a lone row may need a padding token beside it (row_min 2)
                width = max(width, -(-row_min // len(active)))
            ids = torch.full((len(active), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(active), width), dtype=attn.dtype)
            for i, r in enumerate(active):
                chunk = [pad_id] if done[r] else [seqs[r][-1], *drafts[i]]
                ids[i, : len(chunk)] = torch.tensor(chunk)
                mask[i, : len(chunk)] = 1
            pos = last_pos.unsqueeze(1) + 1 + torch.arange(width).unsqueeze(0)
            if row_cap:
                widths = [0 if done[r] else 1 + len(drafts[i]) for i, r in enumerate(active)]
                unused = torch.ones((len(active), 1, width, 1), dtype=torch.bool, device=device)
                with exact_verify.exact_pass(net, ends, widths, valid, no_mask):
                    picks = forward(ids, unused, pos)  # a 4D mask goes to attention as is: not read
            else:
                attn = torch.cat([attn, mask.to(device)], dim=-1)
                picks = forward(ids, attn, pos)
            physical += width
            for i, r in enumerate(active):
                if done[r]:  # the companion of a lone row: its output is not read
                    last_pos[i] += 1
                    continue
                accepted = 0
                while accepted < len(drafts[i]) and drafts[i][accepted] == int(picks[i, accepted]):
                    accepted += 1
                # the cache holds the last token and the accepted drafts; the rest is masked out
                # (exact mode: overwritten by the row's next chunk)
                if row_cap:
                    ends[i] += 1 + accepted
                else:
                    attn[i, attn.shape[1] - width + 1 + accepted :] = 0
                last_pos[i] += 1 + accepted
                for j, tok in enumerate([*drafts[i][:accepted], int(picks[i, accepted])]):
                    emit(r, tok, None if gaps is None else gaps[i, j])
                    if done[r]:
                        break
    length = max(len(t) for t in out_tokens)
    return [t + [pad_id] * (length - len(t)) for t in out_tokens]


def mergeable_cache(cache: Any) -> bool:
    """Whether prefill_by_adapter can merge per-adapter caches of this kind: every layer a plain or
    sliding-window DynamicLayer (keys and values only); other layer kinds (quantized, linear
    attention, ...) keep their state elsewhere, and their mixed batches prefill in one pass."""
    from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

    layers = getattr(cache, "layers", None)
    return layers is not None and all(
        type(layer) in (DynamicLayer, DynamicSlidingWindowLayer) for layer in layers
    )


def prefill_by_adapter(
    model: Any, ids: Any, attn: Any, pos: Any, cache: Any, adapter_names: Sequence[str], device: str
) -> tuple[Any, Any]:
    """The prompt pass of a mixed-adapter batch, one forward pass per adapter over that adapter's
    rows; returns each row's first greedy token and one cache holding every row, in batch order.

    Why not one pass: the matrix products of a prompt pass have rows x prompt tokens rows (about a
    thousand here), and at that size some CPUs' bf16 kernels round a row differently with the
    number of rows (on the Intel Xeon with AMX of tests/benchmarks: a product of 640 inputs and 2048
    outputs gave a row other low bits at 400 rows than at 200; at the few rows of a decode step it
    did not). A separate load
    of one adapter prefills only that adapter's rows, so the mixed batch does the same and its
    outputs can equal the separate loads'. The prompt pass is compute bound, so splitting it costs
    little; the decode steps, bound by reading the weights, are where one batch saves."""
    import torch
    from transformers import DynamicCache

    net = generation_module(model)
    name = cache_kwarg()
    config = getattr(model, "config", None)
    first = torch.empty(len(adapter_names), dtype=torch.long)
    parts: list[tuple[Any, Any]] = []
    for adapter in dict.fromkeys(adapter_names):
        rows = [i for i, n in enumerate(adapter_names) if n == adapter]
        index = torch.tensor(rows, dtype=torch.long)
        if cache is not None and cache.get_seq_length() > 0:  # the shared prefix's rows
            own = copy.deepcopy(cache)
            own.batch_select_indices(index.to(device))
        else:
            own = DynamicCache(config=config) if config is not None else DynamicCache()
        with route_adapters(model, [adapter] * len(rows)):
            out = net(
                input_ids=ids[index].to(device),
                attention_mask=attn[index.to(device)],
                position_ids=pos[index].to(device),
                use_cache=True,
                logits_to_keep=1,
                **{name: own},
            )
        first[index] = greedy_pick(out.logits[:, -1]).cpu()
        parts.append((index.to(device), own))
    merged = parts[0][1]
    for i, layer in enumerate(merged.layers):
        keys = layer.keys.new_empty((len(adapter_names), *layer.keys.shape[1:]))
        values = layer.values.new_empty((len(adapter_names), *layer.values.shape[1:]))
        for index, own in parts:
            keys[index] = own.layers[i].keys
            values[index] = own.layers[i].values
        layer.keys, layer.values = keys, values
    return first, merged
