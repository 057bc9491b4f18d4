"""Number formatting and plain-text tables: the CLI's tables (pasteable into READMEs and PR
comments), and the number formatter reports and the dashboard use too."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .types import MetricValue


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    align = align or ("l" + "r" * (len(headers) - 1))

    def line(r: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(r, widths, align, strict=False)
        ).rstrip()

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def fnum(x: Any) -> float | None:
    """`x` as a finite float, or None (for None, NaN, infinities and what float() refuses). Readers
    of stored bodies written by older or newer code use it before formatting or plotting a value."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def num(x: float | None, digits: int = 3) -> str:
    """`x` with `digits` decimals; "-" for None and NaN."""
    if x is None or x != x:
        return "-"
    return f"{x:.{digits}f}"


def signed(x: float | None, digits: int = 3) -> str:
    """Like `num`, with the sign always shown (+0.012, -0.300): for deltas."""
    if x is None or x != x:
        return "-"
    return f"{x:+.{digits}f}"


def ci(m: MetricValue, digits: int = 3) -> str:
    if m.ci_low is None or m.ci_high is None:
        return "-"
    return f"[{m.ci_low:.{digits}f}, {m.ci_high:.{digits}f}]"


def metrics_table(metrics: dict[str, MetricValue]) -> str:
    rows = [(name, num(m.value), ci(m), m.n) for name, m in metrics.items()]
    return table(["metric", "value", "95% CI", "n"], rows)
