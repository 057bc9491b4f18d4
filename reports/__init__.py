"""Report rendering (Markdown, HTML, JSON) of runs, comparisons and verdicts.

    kind, body = load_target(store, "cmp-2026...")   # a run id or prefix, a comparison or verdict id
    text = render(kind, body, "html")                # "md" | "html" | "json"
    write_atomic("report.html", text)

`body` is the stored record as a JSON dict (a `RunRecord.model_dump(mode="json")`, a stored
comparison or verdict body). `load_target` adds the report extras (a run's worst samples, the
comparisons a verdict names); `render(..., store=store)` adds them too when they are missing.
Formats: `md` fits a pull-request comment; `html` is one self-contained file (inline CSS and SVG,
no script, no external URL); `json` follows `reports/schema/report-v1.json`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .common import KINDS, Kind
from .json_schema import SCHEMA_ID, build_document, load_schema, validate
from .loader import enrich, load_target

if TYPE_CHECKING:
    from harness.store import Store

FORMATS = ("md", "html", "json")

__all__ = [
    "FORMATS",
    "KINDS",
    "SCHEMA_ID",
    "Kind",
    "build_document",
    "enrich",
    "load_schema",
    "load_target",
    "render",
    "validate",
    "write_atomic",
]


def _generator() -> str:
    try:
        from harness import __version__
    except Exception:  # pragma: no cover - the package always has a version
        return "tunebench"
    return f"tunebench {__version__}"


def render(
    obj_kind: str,
    body: Mapping[str, Any],
    fmt: str,
    *,
    store: Store | None = None,
    generated_at: str | None = None,
) -> str:
    """The report of one run, comparison or verdict `body` in `fmt` (md, html or json)."""
    if obj_kind not in KINDS:
        raise ValueError(f"unknown report kind {obj_kind!r}; expected one of {', '.join(KINDS)}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")
    data = dict(body)
    if store is not None:
        data = enrich(store, obj_kind, data)
    if generated_at is None:
        from harness.store import now_iso

        generated_at = now_iso()
    generator = _generator()
    if fmt == "json":
        from .json_schema import render_json

        return render_json(obj_kind, data, generated_at, generator)
    if fmt == "md":
        from .markdown import render_markdown

        return render_markdown(obj_kind, data)
    from .html import render_html

    return render_html(obj_kind, data, footer=f"{generator} · report generated {generated_at}")


def write_atomic(path: str | Path, text: str) -> Path:
    """Write `text` to `path` through a temporary file in the same folder and a rename, so a
    reader never sees half a report."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp makes the file private (0600); a report gets the usual mode (or the old file's)
        mode = target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~_umask()
        os.chmod(tmp, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
