"""`compare_runs`: the paired comparison of run B (candidate) with run A (baseline); see the
package docstring (`harness.compare`) for what it computes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import stats
from ..errors import InputError
from ..scorers import BaseScorer, build_scorer
from ..store import Store, new_run_id, now_iso
from ..types import RunRecord, Suite
from .comparability import check_comparable, precision_warnings, resolve_suite, run_warnings
from .corpus import corpus_delta, prepare_corpus
from .cost import cost_rows
from .diffs import pick_rank_metric, top_diffs
from .pairing import Cols, finite, names_in_order, pair, prefix, scorer_for
from .records import Comparison, MetricDelta, MetricKind, PMethod, SampleDiff


def compare_runs(
    store: Store,
    run_a: str,
    run_b: str,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    top_k: int = 5,
    alpha: float = 0.05,
    suite: Suite | str | Path | None = None,
    rank_by: str | None = None,
    save: bool = True,
) -> Comparison:
    """Compare run B (candidate) with run A (baseline); see the package docstring
    (`harness.compare`). `suite` points at
    the suite the runs used when it is not registered by name (needed to recompute corpus-level
    metrics of a user suite); `rank_by` overrides the metric samples are ranked by."""
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise InputError(f"n_boot must be a positive integer, got {n_boot!r}")
    if top_k < 0:
        raise InputError(f"top_k must be >= 0, got {top_k}")
    a = store.get_run(run_a)
    b = store.get_run(run_b)
    check_comparable(store, a, b)

    warnings: list[str] = []
    notes: list[str] = []
    for tag, rec in (("A", a), ("B", b)):
        warnings += precision_warnings(tag, rec.model)
        warnings += run_warnings(tag, rec)
        errs = int(rec.usage.get("errors", 0) or 0)
        if errs:
            warnings.append(f"run {tag} had {errs} generation error(s), scored as failures")
    if a.model.identity == b.model.identity and a.prompt == b.prompt:
        warnings.append(
            "A and B use the same model and prompt: any difference is noise, not the change under test"
        )

    resolved, why_not = resolve_suite(a, suite, store)
    if resolved is None and suite is not None:
        warnings.append(f"the suite given ({suite}) is not the one the runs used: {why_not}")
    scorers: list[BaseScorer] = []
    if resolved is not None:
        scorers = [build_scorer(s, where=f"suite {resolved.name}") for s in resolved.scorers]
    ids = store.sample_ids(a.id)
    # per-sample values as columns aligned with A's sample order (one light query per run); the
    # Score rows with their data are read only for corpus-level scorers
    cols_a = store.score_values(a.id, ids)
    cols_b = store.score_values(b.id, ids)
    score_names = names_in_order(cols_a)
    score_name_set = set(score_names)

    common = [m for m in a.metrics if m in b.metrics]
    only = [f"{m} (only in A)" for m in a.metrics if m not in b.metrics]
    only += [f"{m} (only in B)" for m in b.metrics if m not in a.metrics]
    if only:
        notes.append("not compared, reported by one run only: " + ", ".join(only))

    corpus_cache: dict[str, Any] = {}
    plan: list[tuple[str, str, BaseScorer | None]] = []
    for name in common:
        sc = scorer_for(name, scorers) if scorers else None
        if sc is not None and sc.corpus_level:
            plan.append((name, "corpus", sc))
        elif name in score_name_set and (sc is not None or _is_mean_metric(name, a, cols_a)):
            plan.append((name, "sample", sc))
        else:
            plan.append((name, "stored", sc))
    # every block of per-sample statistics kept on the same samples (mean-type deltas, a corpus
    # scorer's counts) is resampled in one vectorized pass: same resamples, drawn once
    resampler = stats.SharedResamples(n_boot, seed)
    for _name, kind, sc in plan:
        if kind == "corpus" and sc is not None and sc.name not in corpus_cache:
            corpus_cache[sc.name] = prepare_corpus(sc, store, a.id, b.id, ids, resampler)
    sample_deltas = _sample_deltas(
        [name for name, kind, _ in plan if kind == "sample"], cols_a, cols_b, len(ids), alpha, resampler
    )
    deltas: list[MetricDelta] = []
    for name, kind, sc in plan:
        if kind == "corpus":
            assert sc is not None
            deltas.append(
                corpus_delta(
                    name, sc, store, a.id, b.id, ids, cols_a, cols_b, n_boot, seed, alpha, corpus_cache
                )
            )
        elif kind == "sample":
            deltas.append(sample_deltas[name])
        else:
            deltas.append(
                _stored_delta(
                    name,
                    a,
                    b,
                    cols_a,
                    cols_b,
                    name in score_name_set or prefix(name) in score_name_set,
                    why_not,
                )
            )

    rank_metric, rank_note = pick_rank_metric(rank_by, resolved, scorers, a, b, deltas, score_names)
    if rank_note:
        notes.append(rank_note)
    regressions: list[SampleDiff] = []
    improvements: list[SampleDiff] = []
    if rank_metric is not None and top_k > 0:
        regressions, improvements = top_diffs(store, a.id, b.id, ids, cols_a, cols_b, rank_metric, top_k)

    cost, cost_summary = cost_rows(a.usage, b.usage)
    cmp = Comparison(
        id=f"cmp-{new_run_id()}",
        created_at=now_iso(),
        run_a=a.id,
        run_b=b.id,
        model_a=a.model.label,
        model_b=b.model.label,
        prompt_a=a.prompt.name,
        prompt_b=b.prompt.name,
        suite=a.suite,
        suite_version=a.suite_version,
        suite_hash=a.suite_hash,
        split=a.split,
        n_samples=len(ids),
        n_boot=n_boot,
        seed=seed,
        alpha=alpha,
        rank_metric=rank_metric,
        metrics=deltas,
        cost=cost,
        cost_summary=cost_summary,
        regressions=regressions,
        improvements=improvements,
        warnings=warnings,
        notes=notes,
    )
    if save:
        store.put_record("comparison", cmp.id, cmp.model_dump(mode="json"), ref=f"{a.id}..{b.id}")
    return cmp


def _is_mean_metric(name: str, rec: RunRecord, cols: Cols) -> bool:
    """Without the suite: a metric named like a per-sample Score is mean-type when the run's stored
    value is the mean of those Scores (corpus perplexity, for one, is not)."""
    col = cols.get(name)
    vals = col[~np.isnan(col)] if col is not None else np.empty(0)
    stored = rec.metrics[name].value
    if not vals.size or stored is None:
        return stored is None and not vals.size
    return abs(float(vals.mean()) - stored) <= 1e-9 * max(1.0, abs(stored))


def _sample_deltas(
    names: Sequence[str],
    cols_a: Cols,
    cols_b: Cols,
    n_ids: int,
    alpha: float,
    resampler: stats.SharedResamples,
) -> dict[str, MetricDelta]:
    """Mean-type metrics: the paired bootstrap of the mean delta (stats.paired_bootstrap_ci's
    resamples), vectorized through `resampler`."""
    out: dict[str, MetricDelta] = {}
    todo: list[tuple[str, NDArray[np.float64], NDArray[np.float64]]] = []
    for name in names:
        kept, x, y = pair(name, cols_a, cols_b, n_ids)
        n = int(kept.sum())
        if n == 0:
            dropped = n_ids - n
            note = f"{dropped} sample(s) without a value on A or B dropped" if dropped else ""
            out[name] = MetricDelta(
                name=name,
                kind="sample",
                a=None,
                b=None,
                delta=None,
                n=0,
                note=note or "no sample has a value on both A and B",
            )
            continue
        resampler.add(kept, f"sample:{name}", y - x)
        todo.append((name, x, y))
    for name, x, y in todo:
        n = x.size
        dropped = n_ids - n
        d = y - x
        boot = resampler.get(f"sample:{name}")[:, 0] / n
        delta = float(d.mean())
        lo, hi, p = stats.paired_delta_interval(delta, boot, n, alpha)
        binary = stats.is_binary(x) and stats.is_binary(y)
        method: PMethod | None = "bootstrap" if p is not None else None
        if binary:
            p, method = stats.mcnemar_exact(x, y)["p_value"], "mcnemar"
        w, t, lo_count = stats.win_tie_loss(x, y)
        out[name] = MetricDelta(
            name=name,
            kind="sample",
            a=float(x.mean()),
            b=float(y.mean()),
            delta=delta,
            ci_low=finite(lo),
            ci_high=finite(hi),
            p_value=p,
            p_method=method,
            wins=w,
            ties=t,
            losses=lo_count,
            n=n,
            binary=binary,
            note=f"{dropped} sample(s) without a value on A or B dropped" if dropped else "",
        )
        out[name]._boot = boot if n >= 2 else None
    return out


def _stored_delta(
    name: str,
    a: RunRecord,
    b: RunRecord,
    cols_a: Cols,
    cols_b: Cols,
    scored: bool,
    why_not: str,
) -> MetricDelta:
    """A metric that cannot be resampled here: the stored run values and their difference."""
    ma, mb = a.metrics[name], b.metrics[name]
    delta = None if ma.value is None or mb.value is None else mb.value - ma.value
    if scored:
        note = (
            "corpus-level metric: no interval, because the suite's scorers could not be rebuilt "
            f"with the runs' suite hash ({why_not}); pass the suite folder (--suite PATH)"
        )
        kind: MetricKind = "corpus"
        pref = name if name in cols_a else prefix(name)
        n_ids = len(next(iter(cols_a.values()))) if cols_a else 0
        kept, _, _ = pair(pref, cols_a, cols_b, n_ids)
        n = int(kept.sum())
    else:
        note = "run-level metric: no per-sample values, no interval"
        kind = "run"
        n = min(ma.n, mb.n)
    return MetricDelta(name=name, kind=kind, a=ma.value, b=mb.value, delta=delta, n=n, note=note)
