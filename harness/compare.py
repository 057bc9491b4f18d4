"""Paired comparison of two runs of the same suite: baseline A against candidate B.

`compare_runs(store, A, B)` refuses unless both runs are completed runs of the same suite name,
version and content hash, on the same split, over the same sample ids. Models and prompts may
differ: that is what is being compared.

For every metric both runs report it gives A, B, `delta = B - A`, a paired-bootstrap 95% CI of the
delta (A and B resampled with the same sample indices), a p-value, per-sample win/tie/loss counts
and n:

* Mean-type metrics (a mean of per-sample `Score.value`, e.g. `category`, `summary_rouge.rougeL`)
  join the per-sample values of A and B by sample id. A sample whose value is missing or None on
  either side is dropped from that metric (n says how many remain), so A and B are the means over
  the same samples and may differ slightly from each run's own report when samples were dropped.
* Corpus-level metrics (macro-F1, corpus perplexity) are recomputed by the suite's scorer on A's and
  B's Score lists of each resample. The scorer is rebuilt from the suite when the suite (the one
  given, else the registered one of that name) has the runs' content hash; otherwise the metric is
  reported with its delta from the stored run metrics and no interval, with a note.
* p-values: exact McNemar (`stats.mcnemar_exact`) when the per-sample values of both runs are
  binary (`p_method="mcnemar"`); otherwise the two-sided percentile-bootstrap p-value from the same
  resamples as the CI, `min(1, 2 * min(#{delta* <= 0} + 1, #{delta* >= 0} + 1) / (n_boot + 1))`,
  i.e. (up to the +1 Monte-Carlo correction) the smallest alpha whose percentile interval still
  contains 0 (`p_method="bootstrap"`); None with fewer than two paired samples.
* Win/tie/loss counts per-sample values (for a corpus-level metric: its scorer's per-sample
  values) with higher = better; for lower-is-better metrics such as perplexity read W as "B higher".

The largest per-sample regressions and improvements are ranked by the suite's primary metric when
both runs have it (for a corpus-level primary metric, its scorer's per-sample values), else by the
first binary per-sample metric. Texts are fetched by streaming the stored results for the selected
samples only. Serving cost compares `RunRecord.usage`.

Scale: per-sample values are read as columns (`Store.score_values`: no details, data or completions),
and every group of statistics kept on the same samples (the mean-type deltas, a corpus scorer's
per-sample counts from its `resample_stats`) is resampled in one vectorized pass
(`stats.resample_sums`, the same resamples as `stats.paired_bootstrap_ci`), so two runs of 100,000
samples compare in seconds (tests/benchmarks/bench_scale.py). The comparison is stored as a record of kind
"comparison" with ref "A..B".
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from . import stats
from .errors import InputError
from .fmt import num, table
from .scorers import BaseScorer, build_scorer
from .store import Store, new_run_id, now_iso
from .types import ModelSpec, RunRecord, Score, Suite

COMPARISON_SCHEMA_VERSION = 1
TEXT_LIMIT = 200

MetricKind = Literal["sample", "corpus", "run"]
PMethod = Literal["mcnemar", "bootstrap"]


class MetricDelta(BaseModel):
    """One metric of A and B. `kind`: "sample" (mean of per-sample values), "corpus" (recomputed
    by the scorer on each resample) or "run" (a run-level count such as generation_errors)."""

    name: str
    kind: MetricKind
    a: float | None
    b: float | None
    delta: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    p_method: PMethod | None = None
    wins: int | None = None
    ties: int | None = None
    losses: int | None = None
    n: int = 0
    binary: bool = False
    note: str = ""


class CostRow(BaseModel):
    key: str
    label: str
    a: float | None
    b: float | None
    ratio: float | None = Field(None, description="B / A")


class SampleDiff(BaseModel):
    """One sample where B differs from A on the ranking metric."""

    sample_id: str
    metric: str
    a: float
    b: float
    delta: float
    input: str = Field("", description="last user message of A's prompt")
    input_b: str | None = Field(None, description="last user message of B's prompt, when it differs")
    output_a: str = ""
    output_b: str = ""
    reference: str | None = None
    detail_a: str = ""
    detail_b: str = ""
    scores_a: dict[str, float | None] = Field(default_factory=dict)
    scores_b: dict[str, float | None] = Field(default_factory=dict)


class Comparison(BaseModel):
    schema_version: int = COMPARISON_SCHEMA_VERSION
    id: str
    created_at: str
    run_a: str
    run_b: str
    model_a: str
    model_b: str
    prompt_a: str
    prompt_b: str
    suite: str
    suite_version: str
    suite_hash: str
    split: str
    n_samples: int
    n_boot: int
    seed: int
    alpha: float = 0.05
    rank_metric: str | None = None
    metrics: list[MetricDelta] = Field(default_factory=list)
    cost: list[CostRow] = Field(default_factory=list)
    cost_summary: list[str] = Field(default_factory=list)
    regressions: list[SampleDiff] = Field(default_factory=list)
    improvements: list[SampleDiff] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def metric(self, name: str) -> MetricDelta:
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(name)

    def to_text(self) -> str:
        return render_text(self)


# --------------------------------------------------------------------------- comparability


def check_comparable(store: Store, a: RunRecord, b: RunRecord) -> None:
    """InputError naming everything that makes A and B incomparable, with a hint."""
    diffs: list[str] = []
    hints: list[str] = []
    for tag, r in (("A", a), ("B", b)):
        if r.status != "completed":
            diffs.append(f"run {tag} ({r.id}) is {r.status}, not completed")
            hints.append("re-run the same `tunebench run` command to finish (or redo) it")
    if a.suite != b.suite:
        diffs.append(f"suite name differs: A ran {a.suite!r}, B ran {b.suite!r}")
    if a.suite_version != b.suite_version:
        diffs.append(
            f"suite version differs: A ran {a.suite}@{a.suite_version}, B ran {b.suite}@{b.suite_version}"
        )
    if a.suite_hash != b.suite_hash:
        why = (
            " although the version is the same (its YAML or data changed without a version bump)"
            if (a.suite == b.suite and a.suite_version == b.suite_version)
            else ""
        )
        diffs.append(f"suite hash differs: A {a.suite_hash[:12]}, B {b.suite_hash[:12]}{why}")
    if a.suite != b.suite or a.suite_version != b.suite_version or a.suite_hash != b.suite_hash:
        hints.append(
            "run the baseline and the candidate on the same suite version (`tunebench run SUITE --model ...`)"
        )
    if a.split != b.split:
        diffs.append(f"split differs: A ran {a.split!r}, B ran {b.split!r}")
        hints.append("use the same --split for both runs")
    if a.status == "completed" and b.status == "completed":
        ids_a, ids_b = store.sample_ids(a.id), store.sample_ids(b.id)
        set_a, set_b = set(ids_a), set(ids_b)
        if set_a != set_b:
            only_a = [i for i in ids_a if i not in set_b]
            only_b = [i for i in ids_b if i not in set_a]
            msg = (
                f"sample ids differ: A has {len(ids_a)}, B has {len(ids_b)}; "
                f"{len(only_a)} only in A{_examples(only_a)}, {len(only_b)} only in B{_examples(only_b)}"
            )
            if a.limit != b.limit:
                msg += f" (A ran with --limit {a.limit}, B with --limit {b.limit})"
            diffs.append(msg)
            hints.append("evaluate both runs on the same samples (same --limit, or none)")
    if diffs:
        raise InputError(
            f"runs A ({a.id}) and B ({b.id}) are not comparable:\n" + "\n".join(f"  - {d}" for d in diffs),
            hint="; ".join(dict.fromkeys(hints)),
        )


def _examples(ids: Sequence[str], k: int = 3) -> str:
    if not ids:
        return ""
    more = ", ..." if len(ids) > k else ""
    return " (e.g. " + ", ".join(ids[:k]) + more + ")"


def precision_warnings(tag: str, spec: ModelSpec) -> list[str]:
    """A warning when a run's LoRA adapter was trained on another quantization/precision than the
    base it was evaluated on (read from the adapter's tunebench_adapter.json)."""
    if not spec.adapter:
        return []
    from .models import read_adapter_meta

    meta = read_adapter_meta(spec.adapter)
    if not meta:
        return []
    trained_q = meta.get("quantization") or "none"
    loaded_q = spec.quantization or "none"
    trained_p = meta.get("base_precision")
    loaded_p = spec.dtype
    precision_differs = (
        bool(trained_p) and loaded_q == "none" and loaded_p != "auto" and trained_p != loaded_p
    )
    if trained_q == loaded_q and not precision_differs:
        return []
    return [
        f"run {tag}: adapter {spec.adapter} was trained on a {trained_q}/{trained_p or '?'} base but was "
        f"evaluated on {loaded_q}/{loaded_p}: its scores may not match how it was trained (a QLoRA adapter "
        "moved to a bf16 base can lose accuracy); compare on the training precision"
    ]


# --------------------------------------------------------------------------- statistics helpers


def _bootstrap(
    n: int, fn_delta: Callable[[NDArray[np.intp]], float], n_boot: int, seed: int, alpha: float
) -> tuple[float, float, float, float | None]:
    """(delta, low, high, bootstrap p) from stats.paired_bootstrap_ci_fn, recording the resampled
    deltas for the p-value."""
    seen: list[float] = []

    def record(idx: NDArray[np.intp]) -> float:
        v = float(fn_delta(idx))
        seen.append(v)
        return v

    point, lo, hi = stats.paired_bootstrap_ci_fn(n, record, n_boot=n_boot, alpha=alpha, seed=seed)
    boot = np.asarray(seen[1:], dtype=np.float64)  # the first call is the point estimate
    p: float | None = None
    if n >= 2 and boot.size:
        k_le = int(np.count_nonzero(boot <= 0.0))
        k_ge = int(np.count_nonzero(boot >= 0.0))
        p = min(1.0, 2.0 * (min(k_le, k_ge) + 1) / (boot.size + 1))
    return point, lo, hi, p


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _resolve_suite(rec: RunRecord, suite: Suite | str | Path | None) -> tuple[Suite | None, str]:
    """The suite the runs were made with (same content hash), or None and why not."""
    from .suite import load_suite

    tried: list[str] = []
    candidates: list[Suite | str | Path] = [suite] if suite is not None else []
    if rec.suite_path:
        candidates.append(rec.suite_path)
    candidates.append(rec.suite)
    for cand in candidates:
        try:
            s = cand if isinstance(cand, Suite) else load_suite(cand)
        except Exception as e:  # an unregistered user suite, a moved folder, ...
            tried.append(f"{cand}: {str(e).splitlines()[0]}")
            continue
        if s.content_hash == rec.suite_hash:
            return s, ""
        tried.append(f"{cand}: content hash {s.content_hash[:12]}, the runs used {rec.suite_hash[:12]}")
    return None, "; ".join(tried)


def _scorer_for(metric: str, scorers: Sequence[BaseScorer]) -> BaseScorer | None:
    for sc in scorers:
        if metric == sc.name or metric.startswith(sc.name + "."):
            return sc
    return None


# --------------------------------------------------------------------------- main entry


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
    """Compare run B (candidate) with run A (baseline); see the module docstring. `suite` points at
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
        errs = int(rec.usage.get("errors", 0) or 0)
        if errs:
            warnings.append(f"run {tag} had {errs} generation error(s), scored as failures")
    if a.model.identity == b.model.identity and a.prompt == b.prompt:
        warnings.append(
            "A and B use the same model and prompt: any difference is noise, not the change under test"
        )

    resolved, why_not = _resolve_suite(a, suite)
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
    score_names = _names_in_order(cols_a)
    score_name_set = set(score_names)

    common = [m for m in a.metrics if m in b.metrics]
    only = [f"{m} (only in A)" for m in a.metrics if m not in b.metrics]
    only += [f"{m} (only in B)" for m in b.metrics if m not in a.metrics]
    if only:
        notes.append("not compared, reported by one run only: " + ", ".join(only))

    corpus_cache: dict[str, Any] = {}
    plan: list[tuple[str, str, BaseScorer | None]] = []
    for name in common:
        sc = _scorer_for(name, scorers) if scorers else None
        if sc is not None and sc.corpus_level:
            plan.append((name, "corpus", sc))
        elif name in score_name_set and (sc is not None or _is_mean_metric(name, a, cols_a)):
            plan.append((name, "sample", sc))
        else:
            plan.append((name, "stored", sc))
    # every block of per-sample statistics kept on the same samples (mean-type deltas, a corpus
    # scorer's counts) is resampled in one vectorized pass: same resamples, drawn once
    resampler = _Resampler(n_boot, seed)
    for _name, kind, sc in plan:
        if kind == "corpus" and sc is not None and sc.name not in corpus_cache:
            corpus_cache[sc.name] = _prepare_corpus(sc, store, a.id, b.id, ids, resampler)
    sample_deltas = _sample_deltas(
        [name for name, kind, _ in plan if kind == "sample"], cols_a, cols_b, len(ids), alpha, resampler
    )
    deltas: list[MetricDelta] = []
    for name, kind, sc in plan:
        if kind == "corpus":
            assert sc is not None
            deltas.append(
                _corpus_delta(
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
                    name in score_name_set or _prefix(name) in score_name_set,
                    why_not,
                )
            )

    rank_metric, rank_note = _rank_metric(rank_by, resolved, scorers, a, b, deltas, score_names)
    if rank_note:
        notes.append(rank_note)
    regressions: list[SampleDiff] = []
    improvements: list[SampleDiff] = []
    if rank_metric is not None and top_k > 0:
        regressions, improvements = _top_diffs(store, a.id, b.id, ids, cols_a, cols_b, rank_metric, top_k)

    cost, cost_summary = _cost(a.usage, b.usage)
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


def _prefix(name: str) -> str:
    return name.split(".", 1)[0]


Cols = dict[str, NDArray[np.float64]]
"""score name -> per-sample values aligned with A's sample order; NaN where missing or None."""


def _names_in_order(cols: Cols) -> list[str]:
    """Score names ordered by the first sample that has a value (then by first appearance)."""
    n_first = {
        name: (int(np.argmax(~np.isnan(c))) if (~np.isnan(c)).any() else len(c), k)
        for k, (name, c) in enumerate(cols.items())
    }
    return sorted(cols, key=lambda name: n_first[name])


def _is_mean_metric(name: str, rec: RunRecord, cols: Cols) -> bool:
    """Without the suite: a metric named like a per-sample Score is mean-type when the run's stored
    value is the mean of those Scores (corpus perplexity, for one, is not)."""
    col = cols.get(name)
    vals = col[~np.isnan(col)] if col is not None else np.empty(0)
    stored = rec.metrics[name].value
    if not vals.size or stored is None:
        return stored is None and not vals.size
    return abs(float(vals.mean()) - stored) <= 1e-9 * max(1.0, abs(stored))


def _pair(
    name: str, cols_a: Cols, cols_b: Cols, n: int
) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.float64]]:
    """(kept mask, A values, B values) of the samples with a value on both sides."""
    nan = np.full(n, np.nan)
    x, y = cols_a.get(name, nan), cols_b.get(name, nan)
    kept = ~(np.isnan(x) | np.isnan(y))
    return kept, x[kept], y[kept]


