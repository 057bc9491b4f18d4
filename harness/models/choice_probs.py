"""Log-probabilities from the transformers backend: a judge's probability of each allowed answer
after its prompt (`choice_probabilities`), and generation that also returns each generated token's
log-probability and its top alternatives (`generate_with_logprobs`, what `tunebench serve` answers
`logprobs` requests with).

How an answer's probability is computed. An answer such as "tie" can start the reply in several
surface forms ("tie", " tie", "Tie", " Tie", "TIE", ...), and a form can be one token or several
("TIE" is "T" + "IE" for Gemma; " 1" is " " + "1"). Each distinct token sequence of each form is an
event "the reply starts with these tokens"; its probability is the product of the next-token
probabilities along it. Events of different forms are disjoint unless one sequence is a prefix of
another; the shorter one's probability then has the longer ones' subtracted (so "1" does not also
count "10" when "10" is another answer). One forward pass over the prompt (the chat template's
assistant prefix included, as `render` produces it) gives every one-token form; a form of several
tokens costs one more forward pass, and only when its first token has at least `min_first` (0.1%)
probability; otherwise it is counted as 0 (it could add at most that much).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..types import Completion, GenerationConfig

MIN_FIRST = 1e-3


def label_forms(label: str) -> list[str]:
    """Surface forms an answer can start a reply with: as written, capitalized, upper and lower
    case, each with and without a leading space."""
    out: list[str] = []
    for base in (label, label.capitalize(), label.upper(), label.lower()):
        for form in (base, " " + base):
            if form not in out:
                out.append(form)
    return out


@dataclass
class ChoiceProbs:
    """One prompt's answer probabilities, the first position's most probable tokens and the cost."""

    probs: dict[str, float]
    top: list[tuple[str, float]] = field(default_factory=list)
    forwards: int = 1
    prompt_tokens: int = 0


def _logprobs_last(backend: Any, rows: list[list[int]]) -> Any:
    """[len(rows), vocab] fp32 log-probabilities of the next token after each row (equal lengths)."""
    import torch

    ids = torch.tensor(rows, dtype=torch.long)
    logits = backend._last_logits(ids, None, 1)[:, -1, :]
    return torch.log_softmax(logits.float(), dim=-1).cpu()


def _sequence_logprob(backend: Any, prompt: list[int], seq: list[int]) -> float:
    """log P(seq | prompt): one forward pass over prompt + seq[:-1]."""
    import torch

    ids = torch.tensor([prompt + seq[:-1]], dtype=torch.long)
    logits = backend._last_logits(ids, None, len(seq))
    logp = torch.log_softmax(logits.float(), dim=-1).cpu()[0]
    return float(sum(logp[i, t] for i, t in enumerate(seq)))


def _entries(tokenizer: Any, labels: Sequence[str]) -> list[tuple[str, tuple[int, ...]]]:
    seen: dict[tuple[int, ...], str] = {}
    for lab in labels:
        for form in label_forms(lab):
            ids = tuple(tokenizer(form, add_special_tokens=False)["input_ids"])
            if ids and ids not in seen:
                seen[ids] = lab
    return [(lab, ids) for ids, lab in seen.items()]


def choice_probabilities(
    backend: Any,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    top_k: int = 20,
    min_first: float = MIN_FIRST,
) -> list[ChoiceProbs]:
    """For each rendered prompt, the probability that the reply starts with each label (see the
    module docstring). Prompts of equal token length share a forward pass; nothing is padded, so a
    result does not depend on what else was asked."""
    tok = backend.tokenizer
    entries = _entries(tok, labels)
    enc = [list(tok(t, add_special_tokens=False)["input_ids"]) for t in texts]
    first: list[Any] = [None] * len(texts)
    by_len: dict[int, list[int]] = {}
    for i, prompt_ids in enumerate(enc):
        by_len.setdefault(len(prompt_ids), []).append(i)
    batch = max(1, int(getattr(backend, "batch_size", 8)))
    for _, idx in sorted(by_len.items(), reverse=True):
        for start in range(0, len(idx), batch):
            part = idx[start : start + batch]
            logp = _logprobs_last(backend, [enc[i] for i in part])
            for row, i in enumerate(part):
                first[i] = logp[row]
    out = []
    for i, lp in enumerate(first):
        forwards = 1
        p_seq: dict[tuple[int, ...], float] = {}
        for _, ids in entries:
            p1 = math.exp(float(lp[ids[0]]))
            if len(ids) == 1:
                p_seq[ids] = p1
            elif p1 >= min_first:
                p_seq[ids] = math.exp(_sequence_logprob(backend, enc[i], list(ids)))
                forwards += 1
            else:
                p_seq[ids] = 0.0
        probs = dict.fromkeys(labels, 0.0)
        for lab, ids in entries:
            longer = [s for s in p_seq if len(s) > len(ids) and s[: len(ids)] == ids]
            minimal = [s for s in longer if not any(len(o) < len(s) and s[: len(o)] == o for o in longer)]
            probs[lab] += max(0.0, p_seq[ids] - sum(p_seq[s] for s in minimal))
        values, index = lp.topk(top_k)
        top = [(str(tok.decode([int(t)])), round(float(v), 6)) for v, t in zip(values, index, strict=True)]
        out.append(ChoiceProbs(probs=probs, top=top, forwards=forwards, prompt_tokens=len(enc[i])))
    return out


def _token_entry(tok: Any, token_id: int, logprob: float) -> dict[str, Any]:
    text = str(tok.decode([token_id]))
    return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8"))}


def generate_with_logprobs(
    backend: Any, texts: Sequence[str], config: GenerationConfig, top_k: int = 0
) -> list[Completion]:
    """`backend.generate_text` that also returns, in `Completion.raw["logprobs"]`, one entry per
    generated token: {"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob", "bytes"}]}
    (the top `top_k` alternatives; log-probabilities of the model's distribution before any sampling
    temperature). Batches of `backend.batch_size`, left-padded, greedy unless temperature > 0."""
    import torch

    tok = backend.tokenizer
    enc = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    results: list[Completion | None] = [None] * len(texts)
    stopping = backend._stopping(tuple(config.stop))
    pad = tok.pad_token_id
    for start in range(0, len(texts), backend.batch_size):
        idx = list(range(start, min(len(texts), start + backend.batch_size)))
        width = max(len(enc[i]) for i in idx)
        input_ids = torch.full((len(idx), width), pad, dtype=torch.long)
        attn = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            input_ids[row, width - len(enc[i]) :] = torch.tensor(enc[i])
            attn[row, width - len(enc[i]) :] = 1
        kwargs: dict[str, Any] = {
            "max_new_tokens": config.max_new_tokens,
            "pad_token_id": pad,
            "eos_token_id": backend.eos_ids,
            "output_logits": True,
            "return_dict_in_generate": True,
        }
        if config.temperature > 0:
            torch.manual_seed(config.seed)
            kwargs.update(do_sample=True, temperature=config.temperature, top_p=config.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if stopping is not None:
            kwargs["stopping_criteria"] = stopping
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = backend.model.generate(
                input_ids=input_ids.to(backend.device), attention_mask=attn.to(backend.device), **kwargs
            )
        dt = time.perf_counter() - t0
        new = out.sequences[:, width:].cpu()
        steps = [torch.log_softmax(s.float(), dim=-1).cpu() for s in out.logits]
        for row, i in enumerate(idx):
            toks = new[row].tolist()
            n, finish = len(toks), "length"
            for j, t in enumerate(toks):
                if t in backend.eos_ids:
                    n, finish = j, "stop"
                    break
            text = str(tok.decode(toks[:n], skip_special_tokens=True))
            for s in config.stop:
                cut = text.find(s)
                if cut >= 0:
                    text, finish = text[:cut], "stop"
                    n = next(
                        (
                            j
                            for j in range(n + 1)
                            if len(str(tok.decode(toks[:j], skip_special_tokens=True))) >= cut
                        ),
                        n,
                    )
            entries = []
            for j in range(n):
                lp = steps[j][row]
                entry = _token_entry(tok, toks[j], round(float(lp[toks[j]]), 6))
                if top_k:
                    values, index = lp.topk(top_k)
                    entry["top_logprobs"] = [
                        _token_entry(tok, int(t), round(float(v), 6))
                        for v, t in zip(values, index, strict=True)
                    ]
                else:
                    entry["top_logprobs"] = []
                entries.append(entry)
            results[i] = Completion(
                text=text,
                prompt_tokens=len(enc[i]),
                completion_tokens=n,
                latency_s=dt,
                finish_reason=finish,
                raw={"batch_size": len(idx), "batch_time_s": round(dt, 4), "logprobs": entries},
            )
    return [r for r in results if r is not None]
