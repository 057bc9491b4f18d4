"""A fault-injecting OpenAI-compatible endpoint for tests (stdlib only, 127.0.0.1, random port).

    with FaultServer(script={"boom": status(500)}, delay_s=0.05) as srv:
        backend = OpenAIBackend(ModelSpec(backend="openai", base="m", url=srv.base_url))
        ...
        srv.requests_for("boom")  # every request received for that prompt

Behaviour is scripted per prompt (the content of the request's last user message), so that it does not
depend on the order in which concurrent requests arrive. A script value is either one `Fault`, applied
to every request for that prompt, or a list of Faults consumed one per request, after which the prompt
gets `default` (a normal reply unless said otherwise). Normal replies are deterministic:
"echo: <last user content>", with a usage block counting whitespace-separated words.

An optional `responder(body) -> str | Fault | None` scripts replies by the whole request body (for
judges, whose prompts are long): it is called (under the server's lock, so it may keep counters) for a
request the script does not cover; a string is sent as the assistant's reply content, a Fault is applied,
None gives the default.

Log-probabilities: a Fault made by `with_logprobs({token: probability, ...})` replies with the most
probable token and, when the request asks for `logprobs`, the OpenAI chat shape
`choices[0].logprobs.content[0].top_logprobs` (at most `top_logprobs` alternatives). A server made
with `reject_logprobs=True` answers any request that asks for them with a 400 naming `logprobs`
(as some OpenAI models do); a plain string reply never carries them (an endpoint without logprobs).

The server is bounded: it stops itself after `max_requests` requests or `lifetime_s` seconds, whichever
comes first, and always on leaving the `with` block.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Fault:
    """What the server does with one request. kind: ok | status | slow | malformed | raw."""

    kind: str = "ok"
    status: int = 200
    retry_after: float | None = None
    delay_s: float = 0.0
    body: bytes = b""
    content_type: str = "application/json"
    content: str | None = None  # the reply's assistant content (set from a responder's string)
    top_logprobs: tuple[tuple[str, float], ...] | None = None  # first token's alternatives (logprob)


OK = Fault("ok")


def ok() -> Fault:
    return OK


def status(code: int, retry_after: float | None = None) -> Fault:
    """An error reply with an OpenAI-style error body (and a Retry-After header when given)."""
    return Fault("status", status=code, retry_after=retry_after)


def with_logprobs(probs: Mapping[str, float]) -> Fault:
    """A normal reply whose first (and only) token is the most probable of `probs`, with these
    alternatives as its top_logprobs when the request asks for logprobs."""
    import math

    ranked = sorted(probs.items(), key=lambda kv: -kv[1])
    top = tuple((tok, math.log(p)) for tok, p in ranked if p > 0)
    return Fault("ok", content=ranked[0][0], top_logprobs=top)


def slow(seconds: float) -> Fault:
    """A normal reply sent only after `seconds` (beyond the client's timeout, the client gives up)."""
    return Fault("slow", delay_s=seconds)


def malformed(
    body: bytes = b'{"id": "x", "choices": [ {"message": ', content_type: str = "application/json"
) -> Fault:
    """A 200 whose body is not valid JSON (truncated by default)."""
    return Fault("malformed", body=body, content_type=content_type)


def raw(body: bytes, code: int = 200, content_type: str = "application/json") -> Fault:
    """Any body and status, verbatim (e.g. valid JSON that is not a chat completion)."""
    return Fault("raw", status=code, body=body, content_type=content_type)


@dataclass
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    prompt: str | None
    fault: Fault
    started: float
    finished: float | None = None


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    received: list[Received] = field(default_factory=list)
    served: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    stopping: threading.Event = field(default_factory=threading.Event)


def _last_user_content(body: Any) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return None
    for message in reversed(body["messages"]):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return None


def _logprobs_block(fault: Fault, body: Any) -> dict[str, Any] | None:
    if not isinstance(body, dict) or body.get("logprobs") is not True or fault.top_logprobs is None:
        return None
    k = int(body.get("top_logprobs") or 0)
    alts = [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in fault.top_logprobs[:k]]
    first = fault.top_logprobs[0]
    return {
        "content": [
            {"token": first[0], "logprob": first[1], "bytes": list(first[0].encode()), "top_logprobs": alts}
        ],
        "refusal": None,
    }


def _completion_body(
    model: str, prompt: str, messages: Sequence[Any], content: str | None = None
) -> dict[str, Any]:
    text = f"echo: {prompt}" if content is None else content
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages if isinstance(m, dict))
    completion_tokens = len(text.split())
    return {
        "id": "chatcmpl-fault-server",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class FaultServer:
    """A scripted OpenAI-compatible server; use as a context manager."""

    def __init__(
        self,
        script: Mapping[str, Fault | Sequence[Fault]] | None = None,
        *,
        default: Fault = OK,
        delay_s: float = 0.0,
        max_requests: int = 500,
        lifetime_s: float = 60.0,
        models: Sequence[str] = ("fault-model",),
        responder: Callable[[Any], str | Fault | None] | None = None,
        reject_logprobs: bool = False,
    ) -> None:
        self.script = dict(script or {})
        self.reject_logprobs = reject_logprobs
        self.default = default
        self.delay_s = delay_s
        self.max_requests = max_requests
        self.lifetime_s = lifetime_s
        self.models = tuple(models)
        self.responder = responder
        self._state = _State()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> FaultServer:
        handler = _make_handler(self)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self._timer = threading.Timer(self.lifetime_s, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving (idempotent); slow handlers still sleeping wake up and drop their reply."""
        state = self._state
        with state.lock:
            if state.stopping.is_set():
                return
            state.stopping.set()
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.cancel()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _stop_soon(self) -> None:
        threading.Thread(target=self.stop, daemon=True).start()

    # -- what tests look at ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[Received]:
        with self._state.lock:
            return list(self._state.received)

    def requests_for(self, prompt: str) -> list[Received]:
        return [r for r in self.requests if r.prompt == prompt]

    @property
    def max_in_flight(self) -> int:
        with self._state.lock:
            return self._state.max_in_flight

    # -- request handling ------------------------------------------------------------------------

    def _next_fault(self, prompt: str | None) -> Fault:
        """Called with the state lock held."""
        if prompt is None or prompt not in self.script:
            return self.default
        entry = self.script[prompt]
        if isinstance(entry, Fault):
            return entry
        n = self._state.served.get(prompt, 0)
        self._state.served[prompt] = n + 1
        return entry[n] if n < len(entry) else self.default


def _make_handler(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    state = server._state

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

        def _send(
            self,
            code: int,
            body: bytes,
            content_type: str = "application/json",
            headers: dict[str, str] | None = None,
        ) -> None:
            try:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, ValueError, OSError):
                self.close_connection = True  # the client gave up (timeout) or the server is closing

        def _send_json(self, code: int, obj: Any, headers: dict[str, str] | None = None) -> None:
            self._send(code, json.dumps(obj).encode(), headers=headers)

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                data = [
                    {"id": m, "object": "model", "created": 0, "owned_by": "fault-server"}
                    for m in server.models
                ]
                self._send_json(200, {"object": "list", "data": data})
            else:
                self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length) if length else b""
            try:
                body: Any = json.loads(raw_body or b"null")
            except ValueError:
                body = None
            prompt = _last_user_content(body)
            now = time.monotonic()
            with state.lock:
                over = len(state.received) >= server.max_requests
                fault = OK if over else server._next_fault(prompt)
                if (
                    not over
                    and server.responder is not None
                    and fault is server.default
                    and (prompt is None or prompt not in server.script)
                ):
                    answer = server.responder(body)
                    if isinstance(answer, Fault):
                        fault = answer
                    elif isinstance(answer, str):
                        fault = Fault("ok", content=answer)
                record = Received(
                    method="POST",
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    prompt=prompt,
                    fault=fault,
                    started=now,
                )
                state.received.append(record)
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            try:
                if over:
                    self._send_json(503, {"error": {"message": "fault server request budget spent"}})
                    self.close_connection = True
                    server._stop_soon()
                    return
                self._handle(fault, body, prompt)
            finally:
                with state.lock:
                    state.in_flight -= 1
                    record.finished = time.monotonic()

        def _handle(self, fault: Fault, body: Any, prompt: str | None) -> None:
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                return
            wait = server.delay_s + fault.delay_s
            if wait > 0 and state.stopping.wait(wait):
                self.close_connection = True  # shutting down: drop the reply
                return
            if fault.kind == "status":
                headers = {}
                if fault.retry_after is not None:
                    ra = fault.retry_after
                    headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
                error = {
                    "message": f"injected {fault.status}",
                    "type": "fault_server",
                    "code": str(fault.status),
                }
                self._send_json(fault.status, {"error": error}, headers=headers)
            elif fault.kind in ("malformed", "raw"):
                self._send(fault.status, fault.body, content_type=fault.content_type)
            elif server.reject_logprobs and isinstance(body, dict) and body.get("logprobs") is not None:
                error = {
                    "message": "logprobs is not supported with this model",
                    "type": "invalid_request_error",
                }
                self._send_json(400, {"error": {**error, "param": "logprobs", "code": None}})
            elif not isinstance(body, dict) or prompt is None:
                self._send_json(400, {"error": {"message": "expected a JSON body with a user message"}})
            else:
                model = str(body.get("model", ""))
                messages = body.get("messages", [])
                reply = _completion_body(model, prompt, messages, fault.content)
                reply["choices"][0]["logprobs"] = _logprobs_block(fault, body)
                reply["system_fingerprint"] = "fp_fault"
                self._send_json(200, reply)

    return Handler
