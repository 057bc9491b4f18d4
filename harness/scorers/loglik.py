"""Scorers for log-likelihood samples and instruction-following checks.

- `mc_accuracy`: multiple choice from the model's log-likelihoods (samples with `metadata.task: mc`).
  Reports `NAME.acc` (the choice with the highest summed log-likelihood is the gold one) and
  `NAME.acc_norm` (the same after dividing each log-likelihood by the choice's length in characters,
  `len(choice)` of the choice text without the leading delimiter, exactly as lm-evaluation-harness
  computes `completion_len` for `acc_norm`). Ties go to the first choice, as `numpy.argmax` does.
- `ppl`: perplexity of a reference text from the runner's log-likelihood (samples with
  `metadata.task: ppl`): per sample exp(nll / tokens); the corpus metric is token-weighted,
  exp(total nll / total tokens); `NAME.word_perplexity` and `NAME.bits_per_byte` are the
  tokenizer-independent forms lm-evaluation-harness reports for rolling log-likelihood tasks.
  (The older `perplexity` scorer scores a generation sample's reference given its chat prompt.)
- `instruction_check`: per-sample format checks on generated text (`metadata.check`).

The runner computes the log-likelihoods (harness/runner.py); these scorers only read
`completion.raw`, so re-scoring never touches the model. A log-likelihood that could not be computed
(a backend without `loglikelihood`) is an error: the value is None, never a score.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, ClassVar

from ..types import Completion, MetricInfo, Sample, Score
from ._common import extract_json, generation_error, short
from .base import BaseScorer, ScoreContext, not_applicable, register_scorer


def sample_task(sample: Sample) -> str:
    """A sample's task type: `metadata.task`, default "gen"."""
    return str(sample.metadata.get("task") or "gen")


def argmax(values: Sequence[float]) -> int:
    """Index of the largest value; the first one on ties (like numpy.argmax)."""
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best


def _exp(x: float) -> float:
    return math.exp(x) if x < 709.0 else math.inf


@register_scorer("mc_accuracy")
class McAccuracyScorer(BaseScorer):
    """Multiple-choice accuracy from log-likelihoods: `NAME.acc` and `NAME.acc_norm` (see the module
    docstring). With `group_by: FIELD`, also `NAME.acc.<value>` and `NAME.acc_norm.<value>` per value of
    `metadata.FIELD` (e.g. per category)."""

    default_tasks: ClassVar[tuple[str, ...] | None] = ("mc",)
    value_range = (0.0, 1.0)

    def __init__(self, name: str, group_by: str | None = None):
        super().__init__(name)
        self.group_by = group_by

    def metric_names(self) -> list[str]:
        return [f"{self.name}.acc", f"{self.name}.acc_norm"]

    def score(self, sample: Sample, completion: Completion, ctx: ScoreContext) -> list[Score]:
        names = self.metric_names()
        if sample_task(sample) != "mc":
            return [not_applicable(n, "not a multiple-choice sample") for n in names]
        err = generation_error(completion)
        raw = completion.raw or {}
        lls = raw.get("loglikelihoods")
        if err or not isinstance(lls, list) or not lls:
            why = err or "no log-likelihoods in the completion"
            return [Score(name=n, value=None, detail=why) for n in names]
        choices = [str(c) for c in sample.metadata.get("choices", [])]
        gold = sample.metadata.get("gold")
        if len(choices) != len(lls) or not isinstance(gold, int) or not 0 <= gold < len(choices):
            why = f"bad sample: {len(choices)} choices, {len(lls)} log-likelihoods, gold {gold!r}"
            return [Score(name=n, value=None, detail=why) for n in names]
        chars = [float(len(c)) or 1.0 for c in choices]
        normed = [float(ll) / n for ll, n in zip(lls, chars, strict=True)]
        pred, pred_norm = argmax([float(x) for x in lls]), argmax(normed)
        data = {"pred": pred, "pred_norm": pred_norm, "gold": gold}

        def verdict(p: int) -> str:
            return "" if p == gold else f"chose {short(choices[p], 40)} over gold {short(choices[gold], 40)}"

        out = [
            Score(name=f"{self.name}.acc", value=pred == gold, detail=verdict(pred), data=data),
            Score(
                name=f"{self.name}.acc_norm", value=pred_norm == gold, detail=verdict(pred_norm), data=data
            ),
        ]
        if self.group_by and self.group_by in sample.metadata:
            g = str(sample.metadata[self.group_by])
            out += [Score(name=f"{s.name}.{g}", value=s.value, detail=s.detail) for s in list(out)]
        return out


