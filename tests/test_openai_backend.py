"""OpenAIBackend against a real local HTTP server, through the real `openai` client."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from typing import Any

import openai
import pytest
from openai_fault_server import FaultServer, malformed, raw, slow, status

from harness.models.base import ModelBackend, backend_registry
from harness.models.openai_backend import OpenAIBackend
from harness.types import GenerationConfig, ModelSpec

MODEL = "fault-model"
CONFIG = GenerationConfig(max_new_tokens=16, temperature=0.0, top_p=0.9, stop=("\n\n",), seed=7)


@pytest.fixture(autouse=True)
def _no_proxy_or_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def spec_for(srv: FaultServer) -> ModelSpec:
    return ModelSpec(backend="openai", base=MODEL, url=srv.base_url, raw=f"openai:{MODEL}@{srv.base_url}")


def make_backend(srv: FaultServer, **kw: Any) -> OpenAIBackend:
    kw.setdefault("timeout_s", 5.0)
    kw.setdefault("backoff_base_s", 0.01)
    kw.setdefault("backoff_max_s", 0.05)
    return OpenAIBackend(spec_for(srv), **kw)


def user(*texts: str) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": t}] for t in texts]


def test_normal_batch_order_usage_and_request_fields() -> None:
    texts = [f"prompt number {i}" for i in range(12)]
    prompts = user(*texts)
    prompts[3] = [{"role": "system", "content": "be brief"}, {"role": "user", "content": texts[3]}]
    ticks: list[int] = []
    with FaultServer() as srv:
        backend = make_backend(srv)
        out = backend.generate(prompts, CONFIG, progress=ticks.append)
        received = srv.requests
    assert [c.text for c in out] == [f"echo: {t}" for t in texts]
    assert all(c.error is None and c.finish_reason == "stop" for c in out)
    assert out[0].prompt_tokens == 3 and out[0].completion_tokens == 4
    assert out[3].prompt_tokens == 5  # "be brief" + 3 words
    assert all(isinstance(c.raw, dict) and c.raw["choices"][0]["message"]["content"] == c.text for c in out)
    assert all(c.latency_s > 0 for c in out)
    assert ticks == [1] * 12
    assert len(received) == 12
    body = received[0].body
    assert body["model"] == MODEL
    assert body["temperature"] == 0.0 and body["top_p"] == 0.9
    assert body["max_tokens"] == 16 and body["seed"] == 7 and body["stop"] == ["\n\n"]
    assert backend.stats == {"requests": 12, "retries": 0, "errors": 0}


def test_429_with_retry_after_is_honoured() -> None:
    with FaultServer({"rl": [status(429, retry_after=1)]}) as srv:
        backend = make_backend(srv, backoff_max_s=5.0)  # the cap must not hide Retry-After
        (c,) = backend.generate(user("rl"), CONFIG)
        reqs = srv.requests_for("rl")
    assert c.error is None and c.text == "echo: rl"
    assert len(reqs) == 2
    gap = reqs[1].started - reqs[0].started
    assert 0.9 <= gap < 3.0, gap
    assert backend.stats["retries"] == 1


def test_retry_after_is_capped_at_backoff_max() -> None:
    with FaultServer({"rl": [status(429, retry_after=30)]}) as srv:
        backend = make_backend(srv, backoff_max_s=0.1)
        (c,) = backend.generate(user("rl"), CONFIG)
        reqs = srv.requests_for("rl")
    assert c.error is None
    assert reqs[1].started - reqs[0].started < 2.0


def test_500_twice_then_success() -> None:
    with FaultServer({"flaky": [status(500), status(503)]}) as srv:
        backend = make_backend(srv)
        (c,) = backend.generate(user("flaky"), CONFIG)
        assert len(srv.requests_for("flaky")) == 3
    assert c.error is None and c.text == "echo: flaky"
    assert backend.stats == {"requests": 3, "retries": 2, "errors": 0}


def test_permanent_500_gives_error_after_budget_and_spares_other_prompts() -> None:
    with FaultServer({"boom": status(500)}) as srv:
        backend = make_backend(srv, max_retries=3)
        out = backend.generate(user("a", "boom", "b"), CONFIG)
        assert len(srv.requests_for("boom")) == 4
        assert len(srv.requests_for("a")) == 1 and len(srv.requests_for("b")) == 1
    assert [c.text for c in out] == ["echo: a", "", "echo: b"]
    bad = out[1]
    assert bad.finish_reason == "error" and bad.error is not None
    assert bad.error.startswith("http_500: ") and "after 4 attempts" in bad.error
    assert out[0].error is None and out[2].error is None
    assert backend.stats == {"requests": 6, "retries": 3, "errors": 1}


def test_slow_reply_times_out_is_retried_then_errors() -> None:
    with FaultServer({"stuck": slow(2.0), "once": [slow(2.0)]}) as srv:
        backend = make_backend(srv, timeout_s=0.3, max_retries=1)
        stuck, once = backend.generate(user("stuck", "once"), CONFIG)
        assert len(srv.requests_for("stuck")) == 2
        assert len(srv.requests_for("once")) == 2
    assert stuck.finish_reason == "error" and stuck.error is not None and stuck.error.startswith("timeout: ")
    assert once.error is None and once.text == "echo: once"
    assert once.latency_s < 0.3  # the successful attempt only


@pytest.mark.parametrize(
    "fault",
    [
        malformed(),  # truncated JSON, application/json
        malformed(b"<html>oops</html>", content_type="text/html"),  # not JSON at all
        raw(b'{"object": "chat.completion", "model": "m"}'),  # JSON, but no choices
        raw(b'{"choices": [{"message": {"role": "assistant", "content": 5}}]}'),  # wrong content type
    ],
    ids=["truncated", "html", "no-choices", "bad-content"],
)
def test_malformed_body_gives_error_without_retry(fault: Any) -> None:
    with FaultServer({"bad": fault}) as srv:
        backend = make_backend(srv)
        bad, good = backend.generate(user("bad", "good"), CONFIG)
        assert len(srv.requests_for("bad")) == 1
    assert bad.finish_reason == "error" and bad.text == ""
    assert bad.error is not None and bad.error.startswith("bad_response: ")
    assert good.error is None


@pytest.mark.parametrize("code", [400, 401, 404, 422])
def test_non_retryable_4xx_fails_after_one_attempt(code: int) -> None:
    with FaultServer({"nope": status(code)}) as srv:
        backend = make_backend(srv)
        (c,) = backend.generate(user("nope"), CONFIG)
        assert len(srv.requests_for("nope")) == 1
    assert c.error is not None and c.error.startswith(f"http_{code}: ")
    assert c.finish_reason == "error"
    assert backend.stats == {"requests": 1, "retries": 0, "errors": 1}


def test_connection_refused_is_retried_then_errors() -> None:
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = ModelSpec(backend="openai", base=MODEL, url=f"http://127.0.0.1:{port}/v1")
    backend = OpenAIBackend(spec, max_retries=2, backoff_base_s=0.01, timeout_s=2.0)
    (c,) = backend.generate(user("x"), CONFIG)
    assert c.error is not None and c.error.startswith("connection_error: ")
    assert backend.stats == {"requests": 3, "retries": 2, "errors": 1}


def test_concurrency_is_bounded_and_order_preserved() -> None:
    texts = [f"c{i}" for i in range(20)]
    # The first prompts answer last, so completion order differs from input order.
    with FaultServer({"c0": slow(0.3), "c1": slow(0.2)}, delay_s=0.05) as srv:
        out = make_backend(srv, concurrency=4).generate(user(*texts), CONFIG)
        assert 2 <= srv.max_in_flight <= 4
    assert [c.text for c in out] == [f"echo: {t}" for t in texts]

    with FaultServer(delay_s=0.05) as srv:
        out = make_backend(srv, concurrency=8).generate(user(*(f"d{i}" for i in range(40))), CONFIG)
        assert 2 <= srv.max_in_flight <= 8
        assert len(srv.requests) == 40
    assert all(c.error is None for c in out)


def test_api_key_from_env_is_sent_but_never_recorded(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-tunebench-test-7f3a9c"
    monkeypatch.setenv("TB_TEST_KEY", secret)
    caplog.set_level(logging.DEBUG)
    with FaultServer({"boom": status(500)}) as srv:
        backend = make_backend(srv, api_key_env="TB_TEST_KEY", max_retries=1)
        out = backend.generate(user("hello", "boom"), CONFIG)
        auth = {r.headers.get("authorization") for r in srv.requests}
    assert auth == {f"Bearer {secret}"}
    for c in out:
        assert secret not in c.model_dump_json()
    assert out[0].raw is not None and secret not in json.dumps(out[0].raw)
    assert secret not in backend.spec.model_dump_json()
    assert secret not in repr(backend) and secret not in repr(vars(backend))
    assert secret not in caplog.text


def test_placeholder_key_when_env_unset() -> None:
    with FaultServer() as srv:
        make_backend(srv).generate(user("x"), CONFIG)
        assert srv.requests[0].headers.get("authorization") == "Bearer EMPTY"


def test_generate_inside_running_event_loop() -> None:
    with FaultServer() as srv:
        backend = make_backend(srv)

        async def caller() -> list[str]:
            return [c.text for c in backend.generate(user("in", "loop"), CONFIG)]

        assert asyncio.run(caller()) == ["echo: in", "echo: loop"]
        # and again outside a loop, with the same backend
        assert [c.text for c in backend.generate(user("out"), CONFIG)] == ["echo: out"]


def test_empty_batch_and_registry() -> None:
    spec = ModelSpec(backend="openai", base=MODEL, url="http://127.0.0.1:9/v1")
    backend = backend_registry.get("openai")(spec)
    assert isinstance(backend, OpenAIBackend) and isinstance(backend, ModelBackend)
    assert backend.generate([], CONFIG) == []
    assert backend.stats["requests"] == 0


def test_fault_server_lists_models() -> None:
    with FaultServer(models=("m1", "m2")) as srv:
        client = openai.OpenAI(api_key="EMPTY", base_url=srv.base_url, max_retries=0, timeout=5.0)
        try:
            assert [m.id for m in client.models.list()] == ["m1", "m2"]
        finally:
            client.close()
