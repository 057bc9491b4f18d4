"""Serving cost of B against A, from each run's `RunRecord.usage`: rows of A, B and B / A, and
sentences such as "B needs 78% fewer prompt tokens per request (250 vs 1,130)"."""

from __future__ import annotations

import math

from .pairing import finite
from .records import CostRow

_COST_KEYS = (
    ("prompt_tokens_mean", "prompt tokens / request"),
    ("completion_tokens_mean", "completion tokens / request"),
    ("latency_p50_s", "latency p50"),
    ("latency_p95_s", "latency p95"),
)


def _amount(x: float) -> str:
    if abs(x - round(x)) < 1e-9 or abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:,.1f}"


def fmt_seconds(x: float) -> str:
    """A latency for text: seconds, milliseconds or microseconds, three significant digits."""
    if x == 0 or abs(x) >= 1:
        return f"{x:.3g}s"
    if abs(x) >= 1e-3:
        return f"{x * 1e3:.3g}ms"
    return f"{x * 1e6:.3g}us"


def cost_sentence(key: str, a: float, b: float, *, batch: bool = False) -> str | None:
    """e.g. "B needs 78% fewer prompt tokens per request (250 vs 1,130)"."""
    if not (math.isfinite(a) and math.isfinite(b)) or a <= 0:
        return None
    ratio = b / a
    pct = (ratio - 1.0) * 100.0
    if key.endswith("_tokens_mean"):
        what = key.removesuffix("_tokens_mean") + " tokens per request"
        vs = f"({_amount(b)} vs {_amount(a)})"
        if abs(pct) < 0.5:
            return f"B needs about as many {what} as A {vs}"
        if ratio >= 2:
            return f"B needs {ratio:.1f}x as many {what} {vs}"
        return f"B needs {abs(pct):.0f}% {'fewer' if pct < 0 else 'more'} {what} {vs}"
    if key.startswith("latency_"):
        q = key.removeprefix("latency_").removesuffix("_s")
        what = "batch time" if batch else "latency"
        vs = f"({fmt_seconds(b)} vs {fmt_seconds(a)})"
        if abs(pct) < 0.5:
            return f"B's {q} {what} is about the same as A's {vs}"
        if ratio >= 2:
            return f"B's {q} {what} is {ratio:.1f}x A's {vs}"
        return f"B's {q} {what} is {abs(pct):.0f}% {'lower' if pct < 0 else 'higher'} {vs}"
    return None


def cost_rows(ua: dict[str, float], ub: dict[str, float]) -> tuple[list[CostRow], list[str]]:
    """The cost rows of A's and B's usage (keys either run reports) and the sentences for them.
    Where either run timed whole batches (`usage["latency_is_batch"]`), its "latency" figures are
    batch times and are labelled so."""
    rows: list[CostRow] = []
    sentences: list[str] = []
    batch = bool(ua.get("latency_is_batch") or ub.get("latency_is_batch"))
    for key, label in _COST_KEYS:
        if batch and key.startswith("latency_"):
            label = label.replace("latency", "batch time")
        xa, xb = finite(ua.get(key)), finite(ub.get(key))
        if xa is None and xb is None:
            continue
        ratio = xb / xa if xa is not None and xb is not None and xa > 0 else None
        rows.append(CostRow(key=key, label=label, a=xa, b=xb, ratio=ratio))
        if xa is not None and xb is not None:
            s = cost_sentence(key, xa, xb, batch=batch)
            if s:
                sentences.append(s)
    return rows, sentences
