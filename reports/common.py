"""Helpers shared by the Markdown, HTML and JSON renderers: numbers (formatted by `harness.fmt`),
what a delta means, titles, and the report extras a stored record is enriched with (a run's worst
samples, a verdict's comparisons).

A report body is the stored record as a JSON dict (`RunRecord.model_dump(mode="json")`, a stored
comparison or verdict body) plus, optionally, these extras:

* run: `worst_samples` (list of dicts: sample_id, metric, value, detail, input, output, reference,
  error) and `rank_metric`;
* verdict: `comparison_bodies` ({suite: comparison body}) for the comparisons it names.

Every renderer tolerates missing optional fields: a body from an older or newer writer renders
what it has.

Better or worse is read from the stored direction: a comparison's metric carries
`higher_is_better` (comparisons stored before it get it from their runs when loaded, see
`reports.loader`); a run body carries `metric_info`. A metric whose direction nothing declares is
never called better or worse ("differs" when its interval excludes 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from harness import fmt
from harness.fmt import fnum

Kind = Literal["run", "comparison", "verdict"]
KINDS: tuple[Kind, ...] = ("run", "comparison", "verdict")
EXTRA_KEYS = ("worst_samples", "rank_metric", "comparison_bodies")

Significance = Literal["better", "worse", "differs", "inconclusive", "no-ci"]
SIGNIFICANCES: tuple[Significance, ...] = ("better", "worse", "differs", "inconclusive", "no-ci")


def higher_is_better(m: Mapping[str, Any]) -> bool | None:
    """The stored direction of a metric dict (a MetricDelta or MetricInfo as JSON): its
    `higher_is_better`, else its `info`'s; None when neither says."""
    v = m.get("higher_is_better")
    if isinstance(v, bool):
        return v
    info = m.get("info")
    if isinstance(info, Mapping) and isinstance(info.get("higher_is_better"), bool):
        return bool(info["higher_is_better"])
    return None


def direction_text(hib: bool | None) -> str:
    """Which direction is better, in a word: "higher", "lower", or "?" when not declared."""
    return "?" if hib is None else ("higher" if hib else "lower")


def num(x: Any, digits: int = 3) -> str:
    """A finite number with `digits` decimals; "-" for anything else (harness.fmt formats)."""
    return fmt.num(fnum(x), digits)


def signed(x: Any, digits: int = 3) -> str:
    """Like `num`, sign always shown."""
    return fmt.signed(fnum(x), digits)


def ci_text(lo: Any, hi: Any, digits: int = 3, sign: bool = True) -> str:
    a, b = fnum(lo), fnum(hi)
    if a is None or b is None:
        return "-"
    f = signed if sign else num
    return f"[{f(a, digits)}, {f(b, digits)}]"


def p_text(p: Any, method: Any = None) -> str:
    v = fnum(p)
    if v is None:
        return "-"
    tag = {"mcnemar": "mcn", "bootstrap": "boot"}.get(str(method or ""), "")
    s = "<0.001" if v < 0.001 else f"{v:.3f}"
    return f"{s} {tag}".strip()


def significance(lo: Any, hi: Any, higher_is_better: bool | None) -> Significance:
    """'better'/'worse' when the CI of the delta (B - A) excludes zero, in the metric's stored
    direction; 'differs' when it excludes zero but no direction is declared; 'inconclusive' when it
    contains zero; 'no-ci' without an interval."""
    a, b = fnum(lo), fnum(hi)
    if a is None or b is None:
        return "no-ci"
    if a > 0 or b < 0:
        if higher_is_better is None:
            return "differs"
        return "better" if (a > 0) == higher_is_better else "worse"
    return "inconclusive"


def metric_significance(m: Mapping[str, Any]) -> Significance:
    """`significance` of a comparison's metric dict (its CI and stored direction)."""
    return significance(m.get("ci_low"), m.get("ci_high"), higher_is_better(m))


def short_hash(h: Any, k: int = 12) -> str:
    return str(h or "")[:k]


def model_label(model: Any) -> str:
    """A RunRecord's model (dict) or a plain label."""
    if isinstance(model, Mapping):
        return str(model.get("raw") or f"{model.get('backend', '?')}:{model.get('base', '?')}")
    return str(model or "?")


def suite_ref(body: Mapping[str, Any]) -> str:
    name = body.get("suite", "?")
    version = body.get("suite_version")
    h = short_hash(body.get("suite_hash"))
    out = str(name)
    if version:
        out += f"@{version}"
    if h:
        out += f"+{h}"
    return out


def clip(text: Any, limit: int) -> str:
    s = "" if text is None else str(text)
    if len(s) > limit:
        return s[: max(limit - 1, 0)] + "…"
    return s


def title(kind: str, body: Mapping[str, Any]) -> str:
    if kind == "run":
        return f"Run {body.get('id', '?')}: {model_label(body.get('model'))} on {suite_ref(body)}"
    if kind == "comparison":
        return (
            f"Comparison: {body.get('model_b', '?')} (B) vs {body.get('model_a', '?')} (A) "
            f"on {suite_ref(body)}"
        )
    verdict = "PASS" if body.get("passed") else "FAIL"
    policy = body.get("policy") or {}
    name = policy.get("name") if isinstance(policy, Mapping) else policy
    return (
        f"Gate {verdict}: {body.get('candidate', '?')} vs {body.get('baseline', '?')} (policy {name or '?'})"
    )


def metric_rows_of_run(body: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(name, metric value dict) of a run body; each dict carries the metric's stored semantics
    under "info" (from the run's `metric_info`) when the run has them."""
    metrics = body.get("metrics") or {}
    if not isinstance(metrics, Mapping):
        return []
    infos = as_dict(body.get("metric_info"))
    out = []
    for k, v in metrics.items():
        row = dict(v) if isinstance(v, Mapping) else {"value": v}
        if isinstance(infos.get(k), Mapping):
            row["info"] = dict(infos[k])
        out.append((str(k), row))
    return out


def as_list(x: Any) -> list[Any]:
    return list(x) if isinstance(x, Sequence) and not isinstance(x, (str, bytes)) else []


def as_dict(x: Any) -> dict[str, Any]:
    return dict(x) if isinstance(x, Mapping) else {}


def cost_value(key: str, x: Any) -> str:
    v = fnum(x)
    if v is None:
        return "-"
    if key.startswith("latency"):
        if v == 0 or abs(v) >= 1:
            return f"{v:.3g}s"
        if abs(v) >= 1e-3:
            return f"{v * 1e3:.3g}ms"
        return f"{v * 1e6:.3g}us"
    return f"{v:,.1f}"


def comparison_summary(body: Mapping[str, Any]) -> dict[str, list[str]]:
    """Metric names by what their CI says in their stored direction: better, worse, differs
    (direction not declared), inconclusive, no-ci."""
    out: dict[str, list[str]] = {k: [] for k in SIGNIFICANCES}
    for m in as_list(body.get("metrics")):
        if isinstance(m, Mapping):
            out[metric_significance(m)].append(str(m.get("name", "?")))
    return out


def failed_dropped_text(m: Mapping[str, Any]) -> str:
    """e.g. "B: 5 failed, 2 dropped": samples scored as the failure value / dropped from the
    pairing, per side; "" when none."""
    parts = []
    for side in ("a", "b"):
        f, d = int(fnum(m.get(f"n_failed_{side}")) or 0), int(fnum(m.get(f"n_dropped_{side}")) or 0)
        bits = ([f"{f} failed"] if f else []) + ([f"{d} dropped"] if d else [])
        if bits:
            parts.append(f"{side.upper()}: " + ", ".join(bits))
    return "; ".join(parts)