@register_scorer("ppl")
class PplScorer(BaseScorer):
    """Perplexity of `ppl` samples from the log-likelihood the runner computed (`completion.raw`
    holds `nll` and `tokens`). Lower is better. Corpus-level: `NAME` = exp(total nll / total tokens),
    `NAME.word_perplexity` = exp(total nll / total words), `NAME.bits_per_byte` = total nll /
    (total UTF-8 bytes * ln 2); words and bytes are counted on the reference text."""

    corpus_level = True
    default_tasks: ClassVar[tuple[str, ...] | None] = ("ppl",)
    higher_is_better = False
    value_range = (1.0, None)

    def __init__(self, name: str):
        super().__init__(name)

    def metric_names(self) -> list[str]:
        return [self.name, f"{self.name}.word_perplexity", f"{self.name}.bits_per_byte"]

    def metric_info(self) -> dict[str, MetricInfo]:
        info = super().metric_info()  # perplexities: lower is better, at least 1
        bpb = MetricInfo.declare(higher_is_better=False, kind="corpus", low=0.0)
        return {**info, f"{self.name}.bits_per_byte": bpb}

    def score(self, sample: Sample, completion: Completion, ctx: ScoreContext) -> list[Score]:
        if sample_task(sample) != "ppl":
            return [not_applicable(self.name, "not a perplexity sample")]
        err = generation_error(completion)
        raw = completion.raw or {}
        if err or "nll" not in raw or "tokens" not in raw:
            return [Score(name=self.name, value=None, detail=err or "no log-likelihood in the completion")]
        nll, n = float(raw["nll"]), int(raw["tokens"])
        if n <= 0:
            return [Score(name=self.name, value=None, detail="reference has no tokens")]
        text = sample.reference or ""
        data = {"nll": nll, "tokens": n, "words": len(text.split()), "bytes": len(text.encode("utf-8"))}
        return [Score(name=self.name, value=_exp(nll / n), data=data)]

    def metrics(self, scores: Sequence[Score]) -> dict[str, float]:
        nll = 0.0
        tokens = words = nbytes = 0
        for s in scores:
            if s.name != self.name or s.value is None or "tokens" not in s.data:
                continue
            nll += float(s.data["nll"])
            tokens += int(s.data["tokens"])
            words += int(s.data.get("words", 0))
            nbytes += int(s.data.get("bytes", 0))
        if tokens == 0:
            return {}
        out = {self.name: _exp(nll / tokens)}
        if words:
            out[f"{self.name}.word_perplexity"] = _exp(nll / words)
        if nbytes:
            out[f"{self.name}.bits_per_byte"] = nll / nbytes / math.log(2)
        return out


# -- instruction checks ----------------------------------------------------------------------------
_BULLET = re.compile(r"^\s*(?:[-*•])\s+\S")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+\S")
_WORD = re.compile(r"[A-Za-z0-9']+")


def _words(text: str) -> list[str]:
    return text.split()


