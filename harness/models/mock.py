"""A scripted backend for tests and dry runs, registered like the real ones.

`mock:echo` answers with the last user message. `mock:SCRIPT.yaml` reads a script:

    default: "fallback reply"
    rules:                 # first match wins; `contains` is a substring of the last user message
      - contains: refund
        reply: '{"category": "refund"}'
    replies: ["a", "b"]    # optional: answered in order, per call, before rules apply
    delay_s: 0.0           # per prompt
    log: calls.log         # optional: one line appended per prompt asked (relative to the script)

A reply longer than 8 characters per `max_new_tokens` is cut there and finishes with "length", as a
real model's would at the length limit.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from ..textio import read_text
from ..types import Completion, GenerationConfig, ModelSpec, last_user_content
from .base import Messages, ProgressFn, backend_registry


class MockBackend:
    def __init__(self, spec: ModelSpec, script: dict[str, Any] | None = None):
        self.spec = spec
        self.calls = 0
        if script is None and spec.base != "echo":
            path = Path(spec.base)
            try:
                script = yaml.safe_load(read_text(path)) or {}
            except (OSError, yaml.YAMLError) as e:
                raise InputError(f"mock script {path}: {e}") from e
            if not isinstance(script, dict):
                raise InputError(f"mock script {path}: expected a mapping")
            if script.get("log"):
                script["log"] = str((path.parent / script["log"]).resolve())
        self.script = script or {"echo": True}
        self._replies = list(self.script.get("replies", []))

    def _answer(self, messages: Messages) -> str:
        user = last_user_content(messages)
        if self._replies:
            return str(self._replies.pop(0))
        for rule in self.script.get("rules", []):
            if str(rule.get("contains", "")) in user:
                return str(rule.get("reply", ""))
        if self.script.get("echo") or "default" not in self.script:
            return user
        return str(self.script["default"])

    def generate(
        self, prompts: Sequence[Messages], config: GenerationConfig, progress: ProgressFn | None = None
    ) -> list[Completion]:
        out = []
        delay = float(self.script.get("delay_s", 0.0))
        log = self.script.get("log")
        for messages in prompts:
            t0 = time.perf_counter()
            if delay:
                time.sleep(delay)
            answer = self._answer(messages)
            # about 8 characters a token: a longer answer is cut, as a real model's would be
            text = answer[: max(1, config.max_new_tokens) * 8]
            self.calls += 1
            if log:
                user = last_user_content(messages)
                with open(log, "a", encoding="utf-8") as f:
                    f.write(user.replace("\n", " ")[:200] + "\n")
                    f.flush()
                    os.fsync(f.fileno())
            prompt_tokens = sum(len(m["content"].split()) for m in messages)
            out.append(
                Completion(
                    text=text,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=len(text.split()),
                    latency_s=time.perf_counter() - t0,
                    finish_reason="length" if len(text) < len(answer) else "stop",
                )
            )
            if progress:
                progress(1)
        return out


backend_registry.add("mock", lambda spec: MockBackend(spec))
