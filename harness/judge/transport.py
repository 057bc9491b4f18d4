"""Where a judge's calls go: an OpenAI-compatible endpoint (`openai:MODEL@URL`, through the openai
backend) or a local transformers model in process (`default`, `hf:PATH`, with or without an adapter).

Both answer two kinds of call with `Reply` records:

* `generate`: the judge writes its reply (JSON templates);
* `choose`: the judge answers with one of a few labels (`reply=label` templates). An endpoint is
  asked with `logprobs=true, top_logprobs=20, max_tokens=1` and the labels' probabilities are read
  from the first reply token's alternatives; an endpoint that answers without them (or rejects the
  parameters with a 400 naming them) is asked without from then on, and its reply text is parsed
  instead (`logprobs` is then False). A local model gives the probabilities from one forward pass
  per prompt (harness/models/choice_probs.py): nothing is generated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..types import Completion, GenerationConfig, ModelSpec
from .probs import TOP_LOGPROBS, probs_from_top_logprobs, top_logprobs_of

LABEL_TEXT_TOKENS = 8
"""max_tokens of a label reply from an endpoint that gives no log-probabilities (text is parsed)."""


def judge_spec(judge: str | ModelSpec) -> ModelSpec:
    """Parse and check a judge spec: an OpenAI-compatible endpoint, or a local hf model."""
    from ..models import parse_spec

    spec = parse_spec(judge, resolve=False) if isinstance(judge, str) else judge
    if (spec.backend == "openai" and spec.url) or spec.backend == "hf":
        return spec
    raise InputError(
        f"judge {spec.label!r}: a judge must be an OpenAI-compatible endpoint or a local hf model",
        hint="use --judge openai:MODEL@http://HOST:PORT/v1 (e.g. a local `tunebench serve`), "
        "--judge default (the embedded model, in process) or --judge hf:PATH",
    )


@dataclass
class Reply:
    """One answer from a judge: its text, or the error; the allowed labels' probabilities when it
    gave them (`probs`), with the first position's most probable tokens (`top`)."""

    text: str = ""
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    probs: dict[str, float] | None = None
    top: list[tuple[str, float]] = field(default_factory=list)
    forwards: int = 0
    fingerprint: str | None = None


def _reply(c: Completion) -> Reply:
    fp = (c.raw or {}).get("system_fingerprint")
    return Reply(
        text=c.text,
        error=c.error,
        prompt_tokens=c.prompt_tokens,
        completion_tokens=c.completion_tokens,
        fingerprint=fp if isinstance(fp, str) and fp else None,
    )


class EndpointJudge:
    """Calls to an OpenAI-compatible endpoint (async, bounded concurrency, backoff with jitter)."""

    local = False

    def __init__(
        self,
        spec: ModelSpec,
        *,
        concurrency: int,
        timeout_s: float,
        max_retries: int,
        backoff_base_s: float,
        backoff_max_s: float,
    ) -> None:
        from ..models.openai_backend import OpenAIBackend  # the openai client loads on first use

        self.spec = spec
        self.backend = OpenAIBackend(
            spec,
            concurrency=concurrency,
            timeout_s=timeout_s,
            max_retries=max_retries,
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
        )
        self.logprobs: bool | None = None  # unknown until a response shows whether it gives them

    @property
    def identity(self) -> dict[str, Any]:
        return {"backend": "openai", "model": self.spec.base, "url": self.spec.url}

    @property
    def info(self) -> dict[str, Any]:
        return {
            "backend": "openai",
            "model": self.spec.base,
            "revision": None,
            "endpoint": self.spec.url,
            "fingerprint": None,  # filled in by the client from the replies' system_fingerprint
            "logprobs": self.logprobs,
        }

    @property
    def requests(self) -> tuple[int, int]:
        return self.backend.stats["requests"], self.backend.stats["retries"]

    def _call(
        self, prompts: Sequence[Any], config: GenerationConfig, extra: dict[str, Any]
    ) -> list[Completion]:
        self.backend.extra_params = extra
        try:
            outs = self.backend.generate(list(prompts), config)
        finally:
            self.backend.extra_params = {}
        return outs

    def generate(self, prompts: Sequence[Any], config: GenerationConfig) -> list[Reply]:
        return [_reply(c) for c in self._call(prompts, config, {})]

    def choose(self, prompts: Sequence[Any], labels: Sequence[str], config: GenerationConfig) -> list[Reply]:
        text_config = config.model_copy(update={"max_new_tokens": LABEL_TEXT_TOKENS})
        if self.logprobs is False:
            return self.generate(prompts, text_config)
        one = config.model_copy(update={"max_new_tokens": 1})
        outs = self._call(prompts, one, {"logprobs": True, "top_logprobs": TOP_LOGPROBS})
        rejected = [
            i
            for i, c in enumerate(outs)
            if c.error and c.error.startswith("http_400") and "logprob" in c.error.lower()
        ]
        replies: list[Reply] = []
        for c in outs:
            r = _reply(c)
            top = top_logprobs_of(c.raw) if c.error is None else None
            if top is not None:
                self.logprobs = True
                r.probs, r.top, r.forwards = probs_from_top_logprobs(top, labels), top, 1
            elif c.error is None and self.logprobs is None:
                self.logprobs = False  # answered, without log-probabilities: parse text from now on
            replies.append(r)
        if rejected:
            self.logprobs = False
            again = self.generate([prompts[i] for i in rejected], text_config)
            for i, r in zip(rejected, again, strict=True):
                replies[i] = r
        return replies


