"""Training-data hygiene, checked before any training run.

`check_dataset(path, against, config)` reads a training file row by row and reports, per row
(`file:line`), what would make a fine-tune misleading or wasteful:

- `schema`: the row is not a valid chat / instruction row (or repeats an earlier row's id);
- `duplicate`: same input and output as an earlier row (after lowercasing, stripping punctuation
  and collapsing whitespace); the later copy is flagged;
- `near_duplicate`: Jaccard similarity of word shingles with an earlier kept row is at least
  `near_dup_threshold`; the later row of the pair is flagged;
- `short_output`: the assistant output has fewer than `min_output_tokens` whitespace tokens;
- `invalid_json`: the suite expects JSON and the whole assistant output is not one JSON object;
- `contamination`: the row's user text reproduces an evaluation item (every non-train split of
  every `--against` suite): its normalized text is identical, or it shares word n-grams with
  the item covering at least `contamination_min_coverage` of the item's n-grams.

Why coverage rather than "any shared n-gram": evaluation sets built from templates (the built-in
ticket-triage suite is one) share stock phrases ("not a showstopper, but I'd like an answer
soonish") with their training split by design. On ticket-triage, "any shared 8-gram" flags 378 of
the 400 training rows; requiring the train row to reproduce most of an item (70% of its 8-grams,
the criterion the PaLM paper used for its contamination analysis) flags only real near-copies.
Set `contamination_min_coverage=0` for the strict "any shared n-gram" rule.

Texts compared: near-duplicates and contamination use the user turns (plus the assistant output
for near-duplicates); system turns are left out because a shared system prompt would make every
row look alike. Exact duplicates compare every turn.

An optional seeded dev split (`dev_fraction`) is carved out of the file before any of this, so
no cleaning decision ever looks at the held-out rows.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from .data import parse_row, read_rows, sample_to_row
from .errors import InputError
from .types import Sample, Suite

Kind = Literal["schema", "duplicate", "near_duplicate", "short_output", "invalid_json", "contamination"]
KINDS: tuple[Kind, ...] = get_args(Kind)
REPORT_SCHEMA_VERSION = 1
PROGRESS_MIN_ROWS = 1000

_NON_WORD = re.compile(r"[^\w\s]")


class HygieneConfig(BaseModel):
    """What counts as a problem. Every field is a `tunebench data check` option of the same name."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    near_dup_threshold: float = Field(
        0.8,
        gt=0.0,
        le=1.0,
        description="flag a row whose Jaccard similarity (word shingles) with an earlier kept row is at least this",
    )
    shingle_n: int = Field(3, ge=1, description="words per shingle for near-duplicate detection")
    min_output_tokens: int = Field(
        2,
        ge=0,
        description="flag assistant outputs with fewer whitespace tokens than this (0 turns the check off)",
    )
    contamination_n: int = Field(
        8,
        ge=1,
        description="n-gram size (words, lowercased, punctuation stripped) for overlap with eval items",
    )
    contamination_min_overlap: int = Field(
        1,
        ge=1,
        description="a train row must share at least this many n-grams with an eval item to be flagged",
    )
    contamination_min_coverage: float = Field(
        0.7,
        ge=0.0,
        le=1.0,
        description="...and those shared n-grams must cover at least this fraction of the eval item's n-grams "
        "(0: any shared n-gram flags the row). Identical normalized texts are always flagged",
    )
    dev_fraction: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="carve this fraction of the valid rows out as a seeded dev split before any check "
        "(written next to the clean file; never looked at by the checks)",
    )
    seed: int = Field(0, description="seed for the dev split")
    check_json: bool | None = Field(
        None,
        description="require each assistant output to be a JSON object (None: when any suite expects JSON)",
    )
    remove: tuple[Kind, ...] = Field(
        KINDS,
        description="finding kinds whose rows are removed from the clean file; schema rows are always removed "
        "(they cannot be written)",
    )


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True)
    line: int | None = Field(description="1-based line in the file (CSV: row number + 1)")
    sample_id: str | None = None
    kind: Kind
    detail: str
    data: dict[str, Any] = Field(
        default_factory=dict, description="machine-readable specifics (other line, eval item, ...)"
    )


class RemovedRow(BaseModel):
    model_config = ConfigDict(frozen=True)
    line: int | None
    sample_id: str | None
    kinds: list[Kind]
    reasons: list[str]


class SuiteChecked(BaseModel):
    model_config = ConfigDict(frozen=True)
    ref: str = Field(description="name@version+hash")
    name: str
    version: str
    content_hash: str
    splits: dict[str, int] = Field(description="eval splits compared against, with their item counts")


