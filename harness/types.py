"""Core records. Every verdict rests on these; they are versioned and frozen where possible."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_serializer,
    model_validator,
)

SCHEMA_VERSION = 1

Role = Literal["system", "user", "assistant"]


def stable_hash(obj: Any) -> str:
    """sha256 of a canonical JSON rendering (sorted keys), hex."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


class Message(BaseModel):
    model_config = ConfigDict(frozen=True)
    role: Role
    content: str


def last_user_content(messages: Iterable[Message | Mapping[str, Any]]) -> str:
    """The content of the last user turn of a chat (Message records or {"role", "content"} dicts);
    "" when there is none."""
    last = ""
    for m in messages:
        role, content = (m.role, m.content) if isinstance(m, Message) else (m.get("role"), m.get("content"))
        if role == "user":
            last = str(content or "")
    return last


class Sample(BaseModel):
    """One evaluation (or training) item. `messages` hold the input turns (system/user, and earlier
    assistant turns of a multi-turn chat); `reference` is the final assistant turn."""

    model_config = ConfigDict(frozen=True)
    id: str
    messages: tuple[Message, ...]
    reference: str | None = None
    target: dict[str, Any] | None = Field(
        default=None, description="structured target, when the reference is JSON"
    )
    metadata: dict[str, Any] = Field(default_factory=dict)


class FewShotConfig(BaseModel):
    model_config = ConfigDict(frozen=True)
    k: int = Field(0, ge=0, description="number of examples drawn from the pool")
    split: str = Field("train", description="split the examples are drawn from (never the eval split)")
    seed: int = 0


class PromptConfig(BaseModel):
    """How a sample becomes a prompt: a system prompt, a user template and few-shot examples."""

    model_config = ConfigDict(frozen=True)
    name: str = "default"
    system: str | None = None
    template: str = Field("{input}", description="user turn; {input} is the sample's last user message")
    fewshot: FewShotConfig = Field(default_factory=FewShotConfig)


class GenerationConfig(BaseModel):
    model_config = ConfigDict(frozen=True)
    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int = 0


TASKS = ("gen", "mc", "ppl")
"""Sample task types (a sample's `metadata.task`, default "gen"): "gen" is generated and scored on
its text; "mc" (multiple choice) and "ppl" (perplexity of the reference) are scored from the model's
log-likelihoods (see harness/runner.py)."""


class ScorerSpec(BaseModel):
    """A scorer as named in a suite: `name` is the metric prefix, `type` the registered scorer.
    `tasks` limits it to samples of those task types (None: the scorer type's default, usually all)."""

    model_config = ConfigDict(frozen=True)
    name: str
    type: str
    args: dict[str, Any] = Field(default_factory=dict)
    tasks: tuple[str, ...] | None = Field(
        None, description=f"score only samples whose metadata.task is one of these ({', '.join(TASKS)})"
    )
    higher_is_better: StrictBool | None = Field(
        None,
        description="override the direction of every metric of this scorer (e.g. false for a regex "
        "that flags bad outputs); left out: the scorer's own declaration",
    )

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is not None:
            bad = [t for t in v if t not in TASKS]
            if bad:
                raise ValueError(f"unknown task type(s) {bad}; expected some of {list(TASKS)}")
            if not v:
                raise ValueError("tasks must name at least one task type (or be left out)")
        return v

    @model_serializer(mode="wrap")
    def _drop_default_tasks(self, handler: Any) -> Any:
        # `tasks` and `higher_is_better` left out serialize as before, so suites written before
        # them keep their hashes
        data = handler(self)
        if isinstance(data, dict):
            for key in ("tasks", "higher_is_better"):
                if data.get(key) is None:
                    data.pop(key, None)
        return data


