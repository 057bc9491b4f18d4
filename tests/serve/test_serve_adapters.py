"""`tunebench serve BASE --adapter NAME=PATH ...` (issue 15 part 3): one base, three random LoRA
adapters served by name on a tiny fp32 Llama, over real HTTP with the real `openai` client. Mixed
requests share one batch and every answer equals a separate load of its adapter."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import openai
import pytest
from lora_builders import make_adapters

from harness import load_suite
from harness.errors import InputError
from harness.models import parse_spec
from harness.models.hf import HFBackend
from harness.runner import run_suite
from harness.serve import running_server
from harness.serve.adapters import load_router, parse_adapter_args
from harness.store import Store
from harness.types import GenerationConfig

GREEDY = GenerationConfig(max_new_tokens=10, temperature=0.0)
PROMPTS = [
    [{"role": "user", "content": "I was charged twice for my subscription."}],
    [
        {"role": "system", "content": "Reply in JSON."},
        {"role": "user", "content": "My parcel has not arrived."},
    ],
]
MODELS = ["tiny", "a", "b", "c"]


@pytest.fixture(autouse=True)
def _no_proxy_or_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "TUNEBENCH_SERVE_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def adapters(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_adapters(tiny_model, tmp_path_factory.mktemp("serve-adapters"))


@pytest.fixture(scope="module")
def separate(
    tiny_model: Path, adapters: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, HFBackend]:
    """Each served model loaded on its own (the base as "tiny")."""
    ws = tmp_path_factory.mktemp("separate-ws")
    raw = {"tiny": f"hf:{tiny_model}", **{n: f"hf:{tiny_model}+lora:{p}" for n, p in adapters.items()}}
    return {
        n: HFBackend(parse_spec(s, workspace=ws, dtype="float32"), batch_size=1, device="cpu")
        for n, s in raw.items()
    }


@pytest.fixture(scope="module")
def server(tiny_model: Path, adapters: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Any:
    ws = tmp_path_factory.mktemp("multi-serve-ws")
    # a generous batching window so that the mixed batch forms deterministically
    with running_server(
        f"hf:{tiny_model}",
        model_name="tiny",
        adapters=adapters,
        workspace=ws,
        dtype="float32",
        max_batch_wait_ms=5000,  # flushes at once when 8 requests are in; 5 s leaves a busy machine room
        lifetime_s=300,
    ) as handle:
        yield handle


def client_for(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="EMPTY", max_retries=0, timeout=60)


def expected(separate: dict[str, HFBackend], model: str, prompt: Any) -> str:
    return separate[model].generate([prompt], GREEDY)[0].text


def test_models_lists_the_base_and_every_adapter(server: Any, adapters: dict[str, Path]) -> None:
    client = client_for(server.base_url)
    listed = list(client.models.list())
    assert [m.id for m in listed] == MODELS
    by_id = {m.id: m.model_dump() for m in listed}
    assert "parent" not in by_id["tiny"]
    assert by_id["b"]["parent"] == "tiny" and by_id["b"]["root"] == str(adapters["b"])
    assert client.models.retrieve("c").id == "c"
    assert server.server.model_names == MODELS


def test_unknown_model_is_404_naming_the_known_models(server: Any) -> None:
    client = client_for(server.base_url)
    with pytest.raises(openai.NotFoundError) as exc:
        client.chat.completions.create(model="d", messages=PROMPTS[0], max_tokens=4)  # type: ignore[arg-type]
    assert exc.value.code == "model_not_found"
    assert all(repr(m) in exc.value.message for m in ["d", *MODELS]), exc.value.message
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="__base__", prompt="x", max_tokens=4)
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("d")


def test_mixed_adapter_requests_share_one_batch(server: Any, separate: dict[str, HFBackend]) -> None:
    jobs = [(m, p) for p in PROMPTS for m in MODELS]  # 8 requests = the server's batch size
    want = [expected(separate, m, p) for m, p in jobs]
    # the four models answer differently, so mixed-up answers would be noticed
    assert len({tuple(want[i :: len(MODELS)]) for i in range(len(MODELS))}) == len(MODELS)
    client = client_for(server.base_url)
    before = server.stats()
    got: dict[int, tuple[str | None, str]] = {}
    barrier = threading.Barrier(len(jobs))

    def ask(i: int) -> None:
        model, messages = jobs[i]
        barrier.wait(timeout=30)
        r = client.chat.completions.create(model=model, messages=messages, temperature=0, max_tokens=10)  # type: ignore[arg-type]
        got[i] = (r.choices[0].message.content, r.model)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    after = server.stats()
    assert [got.get(i) for i in range(len(jobs))] == [(w, m) for w, (m, _) in zip(want, jobs, strict=True)]
    assert after["requests"] - before["requests"] == len(jobs)
    # requests for four models were answered together: fewer generate calls than requests (one,
    # on an idle machine; a busy one may split the batch, so this does not assert the exact count)
    assert after["batches"] - before["batches"] < len(jobs)
    assert after["largest_batch"] >= 2


def test_completions_route_by_model(server: Any, separate: dict[str, HFBackend]) -> None:
    client = client_for(server.base_url)
    texts = ["Paris is the capital of", "The customer was charged"]
    for model in ("b", "tiny"):
        r = client.completions.create(model=model, prompt=texts, temperature=0, max_tokens=10)
        assert r.model == model
        want = [separate[model].generate_text([t], GREEDY)[0].text for t in texts]
        assert [c.text for c in sorted(r.choices, key=lambda c: c.index)] == want


def test_openai_specs_of_one_server_compare_candidates(
    server: Any, separate: dict[str, HFBackend], tiny_suite: Path, workspace: Path
) -> None:
    suite = load_suite(tiny_suite)
    store = Store(f"sqlite:///{workspace}/side-by-side.db")
    for model in ("a", "c"):
        spec = parse_spec(f"openai:{model}@{server.base_url}")
        record = run_suite(suite, spec, store=store, split="test", limit=4, progress=False)
        assert record.status == "completed" and record.usage["errors"] == 0
        results = list(store.iter_results(record.id))
        want = separate[model].generate([r.prompt for r in results], suite.generation)
        assert [r.completion.text for r in results] == [c.text for c in want], model


def test_adapter_arguments_are_checked(tiny_model: Path, adapters: dict[str, Path], tmp_path: Path) -> None:
    assert parse_adapter_args(["a=/x", " b = /y "]) == {"a": "/x", "b": "/y"}
    for bad in (["a"], ["=/x"], ["a="], ["a=/x", "a=/y"]):
        with pytest.raises(InputError):
            parse_adapter_args(bad)
    with pytest.raises(InputError, match="base model's served name"):
        load_router(f"hf:{tiny_model}", {"tiny": adapters["a"]}, base_name="tiny", workspace=tmp_path)
    with pytest.raises(InputError, match="bare base"):
        load_router(
            f"hf:{tiny_model}+lora:{adapters['a']}", {"b": adapters["b"]}, base_name="x", workspace=tmp_path
        )
    with pytest.raises(InputError, match="reserved"):
        load_router(f"hf:{tiny_model}", {"__base__": adapters["a"]}, base_name="x", workspace=tmp_path)


def test_cli_serves_adapters_by_name(
    tiny_model: Path, adapters: dict[str, Path], separate: dict[str, HFBackend], tmp_path: Path
) -> None:
    exe = shutil.which("tunebench") or str(Path(sys.executable).parent / "tunebench")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(HF_HUB_OFFLINE="1", TUNEBENCH_HOME=str(tmp_path / "ws"), TUNEBENCH_THREADS="1")
    cmd = [exe, "serve", f"hf:{tiny_model}", "--model-name", "tiny", "--port", "0", "--dtype", "float32"]
    for name in ("a", "b"):
        cmd += ["--adapter", f"{name}={adapters[name]}"]
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
            m = re.search(r"--model openai:b@(http://127\.0\.0\.1:\d+/v1)", line)
            base_url = m.group(1) if m else None
        assert base_url, "server did not print the adapter's spec"
        client = client_for(base_url)
        assert [m.id for m in client.models.list()] == ["tiny", "a", "b"]
        r = client.chat.completions.create(model="b", messages=PROMPTS[1], temperature=0, max_tokens=10)  # type: ignore[arg-type]
        assert r.choices[0].message.content == expected(separate, "b", PROMPTS[1])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        stderr.close()
