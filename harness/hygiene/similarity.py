"""Text similarity for the hygiene checks: normalized words, n-grams and shingles, exact
near-duplicate search by prefix filtering (`NearDupIndex`), and the index of evaluation items'
n-grams that contamination is matched against."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import InputError
from ..types import Sample, Suite
from .records import Finding, HygieneConfig, SuiteChecked

_NON_WORD = re.compile(r"[^\w\s]")


def words(text: str) -> list[str]:
    """Lowercased words with punctuation stripped ("Don't!" -> ["dont"])."""
    return _NON_WORD.sub("", text.lower()).split()


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
    __slots__ = ("suite", "split", "id", "n_grams")

    def __init__(self, suite: str, split: str, sid: str, n_grams: int):
        self.suite = suite
        self.split = split
        self.id = sid
        self.n_grams = n_grams

    @property
    def where(self) -> str:
        return f"{self.suite}/{self.split} {self.id}"


class _EvalIndex:
    """Eval items' user texts: n-gram -> items holding it, and normalized text -> items."""

    def __init__(self, n: int):
        self.n = n
        self.items: list[_EvalItem] = []
        self.grams: dict[tuple[str, ...], list[int]] = defaultdict(list)
        self.exact: dict[str, list[int]] = defaultdict(list)

    def add(self, suite: str, split: str, sample: Sample) -> None:
        ws = words(user_text(sample))
        grams = ngrams(ws, self.n)
        idx = len(self.items)
        self.items.append(_EvalItem(suite, split, sample.id, len(grams)))
        for g in grams:
            self.grams[g].append(idx)
        if ws:
            self.exact[" ".join(ws)].append(idx)

    def match(self, sample: Sample, cfg: HygieneConfig) -> Finding | None:
        ws = words(user_text(sample))
        hit = self.exact.get(" ".join(ws)) if ws else None
        if hit:
            item = self.items[hit[0]]
            also = f" (and {len(hit) - 1} more)" if len(hit) > 1 else ""
            return Finding(
                line=None,
                sample_id=sample.id,
                kind="contamination",
                detail=f"input is identical to {item.where}{also} (after normalization)",
                data={
                    "suite": item.suite,
                    "split": item.split,
                    "eval_id": item.id,
                    "exact": True,
                    "coverage": 1.0,
                    "n_matches": len(hit),
                },
            )
        shared: Counter[int] = Counter()
        first: dict[int, tuple[str, ...]] = {}
        for g in ngrams(ws, self.n):
            for idx in self.grams.get(g, ()):
                shared[idx] += 1
                first.setdefault(idx, g)
        hits = []
        for idx, count in shared.items():
            item = self.items[idx]
            coverage = count / item.n_grams
            if count >= cfg.contamination_min_overlap and coverage >= cfg.contamination_min_coverage:
                hits.append((coverage, count, -idx, idx))
        if not hits:
            return None
        hits.sort(reverse=True)
        coverage, count, _, idx = hits[0]
        item = self.items[idx]
        gram = " ".join(first[idx])
        also = f"; {len(hits) - 1} other eval item(s) too" if len(hits) > 1 else ""
        return Finding(
            line=None,
            sample_id=sample.id,
            kind="contamination",
            detail=(
                f"overlaps {item.where}: {count} of its {item.n_grams} {self.n}-grams shared "
                f"({coverage:.0%}), e.g. {gram!r}{also}"
            ),
            data={
                "suite": item.suite,
                "split": item.split,
                "eval_id": item.id,
                "exact": False,
                "shared": count,
                "coverage": round(coverage, 4),
                "ngram": gram,
                "n_matches": len(hits),
            },
        )


def _eval_splits(suite: Suite) -> list[str]:
    return [s for s in suite.dataset.splits if s != "train"]


def build_eval_index(against: Sequence[Suite], n: int) -> tuple[_EvalIndex, list[SuiteChecked]]:
    from ..suite import load_split

    index = _EvalIndex(n)
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

    def _prefix(self, j: int) -> list[int]:
        s = self.sets[j]
        return sorted(s)[: len(s) - math.ceil(self.threshold * len(s) - 1e-9) + 1] if s else []

    def query(self, j: int) -> list[tuple[int, float]]:
        """Added sets i with Jaccard(i, j) >= threshold, as (i, similarity) in order of i."""
        s = self.sets[j]
        candidates: set[int] = set()
        for r in self._prefix(j):
            candidates.update(self._index.get(r, ()))
        out = []
        for i in sorted(candidates):
            other = self.sets[i]
            if min(len(s), len(other)) < self.threshold * max(len(s), len(other)) - 1e-9:
                continue  # size filter: Jaccard <= min/max
            sim = jaccard(s, other)
            if sim >= self.threshold - 1e-12:
                out.append((i, sim))
        return out

    def add(self, j: int) -> None:
        for r in self._prefix(j):
            self._index[r].append(j)


def near_duplicate_pairs(
    sets: Sequence[frozenset[Any]], threshold: float
) -> Iterator[tuple[int, list[tuple[int, float]]]]:
    """For each set j in order, every earlier set i < j with Jaccard(i, j) >= threshold."""
    index = NearDupIndex(sets, threshold)
    for j in range(len(sets)):
        yield j, index.query(j)
        index.add(j)
