"""glibc malloc tuning (harness/allocator.py): freed tensor memory is reused instead of faulting in
new pages, the setting can be turned off, and the CLI applies it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.allocator import glibc

# Allocates, fills and frees a 64 MB tensor 30 times; prints whether tuning was applied and the
# minor page faults of the last 10 rounds (the first rounds may grow the heap).
PROBE = """
import resource, sys, torch
from harness.allocator import tune_malloc
torch.set_num_threads(1)
tuned = tune_malloc() if sys.argv[1] == "tuned" else False
faults = []
for _ in range(30):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    x = torch.empty(16 << 20)
    x.fill_(1.0)
    del x
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(tuned, sum(faults[-10:]))
"""


def _probe(mode: str, env: dict[str, str] | None = None) -> tuple[bool, int]:
    import os

    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    ).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not glibc(), reason="mallopt is glibc's")
def test_tuned_process_reuses_freed_tensor_memory() -> None:
    plain_applied, plain_faults = _probe("plain")
    tuned_applied, tuned_faults = _probe("tuned")
    assert not plain_applied and tuned_applied
    # glibc's defaults map a fresh 64 MB (16,384 pages) every round; tuned, freed memory is reused
    assert plain_faults >= 10 * 16_000
    assert tuned_faults < plain_faults / 10


@pytest.mark.skipif(not glibc(), reason="mallopt is glibc's")
def test_tunebench_malloc_default_leaves_glibc_alone() -> None:
    applied, faults = _probe("tuned", {"TUNEBENCH_MALLOC": "default"})
    assert not applied and faults >= 10 * 16_000


def test_cli_tunes_malloc(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import harness.cli.main as cli

    calls: list[int] = []
    monkeypatch.setattr(cli, "tune_malloc", lambda: calls.append(1) or True)
    assert cli.main([]) == 2  # no command: help
    assert calls == [1]
