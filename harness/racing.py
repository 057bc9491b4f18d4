"""Racing prompt variants: baseline selection on dev in rounds, so clearly worse prompts stop early.

Round k scores every surviving variant on the first `ceil(fraction_k * N)` dev items (N: the dev
items selection would use; default fractions 25%, 50%, 100%; rounded up to whole batches). The
generation cache makes each round generate only the items the previous round did not. After every round but the last, the leader is
the variant with the best point estimate (ties: the cheaper prompt, as full selection breaks them),
and a variant is dropped when the paired bootstrap CI of its difference from the leader, on the
items both scored, lies entirely on the worse side of zero: the leader is significantly better.
The level is Bonferroni-corrected over the comparisons of a round (alpha / (variants - 1)).
Per-sample metrics use the paired bootstrap on per-sample deltas; corpus-level metrics (macro-F1)
are recomputed on each paired resample. Only variants that finished the last round can be chosen;
a dropped variant keeps its partial dev figures, `n_evaluated` items and the round it was dropped
in. Like full selection, racing reads only the dev split (and train, for few-shot examples).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import stats
from .errors import InputError
from .metrics import delta_in_good_direction, metric_info_for
from .models.base import DEFAULT_BATCH_SIZE, ModelBackend
from .runner import LazyBackend, run_suite
from .scorers import BaseScorer, build_scorer
from .store import Store
from .suite import load_split
from .types import MetricInfo, ModelSpec, PromptConfig, RunRecord, Suite

DEFAULT_ROUNDS = (0.25, 0.5, 1.0)
MIN_ROUND_ITEMS = 8
"""No round scores fewer dev items than this (a CI on a handful of items means little)."""


def round_sizes(
    n_items: int,
    fractions: Sequence[float] = DEFAULT_ROUNDS,
    min_items: int = MIN_ROUND_ITEMS,
    multiple: int = 1,
) -> list[int]:
    """Increasing item counts per round, the last one `n_items`. Each is rounded up to a
    `multiple` (the batch size): a round then adds only full batches, so racing generates in no
    more batches than scoring every item at once."""
    if not fractions or any(not 0 < f <= 1 for f in fractions):
        raise InputError(f"racing rounds must be fractions in (0, 1]: {list(fractions)}")
    m = max(1, multiple)
    sizes = {min(n_items, math.ceil(max(min_items, math.ceil(f * n_items)) / m) * m) for f in fractions} | {
        n_items
    }
    return sorted(s for s in sizes if s > 0)


def _per_sample(store: Store, run_id: str, metric: str) -> dict[str, float]:
    """sample id -> the metric's per-sample value (samples whose score is missing are left out)."""
    out: dict[str, float] = {}
    for r in store.iter_results(run_id):
        for s in r.scores:
            if s.name == metric and s.value is not None:
                out[r.sample_id] = float(s.value)
    return out


def _corpus_scorer(suite: Suite, metric: str) -> BaseScorer | None:
    for spec in suite.scorers:
        if metric == spec.name or metric.startswith(spec.name + "."):
            sc = build_scorer(spec, where=f"suite {suite.name}")
            return sc if sc.corpus_level else None
    return None


def _corpus_rows(store: Store, run_id: str, scorer: BaseScorer) -> dict[str, list[Any]]:
    """sample id -> the Score rows a corpus-level scorer computes its metrics from."""
    name = scorer.name
    return {
        r.sample_id: [s for s in r.scores if s.name == name or s.name.startswith(name + ".")]
        for r in store.iter_results(run_id)
    }


