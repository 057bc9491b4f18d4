"""Backend for any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, llama.cpp server, ...).

Uses the official `openai` client (AsyncOpenAI) with its own retries disabled; retries, backoff and
bounded concurrency are done here so that they are the same whatever the client version does. The API
key is read from the environment at call time and is never stored on the spec, the backend or a record.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import math
import os
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import openai

from ..types import Completion, GenerationConfig, ModelSpec
from .base import Messages, ProgressFn, backend_registry

log = logging.getLogger(__name__)

PLACEHOLDER_API_KEY = "EMPTY"
"""Sent when the key's environment variable is unset; local servers (vLLM, llama.cpp) accept any key."""


@dataclass(frozen=True)
class _Failure:
    """One failed attempt: `kind` names the error class, `retry_after` is a server-requested wait."""

    kind: str
    message: str
    retryable: bool
    retry_after: float | None = None


class _BadResponse(Exception):
    """The server answered 2xx but the body is not a usable chat completion."""


def _parse_retry_after(headers: Any) -> float | None:
    """Seconds from `retry-after-ms` or `retry-after` (numeric form only); None when absent or bad."""
    if headers is None:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except (TypeError, ValueError):
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def _classify(exc: BaseException) -> _Failure:
    """Map an exception from one attempt to a failure kind and whether it is worth retrying."""
    if isinstance(exc, openai.APITimeoutError):
        return _Failure("timeout", str(exc) or "request timed out", True)
    if isinstance(exc, openai.APIConnectionError):
        return _Failure("connection_error", str(exc) or "connection error", True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        message = exc.message
        if status == 429:
            return _Failure("rate_limited", message, True, _parse_retry_after(exc.response.headers))
        if status >= 500:
            return _Failure(f"http_{status}", message, True)
        if status == 408:  # request timeout: the server gave up waiting, worth another try
            return _Failure("http_408", message, True)
        return _Failure(f"http_{status}", message, False)
    if isinstance(exc, openai.APIResponseValidationError | _BadResponse | ValueError):
        # json.JSONDecodeError is a ValueError: a 2xx body that is not JSON.
        return _Failure("bad_response", f"{type(exc).__name__}: {exc}", False)
    return _Failure("unexpected", f"{type(exc).__name__}: {exc}", False)


def _as_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _completion_from(response: Any, latency_s: float) -> Completion:
    """Build a Completion from the client's parsed response, checking its shape defensively: without
    strict validation the client builds models from any JSON, missing fields and all."""
    if not isinstance(response, openai.BaseModel):
        snippet = str(response)[:200]
        raise _BadResponse(f"expected a chat completion object, got {type(response).__name__}: {snippet!r}")
    raw = response.model_dump(warnings=False)
    choices = raw.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise _BadResponse(f"response has no choices: {json.dumps(raw, default=str)[:200]}")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise _BadResponse("first choice has no message")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise _BadResponse(f"message content is {type(content).__name__}, not a string")
    usage_raw = raw.get("usage")
    usage: dict[str, Any] = usage_raw if isinstance(usage_raw, dict) else {}
    finish_reason = choice.get("finish_reason")
    return Completion(
        text=content or "",
        prompt_tokens=_as_int(usage.get("prompt_tokens")),
        completion_tokens=_as_int(usage.get("completion_tokens")),
        latency_s=latency_s,
        finish_reason=finish_reason if isinstance(finish_reason, str) and finish_reason else "stop",
        raw=raw,
    )


class OpenAIBackend:
    """Chat completions against `spec.url` (base URL, e.g. http://127.0.0.1:8000/v1) for model `spec.base`.

    `concurrency` bounds the requests in flight; a prompt gets up to `max_retries` retries on 429, 5xx,
    408, timeouts and connection errors, with full-jitter exponential backoff (`backoff_base_s * 2**n`,
    capped at `backoff_max_s`) or the server's `Retry-After` (also capped). Other failures, and a prompt
    whose retries run out, give `Completion(text="", error="<kind>: <message>", finish_reason="error")`.
    """

    def __init__(
        self,
        spec: ModelSpec,
        *,
        concurrency: int = 8,
        timeout_s: float = 60.0,
        max_retries: int = 4,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 20.0,
        api_key_env: str = "OPENAI_API_KEY",
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.spec = spec
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.api_key_env = api_key_env
        self.stats: dict[str, int] = {"requests": 0, "retries": 0, "errors": 0}
        self.extra_params: dict[str, Any] = {}
        """Request parameters added to every chat completion (e.g. logprobs for a judge)."""
        self._stats_lock = threading.Lock()
        self._rng = random.Random()

    def __repr__(self) -> str:
        return (
            f"OpenAIBackend(model={self.spec.base!r}, url={self.spec.url!r}, concurrency={self.concurrency})"
        )

    # -- public API ------------------------------------------------------------------------------

    def generate(
        self, prompts: Sequence[Messages], config: GenerationConfig, progress: ProgressFn | None = None
    ) -> list[Completion]:
        """One Completion per prompt, in input order. Never raises for a single failed prompt."""
        if not prompts:
            return []
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._agenerate(prompts, config, progress))
        # Called from inside a running loop (a notebook, an async app): that loop is blocked by this
        # synchronous call anyway, so run ours in a fresh thread with its own loop.
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="openai-backend"
        ) as pool:
            return pool.submit(asyncio.run, self._agenerate(prompts, config, progress)).result()

    # -- internals -------------------------------------------------------------------------------

    def _bump(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += n

    def _backoff(self, retry_index: int, failure: _Failure) -> float:
        """Seconds to wait before retry number `retry_index` (0-based)."""
        if failure.retry_after is not None:
            return min(failure.retry_after, self.backoff_max_s)
        ceiling = min(self.backoff_max_s, self.backoff_base_s * (2.0**retry_index))
        return self._rng.uniform(0.0, ceiling)

    def _request_kwargs(self, messages: Messages, config: GenerationConfig) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.spec.base,
            "messages": list(messages),
            "temperature": config.temperature,
            "top_p": config.top_p,
            "max_tokens": config.max_new_tokens,
            "seed": config.seed,
        }
        if config.stop:
            kwargs["stop"] = list(config.stop)
        kwargs.update(self.extra_params)
        return kwargs

    async def _agenerate(
        self, prompts: Sequence[Messages], config: GenerationConfig, progress: ProgressFn | None
    ) -> list[Completion]:
        client = openai.AsyncOpenAI(
            api_key=os.environ.get(self.api_key_env) or PLACEHOLDER_API_KEY,
            base_url=self.spec.url,
            timeout=self.timeout_s,
            max_retries=0,
        )
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(messages: Messages) -> Completion:
            async with semaphore:
                completion = await self._one(client, messages, config)
            if completion.error is not None:
                self._bump("errors")
            if progress is not None:
                progress(1)
            return completion

        try:
            return list(await asyncio.gather(*(one(m) for m in prompts)))
        finally:
            await client.close()

    async def _one(
        self, client: openai.AsyncOpenAI, messages: Messages, config: GenerationConfig
    ) -> Completion:
        kwargs = self._request_kwargs(messages, config)
        attempts = 0
        while True:
            attempts += 1
            self._bump("requests")
            started = time.perf_counter()
            try:
                response = await client.chat.completions.create(**kwargs)
                return _completion_from(response, time.perf_counter() - started)
            except Exception as exc:  # every failure of one prompt becomes data, never an exception
                failure = _classify(exc)
            retry_index = attempts - 1
            if not failure.retryable or retry_index >= self.max_retries:
                suffix = f" (after {attempts} attempts)" if attempts > 1 else ""
                log.warning("openai backend: prompt failed: %s: %s%s", failure.kind, failure.message, suffix)
                return Completion(
                    text="",
                    finish_reason="error",
                    error=f"{failure.kind}: {failure.message}{suffix}",
                )
            delay = self._backoff(retry_index, failure)
            log.debug("openai backend: %s, retry %d in %.2fs", failure.kind, attempts, delay)
            self._bump("retries")
            await asyncio.sleep(delay)


backend_registry.add("openai", lambda spec: OpenAIBackend(spec))
