"""The backend interface: one required method, `generate`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from ..registry import Registry
from ..types import Completion, GenerationConfig, ModelSpec

Messages = list[dict[str, str]]
"""A chat prompt: [{"role": "system"|"user"|"assistant", "content": str}, ...]."""

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
