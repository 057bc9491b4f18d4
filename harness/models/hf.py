"""The transformers backend: local folder or hub id, optional PEFT adapter, batched generation with
left padding and length-sorted batches, greedy by default, log-likelihood scoring."""

from __future__ import annotations

import os
import sys
import time
import warnings
import weakref
from collections.abc import Sequence
from typing import Any

from ..types import Completion, GenerationConfig, ModelSpec
from .base import DEFAULT_BATCH_SIZE, Messages, ProgressFn, backend_registry
from .hf_fast import (
    PROMPT_LOOKUP_MODES,
    PrefixCache,
    batch_layout,
    cache_kwarg,
    env_prefix_cache,
    env_prompt_lookup,
    greedy_is_plain_argmax,
    lookup_generate,
)
from .loading import load_causal_lm, nf4_config
from .spec import read_adapter_meta

DTYPES = ("auto", "bfloat16", "float16", "float32")


def default_threads() -> int:
    """Torch CPU threads: TUNEBENCH_THREADS, else every core. Measured on the 2-core machine with
    nothing else running: batch-8 generation at 2 threads 3.92 samples/s vs 2.41 at 1 thread. But
    PLATFORM.md saw decode steps go 10x slower with 2 threads while another process was busy: on a
    shared machine set TUNEBENCH_THREADS=1."""
    env = os.environ.get("TUNEBENCH_THREADS")
    return max(1, int(env)) if env else max(1, os.cpu_count() or 1)


def dense_strides(a: Any) -> Any:
    """`a` laid out with the row-major strides of its shape. `.contiguous()` alone is not enough:
    the last-position slice `hidden[:, -1:, :]` of a one-row batch counts as contiguous (its odd
    stride sits on a size-1 dimension) and is returned as it is."""
    if not hasattr(a, "contiguous"):
        return a
    return a.contiguous().view(a.shape)


def contiguous_head_input(model: Any) -> Any:
    """PLATFORM.md: with frozen weights (any PEFT model) a slice of the hidden states fed to the LM
    head (`logits_to_keep`) falls onto a slow batched-matmul path that copies the 262k x 640
    embedding matrix: measured 0.9-1.3 s per call instead of 25-35 ms for a one-row batch, whose
    slice `.contiguous()` leaves alone (see `dense_strides`). Gives the head densely laid out
    inputs. Returns the hook handle (None without an output embedding)."""
    head = model.get_output_embeddings()
    if head is None:
        return None
    return head.register_forward_pre_hook(lambda _m, args: tuple(dense_strides(a) for a in args))


_TOKENIZERS: dict[tuple[Any, ...], Any] = {}
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth", ".h5", ".msgpack")


def _folder_stamp(path: Any) -> tuple[tuple[str, int, int], ...]:
    """(name, mtime in ns, size) of every file of a model folder but its weights: a changed chat
    template or tokenizer file changes it."""
    return tuple(
        sorted(
            (f.name, f.stat().st_mtime_ns, f.stat().st_size)
            for f in path.iterdir()
            if f.is_file() and not f.name.endswith(_WEIGHT_SUFFIXES)
        )
    )


_STOP_CRITERIA: weakref.WeakKeyDictionary[Any, dict[tuple[str, ...], Any]] = weakref.WeakKeyDictionary()


def stop_criteria(tokenizer: Any, stop: tuple[str, ...]) -> Any:
    """transformers' stop-string criterion for `stop`, built once per tokenizer and stop set, shared
    by every backend of that tokenizer (None without stop strings). PLATFORM.md: building it
    preprocesses the whole vocabulary (0.9 s for Gemma 3's 262k entries on the 2-core machine), and
    `generate(stop_strings=...)` rebuilt it per call; the trainer's evaluations build a backend per
    evaluation and the demo one per model, so a per-backend cache still built it five times in the
    quick demo."""
    if not stop:
        return None
    per_stop = _STOP_CRITERIA.setdefault(tokenizer, {})
    if stop not in per_stop:
        from transformers import StoppingCriteriaList, StopStringCriteria

        per_stop[stop] = StoppingCriteriaList([StopStringCriteria(tokenizer, list(stop))])
    return per_stop[stop]


