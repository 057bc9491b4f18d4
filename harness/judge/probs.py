"""Verdicts from a judge's next-token probabilities over the allowed answers.

A label template (`reply=label` in its header) asks for one short answer: "1", "2" or "tie" for a
pairwise judgment, a grade "1".."5" for a rubric criterion. Instead of parsing what the judge wrote,
the verdict is read from its distribution over the first token of the reply:

* from an OpenAI-compatible endpoint, the `top_logprobs` of the first reply token (chat completions
  asked with `logprobs=true, top_logprobs=20, max_tokens=1`): every listed token whose text, stripped
  of whitespace and quotes and compared case-insensitively, IS an allowed answer adds its probability
  to that answer. A token that is only part of an answer ("t" of "tie") is not counted: such mass is
  missing from the total, not guessed;
* in process (harness/models/choice_probs.py), the probability of each answer's surface forms ("1",
  " 1", "Tie", ...) as token sequences after the prompt.

`read_choice` turns the probabilities into a verdict: `mass` is the total probability of the allowed
answers; below the floor (default 0.5) the judge abstains, with the reason, and gives no verdict or
grade. Otherwise the verdict is the most probable answer, and `normalized` the distribution over the
allowed answers (what a rubric's expected grade is computed from).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_MIN_MASS = 0.5
"""Below this total probability of the allowed answers, the judge abstains."""
TOP_LOGPROBS = 20
"""How many alternatives an endpoint is asked for (OpenAI's maximum)."""

_STRIP = " \t\r\n\"'`.,:;!()[]{}*"


def normalize_token(token: str) -> str:
    """A token's text as compared with an answer: without surrounding whitespace, quotes or
    punctuation, lower case ("▁" and "Ġ" word markers of raw vocabularies count as spaces)."""
    return token.replace("\u2581", " ").replace("\u0120", " ").strip(_STRIP).lower()


def probs_from_top_logprobs(top: Sequence[tuple[str, float]], labels: Sequence[str]) -> dict[str, float]:
    """Probability of each label from (token, logprob) alternatives of one position."""
    want = {lab.lower(): lab for lab in labels}
    out = dict.fromkeys(labels, 0.0)
    seen: set[str] = set()
    for token, logprob in top:
        if token in seen or logprob is None or not math.isfinite(logprob):
            continue
        seen.add(token)
        lab = want.get(normalize_token(token))
        if lab is not None:
            out[lab] += math.exp(logprob)
    return out


def top_logprobs_of(raw: Mapping[str, Any] | None) -> list[tuple[str, float]] | None:
    """The first reply token's alternatives from an OpenAI chat completion (as a dict), or None when
    the response carries no log-probabilities."""
    if not isinstance(raw, Mapping):
        return None
    choices = raw.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        return None
    lp = choices[0].get("logprobs")
    content = lp.get("content") if isinstance(lp, Mapping) else None
    if not isinstance(content, list) or not content or not isinstance(content[0], Mapping):
        return None
    first = content[0]
    out: list[tuple[str, float]] = []
    for alt in first.get("top_logprobs") or []:
        if isinstance(alt, Mapping) and isinstance(alt.get("token"), str):
            value = alt.get("logprob")
            if isinstance(value, int | float):
                out.append((alt["token"], float(value)))
    if not out and isinstance(first.get("token"), str) and isinstance(first.get("logprob"), int | float):
        out.append((first["token"], float(first["logprob"])))
    return out or None


def read_choice(
    probs: Mapping[str, float], labels: Sequence[str], *, min_mass: float = DEFAULT_MIN_MASS
) -> dict[str, Any]:
    """{"probs", "mass", "normalized", "label", "p", "abstain"}: the verdict (the most probable
    allowed answer, `p` its normalized probability) or an abstention (label None, `abstain` the
    reason) when the allowed answers' total probability is below `min_mass`."""
    p = {lab: max(0.0, float(probs.get(lab, 0.0))) for lab in labels}
    mass = min(1.0, sum(p.values()))
    out: dict[str, Any] = {"probs": {k: round(v, 6) for k, v in p.items()}, "mass": round(mass, 6)}
    if mass <= 0.0 or mass < min_mass:
        out.update(label=None, p=None, normalized=None)
        out["abstain"] = (
            f"the allowed answers ({', '.join(labels)}) got {mass:.1%} of the judge's probability, "
            f"below the floor of {min_mass:.0%}"
        )
        return out
    norm = {k: v / mass for k, v in p.items()}
    label = max(labels, key=lambda k: (norm[k], -labels.index(k)))
    out.update(label=label, p=round(norm[label], 6), normalized={k: round(v, 6) for k, v in norm.items()})
    out["abstain"] = None
    return out


def expected_grade(normalized: Mapping[str, float]) -> float:
    """Sum of grade x probability over numeric labels (their probabilities normalized to 1)."""
    return float(sum(int(k) * v for k, v in normalized.items()))


def parse_label_reply(text: str, labels: Sequence[str]) -> str | None:
    """The allowed answer a free-text reply gives (the fallback for endpoints without
    log-probabilities): its first word, stripped of quotes and punctuation, case-insensitive; or
    None when it is not one of them."""
    words = text.strip().split()
    if not words:
        return None
    want = {lab.lower(): lab for lab in labels}
    return want.get(normalize_token(words[0]))
