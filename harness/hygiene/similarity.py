"""Text similarity for the hygiene checks: normalized words (optionally with numbers masked),
n-grams and shingles, exact near-duplicate search by prefix filtering (`NearDupIndex`), and the
index of evaluation items that contamination is matched against."""

from __future__ import annotations

import difflib
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import InputError
from ..types import Sample, Suite
from .records import Finding, HygieneConfig, SuiteChecked

_NON_WORD = re.compile(r"[^\w\s]")
_NUMBER_WORD = (
    "zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    "sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
    "hundred|thousand|million|billion"
)
# "sixty-four", "one hundred and five": a run of number words is one number
_NUMBER_WORDS = re.compile(rf"\b(?:{_NUMBER_WORD})(?:[\s-]+(?:and[\s-]+)?(?:{_NUMBER_WORD}))*\b")
# "64", "3.5", "1,200", "03/14/2024", "2024-03-14", "10:30", "21st"; not the digits inside a code
# or a name ("A1234", "mp3", "covid19"), which tell items apart
_DIGITS = re.compile(r"(?<!\w)\d+(?:[.,:/-]\d+)*(?:(?:st|nd|rd|th)\b)?")
NUMBER = "0"
"""What every number becomes in `masked_words`."""


def words(text: str) -> list[str]:
    """Lowercased words with punctuation stripped ("Don't!" -> ["dont"])."""
    return _NON_WORD.sub("", text.lower()).split()


def mask_numbers(text: str) -> str:
    """Lowercase `text` and replace each number (digits, with their separators and ordinal suffix,
    or a run of English number words) by a separate `NUMBER` word: "a 64-year-old" and "a
    sixty-four-year-old" both become "a  0 -year-old"."""
    low = text.lower()
    return _DIGITS.sub(f" {NUMBER} ", _NUMBER_WORDS.sub(f" {NUMBER} ", low))


def masked_words(text: str) -> list[str]:
    """`words` with every number masked: two texts that differ only in an age, a date or an
    amount give the same list."""
    return words(mask_numbers(text))


def bag(ws: Sequence[str]) -> frozenset[tuple[str, int]]:
    """The words as a multiset (each word with its occurrence number), for Jaccard on bags."""
    seen: Counter[str] = Counter()
    out = []
    for w in ws:
        seen[w] += 1
        out.append((w, seen[w]))
    return frozenset(out)


