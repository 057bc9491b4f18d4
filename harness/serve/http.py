"""The HTTP layer: `ModelServer` (binding, lifecycle, draining, the endpoints) and the stdlib
`http.server` handler that routes requests to it and answers errors as OpenAI-style JSON."""

from __future__ import annotations

import contextlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import TunebenchError
from ..types import Completion, GenerationConfig, stable_hash
from .batcher import BatchStats, MicroBatcher
from .protocol import (
    CHAT_NEUTRAL,
    CHAT_PARAMS,
    COMPLETION_NEUTRAL,
    COMPLETION_PARAMS,
    DEFAULT_CHAT_MAX_TOKENS,
    DEFAULT_COMPLETION_MAX_TOKENS,
    APIError,
    bad_request,
    chat_logprobs_request,
    chat_response,
    check_params,
    completion_logprobs_request,
    completion_response,
    generation_config,
    parse_messages,
    parse_prompts,
)

API_KEY_ENV = "TUNEBENCH_SERVE_API_KEY"


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("", "0.0.0.0") else host


class _HTTPServer(ThreadingHTTPServer):
    # socketserver's listen backlog is 5: 32 clients connecting at once (a thread pool of openai
    # clients on a 16-core machine) had connections reset before they were accepted
    request_queue_size = 1024


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
        self.model_names = [model_name]  # a backend serving several (AdapterRouter) sets them on start
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
            self.httpd = _HTTPServer((host, port), _make_handler(self, idle_timeout_s))
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
        self.model_names = list(getattr(backend, "model_names", None) or [self.model_name])
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

    def check_model(self, body: dict[str, Any]) -> str:
        model = body.get("model")
        if model is None:
            raise bad_request(
                "missing required parameter: model", param="model", code="missing_required_parameter"
            )
        if model not in self.model_names:
            raise self.unknown_model(model, param="model")
        return str(model)

    def unknown_model(self, model: Any, param: str | None = None) -> APIError:
        return APIError(
            404,
            f"the model {str(model)[:200]!r} does not exist; this server serves "
            + ", ".join(repr(n) for n in self.model_names),
            param=param,
            code="model_not_found",
        )

    def tag(self, model: str, prompts: list[Any]) -> list[Any]:
        """Prompts as the backend takes them: `(row tag, prompt)` when it serves several models."""
        route = getattr(self.backend, "route", None)
        return [(route(model), p) for p in prompts] if route is not None else prompts

    def model_object(self, name: str | None = None) -> dict[str, Any]:
        name = name or self.model_name
        card = getattr(self.backend, "card", None)
        extra = card(name) if card is not None else {}
        return {"id": name, "object": "model", "created": self.created, "owned_by": "tunebench", **extra}

    @property
    def fingerprint(self) -> str | None:
        """`system_fingerprint` of every response: a hash of the served weights' identity (base,
        adapter, precision), so a client can tell when what answers it changed."""
        spec = getattr(self.backend, "spec", None)
        identity = getattr(spec, "identity", None)
        return f"tb-{stable_hash(identity)[:16]}" if identity else None

    def _logprobs_kind(self, top: int | None) -> str:
        """The batcher kind of a request: plain text generation, or generation with `top`
        alternatives per token (only a backend with a tokenizer and a model can give them)."""
        if top is None:
            return "text"
        if not (hasattr(self.backend, "tokenizer") and hasattr(self.backend, "model")):
            raise bad_request("this backend does not return log-probabilities", param="logprobs")
        return f"logprobs:{top}"

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
        model = self.check_model(body)
        check_params(body, CHAT_PARAMS, CHAT_NEUTRAL, "/v1/chat/completions")
        messages = parse_messages(body)
        config = generation_config(
            body, default_max_tokens=DEFAULT_CHAT_MAX_TOKENS, max_tokens_limit=self.max_tokens_limit
        )
        top = chat_logprobs_request(body)
        kind = self._logprobs_kind(top)
        render = getattr(self.backend, "render", None)
        if render is not None and hasattr(self.backend, "generate_text"):
            try:
                with self._render_lock:
                    prompt: Any = render(messages)
            except Exception as exc:  # a chat template that rejects the conversation (roles, order)
                raise bad_request(
                    f"the model's chat template rejected the messages: {exc}", param="messages"
                ) from exc
            (out,) = self._generate(self.tag(model, [prompt]), config, kind)
        else:
            (out,) = self._generate(self.tag(model, [messages]), config, "chat")
        return chat_response(model, out, logprobs=top is not None, fingerprint=self.fingerprint)

    def completions(self, body: dict[str, Any]) -> dict[str, Any]:
        model = self.check_model(body)
        check_params(body, COMPLETION_PARAMS, COMPLETION_NEUTRAL, "/v1/completions")
        if not hasattr(self.backend, "generate_text"):
            raise bad_request(
                "this backend serves chat only: use /v1/chat/completions", code="unsupported_endpoint"
            )
        prompts = parse_prompts(body, self.max_prompts_per_request)
        config = generation_config(
            body, default_max_tokens=DEFAULT_COMPLETION_MAX_TOKENS, max_tokens_limit=self.max_tokens_limit
        )
        top = completion_logprobs_request(body)
        outs = self._generate(self.tag(model, prompts), config, self._logprobs_kind(top))
        return completion_response(model, outs, logprobs=top is not None, fingerprint=self.fingerprint)


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
                raise bad_request("invalid Content-Length header", code="invalid_request") from None
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
                raise bad_request(f"request body is not valid JSON: {e}", code="invalid_json") from None
            if not isinstance(body, dict):
                raise bad_request("request body must be a JSON object", code="invalid_json")
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
                if model_id not in app.model_names:
                    raise app.unknown_model(model_id)
                return 200, app.model_object(model_id), {}
            if path == "/v1/models":
                return 200, {"object": "list", "data": [app.model_object(n) for n in app.model_names]}, {}
            body = self._read_json()
            if path == "/v1/chat/completions":
                return 200, app.chat_completions(body), {}
            return 200, app.completions(body), {}

    return Handler
