"""The records of a paired comparison: one `MetricDelta` per metric, serving-cost rows, the
samples that moved most, and the `Comparison` stored as a record of kind "comparison"."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field, PrivateAttr

from ..types import MetricInfo

COMPARISON_SCHEMA_VERSION = 2
"""2: every MetricDelta carries its direction (`higher_is_better`, `info`), W/T/L in that direction,
the minimum detectable effect and per-side failed/dropped sample counts; the Comparison carries the
runs' sample counts. Version-1 bodies lack them (readers fall back to the runs' metric_info)."""

MetricKind = Literal["sample", "corpus", "run"]
PMethod = Literal["mcnemar", "bootstrap"]
MissingReason = Literal["errored", "missing", "not applicable"]
"""Why a side has no value for a sample: "errored" (a score stored as None because of the model:
generation, judge or log-likelihood error), "missing" (no score row on this side while the other
side has one), "not applicable" (the scorer marked it so on this side only)."""


class MetricDelta(BaseModel):
    """One metric of A and B. `kind`: "sample" (mean of per-sample values), "corpus" (recomputed
    by the scorer on each resample) or "run" (a run-level count such as generation_errors).

    `delta` is B - A as measured; whether that is good is `higher_is_better` (from the metric's
    declared semantics, `info`; None when nothing declares it: then there are no W/T/L counts).
    Wins/ties/losses count samples where B is better/equal/worse in that direction.

    Missing data fails closed. A sample takes part in a metric unless it is not applicable on both
    sides (no value and no error on either: `n_not_applicable`). A side without a value (errored or
    missing) scores the metric's failure value when it has one (`n_failed_a`/`n_failed_b`); where it
    has none, or the side is "not applicable" while the other is not, the sample is dropped from the
    pairing (`n_dropped_a`/`n_dropped_b` count the samples each side had no usable value for).
    `failed` and `dropped` break those counts down per side ("a"/"b") and reason (MissingReason).
    So `n_paired + n_not_applicable` is below the runs' sample count exactly when samples were
    dropped. `n` is the number of samples in the statistic (= `n_paired` for paired kinds; for a
    run-level metric, the smaller run n). `mde`: the minimum detectable effect (metric units,
    one-sided at the comparison's alpha, power 0.8) at the paired n (harness.stats.power)."""

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
    higher_is_better: bool | None = None
    info: MetricInfo | None = None
    mde: float | None = None
    n_paired: int | None = Field(None, description="samples in the paired statistic; None: not paired")
    n_not_applicable: int = 0
    n_failed_a: int = 0
    n_failed_b: int = 0
    n_dropped_a: int = 0
    n_dropped_b: int = 0
    failed: dict[str, dict[MissingReason, int]] = Field(
        default_factory=dict, description='side ("a"/"b") -> reason -> samples scored as the failure value'
    )
    dropped: dict[str, dict[MissingReason, int]] = Field(
        default_factory=dict, description='side ("a"/"b") -> reason -> samples dropped from the pairing'
    )

    def good_delta(self) -> float | None:
        """The delta signed so that positive means B is better; None without a delta or direction."""
        if self.delta is None or self.higher_is_better is None:
            return None
        return self.delta if self.higher_is_better else -self.delta

    # the delta's bootstrap replicates (B - A on each resample), kept in memory by `compare_runs`
    # for the gate's margin tests; not stored (a loaded comparison has none)
    _boot: NDArray[np.float64] | None = PrivateAttr(None)

    @property
    def bootstrap_deltas(self) -> NDArray[np.float64] | None:
        """B - A on each bootstrap resample (every metric kept on the same samples shares the
        same resamples), or None: not resampled, or a comparison read back from the store."""
        return self._boot


class CostRow(BaseModel):
    key: str
    label: str
    a: float | None
    b: float | None
    ratio: float | None = Field(None, description="B / A")


class SampleDiff(BaseModel):
    """One sample where B differs from A on the ranking metric (`delta` = B - A as measured; a
    regression is a sample where B is worse in the metric's direction). A side that errored or
    had no score shows the metric's failure value."""

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
    n_samples_a: int | None = Field(None, description="run A's sample count (RunRecord.n_samples)")
    n_samples_b: int | None = Field(None, description="run B's sample count (RunRecord.n_samples)")
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
    health: dict[str, dict[str, float]] = Field(
        default_factory=dict, description='output health per side ("a"/"b"): RunRecord.health of each run'
    )

    def metric(self, name: str) -> MetricDelta:
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(name)
