"""Gating one model of a nightly pass: its runs against its baseline (each suite's blessed version,
another model of the plan the same night, or run ids), decided by the plan's gate policy. The verdict
is stored together with its items' verdict ids in one transaction."""

from __future__ import annotations

import logging
from typing import Any

from ..gate import baseline_runs, evaluate_gate
from ..store.nightly import load_items, save_model_verdict
from .context import PassContext
from .plan import PlanModel

log = logging.getLogger("tunebench.schedule")


def _baselines(
    ctx: PassContext, model: PlanModel
) -> tuple[dict[str, str], dict[str, Any], dict[str, str], str | None]:
    """(suite -> baseline run, suite -> blessed version, suite -> why missing, against)."""
    names = [s.name for _, s in ctx.suites]
    refs = [model.baseline] if isinstance(model.baseline, str) else list(model.baseline)
    if refs == ["blessed"]:
        found = baseline_runs(ctx.store, names, blessed=True)
        return found.runs, dict(found.versions), found.missing, "blessed"
    if len(refs) == 1 and refs[0] in {m.name for m in ctx.plan.models}:
        out: dict[str, str] = {}
        missing: dict[str, str] = {}
        for n in names:
            row = ctx.items.get((refs[0], n))
            if row and row["status"] in ("ran", "done") and row["run_id"]:
                out[n] = row["run_id"]
            else:
                why = f" ({row['error']})" if row and row.get("error") else ""
                missing[n] = f"baseline model {refs[0]!r} has no run of suite {n!r} on {ctx.date}{why}"
        return out, {}, missing, None
    found = baseline_runs(ctx.store, names, runs=refs, given="the plan's baseline runs")
    return found.runs, dict(found.versions), found.missing, None


def gate_model(ctx: PassContext, model: PlanModel) -> str | None:
    """Decide the model's verdict when one of its runs has not been gated yet; store the verdict and
    mark its items done in one transaction. Returns a gate error, if any."""
    mine = {s: r for (m, s), r in ctx.items.items() if m == model.name}
    if not any(r["status"] == "ran" for r in mine.values()):
        return None
    cand = {s: r["run_id"] for s, r in mine.items() if r["status"] in ("ran", "done") and r["run_id"]}
    try:
        base, versions, missing, against = _baselines(ctx, model)
        verdict = evaluate_gate(
            ctx.store,
            ctx.policy,
            cand,
            base,
            baseline_versions=versions,
            missing_baseline=missing,
            against=against,
            candidate_label=f"{model.name} ({ctx.specs[model.name].label})",
            notes=[f"nightly {ctx.plan.name} {ctx.date}"],
            save=False,
        )
    except Exception as e:
        log.exception("nightly gate of %s failed", model.name)
        return f"gate: {type(e).__name__}: {e}"
    save_model_verdict(
        ctx.store,
        ctx.plan.name,
        ctx.date,
        model.name,
        verdict.id,
        verdict.candidate[:200],
        verdict.model_dump(mode="json"),
    )
    ctx.items = load_items(ctx.store, ctx.plan.name, ctx.date)
    failed = sum(1 for r in verdict.rules if not r.passed)
    ctx.echo(
        f"  {model.name}: verdict {'PASS' if verdict.passed else 'FAIL'} "
        f"({len(verdict.rules) - failed}/{len(verdict.rules)} rules passed) {verdict.id}"
    )
    return None
