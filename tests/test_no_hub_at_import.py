"""No network at run time: importing bitsandbytes (through peft, trl or a 4-bit load) must not reach
the Hugging Face Hub. bitsandbytes 0.50 fetches a CPU kernel from the Hub when imported on a CPU with
avx512_bf16; tunebench imports it with the Hub switched off (harness.models.loading).

Each case runs in a fresh interpreter, online as far as huggingface_hub knows (HF_HUB_OFFLINE unset),
with HF_ENDPOINT pointing at a local HTTP server that records every request."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def hub() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        do_HEAD = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def _run(code: str, endpoint: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("HF_HUB_OFFLINE", None)
    env["HF_ENDPOINT"] = endpoint
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def _cpu_has_avx512_bf16() -> bool:
    try:
        return "avx512_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def test_bitsandbytes_import_stays_off_the_hub(hub: tuple[str, list[str]]) -> None:
    endpoint, hits = hub
    if _cpu_has_avx512_bf16():  # the control: a bare import does look the kernel up here
        bare = _run("import bitsandbytes", endpoint)
        assert bare.returncode == 0, bare.stderr
        assert hits, "bitsandbytes no longer looks a kernel up on the Hub: the guard may be obsolete"
        hits.clear()
    done = _run(
        "from harness.models.loading import import_bitsandbytes_offline as f; f(); import peft, trl, bitsandbytes",
        endpoint,
    )
    assert done.returncode == 0, done.stderr
    assert hits == []
    assert "kernels-community" not in done.stderr


def test_the_trainer_imports_stay_off_the_hub(hub: tuple[str, list[str]]) -> None:
    endpoint, hits = hub
    done = _run("import trainers.trainer", endpoint)
    assert done.returncode == 0, done.stderr
    assert hits == []
    assert "kernels-community" not in done.stderr
