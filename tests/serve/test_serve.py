"""`tunebench serve`: an OpenAI-compatible server for a local model, tested over real HTTP on
127.0.0.1 with the real `openai` client and our OpenAIBackend, on a tiny random fp32 Llama."""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import openai
import pytest

from harness.cli.main import main
from harness.errors import TunebenchError
from harness.models import parse_spec
from harness.models.hf import HFBackend
from harness.models.openai_backend import OpenAIBackend
from harness.serve import APIError, MicroBatcher, ModelServer, running_server
from harness.store import Store
from harness.types import Completion, GenerationConfig

GREEDY = GenerationConfig(max_new_tokens=12, temperature=0.0)
PROMPTS = [
    [{"role": "user", "content": "hi"}],
    [{"role": "system", "content": "You triage tickets."}, {"role": "user", "content": "refund please"}],
    [{"role": "user", "content": "My package has not arrived yet, the tracking number shows nothing."}],
    [{"role": "user", "content": "The app crashes every time I open the settings page on Android."}],
    [{"role": "user", "content": "Could you add a dark mode?"}],
    [{"role": "user", "content": "Paris is the capital of France."}],
    [{"role": "user", "content": "I cannot log in to my account"}],
    [{"role": "system", "content": "Reply in JSON."}, {"role": "user", "content": "double charge"}],
]


@pytest.fixture(autouse=True)
def _no_proxy_or_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "TUNEBENCH_SERVE_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def backend(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> HFBackend:
    spec = parse_spec(f"hf:{tiny_model}", workspace=tmp_path_factory.mktemp("serve-ws"), dtype="float32")
    return HFBackend(spec, batch_size=8, device="cpu")


@pytest.fixture(scope="module")
def server(backend: HFBackend) -> Any:
    # a generous batching window so that the concurrency test batches deterministically
    with running_server(backend, max_batch_wait_ms=250, lifetime_s=300) as handle:
        yield handle


def client_for(base_url: str, api_key: str = "EMPTY") -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=60)


def alone(backend: HFBackend, prompts: list[Any], config: GenerationConfig = GREEDY) -> list[Completion]:
    """The unbatched reference: one backend call per prompt."""
    return [backend.generate([p], config)[0] for p in prompts]


