"""Benchmark: the openai backend at concurrency 32 vs 1 against a local endpoint that answers each
request after 50 ms (issue 8, part 4).

The endpoint is tests/openai_fault_server.py (stdlib ThreadingHTTPServer on 127.0.0.1, `delay_s`),
run in its own process as a real endpoint is (`--same-process` shares the client's GIL), with
TCP_NODELAY (`_no_nagle_handler`) and a listen backlog of 128 (`_real_backlog`). It records every request: the script checks that each prompt
was answered once and that the results come back in order.
Sequential uses fewer requests (default 100) and the rates (requests/s) are compared. Target: the
concurrency-32 rate is at least 20x the sequential one, with zero lost or duplicated results. Not a
test: numbers go in tests/benchmarks/README.md.

    python tests/benchmarks/bench_openai_concurrency.py --n 500 --n-seq 100 --concurrency 32
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import openai_fault_server  # noqa: E402
from openai_fault_server import FaultServer  # noqa: E402

_make_handler = openai_fault_server._make_handler


def _no_nagle_handler(server: FaultServer) -> type:
    """The fault server's handler with TCP_NODELAY: its header and body writes are separate small
    writes, so with Nagle + delayed ACK every keep-alive reply stalls about 40 ms on loopback and the
    endpoint would answer after ~90 ms instead of 50."""
    handler = _make_handler(server)
    handler.disable_nagle_algorithm = True
    return handler


def _real_backlog() -> None:
    """socketserver listens with a backlog of 5: 32 connections opened at once overflow it, and the
    refused ones are retried after a backoff (up to 0.5 s). Real endpoints (uvicorn: 2048) do not."""
    from http.server import ThreadingHTTPServer

    ThreadingHTTPServer.request_queue_size = 128


def _serve(conn: Any, n: int, delay: float) -> None:
    """Child process: run the fault server until told to stop, then send back every prompt it saw."""
    with FaultServer(delay_s=delay, max_requests=n + 10, lifetime_s=600) as srv:
        conn.send(srv.base_url)
        conn.recv()
        conn.send(([r.prompt for r in srv.requests], srv.max_in_flight))


def measure(n: int, concurrency: int, delay: float, same_process: bool = False) -> dict[str, float]:
    from harness.models.openai_backend import OpenAIBackend
    from harness.types import GenerationConfig, ModelSpec

    prompts = [f"c{concurrency} prompt {i:05d}" for i in range(n)]
    if same_process:
        srv = FaultServer(delay_s=delay, max_requests=n + 10, lifetime_s=600).__enter__()
        url = srv.base_url
    else:  # the endpoint in its own process, as a real server is (no shared GIL with the client)
        ctx = mp.get_context("fork")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(child, n, delay), daemon=True)
        proc.start()
        url = parent.recv()
    backend = OpenAIBackend(ModelSpec(backend="openai", base="m", url=url), concurrency=concurrency)
    t0 = time.perf_counter()
    outs = backend.generate(
        [[{"role": "user", "content": p}] for p in prompts], GenerationConfig(max_new_tokens=8)
    )
    dt = time.perf_counter() - t0
    if same_process:
        got, peak = [r.prompt for r in srv.requests], srv.max_in_flight
        srv.stop()
    else:
        parent.send("stop")
        got, peak = parent.recv()
        proc.join(10)
    seen = Counter(got)
    ok = sum(o.error is None and o.text == f"echo: {p}" for o, p in zip(outs, prompts, strict=True))
    lost = sum(1 for p in prompts if seen[p] == 0)
    dup = sum(c - 1 for c in seen.values() if c > 1)
    print(
        f"concurrency {concurrency:>2}: {n} requests in {dt:6.2f}s = {n / dt:7.1f} req/s; "
        f"correct in order {ok}/{n}, lost {lost}, duplicated {dup}, peak in flight {peak}, "
        f"client retries {backend.stats['retries']}",
        flush=True,
    )
    return {
        "n": n,
        "wall_s": dt,
        "rate": n / dt,
        "correct": ok,
        "lost": lost,
        "duplicated": dup,
        "peak": peak,
        "retries": backend.stats["retries"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500, help="requests at the high concurrency")
    ap.add_argument("--n-seq", type=int, default=100, help="requests at concurrency 1")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--delay", type=float, default=0.05, help="server delay per request (s)")
    ap.add_argument(
        "--nagle", action="store_true", help="keep the fault server's Nagle stalls (~40 ms per reply)"
    )
    ap.add_argument("--small-backlog", action="store_true", help="keep socketserver's listen backlog of 5")
    ap.add_argument(
        "--same-process", action="store_true", help="run the server in this process (shares the GIL)"
    )
    args = ap.parse_args()
    if not args.nagle:
        openai_fault_server._make_handler = _no_nagle_handler
    if not args.small_backlog:
        _real_backlog()
    load = os.getloadavg()[0]
    measure(20, args.concurrency, args.delay, args.same_process)  # warm-up (imports, first connections)
    seq = measure(args.n_seq, 1, args.delay, args.same_process)
    par = measure(args.n, args.concurrency, args.delay, args.same_process)
    ratio = par["rate"] / seq["rate"]
    print(
        f"concurrency {args.concurrency} / 1: {ratio:.1f}x requests/s (target >= 20x; ideal {args.concurrency}x)"
    )
    print(
        json.dumps(
            {
                "machine": platform.node(),
                "cpus": os.cpu_count(),
                "load": load,
                "date": time.strftime("%Y-%m-%d"),
                "sequential": seq,
                "concurrent": par,
                "ratio": ratio,
            }
        )
    )


if __name__ == "__main__":
    main()