def _summary(
    point: float, boot: NDArray[np.float64], n: int, alpha: float
) -> tuple[float, float, float | None]:
    """(low, high, bootstrap p) of a paired statistic's resampled deltas (see the module doc)."""
    if n < 2:
        return point, point, None
    _, lo, hi = stats.percentile_interval(point, boot, alpha)
    k_le = int(np.count_nonzero(boot <= 0.0))
    k_ge = int(np.count_nonzero(boot >= 0.0))
    return lo, hi, min(1.0, 2.0 * (min(k_le, k_ge) + 1) / (boot.size + 1))


class _Resampler:
    """Blocks of per-sample statistics (``(n, k)`` arrays), grouped by the samples they keep;
    `run` resamples each group once with stats.resample_sums (the resamples every bootstrap in
    harness.stats draws for that n and seed) and hands each block its ``(n_boot, k)`` sums."""

    def __init__(self, n_boot: int, seed: int):
        self.n_boot, self.seed = n_boot, seed
        self.groups: dict[bytes, list[tuple[str, NDArray[np.float64]]]] = {}
        self.sums: dict[str, NDArray[np.float64]] = {}

    def add(self, kept: NDArray[np.bool_], tag: str, x: NDArray[np.float64]) -> None:
        key = np.packbits(kept).tobytes() + int(kept.size).to_bytes(8, "little")
        self.groups.setdefault(key, []).append((tag, np.asarray(x, dtype=np.float64).reshape(len(x), -1)))

    def get(self, tag: str) -> NDArray[np.float64]:
        if not self.sums and self.groups:
            for blocks in self.groups.values():
                n = blocks[0][1].shape[0]
                widths = [x.shape[1] for _, x in blocks]
                if n < 2:
                    sums = np.empty((0, sum(widths)))
                else:
                    sums = stats.resample_sums(
                        np.hstack([x for _, x in blocks]), n_boot=self.n_boot, seed=self.seed
                    )
                at = 0
                for (t, _), w in zip(blocks, widths, strict=True):
                    self.sums[t] = sums[:, at : at + w]
                    at += w
        return self.sums[tag]