class CarveSpec(BaseModel):
    """A split carved out of another one (`dev: {from: train, fraction: 0.2, seed: 0}`): a seeded,
    deterministic share of the source split's sample ids, which the source split then excludes."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")
    from_: str = Field("train", alias="from", description="the split the samples are carved from")
    fraction: float = Field(gt=0.0, lt=1.0, description="share of the source split carved out")
    seed: int = Field(0, description="changes which samples are carved")

    @model_serializer(mode="wrap")
    def _from_key(self, handler: Any) -> Any:
        # written back (and hashed) under the YAML key `from`
        data = handler(self)
        if isinstance(data, dict) and "from_" in data:
            data = {"from": data.pop("from_"), **data}
        return data


class DatasetRef(BaseModel):
    model_config = ConfigDict(frozen=True)
    path: str | None = Field(None, description="local file or folder; {split} is replaced by the split name")
    hub_id: str | None = Field(None, description="Hugging Face dataset id (online users only)")
    splits: tuple[str, ...] = ("train", "dev", "test")
    dev: CarveSpec | None = Field(
        None,
        description="carve the dev split out of another split instead of reading a dev file: "
        "{from: train, fraction: 0.2, seed: 0}",
    )

    @model_validator(mode="after")
    def _dev_carve(self) -> DatasetRef:
        if self.dev is None:
            return self
        if self.dev.from_ == "dev":
            raise ValueError("dev cannot be carved from itself; carve it from train")
        if self.dev.from_ not in self.splits:
            raise ValueError(
                f"dev is carved from {self.dev.from_!r}, which is not among the splits {list(self.splits)}"
            )
        if "dev" not in self.splits:  # a carved dev is a split like the others
            object.__setattr__(self, "splits", (*self.splits, "dev"))
        return self

    @property
    def carved(self) -> dict[str, CarveSpec]:
        """Splits carved from another split (split name -> how)."""
        return {"dev": self.dev} if self.dev is not None else {}

    @model_serializer(mode="wrap")
    def _drop_no_carve(self, handler: Any) -> Any:
        # a dataset without a carve serializes as before, so existing suites keep their hashes
        data = handler(self)
        if isinstance(data, dict) and data.get("dev") is None:
            data.pop("dev", None)
        return data


class Suite(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    version: str
    description: str = ""
    dataset: DatasetRef
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    variants: tuple[PromptConfig, ...] = ()
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    scorers: tuple[ScorerSpec, ...] = ()
    primary_metric: str | None = None
    expects_json: bool = False
    root: str | None = Field(
        None, description="folder the suite was loaded from (relative paths resolve here)"
    )
    content_hash: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}+{self.content_hash[:12]}"


Backend = Literal["hf", "openai", "mock"]


class ModelSpec(BaseModel):
    """What identifies the weights. Parsed from `hf:PATH`, `hf:PATH+lora:ADAPTER`, `openai:MODEL@URL`,
    `mock:SCRIPT` or `default` (the embedded Gemma 3 270M)."""

    model_config = ConfigDict(frozen=True)
    backend: Backend
    base: str
    base_hash: str | None = None
    adapter: str | None = None
    adapter_hash: str | None = None
    url: str | None = None
    dtype: str = "auto"
    quantization: str | None = Field(None, description="e.g. 'nf4' when the base is loaded in 4-bit")
    revision: str | None = Field(
        None,
        description="hf hub models: the commit the base is pinned to; openai: the deployment revision "
        "given as openai:MODEL@URL#rev=REV (harness/models/spec.py)",
    )
    raw: str = ""

    @property
    def identity(self) -> dict[str, Any]:
        """What the generation cache keys on: weights and adapter identity plus precision, and the
        revision when there is one (left out otherwise, so unpinned specs keep their cache keys)."""
        ident: dict[str, Any] = {
            "backend": self.backend,
            "base": self.base_hash or self.base,
            "adapter": self.adapter_hash or self.adapter,
            "url": self.url,
            "dtype": self.dtype,
            "quantization": self.quantization,
        }
        if self.revision is not None:
            ident["revision"] = self.revision
        return ident

    @property
    def label(self) -> str:
        s = self.raw or f"{self.backend}:{self.base}"
        return s


class Completion(BaseModel):
    model_config = ConfigDict(frozen=True)
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    finish_reason: str = "stop"
    raw: dict[str, Any] | None = None
    error: str | None = None


NOT_APPLICABLE = "not_applicable"
"""`Score.data` key marking a None value that comes from the sample alone (no reference, another
task type): the sample is not part of that metric on any side. Every other None is missing data
from the model's side (generation error, judge error, no log-likelihood) and fails closed."""


class Score(BaseModel):
    """One scorer's verdict on one sample. `value` is what is averaged; `data` carries what a
    corpus-level metric (macro-F1) needs; `detail` says why."""

    model_config = ConfigDict(frozen=True)
    name: str
    value: float | bool | None
    detail: str = ""
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def not_applicable(self) -> bool:
        """The value is None because of the sample, not the model (see NOT_APPLICABLE)."""
        return self.value is None and bool(self.data.get(NOT_APPLICABLE))


MetricKind = Literal["mean", "corpus"]


