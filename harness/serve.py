"""An OpenAI-compatible HTTP server for a local model (adapter included), so that evaluation and
judging run fully offline through the same `openai` client path as a remote endpoint.

    with running_server("hf:./my-model+lora:./adapter") as (base_url, model):
        client = openai.OpenAI(base_url=base_url, api_key="EMPTY")
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])

Endpoints: `POST /v1/chat/completions`, `POST /v1/completions`, `GET /v1/models[/ID]`, `GET /health`.
Errors are OpenAI-style JSON (`{"error": {"message", "type", "param", "code"}}`) with the matching
status code, so the `openai` client raises its usual exceptions (BadRequestError, NotFoundError, ...).

Micro-batching: one worker thread owns the model. Request threads enqueue their prompts and wait
on a Future; the worker takes the oldest waiting request, then gathers the requests with the same
generation parameters that arrive within `max_batch_wait_ms` (up to `batch_size` prompts) and runs
them as one batch. Greedy outputs equal the unbatched backend's (left padding with attention masks);
sampled outputs (temperature > 0) are seeded per batch, so they depend on what they were batched with.

Stdlib `http.server` only; bind it to 127.0.0.1 unless you set an API key.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import queue
import signal
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .errors import InputError, TunebenchError
from .types import Completion, GenerationConfig, ModelSpec

API_KEY_ENV = "TUNEBENCH_SERVE_API_KEY"
DEFAULT_CHAT_MAX_TOKENS = 256
"""max_tokens when a chat request sends none (OpenAI's own default is 'up to the context')."""
DEFAULT_COMPLETION_MAX_TOKENS = 16
"""max_tokens when a completions request sends none: OpenAI's documented default for that endpoint."""

_NEUTRAL: dict[str, Callable[[Any], bool]] = {
    # Known OpenAI parameters this server does not implement, accepted only at their no-op values.
    "n": lambda v: v in (None, 1),
    "stream": lambda v: v in (None, False),
    "stream_options": lambda v: v is None,
    "user": lambda v: v is None or isinstance(v, str),
    "frequency_penalty": lambda v: v in (None, 0),
    "presence_penalty": lambda v: v in (None, 0),
    "logit_bias": lambda v: v in (None, {}),
    "logprobs": lambda v: v in (None, False),
    "top_logprobs": lambda v: v in (None, 0),
    "echo": lambda v: v in (None, False),
    "best_of": lambda v: v in (None, 1),
    "suffix": lambda v: v in (None, ""),
    "response_format": lambda v: v is None or v == {"type": "text"},
    "tools": lambda v: v in (None, []),
    "tool_choice": lambda v: v in (None, "none"),
    "parallel_tool_calls": lambda v: v is None or isinstance(v, bool),
    "functions": lambda v: v in (None, []),
    "function_call": lambda v: v in (None, "none"),
    "store": lambda v: v in (None, False),
    "metadata": lambda v: v is None or isinstance(v, dict),
    "service_tier": lambda v: v is None or isinstance(v, str),
}
_CHAT_PARAMS = {
    "model",
    "messages",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
}
_CHAT_NEUTRAL = set(_NEUTRAL) - {"echo", "best_of", "suffix"}
_COMPLETION_PARAMS = {"model", "prompt", "temperature", "top_p", "max_tokens", "stop", "seed"}
_COMPLETION_NEUTRAL = set(_NEUTRAL) - {
    "top_logprobs",
    "response_format",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "functions",
    "function_call",
    "store",
    "metadata",
    "service_tier",
}
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class APIError(Exception):
    """An error answered to the client as OpenAI-style JSON."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def _bad(message: str, param: str | None = None, code: str | None = "invalid_value") -> APIError:
    return APIError(400, message, param=param, code=code)


# -- micro-batching ------------------------------------------------------------------------------


@dataclass
class _Job:
    prompts: list[Any]  # rendered prompt texts (kind "text") or message lists (kind "chat")
    config: GenerationConfig
    kind: str
    future: Future[list[Completion]] = field(default_factory=Future)

    @property
    def key(self) -> tuple[str, GenerationConfig]:
        return (self.kind, self.config)


_STOP = object()


@dataclass
class BatchStats:
    """What the worker has done: `batches` counts backend calls, `requests` the jobs they served."""

    batches: int = 0
    requests: int = 0
    prompts: int = 0
    largest_batch: int = 0
    failed_batches: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class MicroBatcher:
    """One worker thread owns the backend and runs requests with equal generation parameters that
    arrive within `max_wait_s` of each other as one batch of at most `max_batch_size` prompts.

    A request with more prompts than `max_batch_size` runs alone (the backend splits it). When a
    batch fails, its requests are retried one by one, so a bad prompt fails only its own request."""

    def __init__(
        self,
        backend: Any,
        *,
        max_batch_size: int = 8,
        max_wait_s: float = 0.02,
        max_queued_prompts: int = 1024,
    ) -> None:
        self.backend = backend
        self.max_batch_size = max(1, max_batch_size)
        self.max_wait_s = max(0.0, max_wait_s)
        self.max_queued_prompts = max_queued_prompts
        self.stats = BatchStats()
        self._lock = threading.Lock()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._queued_prompts = 0
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="tunebench-serve-worker", daemon=True)
        self._thread.start()

    @property
    def queued_prompts(self) -> int:
        with self._lock:
            return self._queued_prompts

    def submit(
        self, prompts: Sequence[Any], config: GenerationConfig, kind: str = "text"
    ) -> Future[list[Completion]]:
        job = _Job(list(prompts), config, kind)
        with self._lock:
            if self._closed:
                raise APIError(
                    503, "the server is shutting down", type="server_error", code="server_shutting_down"
                )
            if self._queued_prompts + len(job.prompts) > self.max_queued_prompts and self._queued_prompts:
                raise APIError(
                    429,
                    f"the server has {self._queued_prompts} prompts waiting; retry shortly",
                    type="rate_limit_error",
                    code="server_busy",
                    headers={"Retry-After": "1"},
                )
            self._queued_prompts += len(job.prompts)
            self._queue.put(job)
        return job.future

    def close(self, timeout: float | None = None) -> None:
        """Refuse new work, finish what is queued, stop the worker."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_STOP)
        self._thread.join(timeout)

    def _loop(self) -> None:
        pending: deque[_Job] = deque()  # taken off the queue but not batchable with the last batch
        stopping = False
        while True:
            if pending:
                head = pending.popleft()
            elif stopping:
                return
            else:
                item = self._queue.get()
                if item is _STOP:
                    return
                head = item
            batch, size = [head], len(head.prompts)
            keep: deque[_Job] = deque()
            for job in pending:  # older waiting requests first
                if job.key == head.key and size + len(job.prompts) <= self.max_batch_size:
                    batch.append(job)
                    size += len(job.prompts)
                else:
                    keep.append(job)
            pending = keep
            deadline = time.monotonic() + self.max_wait_s
            while size < self.max_batch_size and not stopping:
                wait = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                elif item.key == head.key and size + len(item.prompts) <= self.max_batch_size:
                    batch.append(item)
                    size += len(item.prompts)
                else:
                    pending.append(item)
            self._run(batch)

    def _call(self, jobs: list[_Job]) -> list[Completion]:
        prompts = [p for job in jobs for p in job.prompts]
        config, kind = jobs[0].config, jobs[0].kind
        if kind == "text":
            outs = self.backend.generate_text(prompts, config)
        else:
            outs = self.backend.generate(prompts, config)
        if len(outs) != len(prompts):
            raise RuntimeError(f"backend returned {len(outs)} completions for {len(prompts)} prompts")
        with self._lock:
            self.stats.batches += 1
            self.stats.requests += len(jobs)
            self.stats.prompts += len(prompts)
            self.stats.largest_batch = max(self.stats.largest_batch, len(prompts))
        return list(outs)

    def _run(self, jobs: list[_Job]) -> None:
        with self._lock:
            self._queued_prompts -= sum(len(j.prompts) for j in jobs)
        try:
            outs = self._call(jobs)
        except Exception as exc:
            with self._lock:
                self.stats.failed_batches += 1
            if len(jobs) == 1:
                jobs[0].future.set_exception(exc)
                return
            for job in jobs:  # isolate the request that broke the batch
                try:
                    job.future.set_result(self._call([job]))
                except Exception as one_exc:
                    job.future.set_exception(one_exc)
            return
        start = 0
        for job in jobs:
            job.future.set_result(outs[start : start + len(job.prompts)])
            start += len(job.prompts)


# -- request parsing -----------------------------------------------------------------------------


def _check_params(body: dict[str, Any], used: set[str], neutral: set[str], endpoint: str) -> None:
    for name, value in body.items():
        if name in used:
            continue
        if name in neutral:
            if not _NEUTRAL[name](value):
                raise _bad(
                    f"{name}={json.dumps(value)[:80]} is not supported by this server ({endpoint} supports "
                    f"{', '.join(sorted(used - {'model'}))}; {name} only at its default)",
                    param=name,
                    code="unsupported_parameter",
                )
            continue
        raise _bad(
            f"unrecognized request argument supplied: {name} ({endpoint} supports "
            f"{', '.join(sorted(used - {'model'}))})",
            param=name,
            code="unsupported_parameter",
        )


def _number(
    body: dict[str, Any], name: str, default: float, low: float, high: float, low_open: bool = False
) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(f"{name} must be a number, got {json.dumps(value)[:40]}", param=name)
    if value > high or value < low or (low_open and value == low):
        bound = f"({low}, {high}]" if low_open else f"[{low}, {high}]"
        raise _bad(f"{name}={value} is out of range {bound}", param=name)
    return float(value)


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"{name} must be an integer, got {json.dumps(value)[:40]}", param=name)
    return value


