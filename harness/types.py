"""Core records. Every verdict rests on these; they are versioned and frozen where possible."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer

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
        # `tasks` left out serializes as before, so suites written before it keep their hashes
        data = handler(self)
        if isinstance(data, dict) and data.get("tasks") is None:
            data.pop("tasks", None)
        return data


class DatasetRef(BaseModel):
    model_config = ConfigDict(frozen=True)
    path: str | None = Field(None, description="local file or folder; {split} is replaced by the split name")
    hub_id: str | None = Field(None, description="Hugging Face dataset id (online users only)")
    splits: tuple[str, ...] = ("train", "dev", "test")


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


class Score(BaseModel):
    """One scorer's verdict on one sample. `value` is what is averaged; `data` carries what a
    corpus-level metric (macro-F1) needs; `detail` says why."""

    model_config = ConfigDict(frozen=True)
    name: str
    value: float | bool | None
    detail: str = ""
    data: dict[str, Any] = Field(default_factory=dict)


class MetricValue(BaseModel):
    model_config = ConfigDict(frozen=True)
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0


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
    n_samples: int = 0
    timing: dict[str, float] = Field(default_factory=dict)
    usage: dict[str, float] = Field(default_factory=dict)
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
