"""`check_dataset`: read a training file row by row and report, per row, the schema errors, exact
duplicates, near-duplicates, short outputs, invalid JSON and contamination the package docstring
(`harness.hygiene`) describes."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..data import parse_row, read_rows
from ..types import Sample, Suite
from .records import KINDS, Finding, HoldoutInfo, HygieneConfig, HygieneReport, Kind, RemovedRow
from .similarity import NearDupIndex, build_eval_index, shingles, user_text, words

PROGRESS_MIN_ROWS = 1000


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
        from ..scorers._common import extract_json

        found, err = extract_json(text)
        if err is None and isinstance(found, dict):
            return "output has text around its JSON object (the whole output must be the object)"
        return f"not JSON: {e.msg} at char {e.pos}"
    if not isinstance(obj, dict):
        return f"JSON {type(obj).__name__}, not an object"
    return None


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
    index, suites_checked = build_eval_index(against, cfg) if against else (None, [])

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
            hit = index.match(s)
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