def _sample_deltas(
    names: Sequence[str], cols_a: Cols, cols_b: Cols, n_ids: int, alpha: float, resampler: _Resampler
) -> dict[str, MetricDelta]:
    """Mean-type metrics: the paired bootstrap of the mean delta (stats.paired_bootstrap_ci's
    resamples), vectorized through `resampler`."""
    out: dict[str, MetricDelta] = {}
    todo: list[tuple[str, NDArray[np.float64], NDArray[np.float64]]] = []
    for name in names:
        kept, x, y = _pair(name, cols_a, cols_b, n_ids)
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
        lo, hi, p = _summary(delta, boot, n, alpha)
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
            ci_low=_finite(lo),
            ci_high=_finite(hi),
            p_value=p,
            p_method=method,
            wins=w,
            ties=t,
            losses=lo_count,
            n=n,
            binary=binary,
            note=f"{dropped} sample(s) without a value on A or B dropped" if dropped else "",
        )
    return out


def _prepare_corpus(
    sc: BaseScorer, store: Store, run_a: str, run_b: str, ids: Sequence[str], resampler: _Resampler
) -> dict[str, Any]:
    """A corpus-level scorer's paired rows; when the scorer's metrics are functions of summed
    per-sample counts (`resample_stats`), its counts are registered with the resampler."""
    memo: dict[str, Any] = {"rows": _corpus_rows(sc, store, run_a, run_b, ids)}
    kept, rows_a, rows_b = memo["rows"]
    vec = getattr(sc, "resample_stats", None)
    if callable(vec) and rows_a:
        xa, xb = np.asarray(vec(rows_a)), np.asarray(vec(rows_b))
        from_sums = sc.metrics_from_sums  # type: ignore[attr-defined]
        memo["full"] = (
            {m: float(v) for m, v in from_sums(xa.sum(axis=0)).items()},
            {m: float(v) for m, v in from_sums(xb.sum(axis=0)).items()},
        )
        mask = np.zeros(len(ids), dtype=bool)
        mask[np.asarray(kept, dtype=np.intp)] = True
        resampler.add(mask, f"corpus:{sc.name}", np.hstack([xa, xb]))
        memo["k"] = xa.shape[1]
        memo["resampler"] = resampler
    return memo


