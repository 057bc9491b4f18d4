"""Plain-text rendering of a paired comparison (`tunebench compare`, the demo)."""

from __future__ import annotations

from harness.compare import Comparison, MetricDelta
from harness.compare.cost import fmt_seconds
from harness.fmt import num, table

from ..common import direction_text

TEXT_LIMIT = 200


def _signed(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or x != x else f"{x:+.{digits}f}"


def _p(m: MetricDelta) -> str:
    if m.p_value is None:
        return "-"
    tag = {"mcnemar": "mcn", "bootstrap": "boot"}.get(m.p_method or "", "")
    v = "<0.001" if m.p_value < 0.001 else num(m.p_value)
    return f"{v} {tag}".strip()


def _clip(text: str | None, limit: int = TEXT_LIMIT) -> str:
    if text is None:
        return "-"
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return repr(text)


def _rate(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def render_comparison(c: Comparison) -> str:
    """The comparison as `tunebench compare` prints it: metric table with footnotes, serving cost,
    the largest regressions and improvements, notes and warnings."""
    out = [
        f"compare  A {c.run_a}  model {c.model_a}  prompt {c.prompt_a}",
        f"     vs  B {c.run_b}  model {c.model_b}  prompt {c.prompt_b}",
        f"suite {c.suite}@{c.suite_version}+{c.suite_hash[:12]}  split {c.split}  n={c.n_samples}  "
        f"paired bootstrap {c.n_boot} resamples, seed {c.seed}",
        "",
    ]
    rows = []
    marks: dict[str, int] = {}  # one footnote per distinct note
    for m in c.metrics:
        name = m.name
        if m.note:
            k = marks.setdefault(m.note, len(marks) + 1)
            name += f" [{k}]"
        ci = "-" if m.ci_low is None or m.ci_high is None else f"[{m.ci_low:+.3f}, {m.ci_high:+.3f}]"
        wtl = "-" if m.wins is None else f"{m.wins}/{m.ties}/{m.losses}"
        better = direction_text(m.higher_is_better)
        mde = "-" if m.mde is None else num(m.mde)
        rows.append((name, better, num(m.a), num(m.b), _signed(m.delta), ci, _p(m), wtl, m.n, mde))
    level = f"{(1 - c.alpha) * 100:g}% CI"
    out.append(table(["metric", "better", "A", "B", "delta", level, "p", "W/T/L", "n", "MDE"], rows))
    out.append(
        "delta = B - A; better: which direction is better (? = not declared); CI: paired bootstrap; "
        "p: mcn = exact McNemar (binary), boot = paired bootstrap; W/T/L: samples where B is "
        f"better/equal/worse; MDE: smallest effect detectable at this n (one-sided, alpha {c.alpha:g}, "
        "power 0.8)"
    )
    out += [f"  [{k}] {note}" for note, k in marks.items()]
    if c.cost:
        out.append("")
        crow = []
        for r in c.cost:

            def fmt(x: float | None, key: str = r.key) -> str:
                if x is None:
                    return "-"
                return fmt_seconds(x) if key.startswith("latency") else num(x, 1)

            crow.append((r.label, fmt(r.a), fmt(r.b), "-" if r.ratio is None else f"{r.ratio:.2f}x"))
        out.append(table(["serving cost", "A", "B", "B/A"], crow))
        out += c.cost_summary
    if c.health:
        out.append("")
        ha, hb = c.health.get("a", {}), c.health.get("b", {})
        hrows = [
            (f"{key.replace('_', ' ')}", _rate(ha.get(key)), _rate(hb.get(key)))
            for key in ("truncated", "repeated_lines", "repeated_ngrams", "empty")
        ]
        out.append(table(["output health", "A", "B"], hrows))
    for title, items in (
        ("regressions (B worse than A)", c.regressions),
        ("improvements (B better than A)", c.improvements),
    ):
        out.append("")
        if not items:
            out.append(f"no {title.split(' ')[0]} on {c.rank_metric or '-'}")
            continue
        out.append(f"largest {title} by {c.rank_metric}:")
        for d in items:
            out.append(f"- {d.sample_id}  {d.metric} {num(d.a)} -> {num(d.b)} ({d.delta:+.3f})")
            out.append(f"    input:     {_clip(d.input)}")
            if d.input_b is not None:
                out.append(f"    input B:   {_clip(d.input_b)}")
            out.append(f"    A output:  {_clip(d.output_a)}" + (f"  [{d.detail_a}]" if d.detail_a else ""))
            out.append(f"    B output:  {_clip(d.output_b)}" + (f"  [{d.detail_b}]" if d.detail_b else ""))
            out.append(f"    reference: {_clip(d.reference)}")
    if c.notes:
        out.append("")
        out += [f"note: {n}" for n in c.notes]
    if c.warnings:
        out.append("")
        out += [f"warning: {w}" for w in c.warnings]
    return "\n".join(out)