class MetricInfo(BaseModel):
    """What a metric means: its direction, kind and range, declared once by the scorer that emits it
    (a suite may override the direction) and stored with every run. `failure_value` is what a sample
    whose score is missing because of the model's side counts as: the bad end of a bounded
    per-sample metric; None where no such value exists (unbounded or corpus-level metrics), in which
    case the sample is counted as missing instead."""

    model_config = ConfigDict(frozen=True)
    higher_is_better: bool
    kind: MetricKind = "mean"
    low: float | None = Field(None, description="smallest possible value (None: unbounded)")
    high: float | None = Field(None, description="largest possible value (None: unbounded)")
    failure_value: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> MetricInfo:
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"range [{self.low}, {self.high}] is empty")
        fv = self.failure_value
        if fv is not None and (
            (self.low is not None and fv < self.low) or (self.high is not None and fv > self.high)
        ):
            raise ValueError(f"failure_value {fv} is outside [{self.low}, {self.high}]")
        return self

    @classmethod
    def declare(
        cls,
        *,
        higher_is_better: bool = True,
        kind: MetricKind = "mean",
        low: float | None = None,
        high: float | None = None,
    ) -> MetricInfo:
        """The info with its failure value derived: the bad end of the range for a per-sample mean
        (low when higher is better, high otherwise), None when that end is unbounded or the metric
        is corpus-level (a corpus statistic has no per-sample value to substitute)."""
        bad_end = low if higher_is_better else high
        return cls(
            higher_is_better=higher_is_better,
            kind=kind,
            low=low,
            high=high,
            failure_value=bad_end if kind == "mean" else None,
        )

    def with_direction(self, higher_is_better: bool) -> MetricInfo:
        """The same metric read in the given direction (a suite's `higher_is_better` override); the
        failure value moves to the new bad end."""
        if higher_is_better == self.higher_is_better:
            return self
        return MetricInfo.declare(
            higher_is_better=higher_is_better, kind=self.kind, low=self.low, high=self.high
        )

    def sample_value(self, score: Score) -> float | None:
        """What one sample contributes to this metric: its value; the failure value when the value is
        missing because of the model's side; None when it does not count (not applicable to the
        sample, or missing with no failure value: the caller counts it as missing)."""
        if score.value is not None:
            return float(score.value)
        if score.not_applicable:
            return None
        return self.failure_value


class MetricValue(BaseModel):
    """A run's value of one metric. `n` counts the samples in it, including `n_failed` whose score
    was missing and counted as the metric's failure value; `n_missing` counts samples whose score
    was missing and left out because the metric has no failure value."""

    model_config = ConfigDict(frozen=True)
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0
    n_failed: int = 0
    n_missing: int = 0


RunStatus = Literal["running", "completed", "failed"]


class RunRecord(BaseModel):
    schema_version: int = SCHEMA_VERSION
    id: str
    suite: str
    suite_version: str
    suite_hash: str
    suite_path: str | None = Field(None, description="the suite.yaml the run was made from")
    model: ModelSpec
    prompt: PromptConfig
    split: str
    limit: int | None = None
    env: dict[str, Any] = Field(default_factory=dict)
    status: RunStatus = "running"
    metrics: dict[str, MetricValue] = Field(default_factory=dict)
    metric_info: dict[str, MetricInfo] = Field(
        default_factory=dict,
        description="direction, kind and range of every metric in `metrics` (empty in records made "
        "before it existed: harness.metrics.metric_info_for reads those)",
    )
    n_samples: int = 0
    timing: dict[str, float] = Field(default_factory=dict)
    usage: dict[str, float] = Field(default_factory=dict)
    health: dict[str, float] = Field(
        default_factory=dict,
        description="output health over the generated outputs (harness/health.py): truncated, "
        "repeated_lines, repeated_ngrams, empty (rates, lower is better) and n",
    )
    created_at: str = ""
    finished_at: str | None = None
    tags: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(
        default_factory=list,
        description="what may make this run's numbers not mean what they seem (an adapter loaded on "
        "another base than it was trained on, an endpoint whose fingerprint changed); comparisons "
        "that use the run repeat them",
    )


class SampleResult(BaseModel):
    """What the store keeps per (run, sample): the exact prompt, the completion and the scores."""

    run_id: str
    sample_id: str
    prompt: list[dict[str, str]]
    prompt_text: str
    completion: Completion
    reference: str | None
    scores: list[Score]
