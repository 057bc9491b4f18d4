"""Did the adapter learn to stop? The probability of the end-of-turn token right after the reference answer.

An adapter that never learned to end its answers runs every generation to `max_new_tokens`, repeating
itself, while presence-style scorers still pass it. The tell is cheap to measure right after training: feed
a training (or validation) conversation up to the end of the reference answer, exactly as the trainer
tokenized it (the chat template applied to prompt + answer), and read the probability the model gives the
token the template puts next (`<end_of_turn>` for Gemma, `<|eot_id|>` for Llama 3). A model that learned the
format puts most of its mass there (the demo's 200-step adapter: p = 0.996); the broken one of issue 13 gave
p = 0.003.

Measured after training only, with the 4-bit layers flagged as training (see trainers.trainer): an eval-mode
forward of a 4-bit model on CPU without that guard would repack its weights for inference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

EOT_WARN = 0.5
"""Below this mean probability (on train or validation examples) the run gets a warning note."""
EOT_EXAMPLES = 8

Row = dict[str, list[dict[str, str]]]


def _ids(tokenizer: Any, messages: list[dict[str, str]], generation_prompt: bool) -> list[int]:
    out = tokenizer.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=generation_prompt, return_dict=True
    )
    return list(out["input_ids"])


def end_of_answer(tokenizer: Any, row: Row) -> tuple[list[int], int] | None:
    """(the token ids up to and including the reference answer, the id of the token that follows it) for a
    prompt-completion row as TRL tokenizes it; None when the answer cannot be located in the template's text."""
    prompt_ids = _ids(tokenizer, row["prompt"], True)
    full_ids = _ids(tokenizer, row["prompt"] + row["completion"], False)
    if full_ids[: len(prompt_ids)] != prompt_ids:
        return None
    completion = full_ids[len(prompt_ids) :]
    answer = row["completion"][-1]["content"].strip()
    if not answer or not completion:
        return None

    def holds(k: int) -> bool:
        return answer in tokenizer.decode(completion[:k], skip_special_tokens=False)

    if not holds(len(completion)):
        return None
    lo, hi = 1, len(completion)  # smallest k whose prefix holds the whole answer (monotone in k)
    while lo < hi:
        mid = (lo + hi) // 2
        if holds(mid):
            hi = mid
        else:
            lo = mid + 1
    if lo < len(completion):
        return prompt_ids + completion[:lo], completion[lo]
    if tokenizer.eos_token_id is None:
        return None
    return prompt_ids + completion, int(tokenizer.eos_token_id)


def _next_token_probs(model: Any, ids: list[int]) -> torch.Tensor:
    device = next(model.parameters()).device
    x = torch.tensor([ids], dtype=torch.long, device=device)
    try:  # the LM head at the last position only: a 262k vocabulary dominates the cost otherwise
        logits = model(input_ids=x, use_cache=False, logits_to_keep=1).logits
    except TypeError:
        logits = model(input_ids=x, use_cache=False).logits
    return torch.softmax(logits[0, -1].float(), dim=-1)


def eot_probability(
    model: Any, tokenizer: Any, rows: Sequence[Row], n: int = EOT_EXAMPLES
) -> tuple[float, str] | None:
    """Mean probability of the end-of-turn token right after the reference answer, over the first `n` rows
    whose answer can be located, and that token as text; None when there are none."""
    probs: list[float] = []
    token = ""
    for row in rows:
        if len(probs) >= n:
            break
        found = end_of_answer(tokenizer, row)
        if found is None:
            continue
        ids, eot = found
        probs.append(float(_next_token_probs(model, ids)[eot]))
        token = str(tokenizer.convert_ids_to_tokens(eot))
    if not probs:
        return None
    return sum(probs) / len(probs), token


def measure_eot(
    model: Any,
    tokenizer: Any,
    train_rows: Sequence[Row],
    eval_rows: Sequence[Row],
    n: int = EOT_EXAMPLES,
    guard_4bit: bool = False,
) -> tuple[dict[str, float], str | None]:
    """({"train": mean p, "val": mean p} for the splits that have rows, the end-of-turn token). Runs in eval
    mode without gradients (dropout off), with the 4-bit layers flagged as training when `guard_4bit`."""
    from trainers.trainer import evaluating

    out: dict[str, float] = {}
    token = None
    # one-row forward passes of a model with frozen base weights (`evaluating` keeps the LM head off
    # its slow path)
    with evaluating(model, guard_4bit=guard_4bit), torch.no_grad():
        for name, rows in (("train", train_rows), ("val", eval_rows)):
            got = eot_probability(model, tokenizer, rows, n) if rows and n > 0 else None
            if got is not None:
                out[name] = round(got[0], 6)
                token = got[1]
    return out, token


def eot_warning(eot_prob: dict[str, float], token: str | None, threshold: float = EOT_WARN) -> str | None:
    """The warning note when the adapter puts little probability on ending its answers, else None."""
    low = {k: v for k, v in eot_prob.items() if v < threshold}
    if not low:
        return None
    where = ", ".join(
        f"{v:.3f} on {'training' if k == 'train' else 'validation'} examples" for k, v in low.items()
    )
    return (
        f"WARNING: the adapter rarely ends its answers: p({token or 'end of turn'}) after the reference answer "
        f"is {where} (below {threshold}): train longer or check the chat template"
    )