def _corpus_rows(
    sc: BaseScorer, store: Store, run_a: str, run_b: str, ids: Sequence[str]
) -> tuple[list[int], list[list[Any]], list[list[Any]]]:
    """The scorer's score rows (Store.ScoreRow) of the samples both runs scored with no None value."""
    tab_a = store.score_rows(run_a, [sc.name])
    tab_b = store.score_rows(run_b, [sc.name])
    kept: list[int] = []
    rows_a: list[list[Any]] = []
    rows_b: list[list[Any]] = []
    none: list[Any] = []
    for i, sid in enumerate(ids):
        ma, mb = tab_a.get(sid, none), tab_b.get(sid, none)
        if not ma or not mb or any(s.value is None for s in ma) or any(s.value is None for s in mb):
            continue
        kept.append(i)
        rows_a.append(ma)
        rows_b.append(mb)
    return kept, rows_a, rows_b


def _corpus_delta(
    name: str,
    sc: BaseScorer,
    store: Store,
    run_a: str,
    run_b: str,
    ids: Sequence[str],
    cols_a: Cols,
    cols_b: Cols,
    n_boot: int,
    seed: int,
    alpha: float,
    cache: dict[str, Any],
) -> MetricDelta:
    if sc.name not in cache:  # every metric of this scorer uses the same rows and resamples
        cache[sc.name] = {"rows": _corpus_rows(sc, store, run_a, run_b, ids)}
    memo = cache[sc.name]
    kept, rows_a, rows_b = memo["rows"]
    n = len(rows_a)
    dropped = len(ids) - n
    notes = [f"{dropped} sample(s) without a value on A or B dropped"] if dropped else []
    if n == 0:
        return MetricDelta(
            name=name,
            kind="corpus",
            a=None,
            b=None,
            delta=None,
            n=0,
            note="; ".join(notes) or "no sample has a value on both A and B",
        )
    vec = "full" in memo
    boot_delta: NDArray[np.float64] | None = None
    if vec:
        # metrics that are functions of summed per-sample counts: all resamples in one pass
        full_a, full_b = memo["full"]
        if n >= 2:
            if "boot" not in memo:
                sums, k = memo["resampler"].get(f"corpus:{sc.name}"), memo["k"]
                from_sums = sc.metrics_from_sums  # type: ignore[attr-defined]
                memo["boot"] = (from_sums(sums[:, :k]), from_sums(sums[:, k:]))
            if name in memo["boot"][0]:
                boot_delta = np.asarray(memo["boot"][1][name] - memo["boot"][0][name], dtype=np.float64)
    else:
        if "scores" not in memo:  # scorers without `resample_stats` get pydantic Scores
            memo["scores"] = tuple(
                [[Score(**r._asdict()) for r in row] for row in rows] for rows in (rows_a, rows_b)
            )
        rows_a, rows_b = memo["scores"]
        per_resample: dict[bytes, tuple[dict[str, float], dict[str, float]]] = memo.setdefault(
            "per_resample", {}
        )

        def both(idx: NDArray[np.intp]) -> tuple[dict[str, float], dict[str, float]]:
            # every metric of this scorer is bootstrapped with the same resamples: compute each once
            key = hashlib.blake2b(np.ascontiguousarray(idx).tobytes(), digest_size=16).digest()
            if key not in per_resample:
                per_resample[key] = (
                    sc.metrics([s for i in idx for s in rows_a[i]]),
                    sc.metrics([s for i in idx for s in rows_b[i]]),
                )
            return per_resample[key]

        full_a, full_b = both(np.arange(n, dtype=np.intp))
    va, vb = full_a.get(name), full_b.get(name)
    if (
        va is None
        or vb is None
        or (isinstance(va, float) and math.isnan(va))
        or (isinstance(vb, float) and math.isnan(vb))
    ):
        return MetricDelta(
            name=name,
            kind="corpus",
            a=_finite(va),
            b=_finite(vb),
            delta=None,
            n=n,
            note="; ".join([*notes, "the scorer gives no value on the paired samples"]),
        )
    lo: float | None = None
    hi: float | None = None
    p: float | None = None
    try:
        if vec:
            if n < 2:
                lo = hi = float(vb) - float(va)
            else:
                assert boot_delta is not None
                lo, hi, p = _summary(float(vb) - float(va), boot_delta, n, alpha)
        else:
            _, lo, hi, p = _bootstrap(
                n,
                lambda idx: float(both(idx)[1].get(name, math.nan)) - float(both(idx)[0].get(name, math.nan)),
                n_boot,
                seed,
                alpha,
            )
    except ValueError:
        notes.append("no interval: the metric is undefined on some resamples")
    # win/tie/loss on the scorer's per-sample values, when they are numbers
    at = np.asarray(kept, dtype=np.intp)
    nan = np.full(len(ids), np.nan)
    pv_a, pv_b = cols_a.get(sc.name, nan)[at], cols_b.get(sc.name, nan)[at]
    w = t = loss = None
    if not (np.isnan(pv_a).any() or np.isnan(pv_b).any()):
        w, t, loss = stats.win_tie_loss(pv_a, pv_b)
        notes.append(f"W/T/L on per-sample {sc.name}")
    return MetricDelta(
        name=name,
        kind="corpus",
        a=float(va),
        b=float(vb),
        delta=float(vb) - float(va),
        ci_low=_finite(lo),
        ci_high=_finite(hi),
        p_value=p,
        p_method="bootstrap" if p is not None else None,
        wins=w,
        ties=t,
        losses=loss,
        n=n,
        note="; ".join(notes),
    )


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
        pref = name if name in cols_a else _prefix(name)
        n_ids = len(next(iter(cols_a.values()))) if cols_a else 0
        kept, _, _ = _pair(pref, cols_a, cols_b, n_ids)
        n = int(kept.sum())
    else:
        note = "run-level metric: no per-sample values, no interval"
        kind = "run"
        n = min(ma.n, mb.n)
    return MetricDelta(name=name, kind=kind, a=ma.value, b=mb.value, delta=delta, n=n, note=note)


