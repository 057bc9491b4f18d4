"""JSON reports and their schema (`reports/schema/report-v1.json`).

Every JSON report is one object `{"schema": "tunebench.report/v1", "kind": ..., "generated_at",
"generator", "title", <kind>: the stored record, ...}`: the record is carried unchanged under
its kind's key (`run`, `comparison` or `verdict`), report extras sit beside it (`worst_samples`
and `rank_metric` for a run, `comparisons` for a verdict) and `summary` holds derived headline
numbers. NaN and infinities become null, so the output is strict JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from .common import EXTRA_KEYS, as_dict, as_list, comparison_summary, title

SCHEMA_ID = "tunebench.report/v1"
SCHEMA_FILE = "report-v1.json"


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    text = resources.files("reports.schema").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate(doc: Mapping[str, Any]) -> None:
    """Raise jsonschema.ValidationError unless `doc` is a valid v1 report."""
    import jsonschema

    jsonschema.validate(dict(doc), load_schema(), cls=jsonschema.Draft202012Validator)


def clean(x: Any) -> Any:
    """A JSON-safe copy: non-finite floats become None, tuples lists, keys strings."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, Mapping):
        return {str(k): clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    return x


def _rule_label(r: Mapping[str, Any]) -> str:
    return f"{r.get('suite', '?')}:{r.get('metric', '?')} {r.get('rule') or r.get('kind') or '?'}"


def build_document(kind: str, body: Mapping[str, Any], generated_at: str, generator: str) -> dict[str, Any]:
    record = {k: v for k, v in body.items() if k not in EXTRA_KEYS}
    doc: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "kind": kind,
        "generated_at": generated_at,
        "generator": generator,
        "title": title(kind, body),
        kind: record,
    }
    if kind == "run":
        if "worst_samples" in body:
            doc["worst_samples"] = as_list(body.get("worst_samples"))
            doc["rank_metric"] = body.get("rank_metric")
    elif kind == "comparison":
        s = comparison_summary(body)
        doc["summary"] = {
            "better": s["better"],
            "worse": s["worse"],
            "differs": s["differs"],
            "inconclusive": s["inconclusive"],
            "no_ci": s["no-ci"],
        }
    else:
        rules = [as_dict(r) for r in as_list(body.get("rules"))]
        doc["summary"] = {
            "passed": bool(body.get("passed")),
            "rules": len(rules),
            "failed_rules": [_rule_label(r) for r in rules if not r.get("passed")],
        }
        doc["comparisons"] = as_dict(body.get("comparison_bodies"))
    return clean(doc)  # type: ignore[no-any-return]


def render_json(kind: str, body: Mapping[str, Any], generated_at: str, generator: str) -> str:
    doc = build_document(kind, body, generated_at, generator)
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
