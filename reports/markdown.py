"""Markdown reports sized for a pull-request comment: GitHub-flavoured tables, a verdict line with
✅/❌, metrics with CIs, and the worst samples folded in <details> blocks.

Table cells are escaped (pipes, backticks, Markdown emphasis, HTML); sample texts go in fenced
code blocks whose fence is longer than any backtick run in the text, so model output cannot break
out of them. The whole report stays under `MAX_BYTES`: sample texts are clipped further, then
fewer samples are shown, until it fits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html import escape
from typing import Any

from harness.inspect_run import latency_label

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

MAX_BYTES = 60_000
# (characters per sample text, samples per list) tried in turn until the report fits
BUDGETS = ((1500, 10), (600, 5), (300, 3), (120, 2), (0, 0))
MARK = {
    "better": "🟢 better",
    "worse": "🔴 worse",
    "differs": "🟡 differs (direction not declared)",
    "inconclusive": "⚪ inconclusive",
    "no-ci": "no CI",
}

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~])")


def cell(text: Any, limit: int = 160) -> str:
    """One table cell: one line, clipped, with HTML and Markdown specials escaped."""
    s = clip("" if text is None else str(text), limit)
    s = escape(s, quote=False)
    s = _MD_SPECIAL.sub(r"\\\1", s)
    return re.sub(r"\s*\n\s*", " ⏎ ", s).replace("\r", " ")


def code(text: Any) -> str:
    """Inline code whose delimiter cannot be closed by the text; for table cells use `cell`."""
    s = str(text).replace("\n", " ")
    ticks = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (ticks + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def fenced(text: Any, limit: int) -> str:
    s = clip("" if text is None else str(text), limit) if limit else ""
    ticks = max((len(m) for m in re.findall(r"`{3,}", s)), default=0)
    fence = "`" * max(3, ticks + 1)
    return f"{fence}text\n{s}\n{fence}"


def table(headers: list[str], rows: list[list[str]], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(headers) - 1)
    sep = ["---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _header(kind: str, body: Mapping[str, Any]) -> list[str]:
    return [f"### {cell(title(kind, body), 300)}", ""]


# --------------------------------------------------------------------------- runs


def _run_md(body: Mapping[str, Any], text_limit: int, k: int) -> str:
    out = _header("run", body)
    out.append(
        f"suite {code(suite_ref(body))} · split {code(body.get('split', '?'))} · "
        f"n={body.get('n_samples', '?')} · model {code(model_label(body.get('model')))} · "
        f"prompt {code(as_dict(body.get('prompt')).get('name', '?'))} · status {body.get('status', '?')} · "
        f"{cell(body.get('finished_at') or body.get('created_at') or '')}"
    )
    out.append("")
    rows = [
        [
            cell(name),
            num(m.get("value")),
            ci_text(m.get("ci_low"), m.get("ci_high"), sign=False),
            str(m.get("n", "")),
            direction_text(higher_is_better(m)),
        ]
        for name, m in metric_rows_of_run(body)
    ]
    out.append(table(["metric", "value", "95% CI", "n", "better"], rows) if rows else "_no metrics_")
    usage = as_dict(body.get("usage"))
    if usage:
        out += ["", _usage_line(usage)]
    samples = as_list(body.get("worst_samples"))
    if samples and k:
        out += [
            "",
            f"<details><summary>Worst {min(k, len(samples))} samples by "
            f"{escape(str(body.get('rank_metric') or 'first score'))}</summary>",
            "",
        ]
        for s in samples[:k]:
            s = as_dict(s)
            out.append(
                f"**{cell(s.get('sample_id'))}** · {cell(s.get('metric'))} = {num(s.get('value'))}"
                + (f" · {cell(s.get('detail'), 300)}" if s.get("detail") else "")
            )
            out.append("")
            for label, key in (("input", "input"), ("output", "output"), ("reference", "reference")):
                out += [f"{label}:", "", fenced(s.get(key), text_limit), ""]
        out.append("</details>")
    return "\n".join(out) + "\n"


def _usage_line(u: Mapping[str, Any]) -> str:
    parts = []
    timed = latency_label(dict(u))  # "batch time" where the backend timed batches, not requests
    for key, label in (
        ("prompt_tokens_mean", "prompt tokens/request"),
        ("completion_tokens_mean", "completion tokens/request"),
        ("latency_p50_s", f"{timed} p50"),
        ("latency_p95_s", f"{timed} p95"),
    ):
        if fnum(u.get(key)) is not None:
            parts.append(f"{label} {cost_value(key, u.get(key))}")
    if fnum(u.get("errors")):
        parts.append(f"generation errors {int(u['errors'])}")
    return "Usage: " + " · ".join(parts) if parts else ""


# --------------------------------------------------------------------------- comparisons


def _metrics_table(body: Mapping[str, Any]) -> str:
    alpha = fnum(body.get("alpha")) or 0.05
    level = f"{(1 - alpha) * 100:g}% CI"
    rows = []
    for m in as_list(body.get("metrics")):
        m = as_dict(m)
        name = str(m.get("name", "?"))
        wtl = "-" if m.get("wins") is None else f"{m.get('wins')}/{m.get('ties')}/{m.get('losses')}"
        lost = failed_dropped_text(m)
        rows.append(
            [
                cell(name),
                direction_text(higher_is_better(m)),
                num(m.get("a")),
                num(m.get("b")),
                signed(m.get("delta")),
                ci_text(m.get("ci_low"), m.get("ci_high")),
                p_text(m.get("p_value"), m.get("p_method")),
                wtl,
                str(m.get("n", "")) + (f" ({cell(lost)})" if lost else ""),
                num(m.get("mde")),
                MARK[metric_significance(m)],
            ]
        )
    if not rows:
        return "_no metrics in common_"
    return table(
        ["metric", "better", "A", "B", "Δ (B−A)", level, "p", "W/T/L", "n", "MDE", ""], rows, "llrrrrrrrrl"
    )


def _comparison_core(body: Mapping[str, Any], text_limit: int, k: int, heading: str = "####") -> list[str]:
    out = [
        table(
            ["", "run", "model", "prompt"],
            [
                [
                    "A (baseline)",
                    cell(body.get("run_a")),
                    cell(body.get("model_a")),
                    cell(body.get("prompt_a")),
                ],
                [
                    "B (candidate)",
                    cell(body.get("run_b")),
                    cell(body.get("model_b")),
                    cell(body.get("prompt_b")),
                ],
            ],
            "llll",
        ),
        "",
        f"suite {code(suite_ref(body))} · split {code(body.get('split', '?'))} · n={body.get('n_samples', '?')} · "
        f"paired bootstrap {body.get('n_boot', '?')} resamples (seed {body.get('seed', '?')}) · "
        f"{cell(body.get('created_at', ''))}",
        "",
    ]
    summ = comparison_summary(body)
    if summ["better"] or summ["worse"] or summ["differs"]:
        bits = []
        if summ["better"]:
            bits.append("better on " + ", ".join(code(n) for n in summ["better"]))
        if summ["worse"]:
            bits.append("worse on " + ", ".join(code(n) for n in summ["worse"]))
        if summ["differs"]:
            bits.append(
                "different on " + ", ".join(code(n) for n in summ["differs"]) + " (direction not declared)"
            )
        out += ["**B is " + "; ".join(bits) + "** (95% CI excludes 0, in each metric's direction).", ""]
    else:
        out += ["No metric's 95% CI excludes 0.", ""]
    out.append(_metrics_table(body))
    out.append("")
    out.append(
        "<sub>Δ = B − A; better: the direction that is better; CI: paired bootstrap; p: mcn = exact "
        "McNemar, boot = bootstrap; W/T/L: samples where B is better/equal/worse; n: paired samples "
        "(failed: scored as the metric's failure value; dropped: no value and no failure value); "
        "MDE: smallest effect detectable at this n (one-sided, power 0.8).</sub>"
    )
    notes = [
        f"{cell(m.get('name'))}: {cell(m.get('note'), 400)}"
        for m in map(as_dict, as_list(body.get("metrics")))
        if m.get("note")
    ]
    cost = [as_dict(r) for r in as_list(body.get("cost"))]
    if cost:
        out += ["", f"{heading} Serving cost", ""]
        out.append(
            table(
                ["", "A", "B", "B/A"],
                [
                    [
                        cell(r.get("label") or r.get("key")),
                        cost_value(str(r.get("key", "")), r.get("a")),
                        cost_value(str(r.get("key", "")), r.get("b")),
                        "-" if fnum(r.get("ratio")) is None else f"{fnum(r.get('ratio')):.2f}x",
                    ]
                    for r in cost
                ],
            )
        )
        summary = as_list(body.get("cost_summary"))
        if summary:
            out += ["", *(f"- {cell(s, 300)}" for s in summary)]
    warnings = as_list(body.get("warnings"))
    if warnings:
        out.append("")
        out += [f"> ⚠️ {cell(w, 600)}" for w in warnings]
    if notes or as_list(body.get("notes")):
        out += ["", "<details><summary>Notes</summary>", ""]
        out += [f"- {n}" for n in notes] + [f"- {cell(n, 600)}" for n in as_list(body.get("notes"))]
        out += ["", "</details>"]
    for what, key in (("regressions", "regressions"), ("improvements", "improvements")):
        items = [as_dict(d) for d in as_list(body.get(key))][:k]
        if not items:
            continue
        out += [
            "",
            f"<details><summary>Top {len(items)} {what} by "
            f"{escape(str(body.get('rank_metric') or '?'))}</summary>",
            "",
        ]
        for d in items:
            out.append(
                f"**{cell(d.get('sample_id'))}** · {cell(d.get('metric'))} {num(d.get('a'))} → {num(d.get('b'))} "
                f"({signed(d.get('delta'))})"
            )
            out.append("")
            texts = [("input", d.get("input"))]
            if d.get("input_b") is not None:
                texts.append(("input B", d.get("input_b")))
            texts += [
                ("A output", d.get("output_a")),
                ("B output", d.get("output_b")),
                ("reference", d.get("reference")),
            ]
            for label, text in texts:
                out += [f"{label}:", "", fenced(text, text_limit), ""]
            for side in ("a", "b"):
                if d.get(f"detail_{side}"):
                    out += [f"{side.upper()}: {cell(d.get(f'detail_{side}'), 300)}", ""]
        out.append("</details>")
    return out


def _comparison_md(body: Mapping[str, Any], text_limit: int, k: int) -> str:
    return "\n".join(_header("comparison", body) + _comparison_core(body, text_limit, k)) + "\n"


# --------------------------------------------------------------------------- verdicts


def rule_label(r: Mapping[str, Any]) -> str:
    rule = r.get("rule")
    if isinstance(rule, str) and rule:
        return rule
    if isinstance(rule, Mapping):
        return ", ".join(f"{k}: {v}" for k, v in rule.items())
    return " ".join(str(r.get(k)) for k in ("kind", "metric") if r.get(k)) or "?"


def _with_warnings(r: Mapping[str, Any]) -> str:
    """A rule's reason followed by its warnings (e.g. the margin is below the detectable effect)."""
    return " ".join([str(r.get("reason") or ""), *(f"⚠ {w}" for w in as_list(r.get("warnings")))])