def _rank_metric(
    rank_by: str | None,
    suite: Suite | None,
    scorers: Sequence[BaseScorer],
    a: RunRecord,
    b: RunRecord,
    deltas: Sequence[MetricDelta],
    score_names: Sequence[str],
) -> tuple[str | None, str]:
    """The per-sample Score name samples are ranked by, and a note when a fallback was used."""
    names = set(score_names)

    def per_sample(metric: str) -> str | None:
        if metric in names:
            return metric
        sc = _scorer_for(metric, scorers)
        if sc is not None and sc.name in names:
            return sc.name
        return _prefix(metric) if _prefix(metric) in names else None

    if rank_by is not None:
        got = per_sample(rank_by)
        if got is None:
            raise InputError(
                f"cannot rank samples by {rank_by!r}: no per-sample score of that name",
                hint="per-sample scores: " + ", ".join(score_names),
            )
        return got, ""
    primary = suite.primary_metric if suite is not None else None
    if primary and primary in a.metrics and primary in b.metrics:
        got = per_sample(primary)
        if got is not None:
            return got, ""
    for m in deltas:
        if m.kind == "sample" and m.binary and m.n:
            return (
                m.name,
                "" if primary is None else f"samples ranked by {m.name} (primary metric {primary} unusable)",
            )
    for m in deltas:
        if m.kind == "sample" and m.n:
            return m.name, ""
    return (score_names[0], "") if score_names else (None, "no per-sample scores to rank samples by")