def raw_request(
    base_url: str, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    port = int(base_url.rsplit(":", 1)[1].split("/")[0])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(data) if data else None
    finally:
        conn.close()


# -- the openai client against the server --------------------------------------------------------


def test_chat_equals_backend_generate_with_usage(server: Any, backend: HFBackend) -> None:
    base_url, model = server
    expected = alone(backend, PROMPTS[:3])
    client = client_for(base_url)
    for messages, want in zip(PROMPTS[:3], expected, strict=True):
        r = client.chat.completions.create(model=model, messages=messages, temperature=0, max_tokens=12)  # type: ignore[arg-type]
        assert r.object == "chat.completion" and r.model == model and r.id.startswith("chatcmpl-")
        (choice,) = r.choices
        assert choice.message.role == "assistant" and choice.message.content == want.text
        assert choice.finish_reason == want.finish_reason
        assert r.usage is not None
        assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (
            want.prompt_tokens,
            want.completion_tokens,
        )
        assert r.usage.total_tokens == want.prompt_tokens + want.completion_tokens
        assert r.usage.prompt_tokens > 0
    assert any(c.text for c in expected)


def test_completions_equal_generate_text(server: Any, backend: HFBackend) -> None:
    base_url, model = server
    texts = ["Paris is the capital of", "The customer was charged", "def f(x): return"]
    expected = [backend.generate_text([t], GREEDY)[0] for t in texts]
    client = client_for(base_url)
    r = client.completions.create(model=model, prompt=texts, temperature=0, max_tokens=12)
    assert r.object == "text_completion"
    assert [c.text for c in sorted(r.choices, key=lambda c: c.index)] == [c.text for c in expected]
    assert r.usage is not None and r.usage.prompt_tokens == sum(c.prompt_tokens for c in expected)
    assert r.usage.completion_tokens == sum(c.completion_tokens for c in expected)
    one = client.completions.create(model=model, prompt=texts[0], temperature=0, max_tokens=12)
    assert one.choices[0].text == expected[0].text
    # stop strings are honoured like the backend does
    stop_cfg = GenerationConfig(max_new_tokens=12, temperature=0.0, stop=(" ",))
    want = backend.generate_text([texts[1]], stop_cfg)[0]
    got = client.completions.create(model=model, prompt=texts[1], temperature=0, max_tokens=12, stop=" ")
    assert got.choices[0].text == want.text and " " not in want.text


def test_concurrent_requests_are_batched_and_not_mixed(server: Any, backend: HFBackend) -> None:
    base_url, model = server
    expected = [c.text for c in alone(backend, PROMPTS)]
    assert len(set(expected)) > 1  # otherwise mixed-up answers would go unnoticed
    client = client_for(base_url)
    before = server.stats()
    results: dict[int, str | None] = {}
    barrier = threading.Barrier(len(PROMPTS))

    def ask(i: int) -> None:
        barrier.wait(timeout=30)
        r = client.chat.completions.create(model=model, messages=PROMPTS[i], temperature=0, max_tokens=12)  # type: ignore[arg-type]
        results[i] = r.choices[0].message.content

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(PROMPTS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    after = server.stats()
    assert [results.get(i) for i in range(len(PROMPTS))] == expected
    requests = after["requests"] - before["requests"]
    batches = after["batches"] - before["batches"]
    assert requests == len(PROMPTS)
    assert batches < requests, (batches, requests)
    assert after["largest_batch"] > 1


def test_openai_backend_through_server(server: Any, backend: HFBackend) -> None:
    expected = alone(backend, PROMPTS)
    remote = OpenAIBackend(parse_spec(server.openai_spec), timeout_s=60, max_retries=0)
    out = remote.generate(PROMPTS, GREEDY)
    assert [c.error for c in out] == [None] * len(PROMPTS)
    assert [c.text for c in out] == [c.text for c in expected]
    assert [c.prompt_tokens for c in out] == [c.prompt_tokens for c in expected]


def test_models_and_health(server: Any) -> None:
    base_url, model = server
    client = client_for(base_url)
    assert [m.id for m in client.models.list()] == [model]
    assert client.models.retrieve(model).id == model
    status, _, body = raw_request(base_url, "GET", "/health")
    assert status == 200 and body["status"] == "ok" and body["model"] == model and "batches" in body


def test_many_clients_connecting_at_once_are_all_served(backend: HFBackend) -> None:
    """64 clients connect while the server is not yet accepting (a busy accept loop): every
    connection is queued by the kernel and answered once the server runs. socketserver's default
    listen backlog of 5 queued 6 of them; the rest were refused or reset (seen on a 16-core
    machine with 32 concurrent openai clients)."""
    import select

    server = ModelServer(model_name="tiny")
    socks = []
    try:
        for _ in range(64):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", server.port))
            socks.append(s)
        deadline = time.monotonic() + 30
        pending = list(socks)
        while pending and time.monotonic() < deadline:
            _, done, _ = select.select([], pending, [], 1.0)
            pending = [s for s in pending if s not in done]
        assert not pending, f"{len(pending)} of 64 connections were not queued"
        assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 for s in socks)
        server.start(backend)
        for s in socks:
            s.setblocking(True)
            s.settimeout(60)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        for s in socks:
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            assert data.startswith(b"HTTP/1.") and b" 200 " in data.split(b"\r\n", 1)[0], data[:80]
    finally:
        for s in socks:
            s.close()
        server.stop()


def test_unknown_model_is_404_model_not_found(server: Any) -> None:
    base_url, _ = server
    client = client_for(base_url)
    with pytest.raises(openai.NotFoundError) as exc:
        client.chat.completions.create(model="gpt-4o", messages=PROMPTS[0], max_tokens=4)  # type: ignore[arg-type]
    assert exc.value.code == "model_not_found" and "gpt-4o" in exc.value.message
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="nope", prompt="x", max_tokens=4)
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_bad_requests_are_400_with_the_reason(server: Any) -> None:
    base_url, model = server
    client = client_for(base_url)
    msgs: Any = PROMPTS[0]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"temperature": 5}, "temperature"),
        ({"n": 2}, "n=2"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"stream": True}, "stream"),
        ({"top_logprobs": 5}, "logprobs"),  # top_logprobs needs logprobs: true
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
        ({"extra_body": {"frobnicate": 1}}, "frobnicate"),
    ]
    for kwargs, needle in cases:
        with pytest.raises(openai.BadRequestError) as exc:
            client.chat.completions.create(model=model, messages=msgs, **kwargs)
        assert needle in exc.value.message, (kwargs, exc.value.message)
    with pytest.raises(openai.BadRequestError, match="messages"):
        client.chat.completions.create(model=model, messages=[])
    with pytest.raises(openai.BadRequestError, match="role"):
        client.chat.completions.create(model=model, messages=[{"role": "tool", "content": "x"}])  # type: ignore[list-item]
    with pytest.raises(openai.BadRequestError, match="echo"):
        client.completions.create(model=model, prompt="x", echo=True)
    with pytest.raises(openai.BadRequestError, match="token-id"):
        client.completions.create(model=model, prompt=[1, 2, 3])

    status, _, body = raw_request(base_url, "POST", "/v1/chat/completions", b"{not json")
    assert status == 400 and body["error"]["code"] == "invalid_json"
    assert set(body["error"]) == {"message", "type", "param", "code"}
    status, _, body = raw_request(
        base_url, "POST", "/v1/chat/completions", json.dumps({"messages": msgs}).encode()
    )
    assert status == 400 and "model" in body["error"]["message"]
    status, headers, body = raw_request(base_url, "GET", "/v1/chat/completions")
    assert status == 405 and headers["allow"] == "POST"
    status, _, body = raw_request(base_url, "GET", "/v2/engines")
    assert status == 404 and body["error"]["code"] == "unknown_url"
    status, _, body = raw_request(base_url, "POST", "/v1/completions", b"", {"Content-Length": str(64 << 20)})
    assert status == 413 and body["error"]["code"] == "request_too_large"


