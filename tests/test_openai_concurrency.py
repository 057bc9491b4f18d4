"""The openai backend under concurrency (issue 8, part 4): 500 requests at concurrency 32 against a
local endpoint that answers after 50 ms give 500 results in input order, each answering its own
prompt, and the server sees every prompt exactly once. The speed figure (concurrency 32 vs 1) is in
tests/benchmarks/bench_openai_concurrency.py; this checks correctness only."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from openai_fault_server import FaultServer  # noqa: E402

from harness.models.openai_backend import OpenAIBackend  # noqa: E402
from harness.types import GenerationConfig, ModelSpec  # noqa: E402

N = 500


def test_500_requests_at_concurrency_32_in_order_no_loss_no_duplicates() -> None:
    prompts = [f"prompt number {i:04d}" for i in range(N)]
    with FaultServer(delay_s=0.05, max_requests=N + 10, lifetime_s=120) as srv:
        backend = OpenAIBackend(ModelSpec(backend="openai", base="m", url=srv.base_url), concurrency=32)
        done: list[int] = []
        outs = backend.generate(
            [[{"role": "user", "content": p}] for p in prompts],
            GenerationConfig(max_new_tokens=8),
            done.append,
        )
        seen = Counter(r.prompt for r in srv.requests)
        peak = srv.max_in_flight
    assert len(outs) == N and sum(done) == N
    assert [o.error for o in outs] == [None] * N
    assert [o.text for o in outs] == [f"echo: {p}" for p in prompts]  # in order, each its own answer
    assert seen == Counter(prompts)  # every prompt exactly once: none lost, none duplicated
    # a connection refused under load (the stdlib server's listen backlog is 5) is retried; the
    # server never saw those attempts, so no prompt was answered twice
    assert backend.stats["errors"] == 0 and backend.stats["requests"] == N + backend.stats["retries"]
    assert 1 < peak <= 32  # requests overlapped, and never more than the bound