def _top_diffs(
    store: Store,
    run_a: str,
    run_b: str,
    ids: Sequence[str],
    cols_a: Cols,
    cols_b: Cols,
    metric: str,
    top_k: int,
) -> tuple[list[SampleDiff], list[SampleDiff]]:
    kept, x, y = _pair(metric, cols_a, cols_b, len(ids))
    pos = np.flatnonzero(kept)
    differ = y != x
    pos, x, y = pos[differ], x[differ], y[differ]
    d = y - x
    neg, posd = d < 0, d > 0
    # worst first (ties: run order), best first (ties: run order)
    w = np.flatnonzero(neg)[np.lexsort((pos[neg], d[neg]))][:top_k]
    b = np.flatnonzero(posd)[np.lexsort((pos[posd], -d[posd]))][:top_k]
    worse = [(float(d[j]), ids[pos[j]], float(x[j]), float(y[j])) for j in w]
    better = [(float(d[j]), ids[pos[j]], float(x[j]), float(y[j])) for j in b]
    picked = {r[1] for r in worse + better}
    diffs = {
        sid: SampleDiff(sample_id=sid, metric=metric, a=xa, b=yb, delta=dd)
        for dd, sid, xa, yb in worse + better
    }
    if picked:
        # only the picked samples' texts are read (never every completion of a run)
        _fill(store.iter_results(run_a, sample_ids=picked), picked, diffs, metric, "a")
        _fill(store.iter_results(run_b, sample_ids=picked), picked, diffs, metric, "b")
    return [diffs[r[1]] for r in worse], [diffs[r[1]] for r in better]


