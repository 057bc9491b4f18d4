"""Gold items: attention checks mixed into every rater's sequence of a campaign.

A gold file is JSONL, one object per line: `{"input": str, "better": str, "worse": str}` (optional
"id", and "instruction" / "reference" shown with it like a pair item's). `better` is an output that any
attentive rater prefers to `worse`."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError, Problem


def load_gold(path: str | Path) -> list[dict[str, str]]:
    """Gold items from JSONL: one {"input", "better", "worse"} object per line (optional "id",
    "instruction", "reference")."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InputError(f"gold file {p}: {e}") from e
    items, problems = [], []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(Problem(str(p), i, f"not JSON: {e.msg}"))
            continue
        if not isinstance(obj, dict):
            problems.append(Problem(str(p), i, "expected an object"))
            continue
        bad = [
            k for k in ("input", "better", "worse") if not isinstance(obj.get(k), str) or not obj[k].strip()
        ]
        if bad:
            problems.append(Problem(str(p), i, f"needs non-empty string(s) {', '.join(bad)}"))
            continue
        if obj["better"] == obj["worse"]:
            problems.append(Problem(str(p), i, "better and worse are the same text"))
            continue
        opt = [k for k in ("instruction", "reference") if k in obj and not isinstance(obj[k], str)]
        if opt:
            problems.append(Problem(str(p), i, f"{', '.join(opt)} must be string(s)"))
            continue
        items.append(
            {
                "id": str(obj.get("id", f"gold-{i}")),
                **{k: obj[k] for k in ("input", "better", "worse", "instruction", "reference") if k in obj},
            }
        )
    if problems:
        raise InputError(
            f"gold file {p} has {len(problems)} bad line(s)",
            problems,
            hint='each line: {"input": "...", "better": "...", "worse": "..."}',
        )
    if not items:
        raise InputError(f"gold file {p} has no items")
    return items
