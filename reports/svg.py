"""Forest plots as hand-built inline SVG (no plotting library, no script, no external resource).

One row per metric: a dot at the point estimate (a comparison's delta B - A, or a run's value), a
horizontal line for its 95% CI, a dashed vertical reference line (zero for deltas), axis ticks,
the metric name on the left and the numbers on the right. A delta's colour says what its CI says:
green when it excludes zero on the better side, red on the worse side (by the metric's stored
direction: for a lower-is-better metric such as perplexity a negative delta is better), amber when
it excludes zero but no direction is declared, grey when it contains zero, a hollow grey dot when
there is no interval.

Metrics live on different scales (accuracy in [0, 1], perplexity in the tens), so
`forest_plots` draws the metrics that fit in [-1, 1] on one shared axis and each other metric on
its own axis.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any, Literal

from .common import ci_text, fnum, metric_significance, num, signed

Status = Literal["better", "worse", "differs", "inconclusive", "no-ci", "value"]

COLOURS: dict[str, str] = {
    "better": "#1a7f37",
    "worse": "#cf222e",
    "differs": "#9a6700",
    "inconclusive": "#6e7781",
    "no-ci": "#8c959f",
    "value": "#0969da",
}
LEGEND = {
    "better": "CI excludes 0, B better",
    "worse": "CI excludes 0, B worse",
    "differs": "CI excludes 0, direction not declared",
    "inconclusive": "CI contains 0",
    "no-ci": "no interval",
}

WIDTH = 960
ROW_H = 26
TOP = 30
AXIS_H = 34
RIGHT_W = 200
CHAR_W = 6.6  # average glyph width of the 12px sans-serif labels
LABEL_CHARS = 40  # longer metric names are cut (the full name is in the row's <title>)


@dataclass(frozen=True)
class PlotRow:
    label: str
    point: float | None
    low: float | None = None
    high: float | None = None
    status: Status = "value"


def rows_from_comparison(body: Mapping[str, Any]) -> list[PlotRow]:
    out = []
    for m in body.get("metrics") or []:
        if not isinstance(m, Mapping):
            continue
        name = str(m.get("name", "?"))
        lo, hi = fnum(m.get("ci_low")), fnum(m.get("ci_high"))
        out.append(PlotRow(name, fnum(m.get("delta")), lo, hi, metric_significance(m)))
    return out


def rows_from_run(body: Mapping[str, Any]) -> list[PlotRow]:
    out = []
    metrics = body.get("metrics") or {}
    if isinstance(metrics, Mapping):
        for name, m in metrics.items():
            m = m if isinstance(m, Mapping) else {"value": m}
            lo, hi = fnum(m.get("ci_low")), fnum(m.get("ci_high"))
            out.append(
                PlotRow(str(name), fnum(m.get("value")), lo, hi, "value" if lo is not None else "no-ci")
            )
    return out


def nice_step(span: float, target: int = 5) -> float:
    """A 1/2/5 x 10^k step giving about `target` intervals over `span`."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag * 1.0000001:
            return m * mag
    return 10 * mag


def axis(values: Sequence[float], reference: float | None) -> tuple[float, float, float]:
    """(lo, hi, step) of an axis covering the values (and the reference line)."""
    vals = [v for v in values if math.isfinite(v)]
    if reference is not None:
        vals.append(reference)
    if not vals:
        return -1.0, 1.0, 0.5
    lo, hi = min(vals), max(vals)
    if hi - lo < 1e-12:
        pad = abs(hi) * 0.1 or 0.1
        lo, hi = lo - pad, hi + pad
    step = nice_step(hi - lo)
    return math.floor(lo / step - 1e-9) * step, math.ceil(hi / step + 1e-9) * step, step


def _tick_label(v: float, step: float, signed_ticks: bool) -> str:
    digits = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0
    if abs(v) < step * 1e-6:
        v = 0.0
    return signed(v, digits) if signed_ticks and v != 0 else num(v, digits)


