"""Plain-text tables for the CLI (pasteable into READMEs and PR comments)."""

from __future__ import annotations

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


def num(x: float | None, digits: int = 3) -> str:
    if x is None or x != x:
        return "-"
    return f"{x:.{digits}f}"


def ci(m: MetricValue, digits: int = 3) -> str:
    if m.ci_low is None or m.ci_high is None:
        return "-"
    return f"[{m.ci_low:.{digits}f}, {m.ci_high:.{digits}f}]"


def metrics_table(metrics: dict[str, MetricValue]) -> str:
    rows = [(name, num(m.value), ci(m), m.n) for name, m in metrics.items()]
    return table(["metric", "value", "95% CI", "n"], rows)