def shared_tokenizer(base: str, revision: str | None = None, base_hash: str | None = None) -> Any:
    """The tokenizer of `base` (a local folder or a hub id pinned to `revision`), left padding, with
    a pad token: loaded once per process and shared by every backend of that base (each configures
    it the same way; backends tokenize prompts one by one and pad by hand). Loading Gemma 3's
    262k-entry tokenizer takes about 3.4 s on the 2-core machine, and the demo builds six backends
    of the same base. Keyed by the base's identity (`base_hash`, which covers its tokenizer and chat
    template files) and the folder's file stamps, so a changed template or tokenizer is loaded again."""
    from pathlib import Path

    from transformers import AutoTokenizer

    path = Path(base)
    local = path.is_dir()
    key = (str(path.resolve()) if local else base, revision, base_hash, _folder_stamp(path) if local else ())
    if key not in _TOKENIZERS:
        pinned: dict[str, Any] = {"revision": revision} if revision else {}
        tok = AutoTokenizer.from_pretrained(base, **pinned)
        tok.padding_side = "left"
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        _TOKENIZERS[key] = tok
    return _TOKENIZERS[key]


class HFBackend:
    def __init__(
        self,
        spec: ModelSpec,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        threads: int | None = None,
        device: str | None = None,
        adapter_name: str = "default",
        prefix_cache: bool | None = None,
        prompt_lookup: str | None = None,
        prompt_lookup_tokens: int = 5,
        prompt_lookup_verify_n: int = 16,
    ):
        """`prefix_cache`: reuse the KV cache of the prefix every prompt of a batch shares (default:
        on unless TUNEBENCH_PREFIX_CACHE=0). `prompt_lookup`: prompt-lookup decoding for greedy
        generation, off | on | exact | verify | auto (default: TUNEBENCH_PROMPT_LOOKUP, else off),
        drafting `prompt_lookup_tokens` tokens; `exact` verifies drafts so that every output equals
        `generate`'s greedy output bit for bit (no prefix cache then; harness/models/exact_verify.py);
        `auto` checks the first `prompt_lookup_verify_n` prompts both ways and keeps it only if every
        output matched. See harness/models/hf_fast.py."""
        import torch

        self.spec = spec
        self.batch_size = max(1, batch_size)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cpu":
            torch.set_num_threads(threads or default_threads())
        # a hub model loads exactly the commit its spec was pinned to (harness/models/hub.py)
        pinned: dict[str, Any] = {"revision": spec.revision} if spec.revision else {}
        self.tokenizer = shared_tokenizer(spec.base, spec.revision, spec.base_hash)
        kwargs: dict[str, Any] = {}
        if spec.dtype != "auto":
            kwargs["dtype"] = getattr(torch, spec.dtype)
        else:
            kwargs["dtype"] = "auto"
        if spec.quantization == "nf4":
            kwargs["quantization_config"] = nf4_config()
        model: Any = load_causal_lm(spec.base, **kwargs, **pinned)
        if spec.quantization is None:
            model.to(self.device)
        if spec.adapter:
            self._check_adapter_precision(spec, model)
            from .adapter_check import attach_adapter, check_adapter_effect

            model = attach_adapter(model, spec, adapter_name)
            # refuse an adapter that changes nothing before any sample runs (InputError, exit 2)
            check_adapter_effect(model, self.tokenizer, spec, adapter_name)
        model.eval()
        contiguous_head_input(model)
        self.model = model
        self._setup_generation(prefix_cache, prompt_lookup, prompt_lookup_tokens, prompt_lookup_verify_n)

    @classmethod
    def from_model(
        cls,
        spec: ModelSpec,
        model: Any,
        tokenizer: Any,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        device: str | None = None,
        prefix_cache: bool | None = None,
        prompt_lookup: str | None = "off",
    ) -> HFBackend:
        """A backend over an already loaded model and tokenizer (e.g. one being trained), left as
        they are: no thread, eval-mode, padding-side or hook changes (the caller owns them;
        padding is built by hand here). `spec` names the weights for the generation cache."""
        self = cls.__new__(cls)
        self.spec = spec
        self.batch_size = max(1, batch_size)
        self.device = device or str(getattr(model, "device", "cpu"))
        self.tokenizer = tokenizer
        self.model = model
        self._setup_generation(prefix_cache, prompt_lookup, 5, 16)
        return self

    def _setup_generation(
        self, prefix_cache: bool | None, prompt_lookup: str | None, lookup_tokens: int, verify_n: int
    ) -> None:
        if self.tokenizer.pad_token_id is None:
            raise ValueError("the tokenizer needs a pad token")
        self.eos_ids = self._eos_ids()
        use_prefix = env_prefix_cache() if prefix_cache is None else prefix_cache
        self.prefix_cache: PrefixCache | None = PrefixCache() if use_prefix else None
        self.prompt_lookup = env_prompt_lookup() if prompt_lookup is None else prompt_lookup
        if self.prompt_lookup not in PROMPT_LOOKUP_MODES:
            raise ValueError(f"prompt_lookup={self.prompt_lookup!r}: expected one of {PROMPT_LOOKUP_MODES}")
        self.prompt_lookup_tokens = lookup_tokens
        self.prompt_lookup_verify_n = verify_n
        self.lookup_checked = 0
        self.lookup_differed = 0
        # greedy batches, mixed-adapter ones included, decode in hf_fast.lookup_generate (no drafts),
        # where finished rows leave the batch; False: transformers' `generate` (tests and benchmarks
        # compare the two)
        self.greedy_loop = True

    def _check_adapter_precision(self, spec: ModelSpec, model: Any) -> None:
        meta = read_adapter_meta(spec.adapter or "")
        if not meta:
            return
        trained_q = meta.get("quantization", "none") or "none"
        loaded_q = spec.quantization or "none"
        trained_p = meta.get("base_precision")
        loaded_p = str(model.dtype).replace("torch.", "")
        if trained_q != loaded_q or (trained_p and loaded_q == "none" and trained_p != loaded_p):
            msg = (
                f"adapter {spec.adapter} was trained on a {trained_q}/{trained_p} base but is loaded on "
                f"{loaded_q}/{loaded_p}: scores may differ (PLATFORM.md measured 88%->73% category accuracy "
                "for a CPU QLoRA adapter moved to a bf16 base)"
            )
            warnings.warn(msg, stacklevel=2)
            print(f"[tunebench] warning: {msg}", file=sys.stderr)

    def _eos_ids(self) -> list[int]:
        ids: set[int] = set()
        gen_eos = getattr(self.model.generation_config, "eos_token_id", None)
        if isinstance(gen_eos, int):
            ids.add(gen_eos)
        elif isinstance(gen_eos, list):
            ids.update(gen_eos)
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return sorted(ids)

    # -- prompts ---------------------------------------------------------------------------------
    def render(self, messages: Messages) -> str:
        if self.tokenizer.chat_template:
            return str(
                self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            )
        parts = [m["content"] for m in messages]
        return "\n\n".join(parts) + "\n\n"

    def _stopping(self, stop: tuple[str, ...]) -> Any:
        return stop_criteria(self.tokenizer, stop)

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def batch_key(self, messages: Messages) -> tuple[int, str]:
        """Where a prompt goes in this backend's batch order (generate_text batches prompts in
        this order): a caller that hands over prompts in chunks sorts them by it, so its chunks
        are the batches one call with every prompt would form."""
        text = self.render(messages)
        return _batch_order(text, self._encode(text))

    # -- generation ------------------------------------------------------------------------------
    def generate(
        self, prompts: Sequence[Messages], config: GenerationConfig, progress: ProgressFn | None = None
    ) -> list[Completion]:
        texts = [self.render(m) for m in prompts]
        return self.generate_text(texts, config, progress)

    def generate_text(
        self,
        texts: Sequence[str],
        config: GenerationConfig,
        progress: ProgressFn | None = None,
        *,
        adapter_names: Sequence[str] | None = None,
    ) -> list[Completion]:
        """`adapter_names` (one per text, PEFT models only): each row runs with its own adapter,
        "__base__" for none, in one mixed batch (see harness/models/multi.py); such batches use
        no prompt lookup; the prefix cache gives each row its own adapter's prefix."""
        enc = [self._encode(t) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: _batch_order(texts[i], enc[i]))
        results: list[Completion | None] = [None] * len(texts)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            if adapter_names is not None:  # each adapter's rows in one block: its LoRA runs on a slice
                rank = {n: r for r, n in enumerate(dict.fromkeys(adapter_names[i] for i in idx))}
                idx = sorted(idx, key=lambda i: rank[adapter_names[i]])
            rows = [enc[i] for i in idx]
            row_texts = [texts[i] for i in idx]
            names = None if adapter_names is None else [adapter_names[i] for i in idx]
            mode = "off" if names is not None else self._lookup_mode(config)
            if mode in ("on", "exact"):
                outs, dts, plen, size = self._lookup_rows(rows, config, row_texts, exact=mode == "exact")
                for i, row, toks, dt in zip(idx, rows, outs, dts, strict=True):
                    results[i] = self._completion(toks, len(row), config, dt, size, plen, mode)
            else:
                outs, dt, plen = self._generate_rows(rows, config, row_texts, adapter_names=names)
                alts = self._lookup_rows(rows, config, row_texts)[0] if mode == "verify" else outs
                for i, row, toks, alt in zip(idx, rows, outs, alts, strict=True):
                    tag = None
                    if mode == "verify":  # keep the plain output; count where lookup differs
                        same = self._finish(alt, config) == self._finish(toks, config)
                        self.lookup_checked += 1
                        self.lookup_differed += not same
                        tag = "same" if same else "differs"
                    results[i] = self._completion(toks, len(row), config, dt, len(idx), plen, tag)
            if progress:
                progress(len(idx))
        return [r for r in results if r is not None]

    def _lookup_mode(self, config: GenerationConfig) -> str:
        """off | on | exact | verify for the next batch (prompt lookup is for greedy decoding only)."""
        mode = self.prompt_lookup
        if mode == "off" or config.temperature > 0:
            return "off"
        if mode == "auto":
            if self.lookup_differed:
                return "off"
            return "on" if self.lookup_checked >= self.prompt_lookup_verify_n else "verify"
        return mode

    def _lookup_rows(
        self,
        rows: Sequence[Sequence[int]],
        config: GenerationConfig,
        texts: Sequence[str],
        exact: bool = False,
    ) -> tuple[list[list[int]], list[float], int, int]:
        """Greedy tokens per row with prompt-lookup decoding, seconds per row, cached prefix length
        and batch size: the whole batch at once (hf_fast.lookup_generate) when greedy is the plain
        argmax, else one prompt at a time through transformers' assisted generation (batch-1 only,
        but it applies the model's logits processors). `exact`: drafts verified as exact_verify.py
        computes them; a model with logits processors then decodes plainly (`generate`)."""
        plain_argmax = greedy_is_plain_argmax(self.model)
        if plain_argmax or exact:
            lookup = ("exact" if exact else "batched") if plain_argmax else None
            outs, dt, plen = self._generate_rows(rows, config, texts, lookup=lookup)
            return outs, [dt] * len(rows), plen, len(rows)
        outs, dts = [], []
        for row, text in zip(rows, texts, strict=True):
            (toks,), dt, _ = self._generate_rows([row], config, [text], lookup="assisted")
            outs.append(toks)
            dts.append(dt)
        return outs, dts, 0, 1

    def _generate_rows(
        self,
        rows: Sequence[Sequence[int]],
        config: GenerationConfig,
        texts: Sequence[str],
        lookup: str | None = None,
        adapter_names: Sequence[str] | None = None,
    ) -> tuple[list[list[int]], float, int]:
        """New tokens per row (one call), its seconds, and the cached prefix length. `texts` are
        the rows' prompts (they seed sampling per sample). `lookup`: None (plain `generate`),
        "batched" (hf_fast.lookup_generate), "exact" (the same with exact verification, no prefix
        cache: every token as `generate` computes it) or "assisted" (`generate` with
        prompt_lookup_num_tokens, one row). `adapter_names`: each row's adapter (mixed batch)."""
        import torch

        plen, cache = 0, None
        # not with assisted generation: transformers' assisted decoding (5.24) prefills the whole
        # input on top of a passed-in cache at its first step, so the prefix would be there twice;
        # a mixed-adapter batch gets each row's adapter's prefix; exact lookup prefills as `generate`
        if self.prefix_cache is not None and lookup not in ("assisted", "exact"):
            if adapter_names is None:
                plen, cache = self.prefix_cache.for_batch(
                    self.model, rows, config.max_new_tokens, self.device
                )
            else:
                plen, cache = self.prefix_cache.for_mixed_batch(
                    self.model, rows, adapter_names, config.max_new_tokens, self.device
                )
        input_ids, attn, width = batch_layout(rows, plen, self.tokenizer.pad_token_id)
        plain_greedy = (
            lookup is None
            and config.temperature <= 0
            and self.greedy_loop
            and greedy_is_plain_argmax(self.model)
        )
        if lookup in ("batched", "exact") or plain_greedy:
            t0 = time.perf_counter()
            outs = lookup_generate(
                self.model,
                rows,
                input_ids,
                attn,
                prefix_len=plen,
                cache=cache,
                max_new_tokens=config.max_new_tokens,
                eos_ids=self.eos_ids,
                stopping=self._stopping(tuple(config.stop)),
                pad_id=self.tokenizer.pad_token_id,
                num_tokens=self.prompt_lookup_tokens if lookup in ("batched", "exact") else 0,
                device=self.device,
                adapter_names=adapter_names,
                exact=lookup == "exact",
            )
            return outs, time.perf_counter() - t0, plen
        gen_kwargs: dict[str, Any] = {
            "max_new_tokens": config.max_new_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.eos_ids,
        }
        if config.temperature > 0:
            # seeded per sample (run seed + prompt text), not per batch: see models/sampling.py
            from .sampling import sampling_kwargs

            gen_kwargs.update(sampling_kwargs(texts, config.temperature, config.top_p, config.seed))
        else:
            gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        stopping = self._stopping(tuple(config.stop))
        if stopping is not None:
            gen_kwargs["stopping_criteria"] = stopping
        if cache is not None:
            gen_kwargs[cache_kwarg()] = cache
        if lookup == "assisted":
            gen_kwargs["prompt_lookup_num_tokens"] = self.prompt_lookup_tokens
        if adapter_names is not None:
            gen_kwargs["adapter_names"] = list(adapter_names)
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids.to(self.device), attention_mask=attn.to(self.device), **gen_kwargs
            )
        dt = time.perf_counter() - t0
        new = out[:, width:].cpu()
        return [new[r].tolist() for r in range(len(rows))], dt, plen

    def _finish(self, toks: list[int], config: GenerationConfig) -> tuple[str, int, str]:
        """(text, completion tokens, finish reason): cut at the first EOS, then at a stop string."""
        n = len(toks)
        finish = "length"
        for j, t in enumerate(toks):
            if t in self.eos_ids:
                n, finish = j, "stop"
                break
        else:
            # a row a stop string ended early is padded to the batch's length: those pads are not
            # output, and the row did not run to the limit
            pad = self.tokenizer.pad_token_id
            while n > 0 and toks[n - 1] == pad:
                n -= 1
            if n < config.max_new_tokens:
                finish = "stop"
        text = str(self.tokenizer.decode(toks[:n], skip_special_tokens=True))
        for s in config.stop:
            cut = text.find(s)
            if cut >= 0:
                text, finish = text[:cut], "stop"
        return text, n, finish

    def _completion(
        self,
        toks: list[int],
        prompt_tokens: int,
        config: GenerationConfig,
        dt: float,
        batch: int,
        prefix_tokens: int,
        lookup: str | None,
    ) -> Completion:
        text, n, finish = self._finish(toks, config)
        raw: dict[str, Any] = {"batch_size": batch, "batch_time_s": round(dt, 4)}
        if prefix_tokens:
            raw["prefix_cached_tokens"] = prefix_tokens
        if lookup:
            raw["prompt_lookup"] = lookup
        return Completion(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=n,
            latency_s=dt,
            finish_reason=finish,
            raw=raw,
        )

    # -- log-likelihood --------------------------------------------------------------------------
    def adds_bos(self) -> bool:
        """Whether the tokenizer starts plain text with BOS by default (Gemma, Llama: yes; GPT-2: no)."""
        bos = self.tokenizer.bos_token_id
        if bos is None:
            return False
        ids = self.tokenizer("a")["input_ids"]
        return bool(ids) and ids[0] == bos

    def loglikelihood(
        self, requests: Sequence[tuple[str, str]], *, add_bos: bool = False
    ) -> list[tuple[float, int]]:
        """Sum of log-probabilities of each continuation given its context, and its token count.
        Context and continuation are tokenized separately and concatenated, so the boundary is
        exact. An empty context scores the continuation after BOS. `add_bos=True` (for plain-text
        contexts, as lm-evaluation-harness encodes them) also starts every context with BOS when the
        tokenizer adds BOS by default and the context does not already start with it. Requests are
        batched only with requests of the same total token count (no padding), so a result does
        not depend on what else is in the batch: it equals the unbatched forward pass bit for bit,
        as lm-evaluation-harness computes it at batch size 1."""
        import torch

        out: list[tuple[float, int]] = [(0.0, 0)] * len(requests)
        items = []
        bos = self.tokenizer.bos_token_id
        prefix = [bos] if add_bos and self.adds_bos() else []
        for i, (ctx, cont) in enumerate(requests):
            c_ids = self.tokenizer(ctx, add_special_tokens=False)["input_ids"] if ctx else []
            if prefix and c_ids and c_ids[0] != bos:
                c_ids = prefix + c_ids
            if not c_ids and bos is not None:
                c_ids = [bos]
            x_ids = self.tokenizer(cont, add_special_tokens=False)["input_ids"]
            if not c_ids:  # no BOS to start from: the first token is the context (as lm-eval does)
                c_ids, x_ids = x_ids[:1], x_ids[1:]
            if x_ids:
                items.append((i, c_ids, x_ids))
        # Batches hold sequences of exactly the same length: no padding, no attention mask, so each
        # row is computed as if it ran alone (in bf16, padding changes the rounding of attention and
        # matmul reductions: up to 0.3 nats per choice on Gemma 3, enough to flip an answer) and no
        # time goes to padded positions. Longest first.
        by_len: dict[int, list[tuple[int, list[int], list[int]]]] = {}
        for it in items:
            by_len.setdefault(len(it[1]) + len(it[2]), []).append(it)
        for length in sorted(by_len, reverse=True):
            group = by_len[length]
            for start in range(0, len(group), self.batch_size):
                batch = group[start : start + self.batch_size]
                # the input is context + continuation without its last token; only the positions
                # that predict continuation tokens need the LM head (a 262k vocabulary dominates
                # the cost of a forward pass) and the fp32 log-softmax
                ids = torch.tensor([(c + x)[:-1] for _, c, x in batch], dtype=torch.long)
                keep = max(len(x) for _, _, x in batch)
                logits = self._last_logits(ids, None, keep)
                logp = torch.log_softmax(logits.float(), dim=-1).cpu()
                for r, (i, _c, x) in enumerate(batch):
                    n = len(x)
                    pos = torch.arange(keep - n, keep)
                    out[i] = (float(logp[r, pos, torch.tensor(x)].sum()), n)
        return out

    def _last_logits(self, ids: Any, attn: Any, keep: int) -> Any:
        """Logits of the last `keep` positions ([batch, keep, vocab]), asking the model to apply
        its LM head only there when it supports `logits_to_keep`."""
        import torch

        kwargs = {"input_ids": ids.to(self.device)}
        if attn is not None:
            kwargs["attention_mask"] = attn.to(self.device)
        with torch.inference_mode():
            if getattr(self, "_logits_to_keep_ok", True):
                try:
                    logits = self.model(**kwargs, logits_to_keep=keep).logits
                    if logits.shape[1] == keep:
                        return logits
                except TypeError:
                    pass
                self._logits_to_keep_ok = False
            return self.model(**kwargs).logits[:, -keep:]


backend_registry.add("hf", lambda spec: HFBackend(spec))


def _batch_order(text: str, ids: Sequence[int]) -> tuple[int, str]:
    """Longest first (least padding); ties by text, so a batch's rows, and with them its bf16
    rounding (which on some CPUs changes with the batch's shape), depend on the set of prompts
    only, not on their order in the data. lm-evaluation-harness orders its batches the same way."""
    return -len(ids), text
