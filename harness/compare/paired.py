"""`compare_runs`: the paired comparison of run B (candidate) with run A (baseline); see the
package docstring (`harness.compare`) for what it computes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import stats
from ..errors import InputError
from ..health import health_change_warnings
from ..scorers import BaseScorer, build_scorer
from ..store import Store, new_run_id, now_iso
from ..types import MetricInfo, RunRecord, Suite
from .comparability import check_comparable, precision_warnings, resolve_suite, run_warnings
from .corpus import corpus_delta, prepare_corpus
from .cost import cost_rows
from .diffs import pick_rank_metric, top_diffs
from .directions import metric_info_of_runs
from .pairing import RunScores, finite, names_in_order, pair, prefix, scorer_for, win_tie_loss
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
    warnings += health_change_warnings(a.health, b.health)
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
    # per-sample values as columns aligned with A's sample order (one light query per run, plus
    # one for the scores stored without a value); the Score rows with their data are read only
    # for corpus-level scorers
    ra, rb = RunScores(store, a.id, ids), RunScores(store, b.id, ids)
    score_names = names_in_order(ra.cols)
    score_name_set = set(score_names)

    common = [m for m in a.metrics if m in b.metrics]
    only = [f"{m} (only in A)" for m in a.metrics if m not in b.metrics]
    only += [f"{m} (only in B)" for m in b.metrics if m not in a.metrics]
    if only:
        notes.append("not compared, reported by one run only: " + ", ".join(only))
    infos = {name: metric_info_of_runs(a, b, name, resolved, warnings) for name in common}
    unknown = [name for name in common if infos[name] is None]
    if unknown:
        notes.append(
            "no declaration says which direction is better for " + ", ".join(unknown) + ": no W/T/L "
            "counts, and no per-sample pairing for them (pass the suite the runs used: --suite PATH)"
        )

    corpus_cache: dict[str, Any] = {}
    plan: list[tuple[str, str, BaseScorer | None]] = []
    for name in common:
        sc = scorer_for(name, scorers) if scorers else None
        info = infos[name]
        if sc is not None and sc.corpus_level:
            plan.append((name, "corpus", sc))
        elif name in score_name_set and info is not None and info.kind == "mean":
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
        [(name, infos[name]) for name, kind, _ in plan if kind == "sample"], ra, rb, alpha, resampler
    )
    deltas: list[MetricDelta] = []
    for name, kind, sc in plan:
        if kind == "corpus":
            assert sc is not None
            deltas.append(
                corpus_delta(
                    name, sc, store, a.id, b.id, ids, ra, rb, infos[name], n_boot, seed, alpha, corpus_cache
                )
            )
        elif kind == "sample":
            deltas.append(sample_deltas[name])
        else:
            scored = (
                name if name in score_name_set else prefix(name) if prefix(name) in score_name_set else None
            )
            deltas.append(_stored_delta(name, a, b, ra, rb, infos[name], scored, why_not))

    rank_metric, rank_note = pick_rank_metric(rank_by, resolved, scorers, a, b, deltas, score_names)
    if rank_note:
        notes.append(rank_note)
    regressions: list[SampleDiff] = []
    improvements: list[SampleDiff] = []
    if rank_metric is not None and top_k > 0:
        rank_info = metric_info_of_runs(a, b, rank_metric, resolved, [])
        if rank_info is None:
            notes.append(f"no direction declared for {rank_metric}: regressions not listed")
        else:
            regressions, improvements = top_diffs(
                store, a.id, b.id, ids, ra, rb, rank_metric, rank_info, top_k
            )

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
        n_samples_a=a.n_samples,
        n_samples_b=b.n_samples,
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
        health={side: dict(rec.health) for side, rec in (("a", a), ("b", b)) if rec.health},
        notes=notes,
    )
    if save:
        store.put_record("comparison", cmp.id, cmp.model_dump(mode="json"), ref=f"{a.id}..{b.id}")
    return cmp


def _sample_deltas(
    names: Sequence[tuple[str, MetricInfo | None]],
    ra: RunScores,
    rb: RunScores,
    alpha: float,
    resampler: stats.SharedResamples,
) -> dict[str, MetricDelta]:
    """Mean-type metrics: the paired bootstrap of the mean delta (stats.paired_bootstrap_ci's
    resamples), vectorized through `resampler`, on the samples paired with failure values
    substituted (`pairing.pair`)."""
    out: dict[str, MetricDelta] = {}
    todo: list[tuple[str, MetricInfo | None, Any]] = []
    for name, info in names:
        paired = pair(name, ra, rb, info)
        if paired.n == 0:
            out[name] = MetricDelta(
                name=name,
                kind="sample",
                a=None,
                b=None,
                delta=None,
                n=0,
                higher_is_better=None if info is None else info.higher_is_better,
                info=info,
                note=paired.note() or "no sample has a value on both A and B",
                **paired.counts(),  # type: ignore[arg-type]
            )
            continue
        resampler.add(paired.kept, f"sample:{name}", paired.y - paired.x)
        todo.append((name, info, paired))
    for name, info, paired in todo:
        x, y, n = paired.x, paired.y, paired.n
        d = y - x
        boot = resampler.get(f"sample:{name}")[:, 0] / n
        delta = float(d.mean())
        lo, hi, p = stats.paired_delta_interval(delta, boot, n, alpha)
        binary = stats.is_binary(x) and stats.is_binary(y)
        method: PMethod | None = "bootstrap" if p is not None else None
        if binary:
            p, method = stats.mcnemar_exact(x, y)["p_value"], "mcnemar"
        wtl = win_tie_loss(info, x, y)
        w, t, lo_count = wtl if wtl is not None else (None, None, None)
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
            higher_is_better=None if info is None else info.higher_is_better,
            info=info,
            mde=finite(stats.mde_from_deltas(d, alpha)),
            note=paired.note(),
            **paired.counts(),  # type: ignore[arg-type]
        )
        out[name]._boot = boot if n >= 2 else None
    return out


def _stored_delta(
    name: str,
    a: RunRecord,
    b: RunRecord,
    ra: RunScores,
    rb: RunScores,
    info: MetricInfo | None,
    scored: str | None,
    why_not: str,
) -> MetricDelta:
    """A metric that cannot be resampled here: the stored run values and their difference. `scored`
    is the per-sample score it is made of, when there is one (then its pairing counts are given)."""
    ma, mb = a.metrics[name], b.metrics[name]
    delta = None if ma.value is None or mb.value is None else mb.value - ma.value
    counts: dict[str, Any] = {}
    if scored is not None:
        if info is None:
            note = (
                "nothing declares whether this metric is a per-sample mean or corpus-level, nor its "
                "direction: the stored run values only, no interval"
            )
        else:
            note = (
                "corpus-level metric: no interval, because the suite's scorers could not be rebuilt "
                f"with the runs' suite hash ({why_not}); pass the suite folder (--suite PATH)"
            )
        kind: MetricKind = "corpus"
        paired = pair(scored, ra, rb, None)  # a corpus statistic has no per-sample failure value
        n = paired.n
        counts = paired.counts()
        if paired.note():
            note += "; " + paired.note()
    else:
        note = "run-level metric: no per-sample values, no interval"
        kind = "run"
        n = min(ma.n, mb.n)
    return MetricDelta(
        name=name,
        kind=kind,
        a=ma.value,
        b=mb.value,
        delta=delta,
        n=n,
        higher_is_better=None if info is None else info.higher_is_better,
        info=info,
        note=note,
        **counts,
    )
