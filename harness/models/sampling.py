"""Sampled generation seeded per sample, so a sampled output does not depend on batch composition.

`torch.manual_seed(seed)` before a batched `generate(do_sample=True)` makes one random stream for the
whole batch: a sample's text then depends on which other prompts share its batch and in what order
(and so on the batch size, the cache state and the length sort). Here each row draws from its own
generator, seeded from the run's seed and the exact prompt text (`sample_seed`), inside a logits
processor that does the sampling itself (temperature, then nucleus top-p) and hands `generate` a
one-hot choice, which greedy decoding then takes. The same prompt under the same seed gets the same
draws wherever it runs; rows that finished early keep drawing (their tokens are discarded), which
does not touch any other row's stream.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any


def sample_seed(seed: int, prompt_text: str) -> int:
    """A 63-bit seed for one prompt, from the run's generation seed and the exact prompt text."""
    digest = hashlib.sha256(f"{seed}\x00{prompt_text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def top_p_filter(probs: Any, top_p: float) -> Any:
    """Probabilities with everything outside the smallest set of most likely tokens whose mass
    reaches `top_p` set to zero (the most likely token is always kept)."""
    import torch

    if top_p >= 1.0:
        return probs
    sorted_p, order = torch.sort(probs, dim=-1, descending=True)
    before = torch.cumsum(sorted_p, dim=-1) - sorted_p  # mass of the more likely tokens
    sorted_p = torch.where(before < top_p, sorted_p, torch.zeros_like(sorted_p))
    return torch.zeros_like(probs).scatter(-1, order, sorted_p)


class PerSampleSampler:
    """A transformers logits processor: for row r, sample the next token with generator r and
    return scores that are 0 for it and -inf elsewhere (so greedy decoding picks it)."""

    def __init__(self, seeds: Sequence[int], temperature: float, top_p: float = 1.0):
        if temperature <= 0:
            raise ValueError("PerSampleSampler is for temperature > 0; greedy decoding needs no seed")
        self.seeds = list(seeds)
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self._gens: list[Any] | None = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if scores.shape[0] != len(self.seeds):
            raise ValueError(f"{scores.shape[0]} rows but {len(self.seeds)} seeds")
        if self._gens is None:
            self._gens = [torch.Generator(device=scores.device).manual_seed(s) for s in self.seeds]
        probs = torch.softmax(scores.float() / self.temperature, dim=-1)
        probs = top_p_filter(probs, self.top_p)
        picks = [torch.multinomial(probs[r], 1, generator=g) for r, g in enumerate(self._gens)]
        out = torch.full_like(scores, float("-inf"))
        out.scatter_(1, torch.stack(picks), 0.0)
        return out


def sampling_kwargs(
    prompt_texts: Sequence[str], temperature: float, top_p: float, seed: int
) -> dict[str, Any]:
    """`generate` keyword arguments for sampled decoding of these prompts (one batch, in row order)."""
    from transformers import LogitsProcessorList

    sampler = PerSampleSampler([sample_seed(seed, t) for t in prompt_texts], temperature, top_p)
    return {
        "do_sample": False,
        "temperature": None,
        "top_p": None,
        "top_k": None,
        "logits_processor": LogitsProcessorList([sampler]),
    }
