"""Starting a server: load a backend from a spec, serve it from a background thread for a `with`
block (`running_server`), or from the command line until SIGTERM or SIGINT (`serve`)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..types import ModelSpec
from .http import API_KEY_ENV, ModelServer


def load_backend(
    spec: str | ModelSpec,
    *,
    batch_size: int = 8,
    workspace: str | Path | None = None,
    dtype: str = "auto",
    quantization: str | None = None,
    adapters: Mapping[str, str | Path] | None = None,
    base_name: str | None = None,
) -> Any:
    """The backend a server serves: a local hf model (with its adapter) or a mock script. Pass
    quantization="none" to load the base in full precision whatever the adapter was trained on.
    With `adapters` ({name: path}): the base once with every adapter, served by name (AdapterRouter,
    the base as `base_name`)."""
    from ..models import create_backend, parse_spec

    if adapters:
        from .adapters import load_router

        return load_router(
            spec,
            adapters,
            base_name=base_name or _default_name(spec),
            batch_size=batch_size,
            workspace=workspace,
            dtype=dtype,
            quantization=quantization,
        )

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
    adapters: Mapping[str, str | Path] | None = None,
    **options: Any,
) -> Iterator[ServerHandle]:
    """Serve a model from a background thread for the duration of the `with` block; yields
    `(base_url, model_name)` (a ServerHandle). `spec_or_backend` is a spec string, a ModelSpec or an
    already loaded backend (HFBackend or anything with `generate`). `adapters` ({name: path}, with a
    bare hf base spec) serves each LoRA adapter under its name besides the base, in mixed batches.
    With `lifetime_s` the server also stops by itself after that many seconds. Other keywords go to
    ModelServer (limits, timeouts)."""
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
                adapters=adapters,
                base_name=name,
            )
        elif adapters:
            raise InputError("adapters= needs a base spec to load, not a loaded backend")
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
    adapters: Mapping[str, str | Path] | None = None,
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
            spec,
            batch_size=batch_size,
            workspace=workspace,
            dtype=dtype,
            quantization=quantization,
            adapters=adapters,
            base_name=name,
        )
        if stop.is_set():
            server.stop()
            return 0
        server.start(backend)
        served = ", ".join(repr(n) for n in server.model_names)
        say(f"loaded in {time.perf_counter() - t0:.1f}s; serving {served} at {server.base_url}")
        say("  endpoints: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health")
        say(
            f"  batching: up to {batch_size} prompts with equal parameters, waiting up to {max_batch_wait_ms:g} ms"
            + (" (one batch mixes adapters)" if len(server.model_names) > 1 else "")
        )
        if api_key:
            say("  API key required (clients: set OPENAI_API_KEY to it)")
        elif server.httpd.server_address[0] not in ("127.0.0.1", "localhost"):
            say("  warning: listening beyond localhost without an API key (--api-key)")
        for model in server.model_names:
            say(f"use: --model openai:{model}@{server.base_url}")
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