def _verdict_md(body: Mapping[str, Any], text_limit: int, k: int) -> str:
    passed = bool(body.get("passed"))
    policy = as_dict(body.get("policy"))
    rules = [as_dict(r) for r in as_list(body.get("rules"))]
    failed = sum(1 for r in rules if not r.get("passed"))
    out = [
        f"## {'✅' if passed else '❌'} tunebench gate: **{'PASS' if passed else 'FAIL'}**",
        "",
        f"candidate {code(body.get('candidate', '?'))} vs baseline {code(body.get('baseline', '?'))} · "
        f"policy {code(policy.get('name') or '?')}"
        + (
            f" ({code(policy.get('path'))}, sha256 {short_hash(policy.get('sha256'))})"
            if policy.get("path")
            else ""
        )
        + f" · {len(rules) - failed}/{len(rules)} rules passed · exit code {body.get('exit_code', '?')} · "
        f"{cell(body.get('created_at', ''))}",
        "",
    ]
    # the candidate's output health, whatever the rules say (e.g. most outputs hit the length limit)
    verdict_warnings = as_list(body.get("warnings"))
    if verdict_warnings:
        out += [f"> ⚠️ {cell(w, 600)}" for w in verdict_warnings] + [""]
    if rules:
        rows = []
        for r in rules:
            padj = p_text(r.get("p_adjusted"))
            rows.append(
                [
                    "✅" if r.get("passed") else "❌",
                    cell(rule_label(r), 120),
                    cell(r.get("suite") or ""),
                    cell(r.get("metric") or ""),
                    num(r.get("baseline_value")),
                    num(r.get("value")),
                    signed(r.get("delta")),
                    ci_text(r.get("ci_low"), r.get("ci_high"), sign=fnum(r.get("delta")) is not None),
                    num(r.get("threshold")),
                    padj if padj != "-" else p_text(r.get("p_value")),
                    str(r.get("n", "") or ""),
                    cell(_with_warnings(r), 500),
                ]
            )
        out.append(
            table(
                [
                    "",
                    "rule",
                    "suite",
                    "metric",
                    "baseline",
                    "candidate",
                    "Δ",
                    "CI",
                    "threshold",
                    "p (adj.)",
                    "n",
                    "reason",
                ],
                rows,
                "llllrrrrrrrl",
            )
        )
    else:
        out.append("_no rules_")
    notes = as_list(body.get("notes"))
    if notes:
        out += [""] + [f"- note: {cell(n, 600)}" for n in notes]
    bodies = as_dict(body.get("comparison_bodies"))
    cids = as_dict(body.get("comparisons"))
    runs = as_dict(body.get("runs"))
    for suite in dict.fromkeys([*cids, *bodies, *runs]):
        out += ["", f"#### Suite {code(suite)}"]
        r = as_dict(runs.get(suite))
        if r:
            out.append(
                f"baseline run {code(r.get('baseline', '?'))} · candidate run {code(r.get('candidate', '?'))}"
                + (f" · comparison {code(cids[suite])}" if suite in cids else "")
            )
        out.append("")
        if suite in bodies:
            out += _comparison_core(as_dict(bodies[suite]), text_limit, k, heading="#####")
        elif suite in cids:
            out.append(f"_comparison {cell(cids[suite])} is not in the store_")
    return "\n".join(out) + "\n"


RENDERERS = {"run": _run_md, "comparison": _comparison_md, "verdict": _verdict_md}


def render_markdown(kind: str, body: Mapping[str, Any], max_bytes: int = MAX_BYTES) -> str:
    fn = RENDERERS[kind]
    text = ""
    for limit, k in BUDGETS:
        text = fn(body, limit, k)
        if len(text.encode("utf-8")) <= max_bytes:
            return text
    cut = text.encode("utf-8")[: max_bytes - 200].decode("utf-8", "ignore")
    return cut + "\n\n_(report truncated to fit a PR comment)_\n"
