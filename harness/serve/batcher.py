"""Micro-batching: one worker thread owns the model. Request threads enqueue their prompts and wait
on a Future; the worker takes the oldest waiting request, then gathers the requests with the same
generation parameters that arrive within `max_wait_s` (up to `max_batch_size` prompts) and runs
them as one batch."""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ..types import Completion, GenerationConfig
from .protocol import APIError


@dataclass
class _Job:
    prompts: list[Any]  # rendered texts (kind "text" or "logprobs:K") or message lists (kind "chat")
    config: GenerationConfig
    kind: str
    future: Future[list[Completion]] = field(default_factory=Future)

    @property
    def key(self) -> tuple[str, GenerationConfig]:
        return (self.kind, self.config)


_STOP = object()


@dataclass
class BatchStats:
    """What the worker has done: `batches` counts backend calls, `requests` the jobs they served."""

    batches: int = 0
    requests: int = 0
    prompts: int = 0
    largest_batch: int = 0
    failed_batches: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class MicroBatcher:
    """One worker thread owns the backend and runs requests with equal generation parameters that
    arrive within `max_wait_s` of each other as one batch of at most `max_batch_size` prompts.

    A request with more prompts than `max_batch_size` runs alone (the backend splits it). When a
    batch fails, its requests are retried one by one, so a bad prompt fails only its own request."""

    def __init__(
        self,
        backend: Any,
        *,
        max_batch_size: int = 8,
        max_wait_s: float = 0.02,
        max_queued_prompts: int = 1024,
    ) -> None:
        self.backend = backend
        self.max_batch_size = max(1, max_batch_size)
        self.max_wait_s = max(0.0, max_wait_s)
        self.max_queued_prompts = max_queued_prompts
        self.stats = BatchStats()
        self._lock = threading.Lock()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._queued_prompts = 0
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="tunebench-serve-worker", daemon=True)
        self._thread.start()

    @property
    def queued_prompts(self) -> int:
        with self._lock:
            return self._queued_prompts

    def submit(
        self, prompts: Sequence[Any], config: GenerationConfig, kind: str = "text"
    ) -> Future[list[Completion]]:
        job = _Job(list(prompts), config, kind)
        with self._lock:
            if self._closed:
                raise APIError(
                    503, "the server is shutting down", type="server_error", code="server_shutting_down"
                )
            if self._queued_prompts + len(job.prompts) > self.max_queued_prompts and self._queued_prompts:
                raise APIError(
                    429,
                    f"the server has {self._queued_prompts} prompts waiting; retry shortly",
                    type="rate_limit_error",
                    code="server_busy",
                    headers={"Retry-After": "1"},
                )
            self._queued_prompts += len(job.prompts)
            self._queue.put(job)
        return job.future

    def close(self, timeout: float | None = None) -> None:
        """Refuse new work, finish what is queued, stop the worker."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_STOP)
        self._thread.join(timeout)

    def _loop(self) -> None:
        pending: deque[_Job] = deque()  # taken off the queue but not batchable with the last batch
        stopping = False
        while True:
            if pending:
                head = pending.popleft()
            elif stopping:
                return
            else:
                item = self._queue.get()
                if item is _STOP:
                    return
                head = item
            batch, size = [head], len(head.prompts)
            keep: deque[_Job] = deque()
            for job in pending:  # older waiting requests first
                if job.key == head.key and size + len(job.prompts) <= self.max_batch_size:
                    batch.append(job)
                    size += len(job.prompts)
                else:
                    keep.append(job)
            pending = keep
            deadline = time.monotonic() + self.max_wait_s
            while size < self.max_batch_size and not stopping:
                wait = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                elif item.key == head.key and size + len(item.prompts) <= self.max_batch_size:
                    batch.append(item)
                    size += len(item.prompts)
                else:
                    pending.append(item)
            self._run(batch)

    def _call(self, jobs: list[_Job]) -> list[Completion]:
        prompts = [p for job in jobs for p in job.prompts]
        config, kind = jobs[0].config, jobs[0].kind
        if kind == "text":
            outs = self.backend.generate_text(prompts, config)
        elif kind.startswith("logprobs:"):
            from ..models.choice_probs import generate_with_logprobs

            outs = generate_with_logprobs(self.backend, prompts, config, int(kind.partition(":")[2]))
        else:
            outs = self.backend.generate(prompts, config)
        if len(outs) != len(prompts):
            raise RuntimeError(f"backend returned {len(outs)} completions for {len(prompts)} prompts")
        with self._lock:
            self.stats.batches += 1
            self.stats.requests += len(jobs)
            self.stats.prompts += len(prompts)
            self.stats.largest_batch = max(self.stats.largest_batch, len(prompts))
        return list(outs)

    def _run(self, jobs: list[_Job]) -> None:
        with self._lock:
            self._queued_prompts -= sum(len(j.prompts) for j in jobs)
        try:
            outs = self._call(jobs)
        except Exception as exc:
            with self._lock:
                self.stats.failed_batches += 1
            if len(jobs) == 1:
                jobs[0].future.set_exception(exc)
                return
            for job in jobs:  # isolate the request that broke the batch
                try:
                    job.future.set_result(self._call([job]))
                except Exception as one_exc:
                    job.future.set_exception(one_exc)
            return
        start = 0
        for job in jobs:
            job.future.set_result(outs[start : start + len(job.prompts)])
            start += len(job.prompts)