def paired_delta(
    store: Store,
    suite: Suite,
    metric: str,
    leader_run: str,
    other_run: str,
    *,
    alpha: float,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(delta, low, high): the other variant minus the leader on the items both scored, with a
    paired percentile-bootstrap CI at level 1 - alpha."""
    scorer = _corpus_scorer(suite, metric)
    if scorer is not None:
        lead, other = _corpus_rows(store, leader_run, scorer), _corpus_rows(store, other_run, scorer)
        ids = [i for i in lead if i in other]
        if not ids:
            return (math.nan, math.nan, math.nan)

        def fn(idx: Any) -> float:
            a = [s for i in idx for s in lead[ids[i]]]
            b = [s for i in idx for s in other[ids[i]]]
            return float(scorer.metrics(b).get(metric, math.nan)) - float(
                scorer.metrics(a).get(metric, math.nan)
            )

        return stats.paired_bootstrap_ci_fn(len(ids), fn, n_boot=n_boot, alpha=alpha, seed=seed)
    lead_v, other_v = _per_sample(store, leader_run, metric), _per_sample(store, other_run, metric)
    ids = [i for i in lead_v if i in other_v]
    if not ids:
        return (math.nan, math.nan, math.nan)
    a = np.array([lead_v[i] for i in ids])
    b = np.array([other_v[i] for i in ids])
    return stats.paired_bootstrap_ci(a, b, n_boot=n_boot, alpha=alpha, seed=seed)


@dataclass(frozen=True)
class RacedVariant:
    """One variant's outcome: its last dev run (on `n_evaluated` items) and the round it was dropped
    in (None: it ran on every dev item and can be chosen)."""

    prompt: PromptConfig
    record: RunRecord
    n_evaluated: int
    dropped_round: int | None = None

    def value(self, metric: str) -> float | None:
        m = self.record.metrics.get(metric)
        return None if m is None else m.value


def rank_key(r: RacedVariant, metric: str, info: MetricInfo) -> tuple[float, float]:
    """Best first under max(): the better dev value in the metric's direction, then the cheaper
    prompt."""
    v = r.value(metric)
    cost = -r.record.usage.get("prompt_tokens_mean", 0.0)
    if v is None or math.isnan(v):
        return (-math.inf, cost)
    return (delta_in_good_direction(info, v), cost)


def leader_significantly_better(info: MetricInfo, low: float, high: float) -> bool:
    """Whether a CI [low, high] of (other - leader) lies wholly on the other's worse side of zero."""
    return max(delta_in_good_direction(info, low), delta_in_good_direction(info, high)) < 0


def race_variants(
    suite: Suite,
    spec: ModelSpec,
    variants: Sequence[PromptConfig],
    *,
    metric: str,
    store: Store,
    backend: ModelBackend | LazyBackend,
    dev_split: str = "dev",
    dev_limit: int | None = None,
    rounds: Sequence[float] = DEFAULT_ROUNDS,
    alpha: float = 0.05,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = True,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[list[RacedVariant], list[dict[str, Any]], MetricInfo]:
    """Every variant's outcome (in the given order; dropped ones with their partial run), the log
    of the rounds: [{round, n_items, leader, dropped, vs_leader: {name: [delta, low, high]}}], and
    what the metric means (its direction orders the variants)."""
    n_total = len(load_split(suite, dev_split, dev_limit))
    if n_total == 0:
        raise InputError(f"suite {suite.name!r}: no {dev_split} items to race the variants on")
    sizes = round_sizes(n_total, rounds, multiple=batch_size)
    alive = list(variants)
    latest: dict[str, RacedVariant] = {}
    dropped_in: dict[str, int] = {}
    log: list[dict[str, Any]] = []
    info: MetricInfo | None = None
    for k, n in enumerate(sizes, start=1):
        for v in alive:
            rec = run_suite(
                suite,
                spec,
                store=store,
                split=dev_split,
                limit=n,
                prompt=v,
                backend=backend,
                batch_size=batch_size,
                progress=progress,
                tags={"role": "baseline-dev", "variant": v.name, "race_round": k},
            )
            if metric not in rec.metrics:
                raise InputError(
                    f"metric {metric!r} not produced by suite {suite.name!r}",
                    hint=f"metrics: {', '.join(rec.metrics)}",
                )
            info = info or metric_info_for(rec, metric, suite)
            latest[v.name] = RacedVariant(prompt=v, record=rec, n_evaluated=n)
        assert info is not None
        direction = info
        leader = max((latest[v.name] for v in alive), key=lambda r: rank_key(r, metric, direction))
        lead = leader.prompt.name
        entry: dict[str, Any] = {"round": k, "n_items": n, "leader": lead, "dropped": [], "vs_leader": {}}
        if k < len(sizes) and len(alive) > 1:
            level = alpha / (len(alive) - 1)
            for v in alive:
                if v.name == lead:
                    continue
                d = paired_delta(
                    store,
                    suite,
                    metric,
                    leader.record.id,
                    latest[v.name].record.id,
                    alpha=level,
                    n_boot=n_boot,
                    seed=seed,
                )
                entry["vs_leader"][v.name] = [round(x, 6) for x in d]
                if leader_significantly_better(direction, d[1], d[2]):
                    dropped_in[v.name] = k
                    entry["dropped"].append(v.name)
            alive = [v for v in alive if v.name not in dropped_in]
        log.append(entry)
    out = [latest[v.name] for v in variants]
    raced = [RacedVariant(r.prompt, r.record, r.n_evaluated, dropped_in.get(r.prompt.name)) for r in out]
    assert info is not None
    return raced, log, info