class HoldoutInfo(BaseModel):
    model_config = ConfigDict(frozen=True)
    fraction: float
    seed: int
    n: int
    lines: list[int]
    ids: list[str]


class HygieneReport(BaseModel):
    schema_version: int = REPORT_SCHEMA_VERSION
    file: str
    data_hash: str = Field(description="sha256 of the file's bytes")
    n_rows: int = Field(description="rows read, including rows with schema errors")
    n_holdout: int = 0
    n_checked: int = Field(0, description="rows the checks looked at (n_rows minus the held-out rows)")
    n_kept: int = Field(0, description="rows a clean file keeps (n_checked minus removed rows)")
    n_removed: int = 0
    counts: dict[str, int] = Field(default_factory=dict, description="findings per kind (every kind listed)")
    findings: list[Finding] = Field(default_factory=list)
    removed: list[RemovedRow] = Field(default_factory=list)
    config: HygieneConfig
    suites: list[SuiteChecked] = Field(default_factory=list)
    contamination_checked: bool = False
    json_checked: bool = False
    holdout: HoldoutInfo | None = None
    created_at: str = ""
    elapsed_s: float = 0.0
    _samples: dict[int, Sample] = PrivateAttr(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.findings

    @property
    def samples(self) -> dict[int, Sample]:
        """Every parsed row by line (held-out rows included); empty on a report loaded from JSON."""
        return self._samples

    def to_text(self, max_findings: int = 20) -> str:
        from .fmt import table

        removing = set(self.config.remove) | {"schema"}
        rows = [(k, self.counts.get(k, 0), "yes" if k in removing else "no") for k in KINDS]
        lines = [f"{self.file}  sha256:{self.data_hash[:12]}  {self.n_rows} rows"]
        if self.holdout:
            h = self.holdout
            lines.append(f"held out {h.n} rows as dev (fraction {h.fraction}, seed {h.seed}); not checked")
        if self.suites:
            lines.append(
                "contamination checked against: "
                + ", ".join(
                    f"{s.ref} ({', '.join(f'{k}={v}' for k, v in s.splits.items())})" for s in self.suites
                )
            )
        else:
            lines.append("contamination not checked (no --against suite)")
        lines.append(f"JSON outputs {'checked' if self.json_checked else 'not checked'}")
        lines += ["", table(["kind", "findings", "removed"], rows, align="lrl"), ""]
        for f in self.findings[:max_findings]:
            where = f"{self.file}:{f.line}" if f.line is not None else self.file
            lines.append(f"{where}: {f.kind}: {f.detail}")
        if len(self.findings) > max_findings:
            lines.append(f"... and {len(self.findings) - max_findings} more (--format json lists them all)")
        if self.findings:
            lines.append("")
        verdict = (
            "clean" if self.clean else f"{len(self.findings)} finding(s) in {self.n_removed} row(s) to remove"
        )
        lines.append(
            f"{verdict}; a clean file keeps {self.n_kept} of {self.n_checked} checked rows "
            f"({self.elapsed_s:.2f}s)"
        )
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# text normalization


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
    return "\n".join(m.content for m in sample.messages if m.role == "user")


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _count_lines(path: Path) -> int | None:
    if path.suffix not in (".jsonl", ".json"):
        return None
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def _progress(it: Iterable[Any], enabled: bool, total: int | None, desc: str) -> Iterator[Any]:
    if not enabled or total is None or total <= PROGRESS_MIN_ROWS:
        yield from it
        return
    from tqdm.auto import tqdm

    yield from tqdm(it, total=total, desc=desc, unit="row", leave=False)


# ------------------------------------------------------------------------------------------------
# checks


class _Row:
    __slots__ = ("line", "sample")

    def __init__(self, line: int, sample: Sample):
        self.line = line
        self.sample = sample


def _holdout_lines(rows: list[_Row], fraction: float, seed: int) -> list[int]:
    """The rows whose sha256(seed, id, line) are smallest: deterministic, independent of row order."""
    k = round(fraction * len(rows))
    if fraction > 0 and k == 0 and rows:
        k = 1
    keyed = sorted(rows, key=lambda r: hashlib.sha256(f"{seed}\x00{r.sample.id}".encode()).hexdigest())
    return sorted(r.line for r in keyed[:k])


def _strict_json_error(text: str) -> str | None:
    """None when the whole output is one JSON object; otherwise why not."""
    stripped = text.strip()
    try:
        obj = json.loads(stripped)
    except json.JSONDecodeError as e:
        from .scorers._common import extract_json

        found, err = extract_json(text)
        if err is None and isinstance(found, dict):
            return "output has text around its JSON object (the whole output must be the object)"
        return f"not JSON: {e.msg} at char {e.pos}"
    if not isinstance(obj, dict):
        return f"JSON {type(obj).__name__}, not an object"
    return None


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
    from .suite import load_split

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


def check_dataset(
    path: str | Path,
    against: Sequence[Suite] = (),
    config: HygieneConfig | None = None,
    *,
    progress: bool = False,
) -> HygieneReport:
    """Check a training file; never raises for bad rows (they are `schema` findings).

    Raises InputError only when the file itself cannot be read (missing, unsupported type) or an
    `against` suite's eval data is broken."""
    cfg = config or HygieneConfig()
    t0 = time.perf_counter()
    p = Path(path)
    source = str(path)
    raw_rows = read_rows(p)  # raises InputError for a missing file / unsupported type
    data_hash = _file_hash(p)
    total = _count_lines(p)

    findings: dict[int, list[Finding]] = defaultdict(list)
    rows: list[_Row] = []
    samples: dict[int, Sample] = {}
    seen_ids: dict[str, int] = {}
    n_rows = 0
    for line, row, err in _progress(raw_rows, progress, total, "read"):
        n_rows += 1
        if err:
            findings[line].append(Finding(line=line, kind="schema", detail=err))
            continue
        sample, problems = parse_row(row, source, line)
        if sample is None:
            sid = row.get("id") if isinstance(row, dict) else None
            for prob in problems:
                findings[line].append(
                    Finding(
                        line=line,
                        sample_id=None if sid is None else str(sid),
                        kind="schema",
                        detail=prob.message,
                    )
                )
            continue
        samples[line] = sample
        if sample.id in seen_ids:
            findings[line].append(
                Finding(
                    line=line,
                    sample_id=sample.id,
                    kind="schema",
                    detail=f"duplicate id {sample.id!r} (first on line {seen_ids[sample.id]})",
                    data={"other_line": seen_ids[sample.id]},
                )
            )
            continue
        seen_ids[sample.id] = line
        rows.append(_Row(line, sample))

    holdout = None
    if cfg.dev_fraction > 0:
        held = _holdout_lines(rows, cfg.dev_fraction, cfg.seed)
        held_set = set(held)
        holdout = HoldoutInfo(
            fraction=cfg.dev_fraction,
            seed=cfg.seed,
            n=len(held),
            lines=held,
            ids=[samples[ln].id for ln in held],
        )
        rows = [r for r in rows if r.line not in held_set]

    json_checked = cfg.check_json if cfg.check_json is not None else any(s.expects_json for s in against)
    index, suites_checked = build_eval_index(against, cfg.contamination_n) if against else (None, [])

    def add(r: _Row, kind: Kind, detail: str, **data: Any) -> None:
        findings[r.line].append(
            Finding(line=r.line, sample_id=r.sample.id, kind=kind, detail=detail, data=data)
        )

    exact_first: dict[tuple[tuple[str, str], ...], _Row] = {}
    exact_dup_lines: set[int] = set()
    for r in _progress(rows, progress, len(rows), "check"):
        s = r.sample
        ref = s.reference or ""
        key = tuple((m.role, " ".join(words(m.content))) for m in s.messages) + (
            ("assistant", " ".join(words(ref))),
        )
        first = exact_first.setdefault(key, r)
        if first is not r:
            exact_dup_lines.add(r.line)
            add(
                r,
                "duplicate",
                f"same input and output as line {first.line} (id {first.sample.id!r})",
                other_line=first.line,
                other_id=first.sample.id,
            )
        n_tok = len(ref.split())
        if n_tok < cfg.min_output_tokens:
            add(
                r,
                "short_output",
                f"assistant output has {n_tok} token(s), fewer than {cfg.min_output_tokens}: {_short(ref)}",
                tokens=n_tok,
            )
        if json_checked:
            err = _strict_json_error(ref)
            if err:
                add(r, "invalid_json", f"{err}: {_short(ref)}")
        if index is not None:
            hit = index.match(s, cfg)
            if hit is not None:
                findings[r.line].append(hit.model_copy(update={"line": r.line}))

    # near-duplicates: a row is flagged when it is close to an earlier row that the clean file keeps
    removing = set(cfg.remove) | {"schema"}
    cand = [r for r in rows if r.line not in exact_dup_lines]
    sets = [
        shingles(words(user_text(r.sample) + "\n" + (r.sample.reference or "")), cfg.shingle_n) for r in cand
    ]
    ndi = NearDupIndex(sets, cfg.near_dup_threshold)
    for j, r in enumerate(cand):
        pairs = ndi.query(j)  # only kept rows are in the index
        if pairs:
            i, sim = max(pairs, key=lambda t: (t[1], -t[0]))
            o = cand[i]
            differs = " (outputs differ)" if (o.sample.reference or "") != (r.sample.reference or "") else ""
            add(
                r,
                "near_duplicate",
                f"Jaccard {sim:.2f} with line {o.line} (id {o.sample.id!r}){differs}",
                other_line=o.line,
                other_id=o.sample.id,
                similarity=round(sim, 4),
            )
        if not any(f.kind in removing for f in findings.get(r.line, ())):
            ndi.add(j)

    ordered = sorted(findings.items())
    flat = [f for _, fs in ordered for f in fs]
    removed = []
    for line, fs in ordered:
        hits = [f for f in fs if f.kind in removing]
        if hits:
            kinds: list[Kind] = list(dict.fromkeys(f.kind for f in hits))
            removed.append(
                RemovedRow(
                    line=line,
                    sample_id=hits[0].sample_id,
                    kinds=kinds,
                    reasons=[f"{f.kind}: {f.detail}" for f in hits],
                )
            )
    counts = Counter(f.kind for f in flat)
    n_holdout = holdout.n if holdout else 0
    n_checked = n_rows - n_holdout
    report = HygieneReport(
        file=source,
        data_hash=data_hash,
        n_rows=n_rows,
        n_holdout=n_holdout,
        n_checked=n_checked,
        n_kept=n_checked - len(removed),
        n_removed=len(removed),
        counts={k: counts.get(k, 0) for k in KINDS},
        findings=flat,
        removed=removed,
        config=cfg,
        suites=suites_checked,
        contamination_checked=index is not None,
        json_checked=json_checked,
        holdout=holdout,
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        elapsed_s=round(time.perf_counter() - t0, 4),
    )
    report._samples = samples
    return report


# ------------------------------------------------------------------------------------------------
# outputs


def _write_atomic(path: Path, lines: Iterable[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for ln in lines:
                f.write(ln)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonl(objs: Iterable[Any]) -> Iterator[str]:
    for o in objs:
        yield json.dumps(o, ensure_ascii=False) + "\n"


def output_paths(out_path: str | Path) -> dict[str, Path]:
    """Where write_clean puts things: the clean file and, next to it, `.removed.jsonl`,
    `.report.json` and (with a holdout) `.dev.jsonl`, named after the clean file's stem."""
    out = Path(out_path)
    return {
        "clean": out,
        "removed": out.with_name(out.stem + ".removed.jsonl"),
        "report": out.with_name(out.stem + ".report.json"),
        "dev": out.with_name(out.stem + ".dev.jsonl"),
    }


def write_clean(
    report: HygieneReport, samples: Mapping[int, Sample] | None, out_path: str | Path
) -> dict[str, Path]:
    """Write the kept rows as chat JSONL (atomically), the removed rows with their reasons, the
    report, and the held-out dev rows when there are any. Returns the paths written."""
    out = Path(out_path)
    if out.suffix != ".jsonl":
        raise InputError(f"{out}: the clean file must be a .jsonl file")
    if samples is None:
        samples = report.samples
    if not samples and (report.n_kept or report.n_holdout):
        raise ValueError("write_clean needs the parsed samples (report.samples of a fresh check_dataset)")
    paths = output_paths(out)
    removed_lines = {r.line for r in report.removed}
    held = set(report.holdout.lines) if report.holdout else set()
    kept = [samples[ln] for ln in sorted(samples) if ln not in removed_lines and ln not in held]
    _write_atomic(paths["clean"], _jsonl(sample_to_row(s) for s in kept))
    _write_atomic(paths["removed"], _jsonl(r.model_dump(mode="json") for r in report.removed))
    written = {"clean": paths["clean"], "removed": paths["removed"]}
    if report.holdout:
        _write_atomic(paths["dev"], _jsonl(sample_to_row(samples[ln]) for ln in report.holdout.lines))
        written["dev"] = paths["dev"]
    _write_atomic(
        paths["report"], [json.dumps(report.model_dump(mode="json"), ensure_ascii=False, indent=1) + "\n"]
    )
    written["report"] = paths["report"]
    return written


def store_report(store: Any, report: HygieneReport) -> str:
    """Save the report as a `hygiene` record keyed by the file's hash (`ref`), so a training run
    on the same bytes can find it: `store.get_records("hygiene", ref=data_hash)`. Returns its id."""
    import uuid

    rec_id = f"hyg-{report.data_hash[:16]}-{uuid.uuid4().hex[:12]}"
    store.put_record("hygiene", rec_id, report.model_dump(mode="json"), ref=report.data_hash)
    return rec_id