def generation_config(
    body: dict[str, Any], *, default_max_tokens: int, max_tokens_limit: int
) -> GenerationConfig:
    """The GenerationConfig a request asks for (temperature, top_p, max_tokens, stop, seed)."""
    temperature = _number(body, "temperature", 1.0, 0.0, 2.0)  # OpenAI's default: sampling
    top_p = _number(body, "top_p", 1.0, 0.0, 1.0, low_open=True)
    name = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    raw_max = body.get(name)
    max_tokens = default_max_tokens if raw_max is None else _integer(raw_max, name)
    if not 1 <= max_tokens <= max_tokens_limit:
        raise _bad(f"{name}={max_tokens} is out of range [1, {max_tokens_limit}]", param=name)
    stop_raw = body.get("stop")
    if stop_raw is None:
        stop: tuple[str, ...] = ()
    elif isinstance(stop_raw, str):
        stop = (stop_raw,)
    elif isinstance(stop_raw, list) and all(isinstance(s, str) for s in stop_raw) and len(stop_raw) <= 16:
        stop = tuple(stop_raw)
    else:
        raise _bad("stop must be a string or a list of at most 16 strings", param="stop")
    if any(not s for s in stop):
        raise _bad("stop strings must not be empty", param="stop")
    seed = 0 if body.get("seed") is None else _integer(body["seed"], "seed")
    return GenerationConfig(
        max_new_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=stop, seed=seed
    )