def sequence_similarity(a: Sequence[str], b: Sequence[str]) -> float:
    """2 x (words matched in order) / (len(a) + len(b)), difflib's ratio without its junk heuristic:
    1.0 for equal lists, 0.95 for 20 words with one changed."""
    if not a and not b:
        return 0.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def ngrams(ws: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """Distinct word n-grams in text order; a text shorter than n gives none."""
    seen: dict[tuple[str, ...], None] = {}
    for i in range(len(ws) - n + 1):
        seen.setdefault(tuple(ws[i : i + n]), None)
    return list(seen)


def shingles(ws: Sequence[str], n: int) -> frozenset[tuple[str, ...]]:
    """Word n-gram shingles; a text shorter than n is one shingle (an empty text has none)."""
    if len(ws) < n:
        return frozenset([tuple(ws)]) if ws else frozenset()
    return frozenset(tuple(ws[i : i + n]) for i in range(len(ws) - n + 1))


def jaccard(a: frozenset[Any], b: frozenset[Any]) -> float:
    """|a & b| / |a | b|; 0 when both are empty (nothing to compare)."""
    if not a and not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def user_text(sample: Sample) -> str:
    """Every user turn of a row, joined (not only the last: earlier turns are copied text too)."""
    return "\n".join(m.content for m in sample.messages if m.role == "user")


class _EvalItem:
    __slots__ = ("suite", "split", "id", "n_grams", "masked")

    def __init__(self, suite: str, split: str, sid: str, n_grams: int, masked: list[str]):
        self.suite = suite
        self.split = split
        self.id = sid
        self.n_grams = n_grams
        self.masked = masked

    @property
    def where(self) -> str:
        return f"{self.suite}/{self.split} {self.id}"


class _EvalIndex:
    """Eval items' user texts, matched four ways, strongest first: identical normalized text;
    identical once numbers are masked; masked word n-grams covering most of the item; and, for
    short items (too few n-grams to judge by), word-sequence similarity with the whole row."""

    def __init__(self, cfg: HygieneConfig):
        self.cfg = cfg
        self.n = cfg.contamination_n
        self.tokens = masked_words if cfg.mask_numbers else words
        self.items: list[_EvalItem] = []
        self.grams: dict[tuple[str, ...], list[int]] = defaultdict(list)
        self.exact: dict[str, list[int]] = defaultdict(list)
        self.masked_exact: dict[str, list[int]] = defaultdict(list)
        self.short: list[int] = []  # items under contamination_short_words words
        self._short_index: NearDupIndex | None = None

    def add(self, suite: str, split: str, sample: Sample) -> None:
        text = user_text(sample)
        ws, ms = words(text), self.tokens(text)
        grams = ngrams(ms, self.n)
        idx = len(self.items)
        self.items.append(_EvalItem(suite, split, sample.id, len(grams), ms))
        for g in grams:
            self.grams[g].append(idx)
        if ws:
            self.exact[" ".join(ws)].append(idx)
        if ms:
            self.masked_exact[" ".join(ms)].append(idx)
            if len(ms) < self.cfg.contamination_short_words:
                self.short.append(idx)

    def _finding(self, sample: Sample, idx: int, n_matches: int, detail: str, **data: Any) -> Finding:
        item = self.items[idx]
        return Finding(
            line=None,
            sample_id=sample.id,
            kind="contamination",
            detail=detail,
            data={
                "suite": item.suite,
                "split": item.split,
                "eval_id": item.id,
                **data,
                "n_matches": n_matches,
            },
        )

    def match(self, sample: Sample) -> Finding | None:
        text = user_text(sample)
        ws, ms = words(text), self.tokens(text)
        for table, key, rule, how in (
            (self.exact, ws, "exact", "(after normalization)"),
            (self.masked_exact, ms, "numbers", "except for its numbers"),
        ):
            hit = table.get(" ".join(key)) if key else None
            if hit:
                also = f" (and {len(hit) - 1} more)" if len(hit) > 1 else ""
                detail = f"input is identical to {self.items[hit[0]].where}{also} {how}"
                return self._finding(
                    sample, hit[0], len(hit), detail, exact=rule == "exact", rule=rule, coverage=1.0
                )
        return self._ngram_match(sample, ms) or self._short_match(sample, ms)

    def _ngram_match(self, sample: Sample, ms: list[str]) -> Finding | None:
        cfg = self.cfg
        shared: Counter[int] = Counter()
        first: dict[int, tuple[str, ...]] = {}
        for g in ngrams(ms, self.n):
            for idx in self.grams.get(g, ()):
                shared[idx] += 1
                first.setdefault(idx, g)
        hits = []
        for idx, count in shared.items():
            coverage = count / self.items[idx].n_grams
            if count >= cfg.contamination_min_overlap and coverage >= cfg.contamination_min_coverage:
                hits.append((coverage, count, -idx, idx))
        if not hits:
            return None
        hits.sort(reverse=True)
        coverage, count, _, idx = hits[0]
        item = self.items[idx]
        gram = " ".join(first[idx])
        also = f"; {len(hits) - 1} other eval item(s) too" if len(hits) > 1 else ""
        masked = ", numbers masked" if cfg.mask_numbers else ""
        detail = (
            f"overlaps {item.where}: {count} of its {item.n_grams} {self.n}-grams shared "
            f"({coverage:.0%}{masked}), e.g. {gram!r}{also}"
        )
        return self._finding(
            sample,
            idx,
            len(hits),
            detail,
            exact=False,
            rule="ngram",
            shared=count,
            coverage=round(coverage, 4),
            ngram=gram,
        )

    def _short_match(self, sample: Sample, ms: list[str]) -> Finding | None:
        """Sequence similarity >= r implies Dice >= r on word bags, so bag Jaccard >= r / (2 - r):
        prefix filtering at that threshold finds every candidate, and difflib confirms."""
        cfg = self.cfg
        if not self.short or not ms:
            return None
        r = cfg.contamination_short_similarity
        if len(ms) * r > (2 - r) * cfg.contamination_short_words:
            return None  # too long to be that similar to any short item (Dice >= r needs it)
        if self._short_index is None:
            sets = [bag(self.items[i].masked) for i in self.short]
            self._short_index = NearDupIndex(sets, r / (2 - r))
            for j in range(len(sets)):
                self._short_index.add(j)
        hits = []
        for j, _ in self._short_index.query_set(bag(ms)):
            idx = self.short[j]
            sim = sequence_similarity(ms, self.items[idx].masked)
            if sim >= r - 1e-12:
                hits.append((sim, -idx, idx))
        if not hits:
            return None
        hits.sort(reverse=True)
        sim, _, idx = hits[0]
        item = self.items[idx]
        also = f"; {len(hits) - 1} other eval item(s) too" if len(hits) > 1 else ""
        masked = ", numbers masked" if cfg.mask_numbers else ""
        detail = (
            f"near-copy of {item.where}: word-sequence similarity {sim:.2f} with this short item "
            f"({len(item.masked)} words{masked}){also}"
        )
        return self._finding(
            sample, idx, len(hits), detail, exact=False, rule="short", similarity=round(sim, 4)
        )


def _eval_splits(suite: Suite) -> list[str]:
    return [s for s in suite.dataset.splits if s != "train"]


def build_eval_index(
    against: Sequence[Suite], config: HygieneConfig
) -> tuple[_EvalIndex, list[SuiteChecked]]:
    from ..suite import load_split

    index = _EvalIndex(config)
    checked = []
    for suite in against:
        splits = _eval_splits(suite)
        if not splits:
            raise InputError(
                f"suite {suite.name!r} has no dev/test split to check against",
                hint=f"its splits: {', '.join(suite.dataset.splits)}",
            )
        sizes = {}
        for split in splits:
            items = load_split(suite, split)
            sizes[split] = len(items)
            for s in items:
                index.add(suite.name, split, s)
        checked.append(
            SuiteChecked(
                ref=suite.ref,
                name=suite.name,
                version=suite.version,
                content_hash=suite.content_hash,
                splits=sizes,
            )
        )
    return index, checked


class NearDupIndex:
    """Finds sets with Jaccard >= threshold among those added so far, by prefix filtering (exact,
    no false negatives): shingles are ordered globally from rarest to most common, and two sets
    with Jaccard >= t must share one of the first |s| - ceil(t|s|) + 1 shingles of each. Only those
    prefixes are indexed, so boilerplate shingles never make candidates. All sets are given up
    front (for the global order); `query(j)` looks among the sets `add`ed before."""

    def __init__(self, sets: Sequence[frozenset[Any]], threshold: float):
        self.threshold = threshold
        ids: dict[Any, int] = {}  # shingle -> dense id; order key = (document frequency, id) as one int
        df: list[int] = []
        rows: list[list[int]] = []
        for s in sets:
            row = []
            for g in s:
                k = ids.get(g)
                if k is None:
                    k = ids[g] = len(df)
                    df.append(0)
                df[k] += 1
                row.append(k)
            rows.append(row)
        base = len(df) + 1
        self.sets = [frozenset(df[k] * base + k for k in row) for row in rows]
        self._index: dict[int, list[int]] = defaultdict(list)
        self._ids, self._df, self._base = ids, df, base

    def _prefix_of(self, s: frozenset[int]) -> list[int]:
        return sorted(s)[: len(s) - math.ceil(self.threshold * len(s) - 1e-9) + 1] if s else []

    def _prefix(self, j: int) -> list[int]:
        return self._prefix_of(self.sets[j])

    def query(self, j: int) -> list[tuple[int, float]]:
        """Added sets i with Jaccard(i, j) >= threshold, as (i, similarity) in order of i."""
        return self._candidates(self.sets[j])

    def _candidates(self, s: frozenset[int]) -> list[tuple[int, float]]:
        candidates: set[int] = set()
        for r in self._prefix_of(s):
            candidates.update(self._index.get(r, ()))
        out = []
        t, n, sets = self.threshold, len(s), self.sets
        for i in sorted(candidates):
            other = sets[i]
            m = len(other)
            if (n if n < m else m) < t * (m if n < m else n) - 1e-9:
                continue  # size filter: Jaccard <= min/max
            inter = len(s & other)  # jaccard(), inlined: this loop is the hot one
            sim = inter / (n + m - inter) if n or m else 0.0
            if sim >= t - 1e-12:
                out.append((i, sim))
        return out

    def add(self, j: int) -> None:
        for r in self._prefix(j):
            self._index[r].append(j)

    def query_set(self, s: frozenset[Any]) -> list[tuple[int, float]]:
        """Added sets i with Jaccard(i, s) >= threshold for a set `s` not given up front: its
        shingles unseen there order first (rarest), which keeps the global order fixed."""
        enc: set[int] = set()
        unseen = 0
        for g in s:
            k = self._ids.get(g)
            if k is None:
                unseen += 1
                enc.add(-unseen)
            else:
                enc.add(self._df[k] * self._base + k)
        return self._candidates(frozenset(enc))


def near_duplicate_pairs(
    sets: Sequence[frozenset[Any]], threshold: float
) -> Iterator[tuple[int, list[tuple[int, float]]]]:
    """For each set j in order, every earlier set i < j with Jaccard(i, j) >= threshold."""
    index = NearDupIndex(sets, threshold)
    for j in range(len(sets)):
        yield j, index.query(j)
        index.add(j)
