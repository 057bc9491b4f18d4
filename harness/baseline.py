"""Best-prompt baseline: score every prompt variant on the dev split only, pick the best by a named
metric (in its declared direction: the lowest perplexity, the highest accuracy), then run that one
variant once on the test split.

The test split is never read during selection: variants run on `dev`, few-shot examples come from
`train` (draw_fewshot refuses the split being evaluated), and `test` is loaded only for the single
final run of the chosen variant.

`estimate_baseline` says beforehand how much work that is (variants x dev items) and about how long
it will take: at this model's recent per-item time from the generation cache when the store has
one, else at a conservative default per backend, stated as such; when the selection alone would take
more than about five minutes it suggests a `--dev-limit`. It reads the dev split only.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .errors import InputError
from .metrics import delta_in_good_direction, metric_info_for
from .models.base import DEFAULT_BATCH_SIZE, ModelBackend
from .runner import LazyBackend, make_backend, run_suite
from .store import Store, new_run_id
from .store.baseline import recent_item_seconds
from .suite import load_split
from .types import FewShotConfig, MetricInfo, ModelSpec, PromptConfig, RunRecord, Suite, stable_hash
from .yamlio import load_model


class VariantGrid(BaseModel):
    """A grid of prompt variants: every system prompt x every few-shot count."""

    model_config = ConfigDict(extra="forbid")
    systems: dict[str, str] = Field(description="name -> system prompt")
    fewshot_k: list[int] = Field(
        default_factory=lambda: [0], description="few-shot counts, e.g. [0, 1, 3, 5]"
    )
    template: str = "{input}"
    fewshot_split: str = "train"
    seed: int = 0


class VariantsFile(BaseModel):
    """`--variants FILE`: explicit variants, a grid, or both; optionally the selection metric."""

    model_config = ConfigDict(extra="forbid")
    metric: str | None = Field(
        None,
        description="metric to optimize on dev, in its declared direction (default: the suite's "
        "primary metric)",
    )
    variants: list[PromptConfig] = Field(default_factory=list)
    grid: VariantGrid | None = None

    def expand(self) -> list[PromptConfig]:
        out = list(self.variants)
        if self.grid:
            g = self.grid
            for (name, system), k in itertools.product(g.systems.items(), g.fewshot_k):
                out.append(
                    PromptConfig(
                        name=f"{name}-{k}shot",
                        system=system,
                        template=g.template,
                        fewshot=FewShotConfig(k=k, split=g.fewshot_split, seed=g.seed),
                    )
                )
        return out


class VariantScore(BaseModel):
    name: str
    run_id: str
    dev_value: float | None
    ci_low: float | None
    ci_high: float | None
    prompt_tokens_mean: float
    prompt: PromptConfig
    n_evaluated: int | None = Field(None, description="dev items scored (racing; None: every dev item)")
    dropped_round: int | None = Field(None, description="racing round the variant was dropped in")


class BaselineResult(BaseModel):
    id: str
    suite: str
    suite_ref: str
    model: str
    metric: str
    dev_split: str
    test_split: str
    variants: list[VariantScore]
    chosen: str
    test_run_id: str | None
    racing: list[dict[str, Any]] | None = Field(None, description="rounds of a raced selection")

    def to_text(self) -> str:
        from .fmt import num, table

        rows = [
            (
                ("* " if v.name == self.chosen else "  ") + v.name,
                num(v.dev_value),
                f"[{num(v.ci_low)}, {num(v.ci_high)}]",
                num(v.prompt_tokens_mean, 0),
                v.run_id,
            )
            for v in self.variants
        ]
        head = (
            f"baseline selection on {self.dev_split} by {self.metric} ({self.suite_ref}, model {self.model})"
        )
        tail = f"chosen: {self.chosen}" + (
            f"; test run {self.test_run_id}" if self.test_run_id else " (test run skipped)"
        )
        return "\n".join(
            [
                head,
                table(["variant", self.metric, "95% CI", "prompt tok", "dev run"], rows, align="lrrrl"),
                tail,
            ]
        )


DEFAULT_ITEM_S = {"hf": 5.0, "openai": 3.0, "mock": 0.01}
"""Seconds per item assumed when the store has no timed generation of the model: on the high side,
so the estimate errs long. hf: the embedded 270M model on 2 CPU cores took 0.5-0.75 s per item for
64 new tokens in batches of 8, and about 15 s for 128 tokens of long notes; a larger model takes
longer. openai: one remote call."""
LONG_S = 300.0
"""A selection estimated longer than this gets a `--dev-limit` suggestion."""
RECENT = 200
"""How many of the model's most recent cached generations the per-item time is the median of."""