def _messages(body: dict[str, Any]) -> list[dict[str, str]]:
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise _bad("messages must be a non-empty list of {role, content} objects", param="messages")
    out: list[dict[str, str]] = []
    for i, m in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise _bad(f"{where} must be an object with role and content", param=where)
        role = m.get("role")
        if role not in _ROLES:
            raise _bad(
                f"{where}.role={json.dumps(role)[:40]}: expected one of {', '.join(_ROLES)}", param=where
            )
        content = m.get("content")
        if isinstance(content, list):  # content parts: text only
            texts = []
            for part in content:
                if (
                    not isinstance(part, dict)
                    or part.get("type") != "text"
                    or not isinstance(part.get("text"), str)
                ):
                    raise _bad(f"{where}.content: only text parts are supported", param=where)
                texts.append(part["text"])
            content = "".join(texts)
        if not isinstance(content, str):
            raise _bad(f"{where}.content must be a string", param=where)
        out.append({"role": _ROLES[role], "content": content})
    return out


def _prompts(body: dict[str, Any], limit: int) -> list[str]:
    raw = body.get("prompt")
    if isinstance(raw, str):
        prompts = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(p, str) for p in raw):
        prompts = list(raw)
    elif isinstance(raw, list) and raw and all(isinstance(p, int | list) for p in raw):
        raise _bad("token-id prompts are not supported; send text", param="prompt")
    else:
        raise _bad("prompt must be a string or a non-empty list of strings", param="prompt")
    if len(prompts) > limit:
        raise _bad(f"at most {limit} prompts per request, got {len(prompts)}", param="prompt")
    if any(not p for p in prompts):
        raise _bad("prompt must not be empty", param="prompt")
    return prompts