def _fill(
    results: Iterable[Any], picked: set[str], diffs: dict[str, SampleDiff], metric: str, side: str
) -> None:
    """Stream one run's stored results, keeping texts of the picked samples only."""
    left = set(picked)
    for r in results:
        if r.sample_id not in left:
            continue
        left.discard(r.sample_id)
        user = next((m["content"] for m in reversed(r.prompt) if m["role"] == "user"), "")
        scores = {s.name: (None if s.value is None else float(s.value)) for s in r.scores}
        detail = next((s.detail for s in r.scores if s.name == metric), "")
        d = diffs[r.sample_id]
        if side == "a":
            d.input, d.output_a, d.reference, d.scores_a, d.detail_a = (
                user,
                r.completion.text,
                r.reference,
                scores,
                detail,
            )
            if r.completion.error:
                d.detail_a = d.detail_a or f"generation error: {r.completion.error}"
        else:
            d.output_b, d.scores_b, d.detail_b = r.completion.text, scores, detail
            if user != d.input:
                d.input_b = user
            if d.reference is None:
                d.reference = r.reference
        if not left:
            break


# --------------------------------------------------------------------------- serving cost

_COST_KEYS = (
    ("prompt_tokens_mean", "prompt tokens / request"),
    ("completion_tokens_mean", "completion tokens / request"),
    ("latency_p50_s", "latency p50"),
    ("latency_p95_s", "latency p95"),
)


def _amount(x: float) -> str:
    if abs(x - round(x)) < 1e-9 or abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:,.1f}"


def _seconds(x: float) -> str:
    if x == 0 or abs(x) >= 1:
        return f"{x:.3g}s"
    if abs(x) >= 1e-3:
        return f"{x * 1e3:.3g}ms"
    return f"{x * 1e6:.3g}us"


def cost_sentence(key: str, a: float, b: float) -> str | None:
    """e.g. "B needs 78% fewer prompt tokens per request (250 vs 1,130)"."""
    if not (math.isfinite(a) and math.isfinite(b)) or a <= 0:
        return None
    ratio = b / a
    pct = (ratio - 1.0) * 100.0
    if key.endswith("_tokens_mean"):
        what = key.removesuffix("_tokens_mean") + " tokens per request"
        vs = f"({_amount(b)} vs {_amount(a)})"
        if abs(pct) < 0.5:
            return f"B needs about as many {what} as A {vs}"
        if ratio >= 2:
            return f"B needs {ratio:.1f}x as many {what} {vs}"
        return f"B needs {abs(pct):.0f}% {'fewer' if pct < 0 else 'more'} {what} {vs}"
    if key.startswith("latency_"):
        q = key.removeprefix("latency_").removesuffix("_s")
        vs = f"({_seconds(b)} vs {_seconds(a)})"
        if abs(pct) < 0.5:
            return f"B's {q} latency is about the same as A's {vs}"
        if ratio >= 2:
            return f"B's {q} latency is {ratio:.1f}x A's {vs}"
        return f"B's {q} latency is {abs(pct):.0f}% {'lower' if pct < 0 else 'higher'} {vs}"
    return None


