"""The records of a paired comparison: one `MetricDelta` per metric, serving-cost rows, the
samples that moved most, and the `Comparison` stored as a record of kind "comparison"."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field, PrivateAttr

COMPARISON_SCHEMA_VERSION = 1

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
