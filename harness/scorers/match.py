"""String matching scorers: `exact_match`, `normalized_match`, `regex`."""

from __future__ import annotations

import re
import string
from typing import Any

from ..types import Completion, Sample, Score
from ._common import as_text, generation_error, json_equal, mismatch, output_field, reference_field, show
from .base import BaseScorer, ScoreContext, not_applicable, register_scorer

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_text(text: str) -> str:
    """Lowercase, drop ASCII punctuation and the articles a/an/the, collapse whitespace."""
    text = text.lower().translate(_PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


@register_scorer("exact_match")
class ExactMatchScorer(BaseScorer):
    """Output equals the reference. With `field`, compares that (dotted) field of the output's JSON
    (found leniently, see `extract_json`) with the same field of the reference."""

    value_range = (0.0, 1.0)

    def __init__(self, name: str, field: str | None = None, strip: bool = True):
        super().__init__(name)
        self.field = field
        self.strip = strip

    def _prep(self, value: Any) -> Any:
        if isinstance(value, str) and self.strip:
            return value.strip()
        return value

    def _equal(self, got: Any, expected: Any) -> bool:
        return json_equal(self._prep(got), self._prep(expected))

    def _describe(self, got: Any, expected: Any) -> str:
        if isinstance(got, str) and isinstance(expected, str):
            return mismatch(self._prep(expected), self._prep(got))
        return f"expected {show(expected)}, got {show(got)}"

    def score(self, sample: Sample, completion: Completion, ctx: ScoreContext) -> list[Score]:
        err = generation_error(completion)
        if err:
            return [self.error_score(self.name, err)]
        if self.field is None:
            if sample.reference is None:
                return [not_applicable(self.name, "sample has no reference")]
            expected: Any = sample.reference
            got: Any = completion.text
        else:
            ok, expected, why = reference_field(sample, self.field)
            if not ok:
                return [not_applicable(self.name, why)]
            ok, got, why = output_field(completion.text, self.field)
            if not ok:
                return [Score(name=self.name, value=False, detail=why)]
        if self._equal(got, expected):
            return [Score(name=self.name, value=True)]
        prefix = f"{self.field}: " if self.field else ""
        return [Score(name=self.name, value=False, detail=prefix + self._describe(got, expected))]


@register_scorer("normalized_match")
class NormalizedMatchScorer(ExactMatchScorer):
    """Like `exact_match` after normalizing both sides: lowercase, punctuation and articles removed,
    whitespace collapsed (non-string field values are compared as compact JSON text)."""

    def __init__(self, name: str, field: str | None = None):
        super().__init__(name, field=field, strip=True)

    def _equal(self, got: Any, expected: Any) -> bool:
        return normalize_text(as_text(got)) == normalize_text(as_text(expected))

    def _describe(self, got: Any, expected: Any) -> str:
        return mismatch(normalize_text(as_text(expected)), normalize_text(as_text(got))) + " (normalized)"


_FLAGS = {
    "i": re.IGNORECASE,
    "m": re.MULTILINE,
    "s": re.DOTALL,
    "x": re.VERBOSE,
    "a": re.ASCII,
}


@register_scorer("regex")
class RegexScorer(BaseScorer):
    """`re.search(pattern, output)` succeeds (or, with `must_match: false`, does not). `flags` is a
    string of letters: i (ignore case), m (multiline), s (dot matches newline), x (verbose), a (ASCII).
    Higher is better (1 = the output is as wanted); a suite whose regex flags bad outputs says
    `higher_is_better: false` on the scorer's entry."""

    value_range = (0.0, 1.0)

    def __init__(self, name: str, pattern: str, must_match: bool = True, flags: str = ""):
        super().__init__(name)
        bad = [c for c in flags if c not in _FLAGS]
        if bad:
            raise ValueError(f"unknown regex flag(s) {''.join(bad)!r}; use letters from 'imsxa'")
        value = 0
        for c in flags:
            value |= _FLAGS[c]
        try:
            self.regex = re.compile(pattern, value)
        except re.error as e:
            raise ValueError(f"invalid regex {pattern!r}: {e}") from e
        self.pattern = pattern
        self.must_match = must_match
        self.flags = flags

    def score(self, sample: Sample, completion: Completion, ctx: ScoreContext) -> list[Score]:
        err = generation_error(completion)
        if err:
            return [self.error_score(self.name, err)]
        m = self.regex.search(completion.text)
        if self.must_match:
            if m is None:
                return [
                    Score(name=self.name, value=False, detail=f"no match for /{self.pattern}/{self.flags}")
                ]
            return [Score(name=self.name, value=True)]
        if m is not None:
            return [
                Score(
                    name=self.name,
                    value=False,
                    detail=f"forbidden pattern /{self.pattern}/{self.flags} matched {show(m.group(0))} at char {m.start()}",
                )
            ]
        return [Score(name=self.name, value=True)]
