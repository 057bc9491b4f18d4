"""Free-text scorers: `required_sections`, `length`, `rouge`."""

from __future__ import annotations

import re
from typing import Any

from ..types import Completion, Sample, Score
from ._common import as_text, generation_error, output_field, reference_field
from .base import BaseScorer, ScoreContext, not_applicable, register_scorer

_HEADING = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(.*?)[ \t]*$", re.MULTILINE)
_SECTION = re.compile(r"^\s*(#{1,6})\s*(.*?)\s*$")


def _title_key(title: str) -> str:
    title = re.sub(r"[ \t]+#+$", "", title.strip())  # closing hashes of an ATX heading
    title = title.rstrip(":").strip()
    return " ".join(title.split()).casefold()


def headings(text: str) -> list[tuple[int, str]]:
    """Markdown ATX headings of `text` as (level, normalized title)."""
    return [(len(m.group(1)), _title_key(m.group(2))) for m in _HEADING.finditer(text)]


@register_scorer("required_sections")
class RequiredSectionsScorer(BaseScorer):
    """Every section in `sections` appears as a markdown heading at the start of a line.

    A section is written as a heading ("## Steps") or as a bare title ("Steps"). Titles compare
    case-insensitively, ignoring a trailing colon and extra spaces. With `any_level` (default) any
    heading level matches; otherwise a section written as "## Steps" needs exactly a level-2 heading
    (a bare title still matches any level).

    Presence alone passes an output that repeats `## Assessment` five times or puts the sections in
    any order. Two options make the check strict:

    - `exactly_once` (default false): each section must appear exactly once; a repeated one fails
      (`data["repeated"]`: section -> how many times it appeared).
    - `in_order` (default false): the sections' first appearances must follow the order of
      `sections` (`data["out_of_order"]`: true when they do not).

    Value: every condition holds. `data["fraction"]`: share of sections present (and, with
    `exactly_once`, present exactly once); `data["missing"]`: the absent ones.
    """

    value_range = (0.0, 1.0)

    def __init__(
        self,
        name: str,
        sections: list[str],
        any_level: bool = True,
        exactly_once: bool = False,
        in_order: bool = False,
    ):
        super().__init__(name)
        if isinstance(sections, str) or not isinstance(sections, (list, tuple)) or not sections:
            raise ValueError("sections must be a non-empty list of headings, e.g. ['## Summary', '## Steps']")
        for arg, v in (("any_level", any_level), ("exactly_once", exactly_once), ("in_order", in_order)):
            if not isinstance(v, bool):
                raise ValueError(f"{arg} must be true or false, got {v!r}")
        self.sections = list(sections)
        self.any_level = any_level
        self.exactly_once = exactly_once
        self.in_order = in_order
        self._wanted: list[tuple[int | None, str]] = []
        for s in self.sections:
            if not isinstance(s, str) or not s.strip():
                raise ValueError(f"sections must be non-empty strings, got {s!r}")
            m = _SECTION.match(s)
            if m:
                self._wanted.append((len(m.group(1)), _title_key(m.group(2))))
            else:
                self._wanted.append((None, _title_key(s)))

    def score(self, sample: Sample, completion: Completion, ctx: ScoreContext) -> list[Score]:
        err = generation_error(completion)
        if err:
            return [self.error_score(self.name, err, {"fraction": 0.0, "missing": self.sections})]
        found = headings(completion.text)
        missing: list[str] = []
        repeated: dict[str, int] = {}
        first: list[tuple[int, str]] = []  # (position of the first matching heading, section)
        for section, (level, title) in zip(self.sections, self._wanted, strict=True):
            at = [
                i
                for i, (lv, t) in enumerate(found)
                if t == title and (self.any_level or level is None or lv == level)
            ]
            if not at:
                missing.append(section)
                continue
            first.append((at[0], section))
            if len(at) > 1:
                repeated[section] = len(at)
        problems = []
        if missing:
            noun = "section" if len(missing) == 1 else "sections"
            problems.append(f"missing required {noun} " + ", ".join(repr(s) for s in missing))
        ok = len(self.sections) - len(missing)
        data: dict[str, Any] = {"missing": missing}
        if self.exactly_once:
            ok -= len(repeated)
            data["repeated"] = repeated
            problems += [f"{s!r} appears {k} times" for s, k in repeated.items()]
        if self.in_order:
            got = [s for _, s in sorted(first)]
            out_of_order = got != [s for _, s in first]
            data["out_of_order"] = out_of_order
            if out_of_order:
                problems.append("sections out of order: " + ", ".join(repr(s) for s in got))
        data = {"fraction": ok / len(self.sections), **data}
        return [Score(name=self.name, value=not problems, detail="; ".join(problems), data=data)]