def _check_one(check: dict[str, Any], text: str) -> str | None:
    """None when `text` passes `check`, else why it fails."""
    kind = check.get("type")
    t = text.strip()
    if kind == "regex":
        flags = re.IGNORECASE if "i" in str(check.get("flags", "")) else 0
        flags |= re.DOTALL if "s" in str(check.get("flags", "")) else 0
        if re.search(str(check["pattern"]), t, flags) is None:
            return f"does not match /{check['pattern']}/"
        return None
    if kind == "max_words":
        n = len(_words(t))
        lo, hi = int(check.get("min", 1)), int(check["max"])
        return None if lo <= n <= hi else f"{n} words, expected {lo}..{hi}"
    if kind == "one_word":
        toks = _WORD.findall(t)
        if len(_words(t)) != 1 or len(toks) != 1:
            return f"expected one word, got {len(_words(t))}: {short(t, 40)}"
        accept = [str(a).lower() for a in check.get("accept", [])]
        if accept and toks[0].lower() not in accept:
            return f"{toks[0]!r} is not one of {accept}"
        return None
    if kind == "json_key":
        obj = extract_json(t)[0] if t else None
        if not isinstance(obj, dict):
            return "no JSON object in the reply"
        keys = [str(k) for k in check.get("keys", [check.get("key")]) if k is not None]
        missing = [k for k in keys if k not in obj]
        if missing:
            return f"JSON object lacks key(s) {missing} (has {sorted(obj)[:5]})"
        if "value" in check:
            got, want = obj[keys[0]], check["value"]
            if str(got).strip().lower() != str(want).strip().lower():
                return f"{keys[0]!r} is {short(str(got), 30)}, expected {want!r}"
        vtype = check.get("value_type")
        if vtype == "list" and not isinstance(obj[keys[0]], list):
            return f"{keys[0]!r} is not a list"
        return None
    if kind in ("lowercase", "uppercase"):
        letters = [c for c in t if c.isalpha()]
        if not letters:
            return "no letters in the reply"
        bad = [c for c in letters if (c.isupper() if kind == "lowercase" else c.islower())]
        return None if not bad else f"{len(bad)} {'upper' if kind == 'lowercase' else 'lower'}case letter(s)"
    if kind in ("bullets", "numbered"):
        pattern = _BULLET if kind == "bullets" else _NUMBERED
        lines = [ln for ln in t.splitlines() if ln.strip()]
        items = [ln for ln in lines if pattern.match(ln)]
        want = int(check["count"])
        if len(items) != want:
            return f"{len(items)} {'bullet' if kind == 'bullets' else 'numbered'} line(s), expected {want}"
        if check.get("only", True) and len(items) != len(lines):
            return f"{len(lines) - len(items)} other line(s) besides the list"
        return None
    if kind == "starts_with":
        prefix = str(check["prefix"])
        return None if t.lower().startswith(prefix.lower()) else f"does not start with {prefix!r}"
    if kind == "ends_with":
        suffix = str(check["suffix"]).lower()
        core = t.rstrip(" .!?\"'").lower()
        return None if core.endswith(suffix) else f"does not end with {suffix!r}"
    if kind in ("contains", "not_contains"):
        words = [str(w) for w in check["words"]]
        low = t.lower()
        present = [w for w in words if w.lower() in low]
        if kind == "contains":
            missing = [w for w in words if w not in present]
            return None if not missing else f"missing {missing}"
        return None if not present else f"contains {present}"
    raise ValueError(f"unknown check type {kind!r}")


CHECK_TYPES = (
    "regex",
    "max_words",
    "one_word",
    "json_key",
    "lowercase",
    "uppercase",
    "bullets",
    "numbered",
    "starts_with",
    "ends_with",
    "contains",
    "not_contains",
)


@register_scorer("instruction_check")
class InstructionCheckScorer(BaseScorer):
    """Did the generated text follow the sample's format instruction? Each sample carries
    `metadata.check`: one check or a list (all must pass), each `{type: ..., ...}`:
    `regex` (pattern, flags "i"/"s"), `max_words` (max, min=1), `one_word` (accept: [...] optional),
    `json_key` (key or keys, optional value / value_type: list), `lowercase`, `uppercase`,
    `bullets` / `numbered` (count; only: true = no other lines), `starts_with` (prefix),
    `ends_with` (suffix, trailing punctuation ignored), `contains` / `not_contains` (words,
    case-insensitive). Reports `NAME` (pass/fail) and `NAME.<type>` per check type."""

    default_tasks: ClassVar[tuple[str, ...] | None] = ("gen",)
    value_range = (0.0, 1.0)

    def __init__(self, name: str, field: str = "check"):
        super().__init__(name)
        self.field = field

    def score(self, sample: Sample, completion: Completion, ctx: ScoreContext) -> list[Score]:
        spec = sample.metadata.get(self.field)
        if spec is None:
            return [not_applicable(self.name, f"sample has no metadata.{self.field}")]
        checks = spec if isinstance(spec, list) else [spec]
        err = generation_error(completion)
        if err:
            return [self.error_score(self.name, err)]
        fails: list[str] = []
        per_type: dict[str, bool] = {}
        for c in checks:
            if not isinstance(c, dict) or c.get("type") not in CHECK_TYPES:
                return [not_applicable(self.name, f"bad check {c!r}; types: {', '.join(CHECK_TYPES)}")]
            why = _check_one(c, completion.text)
            per_type[c["type"]] = per_type.get(c["type"], True) and why is None
            if why:
                fails.append(f"{c['type']}: {why}")
        out = [Score(name=self.name, value=not fails, detail="; ".join(fails))]
        out += [Score(name=f"{self.name}.{k}", value=v) for k, v in sorted(per_type.items())]
        return out
