"""The backend interface: one required method, `generate`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from ..registry import Registry
from ..types import Completion, GenerationConfig, ModelSpec

Messages = list[dict[str, str]]
"""A chat prompt: [{"role": "system"|"user"|"assistant", "content": str}, ...]."""

DEFAULT_BATCH_SIZE = 16
"""Prompts per generation batch when nothing says otherwise (`--batch-size`). Measured on the 2-core
CPU machine with the embedded Gemma 3 270M (64 ticket-triage test items, greedy): batch 16 took
0.72x the generation time of batch 8 for the fine-tuned candidate and 0.83x for the 1-shot base,
with the same scores; a decode step's cost is dominated by the 262k-entry LM head, which costs 56 ms
at 16 rows against 36 ms at 8 (2 threads). On a GPU larger batches pay more."""

ProgressFn = Callable[[int], None]
"""Called with the number of prompts just finished (to advance a progress bar)."""


@runtime_checkable
class ModelBackend(Protocol):
    spec: ModelSpec

    def generate(
        self, prompts: Sequence[Messages], config: GenerationConfig, progress: ProgressFn | None = None
    ) -> list[Completion]:
        """One Completion per prompt, in order. A failed prompt yields Completion(error=...)."""
        ...


class Renders(Protocol):
    def render(self, messages: Messages) -> str:
        """The exact text sent to the model (chat template applied)."""
        ...


BackendFactory = Callable[[ModelSpec], ModelBackend]
backend_registry: Registry[BackendFactory] = Registry("backend")