class BaselineEstimate(BaseModel):
    """How much work a baseline search is and about how long it will take (before it starts)."""

    model: str
    variants: int
    dev_split: str
    dev_items: int = Field(description="items per variant on the dev split (after --dev-limit)")
    dev_limit: int | None = None
    run_test: bool = True
    test_limit: int | None = Field(
        None, description="items of the final test run when limited; else its size is not read yet"
    )
    per_item_s: float
    measured_from: int = Field(
        0, description="cached generations of this model the per-item time is the median of (0: default)"
    )
    backend: str

    @property
    def selection_items(self) -> int:
        return self.variants * self.dev_items

    @property
    def selection_s(self) -> float:
        return self.selection_items * self.per_item_s

    @property
    def test_s(self) -> float | None:
        """The final test run's time when its size is known (--test-limit), else None."""
        return self.test_limit * self.per_item_s if self.run_test and self.test_limit else None

    def suggested_dev_limit(self) -> int | None:
        """A `--dev-limit` that brings the selection to about LONG_S, when it is longer than that."""
        if self.selection_s <= LONG_S or self.dev_items <= 1:
            return None
        n = max(1, int(LONG_S / (self.variants * self.per_item_s)))
        return n if n < self.dev_items else None


def candidate_variants(suite: Suite, variants: Sequence[PromptConfig] | None = None) -> list[PromptConfig]:
    """The prompt variants a baseline search tries: those given, else the suite's, else its prompt."""
    return list(variants or suite.variants or [suite.prompt])


def estimate_baseline(
    suite: Suite,
    spec: ModelSpec,
    *,
    store: Store,
    variants: Sequence[PromptConfig] | None = None,
    dev_split: str = "dev",
    dev_limit: int | None = None,
    run_test: bool = True,
    test_limit: int | None = None,
) -> BaselineEstimate:
    """The size and expected duration of `select_baseline` with the same arguments. Reads the dev
    split (to count it) and the store's generation cache, never the test split. Cached items are
    counted as if generated, so a repeat of a search finishes sooner than estimated."""
    n_dev = len(load_split(suite, dev_split, dev_limit))
    times = recent_item_seconds(store, stable_hash(spec.identity), limit=RECENT)
    per_item = statistics.median(times) if times else DEFAULT_ITEM_S.get(spec.backend, 5.0)
    return BaselineEstimate(
        model=spec.label,
        variants=len(candidate_variants(suite, variants)),
        dev_split=dev_split,
        dev_items=n_dev,
        dev_limit=dev_limit,
        run_test=run_test,
        test_limit=test_limit,
        per_item_s=per_item,
        measured_from=len(times),
        backend=spec.backend,
    )


def load_variants(path: str | Path) -> VariantsFile:
    vf = load_model(path, VariantsFile, what="variants file")
    if not vf.expand():
        raise InputError(f"{path}: no variants (give `variants:` and/or `grid:`)")
    return vf


