"""The HTML verdict's rules table fits a 1,200 px window (issue 13, point 7): a fixed table layout
with one sized <col> per column, and long rule labels, metric names and reasons wrap inside their
cells. Checked by eye once in headless Chromium; this test keeps the CSS that does it."""

from __future__ import annotations

import re

from reports.html import CSS, render_html

LONG = "CI low of the delta is below the margin after the Holm adjustment; see " + "x" * 300


def _verdict() -> dict[str, object]:
    rule = {
        "rule": {
            "suite": "clinical-notes",
            "metric": "required_sections",
            "rule": "improves",
            "margin": 0.05,
        },
        "suite": "clinical-notes-from-physician-dictations",
        "metric": "required_sections_each_exactly_once_in_order",
        "passed": False,
        "reason": LONG,
        "value": 0.8,
        "baseline_value": 0.6,
        "delta": 0.2,
        "ci_low": -0.08,
        "ci_high": 0.33,
        "ci_level": 0.95,
        "threshold": 0.05,
        "n": 1200,
        "line": 3,
    }
    return {"id": "v-long", "passed": False, "exit_code": 1, "rules": [rule, {**rule, "passed": True}]}


def _css_block(selector: str) -> str:
    m = re.search(re.escape(selector) + r"\s*\{([^}]*)\}", CSS)
    assert m, f"no CSS rule for {selector}"
    return m.group(1)


def test_rules_table_css_is_fixed_and_wraps() -> None:
    assert "table-layout:fixed" in _css_block("table.rules")
    assert "width:100%" in _css_block("table.rules")
    cells = _css_block("table.rules td, table.rules th")
    assert "overflow-wrap:anywhere" in cells and "word-break:break-word" in cells


def test_rules_table_has_one_sized_col_per_column() -> None:
    html = render_html("verdict", _verdict())
    table = html[
        html.index('<table class="rules">') : html.index("</table>", html.index('<table class="rules">'))
    ]
    cols = re.findall(r'<col class="(c-[\w-]+)">', table)
    heads = re.findall(r"<th>", table)
    assert len(cols) == len(heads) == 11
    for c in cols[:-1]:  # every column but the reason has a width; the reason takes the rest
        assert "width:" in _css_block(f"table.rules col.{c}")
    assert LONG in html  # the reason is shown whole, wrapped, never cut