@register_scorer("length")
class LengthScorer(BaseScorer):
    """The output's length is within bounds. Words are whitespace-separated tokens; characters are
    counted on the stripped output. Every bound is optional and inclusive."""

    value_range = (0.0, 1.0)

    def __init__(
        self,
        name: str,
        min_words: int | None = None,
        max_words: int | None = None,
        min_chars: int | None = None,
        max_chars: int | None = None,
    ):
        super().__init__(name)
        for arg, v in (
            ("min_words", min_words),
            ("max_words", max_words),
            ("min_chars", min_chars),
            ("max_chars", max_chars),
        ):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise ValueError(f"{arg} must be a non-negative integer, got {v!r}")
        if min_words is not None and max_words is not None and min_words > max_words:
            raise ValueError(f"min_words ({min_words}) > max_words ({max_words})")
        if min_chars is not None and max_chars is not None and min_chars > max_chars:
            raise ValueError(f"min_chars ({min_chars}) > max_chars ({max_chars})")
        if all(v is None for v in (min_words, max_words, min_chars, max_chars)):
            raise ValueError("give at least one of min_words, max_words, min_chars, max_chars")
        self.min_words = min_words
        self.max_words = max_words
        self.min_chars = min_chars
        self.max_chars = max_chars

    def score(self, sample: Sample, completion: Completion, ctx: ScoreContext) -> list[Score]:
        err = generation_error(completion)
        if err:
            return [self.error_score(self.name, err)]
        text = completion.text.strip()
        words, chars = len(text.split()), len(text)
        problems = []
        if self.min_words is not None and words < self.min_words:
            problems.append(f"too short: {words} words < min_words {self.min_words}")
        if self.max_words is not None and words > self.max_words:
            problems.append(f"too long: {words} words > max_words {self.max_words}")
        if self.min_chars is not None and chars < self.min_chars:
            problems.append(f"too short: {chars} chars < min_chars {self.min_chars}")
        if self.max_chars is not None and chars > self.max_chars:
            problems.append(f"too long: {chars} chars > max_chars {self.max_chars}")
        data = {"words": words, "chars": chars}
        return [Score(name=self.name, value=not problems, detail="; ".join(problems), data=data)]


_ROUGE_TYPE = re.compile(r"^rouge([1-9]|L|Lsum)$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")


def split_sentences(text: str) -> str:
    """Text with one sentence per line, as rougeLsum expects: breaks at newlines and after '.', '!'
    or '?' followed by whitespace."""
    return "\n".join(s for s in _SENTENCE_END.split(text.strip()) if s)


@register_scorer("rouge")
class RougeScorer(BaseScorer):
    """ROUGE F-measure of the output against the reference, via Google's `rouge_score` package.

    One Score per type, named `<name>.<type>` (e.g. "summary_rouge.rougeL"). rouge_score's rougeLsum
    treats each line as a sentence, so for that type both texts are first split into sentences with
    `split_sentences` (newlines and '.', '!', '?' followed by whitespace); the other types score the
    texts as given. With `field`, that JSON field of output and reference is compared instead (output
    without valid JSON or the field scores 0, with the reason in `detail`).
    """

    DEFAULT_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
    value_range = (0.0, 1.0)

    def __init__(
        self,
        name: str,
        rouge_types: list[str] | None = None,
        field: str | None = None,
        use_stemmer: bool = True,
    ):
        super().__init__(name)
        types = list(self.DEFAULT_TYPES if rouge_types is None else rouge_types)
        if isinstance(rouge_types, str) or not types:
            raise ValueError("rouge_types must be a non-empty list, e.g. ['rouge1', 'rougeL']")
        bad = [t for t in types if not isinstance(t, str) or not _ROUGE_TYPE.match(t)]
        if bad:
            raise ValueError(f"unknown rouge type(s) {bad}; use rouge1..rouge9, rougeL or rougeLsum")
        self.rouge_types = types
        self.field = field
        self.use_stemmer = use_stemmer
        self._scorers: dict[bool, Any] = {}

    def _scorer(self, lsum: bool) -> Any:
        if lsum not in self._scorers:
            from rouge_score import rouge_scorer

            types = ["rougeLsum"] if lsum else [t for t in self.rouge_types if t != "rougeLsum"]
            self._scorers[lsum] = rouge_scorer.RougeScorer(types, use_stemmer=self.use_stemmer)
        return self._scorers[lsum]

    def _all(self, value: float | None, detail: str) -> list[Score]:
        return [Score(name=f"{self.name}.{t}", value=value, detail=detail) for t in self.rouge_types]

    def _not_applicable(self, detail: str) -> list[Score]:
        return [not_applicable(f"{self.name}.{t}", detail) for t in self.rouge_types]

    def score(self, sample: Sample, completion: Completion, ctx: ScoreContext) -> list[Score]:
        err = generation_error(completion)
        if err:
            return [self.error_score(f"{self.name}.{t}", err, boolean=False) for t in self.rouge_types]
        if self.field is None:
            if sample.reference is None:
                return self._not_applicable("sample has no reference")
            reference, prediction = sample.reference, completion.text
        else:
            ok, ref_value, why = reference_field(sample, self.field)
            if not ok:
                return self._not_applicable(why)
            ok, out_value, why = output_field(completion.text, self.field)
            if not ok:
                return self._all(0.0, why)
            reference, prediction = as_text(ref_value), as_text(out_value)
        results: dict[str, Any] = {}
        if any(t != "rougeLsum" for t in self.rouge_types):
            results.update(self._scorer(False).score(reference, prediction))
        if "rougeLsum" in self.rouge_types:
            results.update(self._scorer(True).score(split_sentences(reference), split_sentences(prediction)))
        out = []
        for t in self.rouge_types:
            r = results[t]
            out.append(
                Score(
                    name=f"{self.name}.{t}",
                    value=float(r.fmeasure),
                    data={"precision": float(r.precision), "recall": float(r.recall)},
                )
            )
        return out

    def metric_names(self) -> list[str]:
        return [f"{self.name}.{t}" for t in self.rouge_types]