def forest_plot(
    rows: Sequence[PlotRow],
    *,
    reference: float | None = 0.0,
    title: str = "",
    signed_ticks: bool = True,
    width: int = WIDTH,
    standalone: bool = False,
    clamp_unit: bool = False,
) -> str:
    """One SVG with a shared x axis for all `rows`; `standalone` adds the xmlns an .svg file needs
    (inline SVG in HTML does not); `clamp_unit` keeps the axis of values that all lie in [0, 1]
    within [0, 1]."""
    longest = min(max((len(r.label) for r in rows), default=4), LABEL_CHARS)
    label_w = int(max(longest * CHAR_W + 20, 90))
    max_chars = LABEL_CHARS
    x0, x1 = label_w, width - RIGHT_W
    values = [v for r in rows for v in (r.point, r.low, r.high) if v is not None]
    lo, hi, step = axis(values, reference)
    if clamp_unit and values and all(0.0 <= v <= 1.0 for v in values):
        lo, hi = max(lo, 0.0), min(hi, 1.0)  # proportions: no axis beyond [0, 1]

    def sx(v: float) -> float:
        return x0 + (v - lo) / (hi - lo) * (x1 - x0)

    height = TOP + ROW_H * max(len(rows), 1) + AXIS_H
    plot_bottom = TOP + ROW_H * max(len(rows), 1)
    aria = title or "forest plot"
    out = [
        "<svg" + (' xmlns="http://www.w3.org/2000/svg"' if standalone else "") + ' class="forest" '
        f'width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(aria)}" '
        'font-family="-apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="12">',
        f"<title>{escape(aria)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    if title:
        out.append(f'<text x="8" y="18" font-weight="600" fill="#24292f">{escape(title)}</text>')
    # zebra rows, grid lines and ticks
    for i in range(len(rows)):
        if i % 2 == 0:
            out.append(f'<rect x="0" y="{TOP + i * ROW_H}" width="{width}" height="{ROW_H}" fill="#f6f8fa"/>')
    n_ticks = int(round((hi - lo) / step))
    for k in range(n_ticks + 1):
        v = lo + k * step
        x = sx(v)
        out.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{plot_bottom}" stroke="#d0d7de" stroke-width="0.6"/>'
        )
        out.append(
            f'<line x1="{x:.1f}" y1="{plot_bottom}" x2="{x:.1f}" y2="{plot_bottom + 5}" stroke="#57606a"/>'
        )
        out.append(
            f'<text x="{x:.1f}" y="{plot_bottom + 18}" text-anchor="middle" fill="#57606a">'
            f"{escape(_tick_label(v, step, signed_ticks))}</text>"
        )
    out.append(f'<line x1="{x0}" y1="{plot_bottom}" x2="{x1}" y2="{plot_bottom}" stroke="#57606a"/>')
    if reference is not None:
        xr = sx(reference)
        out.append(
            f'<line class="zero" x1="{xr:.1f}" y1="{TOP - 4}" x2="{xr:.1f}" y2="{plot_bottom}" '
            'stroke="#24292f" stroke-width="1.2" stroke-dasharray="4 3"/>'
        )
    for i, r in enumerate(rows):
        cy = TOP + i * ROW_H + ROW_H / 2
        colour = COLOURS[r.status]
        label = r.label if len(r.label) <= max_chars else r.label[: max_chars - 1] + "…"
        out.append(f'<g class="row {r.status}"><title>{escape(r.label)}</title>')
        out.append(
            f'<text x="{label_w - 10}" y="{cy + 4:.1f}" text-anchor="end" fill="#24292f">{escape(label)}</text>'
        )
        if r.point is None:
            out.append(
                f'<text x="{x0 + 6}" y="{cy + 4:.1f}" fill="#8c959f" font-style="italic">no value</text>'
            )
        else:
            if r.low is not None and r.high is not None:
                xa, xb = sx(r.low), sx(r.high)
                out.append(
                    f'<line x1="{xa:.1f}" y1="{cy:.1f}" x2="{xb:.1f}" y2="{cy:.1f}" stroke="{colour}" stroke-width="2.2"/>'
                )
                for xe in (xa, xb):
                    out.append(
                        f'<line x1="{xe:.1f}" y1="{cy - 5:.1f}" x2="{xe:.1f}" y2="{cy + 5:.1f}" stroke="{colour}" stroke-width="1.6"/>'
                    )
            fill = "#ffffff" if r.status == "no-ci" else colour
            out.append(
                f'<circle cx="{sx(r.point):.1f}" cy="{cy:.1f}" r="4.5" fill="{fill}" stroke="{colour}" stroke-width="1.6"/>'
            )
        f = signed if r.status != "value" and signed_ticks else num
        text = f(r.point)
        if r.low is not None and r.high is not None:
            text += " " + ci_text(r.low, r.high, sign=signed_ticks)
        out.append(
            f'<text x="{x1 + 12}" y="{cy + 4:.1f}" fill="#24292f" font-family="ui-monospace, Menlo, Consolas, monospace" font-size="11">{escape(text)}</text>'
        )
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def _fits_unit(r: PlotRow) -> bool:
    return all(v is None or -1.0 <= v <= 1.0 for v in (r.point, r.low, r.high))


def forest_plots(
    rows: Sequence[PlotRow], *, reference: float | None = 0.0, title: str = "", signed_ticks: bool = True
) -> list[str]:
    """Metrics within [-1, 1] on one shared axis; every other metric on its own axis."""
    if not rows:
        return []
    unit = [r for r in rows if _fits_unit(r)]
    other = [r for r in rows if not _fits_unit(r)]
    out = []
    if unit:
        out.append(
            forest_plot(
                unit,
                reference=reference,
                title=title,
                signed_ticks=signed_ticks,
                clamp_unit=reference is None,
            )
        )
    for r in other:
        out.append(
            forest_plot([r], reference=reference, title="" if unit else title, signed_ticks=signed_ticks)
        )
    return out


def legend_html() -> str:
    """A small HTML legend for delta plots (colours match COLOURS)."""
    items = [
        f'<span class="key"><span class="swatch" style="background:{COLOURS[k]}"></span>{escape(v)}</span>'
        for k, v in LEGEND.items()
    ]
    return '<p class="legend">' + " ".join(items) + "</p>"
