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
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from harness import fmt
from harness.fmt import fnum

Kind = Literal["run", "comparison", "verdict"]
KINDS: tuple[Kind, ...] = ("run", "comparison", "verdict")
EXTRA_KEYS = ("worst_samples", "rank_metric", "comparison_bodies")

Significance = Literal["better", "worse", "inconclusive", "no-ci"]

_LOWER_IS_BETTER = re.compile(
    r"(perplexity|loss|error|latency|_tokens|cost|bits_per_byte|(^|[._])ppl([._]|$)|(^|[._])wer$|(^|[._])cer$)"
)


def lower_is_better(metric: str) -> bool:
    """Metrics where a smaller value is the better one (perplexity, losses, error counts...)."""
    return bool(_LOWER_IS_BETTER.search(metric.lower()))


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


def significance(metric: str, lo: Any, hi: Any) -> Significance:
    """'better'/'worse' when the CI of the delta excludes zero (direction by the metric's sense),
    'inconclusive' when it contains zero, 'no-ci' without an interval."""
    a, b = fnum(lo), fnum(hi)
    if a is None or b is None:
        return "no-ci"
    if a > 0 or b < 0:
        up = a > 0
        return "worse" if up == lower_is_better(metric) else "better"
    return "inconclusive"


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
    metrics = body.get("metrics") or {}
    if not isinstance(metrics, Mapping):
        return []
    return [(str(k), dict(v) if isinstance(v, Mapping) else {"value": v}) for k, v in metrics.items()]


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
    """Metric names by what their CI says: better, worse, inconclusive, no-ci."""
    out: dict[str, list[str]] = {"better": [], "worse": [], "inconclusive": [], "no-ci": []}
    for m in as_list(body.get("metrics")):
        if isinstance(m, Mapping):
            name = str(m.get("name", "?"))
            out[significance(name, m.get("ci_low"), m.get("ci_high"))].append(name)
    return out
