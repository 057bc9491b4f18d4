"""What a nightly pass reports: each model's summary (outcome, failed rules, errors), the pass
summary as Markdown, and the report files under WORKSPACE/nightly/<plan>/<date>/."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Literal

from ..metrics import UnknownMetricError, metric_info_for
from ..store.nightly import verdict_bodies
from ..types import RunRecord
from .context import PassContext
from .plan import PlanModel

log = logging.getLogger("tunebench.schedule")

Outcome = Literal["pass", "fail", "error", "pending"]


def model_summary(ctx: PassContext, model: PlanModel, gate_error: str | None) -> dict[str, Any]:
    mine = [(s, ctx.items.get((model.name, s.name))) for _, s in ctx.suites]
    vid = next((r["verdict_id"] for _, r in mine if r and r.get("verdict_id")), None)
    verdict = verdict_bodies(ctx.store, [vid] if vid else []).get(vid or "")
    items = []
    for s, r in mine:
        it: dict[str, Any] = {
            "suite": s.name,
            "status": r["status"] if r else "pending",
            "run_id": r["run_id"] if r else None,
            "error": r["error"] if r else None,
        }
        if r and r["run_id"] and r["status"] != "error":
            rec = ctx.store.get_run(r["run_id"])
            pm = s.primary_metric or next(iter(rec.metrics), None)
            mv = rec.metrics.get(pm) if pm else None
            it["metric"] = pm
            it["higher_is_better"] = _direction(rec, pm)
            it["value"], it["ci_low"], it["ci_high"] = (
                (mv.value, mv.ci_low, mv.ci_high) if mv else (None, None, None)
            )
            it["split"], it["n"] = rec.split, rec.n_samples
        items.append(it)
    errors = [it for it in items if it["status"] == "error"]
    failed_rules = [
        {k: r.get(k) for k in ("suite", "metric", "rule", "reason", "value", "delta", "ci_low", "ci_high")}
        for r in (verdict or {}).get("rules", [])
        if not r.get("passed")
    ]
    if errors or gate_error:
        outcome: Outcome = "error"
    elif verdict is not None:
        outcome = "pass" if verdict.get("passed") else "fail"
    else:
        outcome = "pending"
    return {
        "name": model.name,
        "spec": ctx.specs[model.name].label,
        "baseline": model.baseline,
        "outcome": outcome,
        "verdict_id": vid,
        "verdict_passed": None if verdict is None else bool(verdict.get("passed")),
        "failed_rules": failed_rules,
        "errors": [{"suite": e["suite"], "run_id": e["run_id"], "error": e["error"]} for e in errors]
        + ([{"suite": None, "run_id": None, "error": gate_error}] if gate_error else []),
        "items": items,
    }


def _direction(rec: RunRecord, metric: str | None) -> bool | None:
    """Whether higher is better for the run's metric (its stored semantics); None if undeclared."""
    if metric is None:
        return None
    try:
        return metric_info_for(rec, metric).higher_is_better
    except UnknownMetricError:
        return None


def report_dir(ctx: PassContext) -> Path:
    """WORKSPACE/nightly/<plan>/<date>/ (the workspace: the plan's, else the SQLite store's folder)."""
    if ctx.workspace:
        ws = Path(ctx.workspace)
    elif ctx.store.url.startswith("sqlite:///"):
        ws = Path(ctx.store.url[len("sqlite:///") :]).parent
    else:
        from ..workspace import workspace_dir

        ws = workspace_dir(None)
    return ws / "nightly" / ctx.plan.name / ctx.date


def write_reports(ctx: PassContext, body: dict[str, Any]) -> Path:
    """Write summary.json, summary.md and (with `ctx.render_verdict`) verdict-<model>.md, each
    atomically; returns their folder."""
    out = report_dir(ctx)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "summary.json": json.dumps(body, indent=2, ensure_ascii=False, default=str) + "\n",
        "summary.md": summary_markdown(body),
    }
    if ctx.render_verdict is not None:
        verdicts = verdict_bodies(ctx.store, [m["verdict_id"] for m in body["models"]])
        try:
            for m in body["models"]:
                v = verdicts.get(m["verdict_id"] or "")
                if v is not None:
                    files[f"verdict-{m['name']}.md"] = ctx.render_verdict(v, ctx.store)
        except Exception as e:  # a verdict report is an extra: the summary is enough
            log.warning("verdict reports not rendered: %s", e)
    for name, text in files.items():
        tmp = out / f".{name}.{os.getpid()}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out / name)
    return out


def summary_markdown(body: dict[str, Any]) -> str:
    """The pass summary as Markdown (one table row per model x suite, then failed rules and errors)."""

    def f(x: Any) -> str:
        return "-" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)

    icon = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "pending": "pending"}
    lines = [
        f"### tunebench nightly {body['plan']} {body['date']}: {icon.get(body['outcome'], body['outcome'])}",
        "",
        f"policy {body['policy']['name']} · status {body['status']} · exit code {body['exit_code']}",
        "",
        "| model | suite | run | status | metric | value | 95% CI | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in body["models"]:
        for it in m["items"]:
            ci = f"[{f(it.get('ci_low'))}, {f(it.get('ci_high'))}]" if it.get("ci_low") is not None else "-"
            hib = it.get("higher_is_better")
            metric = (it.get("metric") or "-") + ("" if hib is None else f" ({'↑' if hib else '↓'} better)")
            lines.append(
                f"| {m['name']} | {it['suite']} | {it['run_id'] or '-'} | {it['status']} | {metric} "
                f"| {f(it.get('value'))} | {ci} | {icon.get(m['outcome'], m['outcome'])} |"
            )
    for m in body["models"]:
        if m["failed_rules"] or m["errors"]:
            lines += ["", f"**{m['name']}** ({m['spec']}): {icon.get(m['outcome'], m['outcome'])}"]
            lines += [
                f"- FAIL `{r['suite']}:{r['metric']} {r['rule']}`: {r['reason']}" for r in m["failed_rules"]
            ]
            lines += [f"- ERROR {e['suite'] or 'gate'}: {e['error']}" for e in m["errors"]]
    if body.get("alerts"):
        lines += [
            "",
            "alerts: " + ", ".join(f"{a['model']} -> {a['webhook']} {a['status']}" for a in body["alerts"]),
        ]
    return "\n".join(lines) + "\n"
