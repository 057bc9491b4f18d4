"""One nightly pass: for (plan, date) runs every model x suite (`run_suite` with tags {nightly,
date, model}; cached generations make unchanged pairs cheap), gates each model against its baseline
(`evaluate_gate`), alerts, and writes reports under WORKSPACE/nightly/<plan>/<date>/. Its progress is
recorded in the store (`nightly_passes`, `nightly_items`, `nightly_alerts`), so a second pass for
the same date finishes what was unfinished and repeats nothing:

* an item (model, suite) whose run finished is never run again (a run finished by a killed pass is
  found by its tags); an unfinished run resumes (`run_suite` finds it by its config key) and
  regenerates nothing it had cached;
* a model's verdict is stored together with its items' verdict ids in one transaction;
* an alert is recorded per (key, webhook) and never sent again once delivered; a delivery that
  failed after its retries is retried by the next pass.

Passes of one plan never overlap: each holds a lease in the `locks` table (owner, expiry it extends
while it runs; a lease of a dead process on this host is taken over at once, others when they expire).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date as Date
from pathlib import Path
from typing import Any

from ..errors import InputError, Problem
from ..store import Store, now_iso
from ..store.nightly import finish_pass, load_items, start_pass
from ..types import ModelSpec, Suite
from ..yamlio import _line_of, read_yaml
from .alerts import send_alerts
from .context import PassContext, VerdictRenderer
from .gating import gate_model
from .items import run_item
from .lease import Lease, LockHeld
from .plan import Plan, PlanModel, PlanSuite, model_order
from .summary import model_summary, report_dir, write_reports


@dataclass
class NightlyResult:
    """What one pass did; `body` is the stored "nightly" record."""

    plan: str
    date: str
    status: str
    exit_code: int
    body: dict[str, Any]
    report_dir: Path | None
    counts: dict[str, int]


def _validate_date(d: str) -> str:
    try:
        return Date.fromisoformat(d).isoformat()
    except ValueError:
        raise InputError(f"--date {d!r}: expected YYYY-MM-DD") from None


def _prepare(
    plan: Plan, store: Store, workspace: str | None
) -> tuple[Any, list[tuple[PlanSuite, Suite]], dict[str, ModelSpec]]:
    """Load the policy, the suites and the model specs; InputError before anything is written."""
    from ..gate import baseline_runs, load_policy
    from ..models import parse_spec
    from ..suite import load_suite

    where = plan.path or "plan"
    policy = load_policy(plan.resolve(plan.policy))
    suites: list[tuple[PlanSuite, Suite]] = []
    problems: list[Problem] = []
    node = read_yaml(plan.path)[1] if plan.path else None
    for i, ps in enumerate(plan.suites):
        try:
            s = load_suite(plan.suite_ref(ps))
        except InputError as e:
            problems.append(Problem(where, _line_of(node, ("suites", i)), f"suites.{i}: {e.args[0]}"))
            continue
        if ps.split is not None and ps.split not in s.dataset.splits:
            problems.append(
                Problem(
                    where,
                    _line_of(node, ("suites", i, "split")),
                    f"suites.{i}.split: suite {s.name!r} has no split {ps.split!r} (it has {', '.join(s.dataset.splits)})",
                )
            )
        if any(s.name == t.name for _, t in suites):
            problems.append(
                Problem(where, _line_of(node, ("suites", i)), f"suites.{i}: suite {s.name!r} is listed twice")
            )
        suites.append((ps, s))
    specs: dict[str, ModelSpec] = {}
    for i, m in enumerate(plan.models):
        try:
            specs[m.name] = parse_spec(plan.spec_text(m), workspace=workspace)
        except InputError as e:
            problems.append(
                Problem(where, _line_of(node, ("models", i, "spec")), f"models.{i}.spec: {e.args[0]}")
            )
    if not problems:
        names = {s.name for _, s in suites}
        try:
            policy_suites = policy.suite_names()
        except InputError as e:
            raise InputError(f"{plan.policy}: {e.args[0]}") from None
        missing = sorted({n for n in policy_suites.values() if n not in names})
        if missing:
            problems.append(
                Problem(
                    where,
                    _line_of(node, ("suites",)),
                    f"suites: the policy's rules use suite(s) the plan does not run: {', '.join(missing)}",
                )
            )
        for i, m in enumerate(plan.models):
            refs = [m.baseline] if isinstance(m.baseline, str) else m.baseline
            if refs == ["blessed"] or (len(refs) == 1 and refs[0] in {x.name for x in plan.models}):
                continue
            line = _line_of(node, ("models", i, "baseline"))
            unknown = False
            for ref in refs:
                try:
                    store.get_run(ref)
                except InputError as e:
                    unknown = True
                    problems.append(Problem(where, line, f"models.{i}.baseline: {e.args[0]}"))
            if not unknown:
                try:  # at most one baseline run per suite, as `tunebench gate --baseline` requires
                    baseline_runs(store, (), runs=refs)
                except InputError as e:
                    problems.append(Problem(where, line, f"models.{i}.baseline: {e.args[0]}"))
    if problems:
        raise InputError(f"{where}: cannot run the nightly plan", problems=problems)
    return policy, suites, specs


def nightly_record_id(plan: str, d: str) -> str:
    return "nightly-" + hashlib.sha256(f"{plan}\0{d}".encode()).hexdigest()[:24]


def run_nightly(
    plan: Plan,
    store: Store,
    *,
    date: str | None = None,
    workspace: str | None = None,
    stop: threading.Event | None = None,
    lock_wait_s: float = 0.0,
    retry_errors: bool = False,
    progress: bool = False,
    echo: Callable[[str], None] | None = None,
    backend_factory: Callable[[PlanModel, ModelSpec], Any] | None = None,
    render_verdict: VerdictRenderer | None = None,
) -> NightlyResult:
    """One idempotent pass of `plan` for `date` (default: today in the plan's time zone); see the
    module docstring. InputError (before anything is written) on a bad plan; LockHeld when another
    pass of the plan is running. `stop` set: the pass stops between items (status "interrupted").
    `render_verdict` writes each model's verdict report (verdict-<model>.md) beside the summary; the
    CLI passes the Markdown renderer of `reports` (the library does not import it)."""
    d = _validate_date(date) if date else plan.today()
    say = echo or (lambda s: None)
    workspace = workspace or plan.workspace_path()
    policy, suites, specs = _prepare(plan, store, workspace)
    lease = Lease(store, f"nightly:{plan.name}")
    if not lease.acquire(lock_wait_s):
        raise LockHeld(f"another nightly pass of plan {plan.name!r} is running ({lease.describe_holder()})")
    try:
        ctx = PassContext(
            plan,
            store,
            d,
            workspace,
            policy,
            suites,
            specs,
            say,
            progress,
            retry_errors,
            backend_factory,
            render_verdict,
        )
        return _pass(ctx, stop, lease)
    finally:
        lease.release()


def _pass(ctx: PassContext, stop: threading.Event | None, lease: Lease) -> NightlyResult:
    plan, store, d = ctx.plan, ctx.store, ctx.date
    started = now_iso()
    row = start_pass(store, plan.name, d, started)
    if row is not None:
        started = row["started_at"]
    ctx.items = load_items(store, plan.name, d)
    again = (
        ""
        if row is None
        else " (already complete: checking)"
        if row["status"] == "complete"
        else " (resuming)"
    )
    ctx.echo(
        f"nightly {plan.name} {d}{again}: {len(plan.models)} model(s) x {len(ctx.suites)} suite(s), policy {ctx.policy.name}"
    )
    models: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    interrupted = False
    reports_at = report_dir(ctx)
    for model in model_order(plan):
        for ps, suite in ctx.suites:
            if (stop is not None and stop.is_set()) or lease.lost:  # lost: another pass took over
                interrupted = True
                break
            run_item(ctx, model, ps, suite)
        if interrupted:
            break
        gate_error = gate_model(ctx, model)
        m = model_summary(ctx, model, gate_error)
        models.append(m)
        report = str(reports_at / "summary.md")
        for a in send_alerts(store, plan, d, m, ctx.policy.name, report, ctx.echo):
            alerts.append({"model": m["name"], **a})
    order = {"error": 3, "fail": 2, "pending": 1, "pass": 0}
    worst = max((m["outcome"] for m in models), key=lambda o: order[o], default="pending")
    status = "interrupted" if interrupted else "complete"
    exit_code = 1 if interrupted or worst in ("fail", "error") else 0
    body: dict[str, Any] = {
        "id": nightly_record_id(plan.name, d),
        "plan": plan.name,
        "date": d,
        "status": status,
        "outcome": "pending" if interrupted else worst,
        "exit_code": exit_code,
        "plan_path": plan.path,
        "policy": {"name": ctx.policy.name, "path": ctx.policy.path, "sha256": ctx.policy.sha256},
        "started_at": started,
        "finished_at": now_iso(),
        "models": models,
        "alerts": alerts,
        "counts": dict(ctx.counts),
    }
    out = write_reports(ctx, body)
    body["reports"] = {
        "dir": str(out),
        "summary_md": str(out / "summary.md"),
        "summary_json": str(out / "summary.json"),
    }
    finish_pass(store, plan.name, d, status, body)
    word = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "pending": "INCOMPLETE"}[body["outcome"]]
    ctx.echo(
        f"nightly {plan.name} {d}: {word} ({ctx.counts['ran']} run(s) made, {ctx.counts['reused']} reused, "
        f"{ctx.counts['errors']} new error(s)); report {out / 'summary.md'}"
        + ("; stopped between items, run again to resume" if interrupted else "")
    )
    return NightlyResult(plan.name, d, status, exit_code, body, out, dict(ctx.counts))


def pass_history(store: Store, plan: str | None = None) -> list[dict[str, Any]]:
    """Completed passes (their "nightly" record bodies), oldest date first."""
    bodies = [r["body"] for r in store.get_records("nightly", ref=plan)]
    return sorted(bodies, key=lambda b: (b.get("date", ""), b.get("plan", "")))
