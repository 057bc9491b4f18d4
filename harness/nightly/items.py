"""One item of a nightly pass: a (model, suite) run. A finished item is never run again (a run
finished by a killed pass is found by its tags); an unfinished run resumes (`run_suite` finds it by
its config key) and regenerates nothing it had cached; one broken model never stops the others."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from ..gate import baseline_runs, paired_split_limit
from ..store import Store
from ..store.nightly import find_run, load_items, put_item
from ..types import ModelSpec, RunRecord, Suite
from .context import PassContext
from .plan import PlanModel, PlanSuite

log = logging.getLogger("tunebench.schedule")


def _find_tagged_run(
    store: Store,
    tags: dict[str, str],
    suite: str,
    spec: ModelSpec,
    split: str,
    limit: int | None,
    statuses: Sequence[str],
) -> RunRecord | None:
    """A finished run this item already made (a pass killed after the run finished)."""
    return find_run(
        store,
        suite,
        statuses,
        tags["date"],
        lambda rec: (
            all(rec.tags.get(k) == v for k, v in tags.items())
            and rec.split == split
            and rec.limit == limit
            and rec.model.identity == spec.identity
        ),
    )


def _make_backend(model: PlanModel, spec: ModelSpec) -> Any:
    from ..models import create_backend

    opts = model.options
    if spec.backend == "openai":
        from ..models.openai_backend import OpenAIBackend

        kw = {k: v for k, v in opts.model_dump().items() if v is not None and k != "batch_size"}
        return OpenAIBackend(spec, **kw)
    return create_backend(spec, batch_size=opts.batch_size)


def _first_error(store: Store, run_id: str) -> str:
    for r in store.iter_results(run_id, batch=100):
        if r.completion.error:
            return r.completion.error
    return "unknown error"


def _split_limit(ctx: PassContext, model: PlanModel, ps: PlanSuite, suite: Suite) -> tuple[str, int | None]:
    """The plan's split/limit, else the baseline run's (so candidate and baseline pair up)."""
    base: RunRecord | None = None
    if ps.split is None or ps.limit is None:
        refs = [model.baseline] if isinstance(model.baseline, str) else model.baseline
        rid: str | None = None
        if refs == ["blessed"]:
            rid = baseline_runs(ctx.store, [suite.name], blessed=True).runs.get(suite.name)
        elif not (len(refs) == 1 and refs[0] in {m.name for m in ctx.plan.models}):
            rid = baseline_runs(ctx.store, [suite.name], runs=refs).runs.get(suite.name)
        if rid:
            base = ctx.store.get_run(rid)
    return paired_split_limit(base, ps.split, ps.limit)


def run_item(ctx: PassContext, model: PlanModel, ps: PlanSuite, suite: Suite) -> None:
    """Run (or find) the run of one (model, suite) item and record it in the item's row; an item
    that finished, or failed (unless `retry_errors`), is not run again."""
    from ..runner import LazyBackend, run_suite

    plan, store, d = ctx.plan, ctx.store, ctx.date
    key = (model.name, suite.name)
    row = ctx.items.get(key)
    label = f"  {model.name} x {suite.name}:"
    if row and row["status"] in ("ran", "done") and row["run_id"]:
        ctx.counts["reused"] += 1
        ctx.echo(f"{label} run {row['run_id']} already finished")
        return
    if row and row["status"] == "error" and not ctx.retry_errors:
        ctx.counts["reused"] += 1
        ctx.echo(f"{label} already failed ({row['error']}); --retry-errors runs it again")
        return
    spec = ctx.specs[model.name]
    split, limit = _split_limit(ctx, model, ps, suite)
    tags = {"nightly": plan.name, "date": d, "model": model.name}
    put_item(store, plan.name, d, model.name, suite.name, status="running", error=None)
    statuses = ("completed",) if ctx.retry_errors else ("completed", "failed")
    rec = _find_tagged_run(store, tags, suite.name, spec, split, limit, statuses)
    error: str | None = None
    if rec is not None:
        ctx.counts["reused"] += 1
        ctx.echo(f"{label} found finished run {rec.id}")
        if rec.status == "failed":
            error = str(rec.tags.get("error") or "run failed")
    else:
        factory = ctx.backend_factory or _make_backend
        lazy = LazyBackend(spec, lambda s: factory(model, s))
        t0 = time.perf_counter()
        try:
            rec = run_suite(
                suite,
                spec,
                store=store,
                split=split,
                limit=limit,
                backend=lazy,
                batch_size=model.options.batch_size,
                progress=ctx.progress,
                tags=tags,
            )
        except KeyboardInterrupt:
            raise
        except Exception as e:  # one broken model must not stop the others
            error = f"{type(e).__name__}: {e}".strip()
            log.exception("nightly %s %s: %s x %s failed", plan.name, d, model.name, suite.name)
        if rec is not None:
            ctx.counts["ran"] += 1
            n, errs = rec.n_samples, int(rec.usage.get("errors", 0))
            if n and errs >= n:
                error = f"all {n} generations failed: {_first_error(store, rec.id)}"
                # drop NaN latencies (no request succeeded): JSON stores them as null, which would not load
                usage = {k: v for k, v in rec.usage.items() if v == v}
                rec = rec.model_copy(
                    update={"status": "failed", "usage": usage, "tags": {**rec.tags, "error": error}}
                )
                store.update_run(rec)
            gen = int(rec.timing.get("generated", 0))
            extra = f", {errs} generation error(s)" if errs and not error else ""
            if not error:
                ctx.echo(
                    f"{label} run {rec.id} ({gen} generated, {n - gen} cached{extra}) in {time.perf_counter() - t0:.1f}s"
                )
    if error:
        ctx.counts["errors"] += 1
        ctx.echo(f"{label} ERROR {error}" + (f" (run {rec.id})" if rec else ""))
        put_item(
            store,
            plan.name,
            d,
            model.name,
            suite.name,
            status="error",
            error=error[:2000],
            run_id=rec.id if rec else None,
        )
    else:
        assert rec is not None
        put_item(store, plan.name, d, model.name, suite.name, status="ran", run_id=rec.id, error=None)
    ctx.items = load_items(store, plan.name, d)