def test_api_key_is_enforced(backend: HFBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    with running_server(backend, model_name="tiny", api_key="sekret", lifetime_s=60) as (base_url, model):
        assert model == "tiny"
        with pytest.raises(openai.AuthenticationError) as exc:
            client_for(base_url, "wrong").models.list()
        assert exc.value.status_code == 401 and exc.value.code == "invalid_api_key"
        status, _, _ = raw_request(base_url, "POST", "/v1/chat/completions", b"{}")
        assert status == 401
        assert [m.id for m in client_for(base_url, "sekret").models.list()] == ["tiny"]
        assert raw_request(base_url, "GET", "/health")[0] == 200  # health checks need no key
        monkeypatch.setenv("OPENAI_API_KEY", "sekret")
        (c,) = OpenAIBackend(parse_spec(f"openai:tiny@{base_url}"), max_retries=0).generate(
            PROMPTS[:1], GREEDY
        )
        assert c.error is None


# -- end to end: tunebench run through the server equals the hf backend -------------------------


def test_tunebench_run_through_server_matches_hf(
    server: Any, tiny_model: Path, tiny_suite: Path, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--limit", "6", "--no-progress"]
    assert main(["run", str(tiny_suite), "--model", f"hf:{tiny_model}", "--dtype", "float32", *common]) == 0
    assert main(["run", str(tiny_suite), "--model", server.openai_spec, *common]) == 0
    capsys.readouterr()
    store = Store(workspace=workspace)
    runs = {r.model.backend: r for r in store.list_runs()}
    assert set(runs) == {"hf", "openai"}
    hf_run, api_run = runs["hf"], runs["openai"]
    assert api_run.model.url == server.base_url
    assert {k: m.value for k, m in api_run.metrics.items()} == {k: m.value for k, m in hf_run.metrics.items()}
    texts = {r.sample_id: r.completion.text for r in store.iter_results(hf_run.id)}
    api_texts = {r.sample_id: r.completion.text for r in store.iter_results(api_run.id)}
    assert api_texts == texts and len(texts) == 6
    assert all(r.completion.error is None for r in store.iter_results(api_run.id))


# -- adapters ------------------------------------------------------------------------------------


def make_adapter(tiny_model: Path, out: Path) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.5)  # lora_B starts at zero: perturb it so the adapter changes outputs
    model.save_pretrained(out)
    (out / "tunebench_adapter.json").write_text(
        json.dumps({"quantization": "none", "base_precision": "float32"})
    )
    return out


def test_adapter_spec_serves_adapter_outputs(tiny_model: Path, backend: HFBackend, tmp_path: Path) -> None:
    adapter = make_adapter(tiny_model, tmp_path / "lora")
    spec_text = f"hf:{tiny_model}+lora:{adapter}"
    tuned = HFBackend(parse_spec(spec_text, workspace=tmp_path, dtype="float32"), device="cpu")
    want = [c.text for c in alone(tuned, PROMPTS[:4])]
    base = [c.text for c in alone(backend, PROMPTS[:4])]
    assert want != base
    with running_server(spec_text, workspace=tmp_path, dtype="float32", lifetime_s=60) as (base_url, model):
        assert model == spec_text
        client = client_for(base_url)
        got = [
            client.chat.completions.create(model=model, messages=m, temperature=0, max_tokens=12)  # type: ignore[arg-type]
            .choices[0]
            .message.content
            for m in PROMPTS[:4]
        ]
    assert got == want


# -- the batcher on its own (no model) ------------------------------------------------------------


class FakeBackend:
    """Records each batch; 'boom' in a prompt makes the whole call fail."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def generate_text(self, texts: list[str], config: GenerationConfig) -> list[Completion]:
        self.calls.append(list(texts))
        if any("boom" in t for t in texts):
            raise RuntimeError("boom")
        time.sleep(0.02)
        return [Completion(text=f"{t}/{config.max_new_tokens}") for t in texts]


def test_batcher_groups_equal_parameters_and_isolates_failures() -> None:
    fake = FakeBackend()
    batcher = MicroBatcher(fake, max_batch_size=4, max_wait_s=0.2)
    try:
        a, b = GenerationConfig(max_new_tokens=1), GenerationConfig(max_new_tokens=2)
        futures = [batcher.submit([f"p{i}"], a if i % 2 else b) for i in range(6)]
        outs = [f.result(timeout=10)[0].text for f in futures]
        assert outs == [f"p{i}/{1 if i % 2 else 2}" for i in range(6)]
        assert sorted(sorted(c) for c in fake.calls) == [["p0", "p2", "p4"], ["p1", "p3", "p5"]]
        assert batcher.stats.batches == 2 and batcher.stats.requests == 6

        fake.calls.clear()
        good, bad = batcher.submit(["ok"], a), batcher.submit(["boom"], a)
        assert good.result(timeout=10)[0].text == "ok/1"
        with pytest.raises(RuntimeError, match="boom"):
            bad.result(timeout=10)
        assert len(fake.calls) == 3  # the failed batch, then each request alone

        big = batcher.submit([f"q{i}" for i in range(6)], a)  # more than a batch: runs alone
        assert len(big.result(timeout=10)) == 6
    finally:
        last = batcher.submit(["last"], a)
        batcher.close(timeout=10)
    assert last.result(timeout=0)[0].text == "last/1"  # queued work finishes before the worker stops
    with pytest.raises(APIError) as exc:
        batcher.submit(["late"], a)
    assert exc.value.status == 503


def test_busy_port_fails_before_loading_anything() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(TunebenchError, match="cannot listen"):
            ModelServer(model_name="m", port=port)
        assert main(["serve", "hf:/no/such/model", "--port", str(port)]) == 1


# -- the command: a real subprocess, SIGTERM finishes in-flight work ------------------------------


def test_cli_serve_subprocess_answers_and_exits_0_on_sigterm(tiny_model: Path, tmp_path: Path) -> None:
    exe = shutil.which("tunebench") or str(Path(sys.executable).parent / "tunebench")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(HF_HUB_OFFLINE="1", TUNEBENCH_HOME=str(tmp_path / "ws"), TUNEBENCH_THREADS="1")
    cmd = [
        exe,
        "serve",
        f"hf:{tiny_model}",
        "--port",
        "0",
        "--model-name",
        "tiny",
        "--max-batch-wait-ms",
        "400",
    ]
    stderr = (tmp_path / "stderr.log").open("w")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or []], daemon=True)
    reader.start()
    try:
        deadline, base_url = time.monotonic() + 90, None
        while base_url is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                assert proc.poll() is None, (tmp_path / "stderr.log").read_text()
                continue
            m = re.search(r"--model openai:tiny@(http://127\.0\.0\.1:\d+/v1)", line)
            base_url = m.group(1) if m else None
        assert base_url, "server did not print its URL"
        status, _, body = raw_request(base_url, "GET", "/v1/models")
        assert status == 200 and [m["id"] for m in body["data"]] == ["tiny"]

        answer: dict[str, Any] = {}
        payload = {"model": "tiny", "messages": PROMPTS[1], "temperature": 0, "max_tokens": 8}

        def ask() -> None:
            answer["reply"] = raw_request(
                base_url, "POST", "/v1/chat/completions", json.dumps(payload).encode()
            )

        asker = threading.Thread(target=ask)
        asker.start()
        for _ in range(200):  # wait until the chat request is in flight (health counts itself too)
            if raw_request(base_url, "GET", "/health")[2]["in_flight"] >= 2:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        asker.join(timeout=30)
        assert proc.wait(timeout=30) == 0
        status, _, body = answer["reply"]
        assert status == 200 and body["choices"][0]["message"]["role"] == "assistant"
        reader.join(timeout=5)
        rest = []
        while not lines.empty():
            rest.append(lines.get())
        assert any(line.startswith("stopped:") for line in rest), rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        stderr.close()