class LocalJudge:
    """A local transformers model judging in process (no server, no HTTP)."""

    local = True

    def __init__(self, spec: ModelSpec, *, workspace: str | Path | None = None, backend: Any = None) -> None:
        from ..models import create_backend, parse_spec

        if backend is None:
            if not spec.base_hash and spec.raw:
                spec = parse_spec(spec.raw, workspace=workspace, dtype=spec.dtype)
            backend = create_backend(spec, batch_size=8)
        self.spec = spec
        self.backend = backend
        self.logprobs: bool | None = True
        self.forwards = 0

    @property
    def identity(self) -> dict[str, Any]:
        s = self.spec
        return {
            "backend": "hf",
            "model": s.base_hash or s.base,
            "adapter": s.adapter_hash or s.adapter,
            "dtype": s.dtype,
            "quantization": s.quantization,
        }

    @property
    def info(self) -> dict[str, Any]:
        s = self.spec
        revision = (s.base_hash or "")[:12] + (f"+{(s.adapter_hash or '')[:12]}" if s.adapter else "")
        return {
            "backend": "hf (in process)",
            "model": s.raw or s.base,
            "path": s.base,
            "revision": revision or None,
            "endpoint": None,
            "fingerprint": None,
            "logprobs": True,
        }

    @property
    def requests(self) -> tuple[int, int]:
        return self.forwards, 0

    def generate(self, prompts: Sequence[Any], config: GenerationConfig) -> list[Reply]:
        outs = self.backend.generate(list(prompts), config)
        self.forwards += len(outs)
        return [_reply(c) for c in outs]

    def choose(self, prompts: Sequence[Any], labels: Sequence[str], config: GenerationConfig) -> list[Reply]:
        from ..models.choice_probs import choice_probabilities

        texts = [self.backend.render(list(p)) for p in prompts]
        out = []
        for cp in choice_probabilities(self.backend, texts, labels, top_k=TOP_LOGPROBS):
            self.forwards += cp.forwards
            out.append(
                Reply(
                    text=cp.top[0][0] if cp.top else "",
                    prompt_tokens=cp.prompt_tokens,
                    completion_tokens=0,
                    probs=cp.probs,
                    top=cp.top,
                    forwards=cp.forwards,
                )
            )
        return out


def make_transport(
    spec: ModelSpec,
    *,
    concurrency: int = 4,
    timeout_s: float = 60.0,
    max_retries: int = 4,
    backoff_base_s: float = 0.5,
    backoff_max_s: float = 20.0,
    workspace: str | Path | None = None,
    backend: Any = None,
) -> EndpointJudge | LocalJudge:
    if spec.backend == "openai":
        return EndpointJudge(
            spec,
            concurrency=concurrency,
            timeout_s=timeout_s,
            max_retries=max_retries,
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
        )
    return LocalJudge(spec, workspace=workspace, backend=backend)
