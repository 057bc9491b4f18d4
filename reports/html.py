"""Self-contained HTML reports: one file, inline CSS and inline SVG, no script, no external URL.

Every piece of model, user or record text goes through `html.escape` (`esc`); the page also
carries a Content-Security-Policy that allows no script and no remote resource, so an unescaped
string could still not run. Per-sample diffs mark the words A has and B lacks with <del> and the
words B adds with <ins> (difflib on word and punctuation tokens).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from html import escape
from typing import Any

from .common import (
    as_dict,
    as_list,
    ci_text,
    clip,
    comparison_summary,
    cost_value,
    direction_text,
    failed_dropped_text,
    fnum,
    higher_is_better,
    metric_rows_of_run,
    metric_significance,
    model_label,
    num,
    p_text,
    short_hash,
    signed,
    suite_ref,
    title,
)
from .markdown import rule_label
from .svg import forest_plots, legend_html, rows_from_comparison, rows_from_run

TEXT_LIMIT = 6000  # characters of one sample text shown (and diffed)
CHIP = {
    "better": "better",
    "worse": "worse",
    "differs": "differs (direction?)",
    "inconclusive": "CI contains 0",
    "no-ci": "no CI",
}

CSS = """
:root { --fg:#24292f; --muted:#57606a; --line:#d0d7de; --bg2:#f6f8fa; --green:#1a7f37; --red:#cf222e; }
* { box-sizing: border-box; }
body { margin:0; color:var(--fg); background:#fff; font:14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
main { max-width:1120px; margin:0 auto; padding:24px 28px 48px; }
h1 { font-size:22px; margin:0 0 10px; overflow-wrap:anywhere; }
h2 { font-size:18px; margin:30px 0 10px; padding-bottom:4px; border-bottom:1px solid var(--line); }
h3 { font-size:15px; margin:22px 0 8px; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size:12.5px; }
table { border-collapse:collapse; margin:8px 0 4px; font-size:13px; }
th, td { border:1px solid var(--line); padding:4px 8px; vertical-align:top; }
th { background:var(--bg2); text-align:left; font-weight:600; }
td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
td.wrap { max-width:420px; overflow-wrap:anywhere; }
td.rule { overflow-wrap:normal; }
td.reason { min-width:150px; overflow-wrap:anywhere; }
/* the gate's rules table fits the page (1,200 px windows included): fixed column widths, and long
   rule labels, metric names, policy lines and reasons wrap inside their cells instead of widening them */
table.rules { table-layout:fixed; width:100%; }
table.rules td, table.rules th { overflow-wrap:anywhere; word-break:break-word; }
table.rules td.num { white-space:normal; overflow-wrap:normal; word-break:normal; }
table.rules td.reason { min-width:0; }
table.rules th { font-size:12px; overflow-wrap:normal; word-break:normal; }
table.rules col.c-chip { width:52px; } table.rules col.c-rule { width:15%; } table.rules col.c-metric { width:13%; }
table.rules col.c-baseline { width:70px; } table.rules col.c-candidate { width:80px; } table.rules col.c-delta { width:58px; }
table.rules col.c-ci { width:96px; } table.rules col.c-threshold { width:78px; } table.rules col.c-p { width:64px; }
table.rules col.c-n { width:50px; }
table.meta th { width:150px; }
table.meta td { overflow-wrap:anywhere; }
.chip { display:inline-block; padding:0 7px; border-radius:10px; font-size:12px; white-space:nowrap; border:1px solid var(--line); color:var(--muted); }
.chip.better, .chip.pass { background:#dafbe1; border-color:#aceebb; color:var(--green); }
.chip.worse, .chip.fail { background:#ffebe9; border-color:#ffcecb; color:var(--red); }
.banner { padding:14px 18px; border-radius:8px; font-size:20px; font-weight:700; margin:0 0 14px; }
.banner.pass { background:#dafbe1; color:var(--green); border:1px solid #aceebb; }
.banner.fail { background:#ffebe9; color:var(--red); border:1px solid #ffcecb; }
.banner small { font-size:14px; font-weight:400; color:var(--fg); margin-left:10px; }
.summary { margin:10px 0; padding:8px 12px; background:var(--bg2); border-left:4px solid var(--line); }
.warn { margin:6px 0; padding:8px 12px; background:#fff8c5; border-left:4px solid #d4a72c; overflow-wrap:anywhere; }
.note { color:var(--muted); font-size:12.5px; overflow-wrap:anywhere; }
.plot, .scroll { overflow-x:auto; margin:6px 0; }
svg.forest { max-width:100%; height:auto; display:block; margin:4px 0 10px; border:1px solid var(--line); border-radius:6px; }
.legend { font-size:12px; color:var(--muted); margin:0 0 4px; }
.legend .key { margin-right:14px; white-space:nowrap; }
.legend .swatch { display:inline-block; width:10px; height:10px; border-radius:5px; margin-right:5px; vertical-align:-1px; }
.sample { border:1px solid var(--line); border-radius:8px; margin:12px 0; overflow:hidden; }
.sample > .head { background:var(--bg2); padding:6px 12px; border-bottom:1px solid var(--line); font-weight:600; overflow-wrap:anywhere; }
.sample .head .delta { font-weight:400; color:var(--muted); margin-left:8px; }
.sample .body { padding:8px 12px 10px; }
.label { font-size:11px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); margin:6px 0 2px; }
pre { white-space:pre-wrap; overflow-wrap:anywhere; margin:0; padding:6px 8px; background:var(--bg2); border:1px solid var(--line); border-radius:6px; max-height:360px; overflow-y:auto; }
.cols { display:grid; grid-template-columns: 1fr 1fr; gap:12px; }
.cols > div { min-width:0; }
del { background:#ffebe9; color:#82071e; text-decoration:line-through; text-decoration-color:#cf222e88; }
ins { background:#dafbe1; color:#116329; text-decoration:none; }
details > summary { cursor:pointer; font-weight:600; margin:8px 0; }
footer { margin-top:36px; color:var(--muted); font-size:12px; border-top:1px solid var(--line); padding-top:8px; }
@media print { pre { max-height:none; } }
"""

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def esc(x: Any) -> str:
    return escape("" if x is None else str(x), quote=True)


def _td(x: Any, cls: str = "") -> str:
    return f'<td class="{cls}">{esc(x)}</td>' if cls else f"<td>{esc(x)}</td>"


def _amount(x: Any) -> str:
    v = fnum(x)
    if v is None:
        return "-"
    return f"{v:,.0f}" if v == int(v) else f"{v:,.1f}"


def _page(page_title: str, parts: list[str], footer: str) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{esc(page_title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body><main>",
            *parts,
            f"<footer>{esc(footer)}</footer>",
            "</main></body>",
            "</html>",
            "",
        ]
    )


def _meta_table(rows: list[tuple[str, str]]) -> str:
    """(header, already-escaped HTML) rows."""
    return (
        '<table class="meta">'
        + "".join(f"<tr><th>{esc(h)}</th><td>{v}</td></tr>" for h, v in rows)
        + "</table>"
    )


# --------------------------------------------------------------------------- word diff

_TOKEN = re.compile(r"\w+|\s+|[^\w\s]", re.UNICODE)


def word_diff(a: str | None, b: str | None) -> tuple[str, str]:
    """(A as HTML with <del> on what B lacks, B as HTML with <ins> on what B adds)."""
    ta = _TOKEN.findall(clip(a or "", TEXT_LIMIT))
    tb = _TOKEN.findall(clip(b or "", TEXT_LIMIT))
    sm = difflib.SequenceMatcher(None, ta, tb, autojunk=False)
    out_a: list[str] = []
    out_b: list[str] = []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        sa, sb = esc("".join(ta[i1:i2])), esc("".join(tb[j1:j2]))
        if op == "equal":
            out_a.append(sa)
            out_b.append(sb)
            continue
        if sa:
            out_a.append(f"<del>{sa}</del>")
        if sb:
            out_b.append(f"<ins>{sb}</ins>")
    return "".join(out_a), "".join(out_b)


def _pre(text: Any, missing: str = "(none)") -> str:
    if text is None:
        return f'<pre class="none">{esc(missing)}</pre>'
    return f"<pre>{esc(clip(text, TEXT_LIMIT))}</pre>"


def _block(label: str, inner: str) -> str:
    return f'<div class="label">{esc(label)}</div>{inner}'


# --------------------------------------------------------------------------- comparisons


def _plots(svgs: list[str], legend: bool) -> str:
    if not svgs:
        return '<p class="note">no metric to plot</p>'
    return (legend_html() if legend else "") + '<div class="plot">' + "\n".join(svgs) + "</div>"


def _metrics_table(body: Mapping[str, Any]) -> str:
    alpha = fnum(body.get("alpha")) or 0.05
    head = ["metric", "better", "A", "B", "Δ (B − A)", f"{(1 - alpha) * 100:g}% CI", "p", "W/T/L", "n"]
    head += ["MDE", "", "note"]
    rows = []
    for m in map(as_dict, as_list(body.get("metrics"))):
        name = str(m.get("name", "?"))
        sig = metric_significance(m)
        wtl = "-" if m.get("wins") is None else f"{m.get('wins')}/{m.get('ties')}/{m.get('losses')}"
        lost = failed_dropped_text(m)
        rows.append(
            "<tr>"
            + _td(name, "mono")
            + _td(direction_text(higher_is_better(m)))
            + _td(num(m.get("a")), "num")
            + _td(num(m.get("b")), "num")
            + _td(signed(m.get("delta")), "num")
            + _td(ci_text(m.get("ci_low"), m.get("ci_high")), "num")
            + _td(p_text(m.get("p_value"), m.get("p_method")), "num")
            + _td(wtl, "num")
            + _td(f"{m.get('n', '')}" + (f" ({lost})" if lost else ""), "num")
            + _td(num(m.get("mde")), "num")
            + f'<td><span class="chip {sig}">{esc(CHIP[sig])}</span></td>'
            + _td(m.get("note") or "", "wrap note")
            + "</tr>"
        )
    if not rows:
        return '<p class="note">no metric in common</p>'
    return (
        '<div class="scroll"><table><thead><tr>'
        + "".join(f"<th>{esc(h)}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
        + '<p class="note">Δ = B − A; better: the direction that is better; CI: paired bootstrap; p: mcn = '
        "exact McNemar (binary metrics), boot = paired bootstrap; W/T/L: samples where B is better / equal "
        "/ worse; n: paired samples (failed: scored as the failure value; dropped: no value and no "
        "failure value); MDE: smallest effect detectable at this n (one-sided, power 0.8).</p>"
    )


def _cost_html(body: Mapping[str, Any], h: str) -> str:
    cost = [as_dict(r) for r in as_list(body.get("cost"))]
    if not cost:
        return ""
    rows = "".join(
        "<tr>"
        + _td(r.get("label") or r.get("key"))
        + _td(cost_value(str(r.get("key", "")), r.get("a")), "num")
        + _td(cost_value(str(r.get("key", "")), r.get("b")), "num")
        + _td("-" if fnum(r.get("ratio")) is None else f"{fnum(r.get('ratio')):.2f}x", "num")
        + "</tr>"
        for r in cost
    )
    sentences = "".join(f"<li>{esc(s)}</li>" for s in as_list(body.get("cost_summary")))
    return (
        f"<{h}>Serving cost</{h}><table><thead><tr><th></th><th>A</th><th>B</th><th>B / A</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>" + (f"<ul>{sentences}</ul>" if sentences else "")
    )


def _warnings_html(body: Mapping[str, Any], h: str) -> str:
    warnings = as_list(body.get("warnings"))
    notes = as_list(body.get("notes"))
    out = ""
    if warnings:
        out += f"<{h}>Warnings</{h}>" + "".join(f'<div class="warn">⚠ {esc(w)}</div>' for w in warnings)
    if notes:
        out += "".join(f'<p class="note">note: {esc(n)}</p>' for n in notes)
    return out


def _diff_card(d: Mapping[str, Any]) -> str:
    a_html, b_html = word_diff(d.get("output_a"), d.get("output_b"))
    detail = "".join(
        f'<div class="note">{side} {esc(d.get(f"detail_{side.lower()}"))}</div>'
        for side in ("A", "B")
        if d.get(f"detail_{side.lower()}")
    )
    inputs = _block("input", _pre(d.get("input")))
    if d.get("input_b") is not None:
        inputs += _block("input (B's prompt)", _pre(d.get("input_b")))
    return (
        '<div class="sample">'
        f'<div class="head">{esc(d.get("sample_id"))}<span class="delta">{esc(d.get("metric"))} '
        f"{esc(num(d.get('a')))} → {esc(num(d.get('b')))} ({esc(signed(d.get('delta')))})</span></div>"
        '<div class="body">'
        + inputs
        + '<div class="cols"><div>'
        + _block("A output (baseline)", f"<pre>{a_html}</pre>")
        + "</div><div>"
        + _block("B output (candidate)", f"<pre>{b_html}</pre>")
        + "</div></div>"
        + _block("reference", _pre(d.get("reference")))
        + detail
        + "</div></div>"
    )


def _samples_html(body: Mapping[str, Any], h: str) -> str:
    out = ""
    metric = body.get("rank_metric") or "?"
    regs = [as_dict(d) for d in as_list(body.get("regressions"))]
    imps = [as_dict(d) for d in as_list(body.get("improvements"))]
    out += f"<{h}>Worst regressions (by {esc(metric)})</{h}>"
    out += "".join(_diff_card(d) for d in regs) if regs else '<p class="note">no sample where B is worse</p>'
    if imps:
        out += (
            f"<details><summary>Largest improvements (by {esc(metric)}): {len(imps)}</summary>"
            + "".join(_diff_card(d) for d in imps)
            + "</details>"
        )
    return out


def comparison_sections(body: Mapping[str, Any], level: int = 2) -> list[str]:
    """The body of a comparison report (without the page header), headings from <h{level}>."""
    h = f"h{level}"
    summ = comparison_summary(body)
    bits = []
    if summ["better"]:
        bits.append("B is <b>better</b> on " + ", ".join(f"<code>{esc(n)}</code>" for n in summ["better"]))
    if summ["worse"]:
        bits.append("B is <b>worse</b> on " + ", ".join(f"<code>{esc(n)}</code>" for n in summ["worse"]))
    if summ["differs"]:
        names = ", ".join(f"<code>{esc(n)}</code>" for n in summ["differs"])
        bits.append(f"B <b>differs</b> on {names} (direction not declared)")
    summary = "; ".join(bits) + " (95% CI excludes 0)." if bits else "No metric's 95% CI excludes 0."
    return [
        f'<div class="summary">{summary}</div>',
        f"<{h}>Per-metric deltas (B − A) with 95% CIs</{h}>",
        _plots(forest_plots(rows_from_comparison(body), title="Δ (B − A), 95% CI"), legend=True),
        f"<{h}>Metrics</{h}>",
        _metrics_table(body),
        _cost_html(body, h),
        _warnings_html(body, h),
        _samples_html(body, h),
    ]


def _comparison_meta(body: Mapping[str, Any]) -> str:
    return _meta_table(
        [
            (
                "A (baseline)",
                f"<code>{esc(body.get('model_a'))}</code> · prompt <code>{esc(body.get('prompt_a'))}</code>"
                f" · run <code>{esc(body.get('run_a'))}</code>",
            ),
            (
                "B (candidate)",
                f"<code>{esc(body.get('model_b'))}</code> · prompt <code>{esc(body.get('prompt_b'))}</code>"
                f" · run <code>{esc(body.get('run_b'))}</code>",
            ),
            ("suite", f"<code>{esc(suite_ref(body))}</code>"),
            ("split · n", f"{esc(body.get('split', '?'))} · {esc(body.get('n_samples', '?'))} samples"),
            (
                "statistics",
                f"paired bootstrap, {esc(body.get('n_boot', '?'))} resamples, seed {esc(body.get('seed', '?'))}",
            ),
            ("date", esc(body.get("created_at", ""))),
            ("comparison", f"<code>{esc(body.get('id', ''))}</code>"),
        ]
    )


def _comparison_html(body: Mapping[str, Any], footer: str) -> str:
    t = title("comparison", body)
    return _page(
        t, [f"<header><h1>{esc(t)}</h1>{_comparison_meta(body)}</header>", *comparison_sections(body)], footer
    )


# --------------------------------------------------------------------------- runs


def _run_html(body: Mapping[str, Any], footer: str) -> str:
    t = title("run", body)
    prompt = as_dict(body.get("prompt"))
    meta = _meta_table(
        [
            ("model", f"<code>{esc(model_label(body.get('model')))}</code>"),
            ("prompt", f"<code>{esc(prompt.get('name', '?'))}</code>"),
            ("suite", f"<code>{esc(suite_ref(body))}</code>"),
            (
                "split · n",
                f"{esc(body.get('split', '?'))} · {esc(body.get('n_samples', '?'))} samples"
                + (f" (limit {esc(body.get('limit'))})" if body.get("limit") else ""),
            ),
            ("status", esc(body.get("status", "?"))),
            ("date", esc(body.get("finished_at") or body.get("created_at") or "")),
        ]
    )
    mrows = metric_rows_of_run(body)
    table_html = (
        (
            "<table><thead><tr><th>metric</th><th>value</th><th>95% CI</th><th>n</th><th>better</th>"
            "</tr></thead><tbody>"
            + "".join(
                "<tr>"
                + _td(n, "mono")
                + _td(num(m.get("value")), "num")
                + _td(ci_text(m.get("ci_low"), m.get("ci_high"), sign=False), "num")
                + _td(m.get("n", ""), "num")
                + _td(direction_text(higher_is_better(m)))
                + "</tr>"
                for n, m in mrows
            )
            + "</tbody></table>"
        )
        if mrows
        else '<p class="note">no metrics</p>'
    )
    usage = as_dict(body.get("usage"))
    usage_html = ""
    if usage:
        urows = "".join(
            "<tr>"
            + _td(k)
            + _td(cost_value(k, v) if k.startswith("latency") else _amount(v), "num")
            + "</tr>"
            for k, v in usage.items()
        )
        usage_html = f"<h2>Usage</h2><table><tbody>{urows}</tbody></table>"
    samples = [as_dict(s) for s in as_list(body.get("worst_samples"))]
    cards = "".join(
        '<div class="sample">'
        f'<div class="head">{esc(s.get("sample_id"))}<span class="delta">{esc(s.get("metric"))} = '
        f'{esc(num(s.get("value")))}</span></div><div class="body">'
        + _block("input", _pre(s.get("input")))
        + _block("output", _pre(s.get("output")))
        + _block("reference", _pre(s.get("reference")))
        + (f'<div class="note">{esc(s.get("detail"))}</div>' if s.get("detail") else "")
        + (f'<div class="warn">generation error: {esc(s.get("error"))}</div>' if s.get("error") else "")
        + "</div></div>"
        for s in samples
    )
    worst = ""
    if "worst_samples" in body:
        worst = f"<h2>Worst samples (by {esc(body.get('rank_metric') or 'first score')})</h2>" + (
            cards or '<p class="note">no sample scored below 1</p>'
        )
    return _page(
        t,
        [
            f"<header><h1>{esc(t)}</h1>{meta}</header>",
            "<h2>Metrics with 95% CIs</h2>",
            _plots(
                forest_plots(rows_from_run(body), reference=None, title="value, 95% CI", signed_ticks=False),
                legend=False,
            ),
            table_html,
            usage_html,
            worst,
        ],
        footer,
    )


# --------------------------------------------------------------------------- verdicts


def _level(level: Any) -> str:
    v = fnum(level)
    return "" if v is None else f"{round(100 * v, 2):g}% "


def _signed_ci(r: Mapping[str, Any]) -> bool:
    """A rule's CI is of the delta when the rule has a delta, else of the candidate's value."""
    return fnum(r.get("delta")) is not None


def _p_pair(r: Mapping[str, Any]) -> str:
    """'p' or 'p / Holm-adjusted p'."""
    p, adj = p_text(r.get("p_value")), p_text(r.get("p_adjusted"))
    return p if adj == "-" else f"{p} / {adj}"


def _verdict_html(body: Mapping[str, Any], footer: str) -> str:
    passed = bool(body.get("passed"))
    policy = as_dict(body.get("policy"))
    rules = [as_dict(r) for r in as_list(body.get("rules"))]
    n_fail = sum(1 for r in rules if not r.get("passed"))
    t = title("verdict", body)
    banner = (
        f'<div class="banner {"pass" if passed else "fail"}">{"✔ PASS" if passed else "✘ FAIL"}'
        f"<small>{len(rules) - n_fail} of {len(rules)} rules passed · exit code {esc(body.get('exit_code', '?'))}"
        "</small></div>"
    )
    meta = _meta_table(
        [
            ("candidate", f"<code>{esc(body.get('candidate', '?'))}</code>"),
            ("baseline", f"<code>{esc(body.get('baseline', '?'))}</code>"),
            (
                "policy",
                f"<code>{esc(policy.get('name') or '?')}</code>"
                + (f" · {esc(policy.get('path'))}" if policy.get("path") else "")
                + (
                    f" · sha256 <code>{esc(short_hash(policy.get('sha256')))}</code>"
                    if policy.get("sha256")
                    else ""
                ),
            ),
            ("date", esc(body.get("created_at", ""))),
            ("verdict", f"<code>{esc(body.get('id', ''))}</code>"),
        ]
    )
    levels = {_level(r.get("ci_level")) for r in rules if r.get("ci_low") is not None}
    common = levels.pop() if len(levels) == 1 else None  # one level for all: say it in the header
    ci_head = f"{common}CI" if common else "CI"
    head = [
        "",
        "rule",
        "metric",
        "baseline",
        "candidate",
        "Δ",
        ci_head,
        "threshold",
        "p (Holm)",
        "n",
        "reason",
    ]
    rows = "".join(
        f'<tr class="{"pass" if r.get("passed") else "fail"}">'
        f'<td><span class="chip {"pass" if r.get("passed") else "fail"}">{"pass" if r.get("passed") else "FAIL"}</span></td>'
        + f'<td class="rule"><code>{esc(rule_label(r))}</code>'
        + (f'<div class="note">policy line {esc(r.get("line"))}</div>' if r.get("line") is not None else "")
        + "</td>"
        + f'<td class="rule">{esc(r.get("suite") or "")}<br><code>{esc(r.get("metric") or "")}</code></td>'
        + _td(num(r.get("baseline_value")), "num")
        + _td(num(r.get("value")), "num")
        + _td(signed(r.get("delta")), "num")
        + _td(
            ("" if common is not None else _level(r.get("ci_level")))
            + ci_text(r.get("ci_low"), r.get("ci_high"), sign=_signed_ci(r)),
            "num",
        )
        + _td(num(r.get("threshold")), "num")
        + _td(_p_pair(r), "num")
        + _td(r.get("n", ""), "num")
        + '<td class="reason">'
        + esc(r.get("reason") or "")
        + "".join(f'<div class="note">⚠ {esc(w)}</div>' for w in as_list(r.get("warnings")))
        + "</td>"
        + "</tr>"
        for r in rules
    )
    # one <col> per column, sized in CSS (table.rules): fixed widths for the chip and the numbers
    # (their headers fit unbroken), shares for rule and metric, the rest for the reason
    cols = ["chip", "rule", "metric", "baseline", "candidate", "delta", "ci", "threshold", "p", "n", "reason"]
    rules_html = (
        (
            '<div class="scroll"><table class="rules"><colgroup>'
            + "".join(f'<col class="c-{c}">' for c in cols)
            + "</colgroup><thead><tr>"
            + "".join(f"<th>{esc(h)}</th>" for h in head)
            + "</tr></thead>"
            f"<tbody>{rows}</tbody></table></div>"
        )
        if rules
        else '<p class="note">no rules</p>'
    )
    notes = "".join(f'<p class="note">note: {esc(n)}</p>' for n in as_list(body.get("notes")))
    # the candidate's output health, under the verdict whatever the rules say
    health = "".join(f'<div class="warn">⚠ {esc(w)}</div>' for w in as_list(body.get("warnings")))
    parts = [f"<header><h1>{esc(t)}</h1>{banner}{health}{meta}</header>", "<h2>Rules</h2>", rules_html, notes]
    bodies = as_dict(body.get("comparison_bodies"))
    cids = as_dict(body.get("comparisons"))
    runs = as_dict(body.get("runs"))
    for suite in dict.fromkeys([*cids, *bodies, *runs]):
        parts.append(f"<h2>Suite <code>{esc(suite)}</code></h2>")
        cb = as_dict(bodies.get(suite))
        if cb:
            parts.append(_comparison_meta(cb))
            parts += comparison_sections(cb, level=3)
        else:
            r = as_dict(runs.get(suite))
            parts.append(
                f'<p class="note">baseline run <code>{esc(r.get("baseline", "?"))}</code>, candidate run '
                f"<code>{esc(r.get('candidate', '?'))}</code>; comparison <code>{esc(cids.get(suite, '?'))}</code> "
                "is not in the store</p>"
            )
    return _page(t, parts, footer)


RENDERERS = {"run": _run_html, "comparison": _comparison_html, "verdict": _verdict_html}


def render_html(kind: str, body: Mapping[str, Any], footer: str = "") -> str:
    return RENDERERS[kind](body, footer)