def select_baseline(
    suite: Suite,
    spec: ModelSpec,
    *,
    store: Store,
    variants: Sequence[PromptConfig] | None = None,
    metric: str | None = None,
    dev_split: str = "dev",
    test_split: str = "test",
    dev_limit: int | None = None,
    test_limit: int | None = None,
    run_test: bool = True,
    backend: ModelBackend | LazyBackend | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = True,
    racing: bool = False,
) -> BaselineResult:
    """`racing=True` scores the variants on dev in rounds and drops those the leader beats
    significantly (harness/racing.py); the choice is among the variants scored on every dev item."""
    variants = candidate_variants(suite, variants)
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise InputError(f"prompt variant names must be unique: {names}")
    metric = metric or suite.primary_metric
    if not metric:
        raise InputError(f"suite {suite.name!r} has no primary_metric; pass --metric")
    if dev_split == test_split:
        raise InputError(
            "the baseline is selected on the dev split and reported on the test split; they must differ"
        )
    for v in variants:
        if v.fewshot.k and v.fewshot.split in (dev_split, test_split):
            raise InputError(
                f"variant {v.name!r} draws few-shot examples from {v.fewshot.split!r}",
                hint="few-shot examples must come from the train split",
            )
    lazy = (
        backend
        if isinstance(backend, LazyBackend)
        else LazyBackend(
            spec,
            (lambda _s: backend)
            if backend is not None
            else (lambda s: make_backend(s, batch_size=batch_size)),  # type: ignore[arg-type,return-value]
        )
    )
    scores: list[VariantScore] = []
    info = None
    dropped: list[VariantScore] = []
    race_log = None
    if racing:
        scores, dropped, race_log, info = _race(
            suite, spec, variants, metric, store, lazy, dev_split, dev_limit, batch_size, progress
        )
    for v in variants if not racing else []:
        rec = run_suite(
            suite,
            spec,
            store=store,
            split=dev_split,
            limit=dev_limit,
            prompt=v,
            backend=lazy,
            batch_size=batch_size,
            progress=progress,
            tags={"role": "baseline-dev", "variant": v.name},
        )
        m = rec.metrics.get(metric)
        if m is None:
            raise InputError(
                f"metric {metric!r} not produced by suite {suite.name!r}",
                hint=f"metrics: {', '.join(rec.metrics)}",
            )
        info = info or metric_info_for(rec, metric, suite)
        scores.append(
            VariantScore(
                name=v.name,
                run_id=rec.id,
                dev_value=m.value,
                ci_low=m.ci_low,
                ci_high=m.ci_high,
                prompt_tokens_mean=rec.usage.get("prompt_tokens_mean", 0.0),
                prompt=v,
            )
        )
    # best dev value in the metric's direction (a missing value is worst); ties go to the cheaper prompt
    assert info is not None
    direction = info

    def goodness(s: VariantScore) -> tuple[float, float]:
        v = s.dev_value
        good = float("-inf") if v is None else delta_in_good_direction(direction, v)
        return (good, -s.prompt_tokens_mean)

    best = max(scores, key=goodness)
    test_rec: RunRecord | None = None
    if run_test:
        test_rec = run_suite(
            suite,
            spec,
            store=store,
            split=test_split,
            limit=test_limit,
            prompt=best.prompt,
            backend=lazy,
            batch_size=batch_size,
            progress=progress,
            tags={"role": "baseline", "variant": best.name},
        )
    result = BaselineResult(
        id=new_run_id(),
        suite=suite.name,
        suite_ref=suite.ref,
        model=spec.label,
        metric=metric,
        dev_split=dev_split,
        test_split=test_split,
        variants=sorted(scores + dropped, key=lambda s: names.index(s.name)),
        chosen=best.name,
        test_run_id=test_rec.id if test_rec else None,
        racing=race_log,
    )
    body: dict[str, Any] = result.model_dump(mode="json")
    store.put_record("baseline", result.id, body, ref=f"{suite.name}:{spec.label}")
    return result


def _race(
    suite: Suite,
    spec: ModelSpec,
    variants: Sequence[PromptConfig],
    metric: str,
    store: Store,
    lazy: LazyBackend,
    dev_split: str,
    dev_limit: int | None,
    batch_size: int,
    progress: bool,
) -> tuple[list[VariantScore], list[VariantScore], list[dict[str, Any]], MetricInfo]:
    """(variants scored on every dev item, dropped variants with partial figures, rounds log, what
    the metric means)."""
    from .racing import race_variants

    raced, log, info = race_variants(
        suite,
        spec,
        variants,
        metric=metric,
        store=store,
        backend=lazy,
        dev_split=dev_split,
        dev_limit=dev_limit,
        batch_size=batch_size,
        progress=progress,
    )
    full: list[VariantScore] = []
    partial: list[VariantScore] = []
    for r in raced:
        m = r.record.metrics[metric]
        score = VariantScore(
            name=r.prompt.name,
            run_id=r.record.id,
            dev_value=m.value,
            ci_low=m.ci_low,
            ci_high=m.ci_high,
            prompt_tokens_mean=r.record.usage.get("prompt_tokens_mean", 0.0),
            prompt=r.prompt,
            n_evaluated=r.n_evaluated,
            dropped_round=r.dropped_round,
        )
        (partial if r.dropped_round is not None else full).append(score)
    return full, partial, log, info