def _cost(ua: dict[str, float], ub: dict[str, float]) -> tuple[list[CostRow], list[str]]:
    rows: list[CostRow] = []
    sentences: list[str] = []
    for key, label in _COST_KEYS:
        xa, xb = _finite(ua.get(key)), _finite(ub.get(key))
        if xa is None and xb is None:
            continue
        ratio = xb / xa if xa is not None and xb is not None and xa > 0 else None
        rows.append(CostRow(key=key, label=label, a=xa, b=xb, ratio=ratio))
        if xa is not None and xb is not None:
            s = cost_sentence(key, xa, xb)
            if s:
                sentences.append(s)
    return rows, sentences


# --------------------------------------------------------------------------- text rendering


def _signed(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or x != x else f"{x:+.{digits}f}"


def _p(m: MetricDelta) -> str:
    if m.p_value is None:
        return "-"
    tag = {"mcnemar": "mcn", "bootstrap": "boot"}.get(m.p_method or "", "")
    v = "<0.001" if m.p_value < 0.001 else f"{m.p_value:.3f}"
    return f"{v} {tag}".strip()


def _clip(text: str | None, limit: int = TEXT_LIMIT) -> str:
    if text is None:
        return "-"
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return repr(text)


def render_text(c: Comparison) -> str:
    out = [
        f"compare  A {c.run_a}  model {c.model_a}  prompt {c.prompt_a}",
        f"     vs  B {c.run_b}  model {c.model_b}  prompt {c.prompt_b}",
        f"suite {c.suite}@{c.suite_version}+{c.suite_hash[:12]}  split {c.split}  n={c.n_samples}  "
        f"paired bootstrap {c.n_boot} resamples, seed {c.seed}",
        "",
    ]
    rows = []
    marks: dict[str, int] = {}  # one footnote per distinct note
    for m in c.metrics:
        name = m.name
        if m.note:
            k = marks.setdefault(m.note, len(marks) + 1)
            name += f" [{k}]"
        ci = "-" if m.ci_low is None or m.ci_high is None else f"[{m.ci_low:+.3f}, {m.ci_high:+.3f}]"
        wtl = "-" if m.wins is None else f"{m.wins}/{m.ties}/{m.losses}"
        rows.append((name, num(m.a), num(m.b), _signed(m.delta), ci, _p(m), wtl, m.n))
    level = f"{(1 - c.alpha) * 100:g}% CI"
    out.append(table(["metric", "A", "B", "delta", level, "p", "W/T/L", "n"], rows))
    out.append(
        "delta = B - A; CI: paired bootstrap; p: mcn = exact McNemar (binary), boot = paired bootstrap; "
        "W/T/L: samples where B scores higher/equal/lower"
    )
    out += [f"  [{k}] {note}" for note, k in marks.items()]
    if c.cost:
        out.append("")
        crow = []
        for r in c.cost:

            def fmt(x: float | None, key: str = r.key) -> str:
                if x is None:
                    return "-"
                return _seconds(x) if key.startswith("latency") else num(x, 1)

            crow.append((r.label, fmt(r.a), fmt(r.b), "-" if r.ratio is None else f"{r.ratio:.2f}x"))
        out.append(table(["serving cost", "A", "B", "B/A"], crow))
        out += c.cost_summary
    for title, items in (
        ("regressions (B worse than A)", c.regressions),
        ("improvements (B better than A)", c.improvements),
    ):
        out.append("")
        if not items:
            out.append(f"no {title.split(' ')[0]} on {c.rank_metric or '-'}")
            continue
        out.append(f"largest {title} by {c.rank_metric}:")
        for d in items:
            out.append(f"- {d.sample_id}  {d.metric} {num(d.a)} -> {num(d.b)} ({d.delta:+.3f})")
            out.append(f"    input:     {_clip(d.input)}")
            if d.input_b is not None:
                out.append(f"    input B:   {_clip(d.input_b)}")
            out.append(f"    A output:  {_clip(d.output_a)}" + (f"  [{d.detail_a}]" if d.detail_a else ""))
            out.append(f"    B output:  {_clip(d.output_b)}" + (f"  [{d.detail_b}]" if d.detail_b else ""))
            out.append(f"    reference: {_clip(d.reference)}")
    if c.notes:
        out.append("")
        out += [f"note: {n}" for n in c.notes]
    if c.warnings:
        out.append("")
        out += [f"warning: {w}" for w in c.warnings]
    return "\n".join(out)
