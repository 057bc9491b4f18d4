"""Datasets: loading and validation.

Two input shapes are accepted, per row:
- chat: `{"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}` where the
  last turn is the assistant's answer (the reference);
- instruction/output (Alpaca): `{"instruction": "...", "input": "...", "output": "...", "system": "..."}`.
Optional keys: `id` (string or integer) and `metadata` (object).

JSONL files are parsed line by line so every problem names its exact line. CSV and Parquet files
and hub datasets are read through the `datasets` library (a CSV row's line is its row number + 1
for the header; a chat row in CSV keeps `messages` as a JSON string). Every problem is collected
before anything runs; `load_samples` raises one InputError listing them all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import InputError, Problem
from .textio import iter_lines, utf8_problems
from .types import Message, Sample

ROLES = ("system", "user", "assistant")
SUPPORTED = (".jsonl", ".json", ".csv", ".parquet")


def _iter_jsonl(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    for lineno, line, err in iter_lines(path):
        if line is None:  # not UTF-8
            yield lineno, None, err
            continue
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line.rstrip("\r\n")), None
        except json.JSONDecodeError as e:  # (without the newline, an error at the end is on this line)
            yield lineno, None, f"bad JSON: {e.msg} at column {e.colno}"


def _iter_datasets(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    from datasets import load_dataset

    kind = {".csv": "csv", ".parquet": "parquet"}[path.suffix]
    if kind == "csv":  # the csv reader would fail on the first bad byte with a traceback
        bad = utf8_problems(path)
        if bad:
            for p in bad:
                yield p.line or 0, None, p.message
            return
    ds = load_dataset(kind, data_files=str(path), split="train")
    offset = 2 if kind == "csv" else 1  # csv: line 1 is the header
    for i, row in enumerate(ds):
        row = dict(row)
        if isinstance(row.get("messages"), str):
            try:
                row["messages"] = json.loads(row["messages"])
            except json.JSONDecodeError as e:
                yield i + offset, None, f"bad JSON in the 'messages' column: {e.msg}"
                continue
        yield i + offset, {k: v for k, v in row.items() if v is not None}, None


def _iter_hub(hub_id: str, split: str) -> Iterator[tuple[int, Any, str | None]]:
    from datasets import load_dataset

    try:
        ds = load_dataset(hub_id, split=split)
    except Exception as e:  # offline, unknown id, missing split
        raise InputError(
            f"could not load hub dataset {hub_id!r} split {split!r}: {e}",
            hint="offline? point the suite's dataset.path at a local JSONL/CSV/Parquet file instead",
        ) from e
    for i, row in enumerate(ds):
        yield i + 1, dict(row), None


def _check_content(value: Any, where: str) -> str | None:
    if not isinstance(value, str):
        return f"{where}: expected a string, got {type(value).__name__}"
    if not value.strip():
        return f"{where}: empty content"
    return None


def parse_row(row: Any, source: str, line: int) -> tuple[Sample | None, list[Problem]]:
    """Validate one row and turn it into a Sample (messages without the final assistant turn,
    which becomes the reference)."""

    def bad(msg: str) -> tuple[None, list[Problem]]:
        return None, [Problem(source, line, msg)]

    if not isinstance(row, dict):
        return bad(f"expected a JSON object, got {type(row).__name__}")
    problems: list[Problem] = []
    sid = row.get("id", f"{Path(source).stem}-{line}")
    if not isinstance(sid, (str, int)) or isinstance(sid, bool):
        problems.append(
            Problem(source, line, f"'id': expected a string or integer, got {type(sid).__name__}")
        )
    meta = row.get("metadata", {})
    if not isinstance(meta, dict):
        problems.append(Problem(source, line, f"'metadata': expected an object, got {type(meta).__name__}"))
        meta = {}

    turns: list[dict[str, Any]] = []
    if "messages" in row:
        msgs = row["messages"]
        if not isinstance(msgs, list):
            return bad(f"'messages': expected a list of {{role, content}} objects, got {type(msgs).__name__}")
        if not msgs:
            return bad("'messages' is empty: expected user turn(s) and a final assistant turn")
        for i, m in enumerate(msgs):
            where = f"messages[{i}]"
            if not isinstance(m, dict):
                problems.append(
                    Problem(
                        source,
                        line,
                        f"{where}: expected an object with role and content, got {type(m).__name__}",
                    )
                )
                continue
            role = m.get("role")
            if role not in ROLES:
                problems.append(
                    Problem(
                        source, line, f"{where}: unknown role {role!r} (expected one of {', '.join(ROLES)})"
                    )
                )
                continue
            err = _check_content(m.get("content"), f"{where} ({role}) content")
            if err:
                problems.append(Problem(source, line, err))
                continue
            turns.append({"role": role, "content": m["content"]})
        if problems:
            return None, problems
    elif "instruction" in row or "output" in row:
        for key in ("instruction", "output"):
            if key not in row:
                problems.append(Problem(source, line, f"missing '{key}' (instruction/output rows need both)"))
            else:
                err = _check_content(row[key], f"'{key}'")
                if err:
                    problems.append(Problem(source, line, err))
        for key in ("input", "system"):
            if key in row and row[key] not in (None, "") and not isinstance(row[key], str):
                problems.append(
                    Problem(source, line, f"'{key}': expected a string, got {type(row[key]).__name__}")
                )
        if problems:
            return None, problems
        if row.get("system"):
            turns.append({"role": "system", "content": row["system"]})
        user = row["instruction"] + (f"\n\n{row['input']}" if row.get("input") else "")
        turns += [{"role": "user", "content": user}, {"role": "assistant", "content": row["output"]}]
    else:
        keys = ", ".join(sorted(map(str, row))) or "none"
        return bad(
            f"expected a 'messages' list (chat) or 'instruction' + 'output' (Alpaca); found keys: {keys}"
        )

    if turns[-1]["role"] != "assistant":
        return bad(
            f"missing assistant turn: the last message must be the assistant's reference answer (got {turns[-1]['role']!r})"
        )
    if not any(t["role"] == "user" for t in turns[:-1]):
        return bad("no user turn before the assistant's answer")
    if problems:
        return None, problems
    reference = turns[-1]["content"]
    target = None
    try:
        parsed = json.loads(reference)
        if isinstance(parsed, dict):
            target = parsed
    except (json.JSONDecodeError, TypeError):
        pass
    sample = Sample(
        id=str(sid),
        messages=tuple(Message(role=t["role"], content=t["content"]) for t in turns[:-1]),
        reference=reference,
        target=target,
        metadata=meta,
    )
    return sample, []


def read_rows(path: str | Path) -> Iterator[tuple[int, Any, str | None]]:
    p = Path(path)
    if not p.exists():
        raise InputError(
            f"{p}: no such file", hint="check the path, or run `tunebench suites` to list built-in suites"
        )
    if p.suffix not in SUPPORTED:
        raise InputError(f"{p}: unsupported file type {p.suffix!r} (expected one of {', '.join(SUPPORTED)})")
    if p.suffix in (".jsonl", ".json"):
        return _iter_jsonl(p)
    return _iter_datasets(p)


def validate_rows(
    rows: Iterator[tuple[int, Any, str | None]], source: str
) -> tuple[list[Sample], list[Problem]]:
    samples: list[Sample] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for line, row, err in rows:
        if err:
            problems.append(Problem(source, line, err))
            continue
        sample, probs = parse_row(row, source, line)
        problems += probs
        if sample is not None:
            if sample.id in seen:
                problems.append(
                    Problem(source, line, f"duplicate id {sample.id!r} (first on line {seen[sample.id]})")
                )
                continue
            seen[sample.id] = line
            samples.append(sample)
    if not samples and not problems:
        problems.append(Problem(source, None, "no rows: the file is empty"))
    return samples, problems


def validate_file(path: str | Path) -> tuple[list[Sample], list[Problem]]:
    """Parse and validate a whole file; returns the good samples and every problem found."""
    return validate_rows(read_rows(path), str(path))


def load_samples(
    path: str | Path | None = None, *, hub_id: str | None = None, split: str = "train"
) -> list[Sample]:
    """Load and validate a dataset; raises InputError listing every problem (file:line: what)."""
    if path is not None:
        samples, problems = validate_file(path)
        source = str(path)
    elif hub_id is not None:
        source = f"{hub_id}[{split}]"
        samples, problems = validate_rows(_iter_hub(hub_id, split), source)
    else:
        raise InputError("a dataset needs a local path or a hub id")
    if problems:
        raise InputError(
            f"{source}: {len(problems)} problem(s); nothing was run",
            problems=problems[:200],
            hint="fix these rows (each line: file:line: what is wrong), then run again; "
            "`tunebench data validate FILE` checks a file on its own",
        )
    return samples


def sample_to_row(sample: Sample) -> dict[str, Any]:
    """The chat-format JSONL row for a sample (inverse of parse_row)."""
    msgs = [{"role": m.role, "content": m.content} for m in sample.messages]
    if sample.reference is not None:
        msgs.append({"role": "assistant", "content": sample.reference})
    row: dict[str, Any] = {"id": sample.id, "messages": msgs}
    if sample.metadata:
        row["metadata"] = sample.metadata
    return row
