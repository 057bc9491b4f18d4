"""Metric semantics and the run's aggregation: what each metric means, read from one place.

A metric's meaning (`MetricInfo`: higher or lower is better, per-sample mean or corpus-level,
range, failure value) is declared by the scorer that emits it (`BaseScorer.metric_info`), may be
overridden per scorer in the suite (`higher_is_better:`), and is stored in the run record
(`RunRecord.metric_info`). `metric_info_for` is the one reader: the record, else the suite's
declarations (records made before the field existed), else an error. Nothing here guesses a
direction from a metric's name or values.

Callers never branch on direction themselves: `better(info, a, b)` orders two values and
`delta_in_good_direction(info, delta)` turns a B - A difference into "positive is an improvement".

`aggregate` computes a run's metrics with bootstrap CIs and fails closed on missing data: a score
that is None because of the model's side (generation error, judge error, no log-likelihood) counts
as the metric's failure value (`MetricInfo.sample_value`), or, where the metric has none, is
counted in `MetricValue.n_missing`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from . import stats
from .errors import InputError
from .scorers import BaseScorer, build_scorer
from .store import register_record_upgrade
from .types import MetricInfo, MetricValue, RunRecord, Score, Suite

N_BOOT = 1000
BOOT_SEED = 0

_COUNT = MetricInfo.declare(higher_is_better=False, kind="corpus", low=0.0)

RUN_METRICS: dict[str, MetricInfo] = {
    # how many samples had no output (generation or log-likelihood error), a count over the run
    "generation_errors": _COUNT,
}
"""Metrics the runner itself adds to `RunRecord.metrics` (not a scorer's), by exact name."""

USAGE_METRICS: dict[str, MetricInfo] = {
    name: _COUNT
    for name in (
        "errors",
        "latency_p50_s",
        "latency_p95_s",
        "prompt_tokens_mean",
        "completion_tokens_mean",
        "prompt_tokens_total",
        "completion_tokens_total",
    )
}
"""The numbers of `RunRecord.usage` that compare as costs: latency and token counts, lower is better."""


class UnknownMetricError(InputError):
    """No declaration of a metric's meaning could be found (see `metric_info_for`)."""


# -- direction helpers ---------------------------------------------------------------------------
def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def better(info: MetricInfo, a: float | None, b: float | None) -> int:
    """1 when `a` is better than `b` in the metric's direction, -1 when worse, 0 when equal. A missing
    value (None or NaN) is worse than any number; two missing values are equal."""
    x, y = _num(a), _num(b)
    if x is None or y is None:
        return 0 if x is None and y is None else (-1 if x is None else 1)
    if x == y:
        return 0
    return 1 if (x > y) == info.higher_is_better else -1


def delta_in_good_direction(info: MetricInfo, delta: float) -> float:
    """A difference (B - A) signed so that positive means B is better, whichever the direction."""
    return delta if info.higher_is_better else -delta


# -- declarations --------------------------------------------------------------------------------
def owning_scorer(scorers: Iterable[BaseScorer], metric: str) -> BaseScorer | None:
    """The scorer that emits `metric`: named exactly so, or the longest name that is a dotted prefix
    (metric names are `<scorer name>` or `<scorer name>.<part>`)."""
    best: BaseScorer | None = None
    for sc in scorers:
        if metric == sc.name:
            return sc
        if metric.startswith(sc.name + ".") and (best is None or len(sc.name) > len(best.name)):
            best = sc
    return best


def scorer_metric_info(scorers: Sequence[BaseScorer], names: Iterable[str]) -> dict[str, MetricInfo]:
    """The semantics of each metric in `names` from the scorers that emit them (suite overrides
    applied) and the runner's own run-level metrics; names neither declares are left out."""
    out: dict[str, MetricInfo] = {}
    for name in names:
        if name in RUN_METRICS:
            out[name] = RUN_METRICS[name]
            continue
        sc = owning_scorer(scorers, name)
        if sc is not None:
            out[name] = sc.info_for(name)
    return out


_SCORERS: dict[tuple[str, str | None], list[BaseScorer]] = {}


def suite_scorers(suite: Suite) -> list[BaseScorer]:
    """The suite's scorers, built once per suite content."""
    key = (suite.content_hash or suite.ref, suite.root)
    if key not in _SCORERS:
        _SCORERS[key] = [build_scorer(s, where=f"suite {suite.name}") for s in suite.scorers]
    return _SCORERS[key]


def record_suite(record: RunRecord) -> Suite | None:
    """The suite a run was made from, when it can still be loaded: its recorded suite.yaml, else the
    registered suite of that name. Its scorer declarations are read even when the suite has changed
    since (a `higher_is_better` added later says what the metric always meant); None otherwise."""
    from .suite import load_suite

    for where in (record.suite_path, record.suite):
        if not where:
            continue
        try:
            suite = load_suite(where)
        except (InputError, OSError, ValueError):
            continue
        if suite.name == record.suite:
            return suite
    return None


def declared_metric_info(
    record: RunRecord, suite: Suite | None = None, names: Iterable[str] | None = None
) -> dict[str, MetricInfo]:
    """Semantics of the record's metrics (or of `names`) from declarations only, not from
    `record.metric_info`: the runner's run-level metrics and the scorers of `suite` (default: the
    run's suite, when loadable). Names nothing declares are left out."""
    wanted = list(record.metrics if names is None else names)
    suite = suite if suite is not None else record_suite(record)
    scorers = suite_scorers(suite) if suite is not None else []
    return scorer_metric_info(scorers, wanted)


def metric_info_for(
    record: RunRecord, name: str, suite: Suite | None = None, *, default: MetricInfo | None = None
) -> MetricInfo:
    """What metric `name` of run `record` means: the record's stored `metric_info`, else the
    runner's run-level declaration, else the declaration of the scorer that emits it in `suite`
    (default: the run's suite, loaded when it can be); a name of `record.usage` (latency, tokens)
    that is not a metric reads USAGE_METRICS. Raises UnknownMetricError when nothing declares it,
    unless a `default` is given (callers that must decide something fail closed by not passing
    one)."""
    info = record.metric_info.get(name)
    if info is not None:
        return info
    if name not in record.metrics and name in record.usage and name in USAGE_METRICS:
        return USAGE_METRICS[name]
    found = declared_metric_info(record, suite, [name]).get(name)
    if found is not None:
        return found
    if default is not None:
        return default
    raise UnknownMetricError(
        f"run {record.id}: no declaration says what metric {name!r} means (direction, range)",
        hint="the run predates stored metric semantics and its suite cannot be loaded; "
        "pass the suite (--suite) or re-run it",
    )


# -- aggregation ---------------------------------------------------------------------------------
def aggregate(
    scorers: Sequence[BaseScorer],
    per_sample: Sequence[Sequence[Score]],
    *,
    n_boot: int = N_BOOT,
    seed: int = BOOT_SEED,
) -> dict[str, MetricValue]:
    """Metrics with seeded percentile-bootstrap 95% CIs. Mean-type metrics resample the per-sample
    values (a missing one counted as the metric's failure value, else as missing); corpus-level
    metrics (macro-F1, corpus perplexity) are recomputed on each resample, with `n` the samples that
    have a value and `n_missing` those whose score is missing."""
    out: dict[str, MetricValue] = {}
    for sc in scorers:
        mine = [
            [s for s in row if s.name == sc.name or s.name.startswith(sc.name + ".")] for row in per_sample
        ]
        flat = [s for row in mine for s in row]
        if not flat:
            continue
        if sc.corpus_level:
            out.update(_corpus_metrics(sc, [row for row in mine if row], n_boot=n_boot, seed=seed))
            continue
        for name in sorted({s.name for s in flat}):
            info = sc.info_for(name)
            vals: list[float] = []
            failed = missing = 0
            for s in flat:
                if s.name != name:
                    continue
                v = info.sample_value(s)
                if v is None:
                    missing += not s.not_applicable
                    continue
                failed += s.value is None
                vals.append(v)
            if not vals:
                out[name] = MetricValue(value=None, n=0, n_missing=missing)
                continue
            point, lo, hi = stats.bootstrap_ci(vals, n_boot=n_boot, seed=seed)
            out[name] = MetricValue(
                value=point, ci_low=lo, ci_high=hi, n=len(vals), n_failed=failed, n_missing=missing
            )
    return out


def _corpus_metrics(
    sc: BaseScorer, mine: list[list[Score]], *, n_boot: int, seed: int
) -> dict[str, MetricValue]:
    # resample only the samples this scorer scored with a value (a scorer limited to some task
    # types writes no rows for the others; a sample whose value is missing or not applicable adds
    # nothing to the statistic, and a resample of only such rows would have none)
    out: dict[str, MetricValue] = {}
    missing = sum(
        1 for row in mine if all(s.value is None for s in row) and not all(s.not_applicable for s in row)
    )
    mine = [row for row in mine if any(s.value is not None for s in row)]
    m = n = len(mine)
    flat = [s for row in mine for s in row]
    full = sc.metrics(flat)
    # scorers whose metrics are functions of summed per-sample counts (classification) resample
    # all of them at once, vectorized (same resamples as bootstrap_ci_fn)
    vec = getattr(sc, "resample_stats", None)
    boot = (
        sc.metrics_from_sums(stats.resample_sums(vec(mine), n_boot=n_boot, seed=seed))  # type: ignore[attr-defined]
        if callable(vec) and m > 1
        else {}
    )
    for name, value in full.items():
        if name in boot:
            _, lo, hi = stats.percentile_interval(value, boot[name])
            out[name] = MetricValue(value=value, ci_low=lo, ci_high=hi, n=n, n_missing=missing)
            continue

        def fn(idx: Any, name: str = name) -> float:
            sub = [s for i in idx for s in mine[i]]
            return float(sc.metrics(sub).get(name, float("nan")))

        _, lo, hi = stats.bootstrap_ci_fn(m, fn, n_boot=n_boot, seed=seed) if m > 1 else (value, value, value)
        out[name] = MetricValue(value=value, ci_low=lo, ci_high=hi, n=n, n_missing=missing)
    if not full and missing and not mine:
        # nothing computable because data is missing: say so instead of leaving the metric out
        for name in sc.metric_names():
            out[name] = MetricValue(value=None, n=0, n_missing=missing)
    return out


# -- stored records made before metric_info ------------------------------------------------------
def backfill_metric_info(raw: Mapping[str, Any]) -> dict[str, Any] | None:
    """Store migration step: a stored run record (JSON object) without `metric_info` gets the
    semantics of its metrics from its suite's declarations, where the suite can be loaded. Returns
    the new record, or None to leave it as it is."""
    if raw.get("metric_info") or not raw.get("metrics"):
        return None
    try:
        record = RunRecord.model_validate(raw)
    except ValidationError:
        return None
    info = declared_metric_info(record)
    if not info:
        return None
    return {**raw, "metric_info": {k: v.model_dump(mode="json") for k, v in info.items()}}


register_record_upgrade("metric_info", backfill_metric_info)