def _usage(outs: Sequence[Completion]) -> dict[str, int]:
    p = sum(c.prompt_tokens for c in outs)
    c = sum(c.completion_tokens for c in outs)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _finish(c: Completion) -> str:
    return c.finish_reason if c.finish_reason in ("stop", "length") else "stop"


# -- the server ----------------------------------------------------------------------------------


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("", "0.0.0.0") else host


class ModelServer:
    """The HTTP server. Binds in the constructor (so a busy port fails before a model loads); `start`
    attaches the backend and serves from a background thread; `stop` drains and shuts down."""

    def __init__(
        self,
        *,
        model_name: str,
        host: str = "127.0.0.1",
        port: int = 0,
        batch_size: int = 8,
        max_batch_wait_ms: float = 20.0,
        api_key: str | None = None,
        max_body_bytes: int = 4 << 20,
        max_tokens_limit: int = 4096,
        max_prompts_per_request: int = 64,
        request_timeout_s: float = 600.0,
        idle_timeout_s: float = 60.0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.model_name = model_name
        self.batch_size = batch_size
        self.max_batch_wait_ms = max_batch_wait_ms
        self.api_key = api_key or None
        self.max_body_bytes = max_body_bytes
        self.max_tokens_limit = max_tokens_limit
        self.max_prompts_per_request = max_prompts_per_request
        self.request_timeout_s = request_timeout_s
        self.log = log
        self.created = int(time.time())
        self.backend: Any = None
        self.batcher: MicroBatcher | None = None
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._render_lock = threading.Lock()  # chat templates render one at a time (tokenizer state)
        self._in_flight = 0
        self._served = 0
        self._idle = threading.Condition(self._lock)
        self._connections: set[socket.socket] = set()
        self._thread: threading.Thread | None = None
        self._stopped = False
        try:
            self.httpd = ThreadingHTTPServer((host, port), _make_handler(self, idle_timeout_s))
        except OSError as e:
            raise TunebenchError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False  # stop() drains in-flight requests itself

    # -- addresses -------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{_display_host(str(self.httpd.server_address[0]))}:{self.port}/v1"

    @property
    def openai_spec(self) -> str:
        """The model spec that evaluates through this server: `openai:NAME@URL`."""
        return f"openai:{self.model_name}@{self.base_url}"

    def stats(self) -> dict[str, int]:
        s = self.batcher.stats.as_dict() if self.batcher else BatchStats().as_dict()
        with self._lock:
            s.update(in_flight=self._in_flight, served=self._served)
        s["queued_prompts"] = self.batcher.queued_prompts if self.batcher else 0
        return s

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, backend: Any) -> ModelServer:
        self.backend = backend
        self.batcher = MicroBatcher(
            backend, max_batch_size=self.batch_size, max_wait_s=self.max_batch_wait_ms / 1000
        )
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="tunebench-serve-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, drain_timeout_s: float = 60.0) -> bool:
        """Stop accepting requests, let in-flight ones finish (up to `drain_timeout_s`), close idle
        connections. Returns whether every in-flight request finished. Idempotent."""
        with self._lock:
            if self._stopped:
                return True
            self._stopped = True
        self.stopping.set()
        if self._thread is not None:
            self.httpd.shutdown()
        deadline = time.monotonic() + drain_timeout_s
        with self._idle:
            while self._in_flight and time.monotonic() < deadline:
                self._idle.wait(min(0.2, max(0.0, deadline - time.monotonic())))
            drained = self._in_flight == 0
        if self.batcher is not None:
            self.batcher.close(timeout=max(0.0, deadline - time.monotonic()) if not drained else 5.0)
        self.httpd.server_close()
        with self._lock:
            lingering = list(self._connections)
        for sock in lingering:  # idle keep-alive connections
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        return drained

    # -- bookkeeping used by the handler ---------------------------------------------------------
    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1

    def _leave(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._served += 1
            self._idle.notify_all()

    def _track(self, sock: socket.socket, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(sock)

    # -- endpoints -------------------------------------------------------------------------------
    def check_auth(self, header: str | None) -> None:
        if self.api_key is None:
            return
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self.api_key.encode()
        ):
            raise APIError(
                401,
                "missing or incorrect API key: send 'Authorization: Bearer <key>' (the key given to "
                "`tunebench serve --api-key` or $" + API_KEY_ENV + ")",
                code="invalid_api_key",
            )

    def check_model(self, body: dict[str, Any]) -> None:
        model = body.get("model")
        if model is None:
            raise _bad("missing required parameter: model", param="model", code="missing_required_parameter")
        if model != self.model_name:
            raise APIError(
                404,
                f"the model {str(model)[:200]!r} does not exist; this server serves {self.model_name!r}",
                param="model",
                code="model_not_found",
            )

    def model_object(self) -> dict[str, Any]:
        return {"id": self.model_name, "object": "model", "created": self.created, "owned_by": "tunebench"}

    def _generate(self, prompts: list[Any], config: GenerationConfig, kind: str) -> list[Completion]:
        assert self.batcher is not None
        future = self.batcher.submit(prompts, config, kind)
        try:
            outs = future.result(timeout=self.request_timeout_s)
        except FutureTimeout:
            raise APIError(
                504,
                f"generation took longer than {self.request_timeout_s:.0f}s",
                type="server_error",
                code="timeout",
            ) from None
        except APIError:
            raise
        except Exception as exc:
            raise APIError(
                500,
                f"generation failed: {type(exc).__name__}: {exc}",
                type="server_error",
                code="internal_error",
            ) from exc
        errors = [c.error for c in outs if c.error]
        if errors:
            raise APIError(500, f"generation failed: {errors[0]}", type="server_error", code="internal_error")
        return outs

    def chat_completions(self, body: dict[str, Any]) -> dict[str, Any]:
        self.check_model(body)
        _check_params(body, _CHAT_PARAMS, _CHAT_NEUTRAL, "/v1/chat/completions")
        messages = _messages(body)
        config = generation_config(
            body, default_max_tokens=DEFAULT_CHAT_MAX_TOKENS, max_tokens_limit=self.max_tokens_limit
        )
        render = getattr(self.backend, "render", None)
        if render is not None and hasattr(self.backend, "generate_text"):
            try:
                with self._render_lock:
                    prompt: Any = render(messages)
            except Exception as exc:  # a chat template that rejects the conversation (roles, order)
                raise _bad(
                    f"the model's chat template rejected the messages: {exc}", param="messages"
                ) from exc
            (out,) = self._generate([prompt], config, "text")
        else:
            (out,) = self._generate([messages], config, "chat")
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model_name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": out.text},
                    "finish_reason": _finish(out),
                    "logprobs": None,
                }
            ],
            "usage": _usage([out]),
        }

    def completions(self, body: dict[str, Any]) -> dict[str, Any]:
        self.check_model(body)
        _check_params(body, _COMPLETION_PARAMS, _COMPLETION_NEUTRAL, "/v1/completions")
        if not hasattr(self.backend, "generate_text"):
            raise _bad("this backend serves chat only: use /v1/chat/completions", code="unsupported_endpoint")
        prompts = _prompts(body, self.max_prompts_per_request)
        config = generation_config(
            body, default_max_tokens=DEFAULT_COMPLETION_MAX_TOKENS, max_tokens_limit=self.max_tokens_limit
        )
        outs = self._generate(prompts, config, "text")
        return {
            "id": f"cmpl-{uuid.uuid4().hex[:24]}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": self.model_name,
            "choices": [
                {"index": i, "text": c.text, "finish_reason": _finish(c), "logprobs": None}
                for i, c in enumerate(outs)
            ],
            "usage": _usage(outs),
        }


