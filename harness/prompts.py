"""Turning a sample into a chat prompt: system prompt, few-shot turns, templated user turn."""

from __future__ import annotations

from collections.abc import Sequence

from .models.base import Messages
from .types import PromptConfig, Sample, last_user_content


def last_user(sample: Sample) -> str:
    return last_user_content(sample.messages)


def render_user(template: str, text: str) -> str:
    # str.replace, not str.format: templates and inputs often hold JSON braces.
    return template.replace("{input}", text)


def build_messages(sample: Sample, prompt: PromptConfig, fewshot: Sequence[Sample] = ()) -> Messages:
    """System prompt (the prompt's, else the sample's own), then few-shot user/assistant pairs,
    then the sample's turns with its last user turn passed through the template."""
    msgs: Messages = []
    sample_system = [m.content for m in sample.messages if m.role == "system"]
    system = prompt.system if prompt.system is not None else (sample_system[0] if sample_system else None)
    if system:
        msgs.append({"role": "system", "content": system.strip()})
    for ex in fewshot:
        msgs.append({"role": "user", "content": render_user(prompt.template, last_user(ex))})
        msgs.append({"role": "assistant", "content": ex.reference or ""})
    turns = [m for m in sample.messages if m.role != "system"]
    last_user_idx = max((i for i, m in enumerate(turns) if m.role == "user"), default=-1)
    for i, m in enumerate(turns):
        content = render_user(prompt.template, m.content) if i == last_user_idx else m.content
        msgs.append({"role": m.role, "content": content})
    return msgs
