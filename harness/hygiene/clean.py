"""Outputs of a hygiene check: the clean file (kept rows as chat JSONL), the removed rows with
their reasons, the report and the held-out dev rows next to it, and the stored `hygiene` record."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..data import sample_to_row
from ..errors import InputError
from ..types import Sample
from .records import HygieneReport


def _write_atomic(path: Path, lines: Iterable[str]) -> None:
    """Write through a temporary file in the same folder and a rename, so a reader never sees half
    a file. The file gets the usual mode (0666 less the umask, or the mode of the file it replaces):
    not mkstemp's private 0600, which left a clean training file unreadable to the group."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies here
    try:
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for ln in lines:
                f.write(ln)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
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