_ROUTES: dict[str, tuple[str, ...]] = {
    "/health": ("GET",),
    "/v1/models": ("GET",),
    "/v1/chat/completions": ("POST",),
    "/v1/completions": ("POST",),
}


def _make_handler(app: ModelServer, idle_timeout_s: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "tunebench-serve"
        timeout = idle_timeout_s  # seconds an idle keep-alive connection is kept

        def setup(self) -> None:
            super().setup()
            app._track(self.connection, True)

        def finish(self) -> None:
            app._track(self.connection, False)
            with contextlib.suppress(OSError):
                super().finish()

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(obj, ensure_ascii=False).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if app.stopping.is_set() or self.close_connection:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
            except OSError:  # the client went away
                self.close_connection = True

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        def do_PATCH(self) -> None:
            self._dispatch("PATCH")

        def _read_json(self) -> dict[str, Any]:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                self.close_connection = True
                raise APIError(
                    411,
                    "chunked request bodies are not supported: send Content-Length",
                    code="length_required",
                )
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                self.close_connection = True
                raise _bad("invalid Content-Length header", code="invalid_request") from None
            if length > app.max_body_bytes:
                self.close_connection = True  # the body is left unread
                raise APIError(
                    413,
                    f"request body of {length} bytes is over the limit of {app.max_body_bytes}",
                    code="request_too_large",
                )
            raw = self.rfile.read(length) if length > 0 else b""
            self.body_read = True
            try:
                body = json.loads(raw)
            except ValueError as e:
                raise _bad(f"request body is not valid JSON: {e}", code="invalid_json") from None
            if not isinstance(body, dict):
                raise _bad("request body must be a JSON object", code="invalid_json")
            return body

        def _dispatch(self, method: str) -> None:
            app._enter()
            started = time.perf_counter()
            status = 500
            self.body_read = False
            try:
                status, obj, headers = self._route(method)
            except APIError as e:
                status, obj, headers = e.status, e.body(), e.headers
            except Exception as e:  # a bug: answer 500 with what happened rather than drop the connection
                obj = APIError(
                    500,
                    f"internal error: {type(e).__name__}: {e}",
                    type="server_error",
                    code="internal_error",
                ).body()
                headers = {}
            if not self.body_read and self.headers.get("Content-Length", "0").strip() not in ("", "0"):
                self.close_connection = True  # an unread body would be taken for the next request
            try:
                self._send_json(status, obj, headers)
            finally:
                app._leave()
                if app.log is not None:
                    app.log(
                        f"{self.client_address[0]} {method} {self.path} {status} {time.perf_counter() - started:.2f}s"
                    )

        def _route(self, method: str) -> tuple[int, Any, dict[str, str]]:
            path = urlsplit(self.path).path.rstrip("/") or "/"
            if path == "/health" and method == "GET":
                if app.stopping.is_set():
                    return 503, {"status": "stopping", "model": app.model_name, **app.stats()}, {}
                return 200, {"status": "ok", "model": app.model_name, **app.stats()}, {}
            app.check_auth(self.headers.get("Authorization"))
            if app.stopping.is_set():
                raise APIError(
                    503, "the server is shutting down", type="server_error", code="server_shutting_down"
                )
            model_id = unquote(path[len("/v1/models/") :]) if path.startswith("/v1/models/") else None
            allowed = ("GET",) if model_id is not None else _ROUTES.get(path)
            if allowed is None:
                raise APIError(
                    404,
                    f"unknown path {method} {path}: this server answers {', '.join(_ROUTES)}",
                    code="unknown_url",
                )
            if method not in allowed:
                raise APIError(
                    405,
                    f"{method} is not allowed on {path}; use {', '.join(allowed)}",
                    code="method_not_allowed",
                    headers={"Allow": ", ".join(allowed)},
                )
            if model_id is not None:
                if model_id != app.model_name:
                    raise APIError(
                        404,
                        f"the model {model_id!r} does not exist; this server serves {app.model_name!r}",
                        code="model_not_found",
                    )
                return 200, app.model_object(), {}
            if path == "/v1/models":
                return 200, {"object": "list", "data": [app.model_object()]}, {}
            body = self._read_json()
            if path == "/v1/chat/completions":
                return 200, app.chat_completions(body), {}
            return 200, app.completions(body), {}

    return Handler


# -- loading and running -------------------------------------------------------------------------


def load_backend(
    spec: str | ModelSpec,
    *,
    batch_size: int = 8,
    workspace: str | Path | None = None,
    dtype: str = "auto",
    quantization: str | None = None,
) -> Any:
    """The backend a server serves: a local hf model (with its adapter) or a mock script. Pass
    quantization="none" to load the base in full precision whatever the adapter was trained on."""
    from .models import create_backend, parse_spec

    if isinstance(spec, str):
        q = None if quantization in (None, "none") else quantization
        parsed = parse_spec(spec, workspace=workspace, dtype=dtype, quantization=q)
        if quantization == "none" and parsed.quantization:
            parsed = parsed.model_copy(update={"quantization": None})
    else:
        parsed = spec
    if parsed.backend == "openai":
        raise InputError(
            f"model spec {parsed.raw or parsed.base!r} is already an OpenAI-compatible endpoint; serve a local "
            "model: default, default+lora:ADAPTER, hf:PATH or hf:PATH+lora:ADAPTER"
        )
    return create_backend(parsed, batch_size=batch_size)


def _default_name(spec_or_backend: Any) -> str:
    if isinstance(spec_or_backend, str):
        return spec_or_backend.strip()
    spec = (
        spec_or_backend if isinstance(spec_or_backend, ModelSpec) else getattr(spec_or_backend, "spec", None)
    )
    if isinstance(spec, ModelSpec):
        return spec.raw or spec.label
    return type(spec_or_backend).__name__


class ServerHandle(tuple):
    """`(base_url, model_name)`, plus `.server` (the ModelServer), `.openai_spec` and `.stats()`."""

    server: ModelServer

    def __new__(cls, server: ModelServer) -> ServerHandle:
        handle = super().__new__(cls, (server.base_url, server.model_name))
        handle.server = server
        return handle

    @property
    def base_url(self) -> str:
        return str(self[0])

    @property
    def model_name(self) -> str:
        return str(self[1])

    @property
    def openai_spec(self) -> str:
        return self.server.openai_spec

    def stats(self) -> dict[str, int]:
        return self.server.stats()


@contextlib.contextmanager
def running_server(
    spec_or_backend: str | ModelSpec | Any,
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    model_name: str | None = None,
    batch_size: int = 8,
    max_batch_wait_ms: float = 20.0,
    api_key: str | None = None,
    workspace: str | Path | None = None,
    dtype: str = "auto",
    quantization: str | None = None,
    lifetime_s: float | None = None,
    **options: Any,
) -> Iterator[ServerHandle]:
    """Serve a model from a background thread for the duration of the `with` block; yields
    `(base_url, model_name)` (a ServerHandle). `spec_or_backend` is a spec string, a ModelSpec or an
    already loaded backend (HFBackend or anything with `generate`). With `lifetime_s` the server also
    stops by itself after that many seconds. Other keywords go to ModelServer (limits, timeouts)."""
    name = model_name or _default_name(spec_or_backend)
    server = ModelServer(
        model_name=name,
        host=host,
        port=port,
        batch_size=batch_size,
        max_batch_wait_ms=max_batch_wait_ms,
        api_key=api_key,
        **options,
    )
    timer: threading.Timer | None = None
    try:
        if isinstance(spec_or_backend, str | ModelSpec):
            backend = load_backend(
                spec_or_backend,
                batch_size=batch_size,
                workspace=workspace,
                dtype=dtype,
                quantization=quantization,
            )
        else:
            backend = spec_or_backend
        server.start(backend)
        if lifetime_s is not None:
            timer = threading.Timer(lifetime_s, server.stop)
            timer.daemon = True
            timer.start()
        yield ServerHandle(server)
    finally:
        if timer is not None:
            timer.cancel()
        server.stop()


def serve(
    spec: str | ModelSpec,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    model_name: str | None = None,
    batch_size: int = 8,
    max_batch_wait_ms: float = 20.0,
    api_key: str | None = None,
    workspace: str | Path | None = None,
    dtype: str = "auto",
    quantization: str | None = None,
    drain_timeout_s: float = 60.0,
    log_requests: bool = True,
    out: Any = None,
) -> int:
    """Serve until SIGTERM or SIGINT, then finish in-flight requests and return 0. The port is bound
    before the model loads, so a busy port fails fast. `api_key` defaults to $TUNEBENCH_SERVE_API_KEY."""
    stream = out or sys.stdout

    def say(msg: str) -> None:
        print(msg, file=stream, flush=True)

    api_key = api_key or os.environ.get(API_KEY_ENV) or None
    name = model_name or _default_name(spec)
    log = (lambda line: print(line, file=sys.stderr, flush=True)) if log_requests else None
    server = ModelServer(
        model_name=name,
        host=host,
        port=port,
        batch_size=batch_size,
        max_batch_wait_ms=max_batch_wait_ms,
        api_key=api_key,
        log=log,
    )
    stop = threading.Event()
    previous: dict[int, Any] = {}

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()
        signal.signal(signum, signal.SIG_DFL)  # a second signal ends the process at once

    try:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, on_signal)
        say(f"loading {spec if isinstance(spec, str) else spec.label} ...")
        t0 = time.perf_counter()
        backend = load_backend(
            spec, batch_size=batch_size, workspace=workspace, dtype=dtype, quantization=quantization
        )
        if stop.is_set():
            server.stop()
            return 0
        server.start(backend)
        say(f"loaded in {time.perf_counter() - t0:.1f}s; serving {name!r} at {server.base_url}")
        say("  endpoints: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health")
        say(
            f"  batching: up to {batch_size} prompts with equal parameters, waiting up to {max_batch_wait_ms:g} ms"
        )
        if api_key:
            say("  API key required (clients: set OPENAI_API_KEY to it)")
        elif server.httpd.server_address[0] not in ("127.0.0.1", "localhost"):
            say("  warning: listening beyond localhost without an API key (--api-key)")
        say(f"use: --model {server.openai_spec}")
        while not stop.wait(0.5):
            pass
        say("stopping: finishing in-flight requests ...")
        drained = server.stop(drain_timeout_s)
        s = server.stats()
        say(
            f"stopped: {s['served']} HTTP requests, {s['prompts']} prompts in {s['batches']} batches"
            + ("" if drained else f" (gave up waiting after {drain_timeout_s:g}s)")
        )
        return 0
    finally:
        server.stop(drain_timeout_s)
        for signum, handler in previous.items():
            with contextlib.suppress(Exception):
                signal.signal(signum, handler)
