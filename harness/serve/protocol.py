"""The OpenAI wire protocol as this server speaks it: request parameter validation (what is
supported, what is accepted only at its no-op value), the GenerationConfig a request asks for, and
the response shapes of `/v1/chat/completions` and `/v1/completions` (log-probabilities included, in
OpenAI's shapes: `choices[0].logprobs.content[i].top_logprobs` for chat, `tokens` /
`token_logprobs` / `top_logprobs` / `text_offset` for completions). Errors are `APIError`s that the
HTTP layer answers as OpenAI-style JSON."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from ..types import Completion, GenerationConfig

DEFAULT_CHAT_MAX_TOKENS = 256
"""max_tokens when a chat request sends none (OpenAI's own default is 'up to the context')."""
DEFAULT_COMPLETION_MAX_TOKENS = 16
"""max_tokens when a completions request sends none: OpenAI's documented default for that endpoint."""
MAX_CHAT_TOP_LOGPROBS = 20
"""OpenAI's limit on `top_logprobs` (chat completions)."""
MAX_COMPLETION_LOGPROBS = 5
"""OpenAI's limit on `logprobs` (legacy completions)."""

_NEUTRAL: dict[str, Callable[[Any], bool]] = {
    # Known OpenAI parameters this server does not implement, accepted only at their no-op values.
    "n": lambda v: v in (None, 1),
    "stream": lambda v: v in (None, False),
    "stream_options": lambda v: v is None,
    "user": lambda v: v is None or isinstance(v, str),
    "frequency_penalty": lambda v: v in (None, 0),
    "presence_penalty": lambda v: v in (None, 0),
    "logit_bias": lambda v: v in (None, {}),
    "echo": lambda v: v in (None, False),
    "best_of": lambda v: v in (None, 1),
    "suffix": lambda v: v in (None, ""),
    "response_format": lambda v: v is None or v == {"type": "text"},
    "tools": lambda v: v in (None, []),
    "tool_choice": lambda v: v in (None, "none"),
    "parallel_tool_calls": lambda v: v is None or isinstance(v, bool),
    "functions": lambda v: v in (None, []),
    "function_call": lambda v: v in (None, "none"),
    "store": lambda v: v in (None, False),
    "metadata": lambda v: v is None or isinstance(v, dict),
    "service_tier": lambda v: v is None or isinstance(v, str),
}
CHAT_PARAMS = {
    "model",
    "messages",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "logprobs",
    "top_logprobs",
}
CHAT_NEUTRAL = set(_NEUTRAL) - {"echo", "best_of", "suffix"}
COMPLETION_PARAMS = {"model", "prompt", "temperature", "top_p", "max_tokens", "stop", "seed", "logprobs"}
COMPLETION_NEUTRAL = set(_NEUTRAL) - {
    "response_format",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "functions",
    "function_call",
    "store",
    "metadata",
    "service_tier",
}
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class APIError(Exception):
    """An error answered to the client as OpenAI-style JSON."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def bad_request(message: str, param: str | None = None, code: str | None = "invalid_value") -> APIError:
    return APIError(400, message, param=param, code=code)


def check_params(body: dict[str, Any], used: set[str], neutral: set[str], endpoint: str) -> None:
    for name, value in body.items():
        if name in used:
            continue
        if name in neutral:
            if not _NEUTRAL[name](value):
                raise bad_request(
                    f"{name}={json.dumps(value)[:80]} is not supported by this server ({endpoint} supports "
                    f"{', '.join(sorted(used - {'model'}))}; {name} only at its default)",
                    param=name,
                    code="unsupported_parameter",
                )
            continue
        raise bad_request(
            f"unrecognized request argument supplied: {name} ({endpoint} supports "
            f"{', '.join(sorted(used - {'model'}))})",
            param=name,
            code="unsupported_parameter",
        )


def _number(
    body: dict[str, Any], name: str, default: float, low: float, high: float, low_open: bool = False
) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(f"{name} must be a number, got {json.dumps(value)[:40]}", param=name)
    if value > high or value < low or (low_open and value == low):
        bound = f"({low}, {high}]" if low_open else f"[{low}, {high}]"
        raise bad_request(f"{name}={value} is out of range {bound}", param=name)
    return float(value)


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"{name} must be an integer, got {json.dumps(value)[:40]}", param=name)
    return value


def generation_config(
    body: dict[str, Any], *, default_max_tokens: int, max_tokens_limit: int
) -> GenerationConfig:
    """The GenerationConfig a request asks for (temperature, top_p, max_tokens, stop, seed)."""
    temperature = _number(body, "temperature", 1.0, 0.0, 2.0)  # OpenAI's default: sampling
    top_p = _number(body, "top_p", 1.0, 0.0, 1.0, low_open=True)
    name = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    raw_max = body.get(name)
    max_tokens = default_max_tokens if raw_max is None else _integer(raw_max, name)
    if not 1 <= max_tokens <= max_tokens_limit:
        raise bad_request(f"{name}={max_tokens} is out of range [1, {max_tokens_limit}]", param=name)
    stop_raw = body.get("stop")
    if stop_raw is None:
        stop: tuple[str, ...] = ()
    elif isinstance(stop_raw, str):
        stop = (stop_raw,)
    elif isinstance(stop_raw, list) and all(isinstance(s, str) for s in stop_raw) and len(stop_raw) <= 16:
        stop = tuple(stop_raw)
    else:
        raise bad_request("stop must be a string or a list of at most 16 strings", param="stop")
    if any(not s for s in stop):
        raise bad_request("stop strings must not be empty", param="stop")
    seed = 0 if body.get("seed") is None else _integer(body["seed"], "seed")
    return GenerationConfig(
        max_new_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=stop, seed=seed
    )


def parse_messages(body: dict[str, Any]) -> list[dict[str, str]]:
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise bad_request("messages must be a non-empty list of {role, content} objects", param="messages")
    out: list[dict[str, str]] = []
    for i, m in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise bad_request(f"{where} must be an object with role and content", param=where)
        role = m.get("role")
        if role not in _ROLES:
            raise bad_request(
                f"{where}.role={json.dumps(role)[:40]}: expected one of {', '.join(_ROLES)}", param=where
            )
        content = m.get("content")
        if isinstance(content, list):  # content parts: text only
            texts = []
            for part in content:
                if (
                    not isinstance(part, dict)
                    or part.get("type") != "text"
                    or not isinstance(part.get("text"), str)
                ):
                    raise bad_request(f"{where}.content: only text parts are supported", param=where)
                texts.append(part["text"])
            content = "".join(texts)
        if not isinstance(content, str):
            raise bad_request(f"{where}.content must be a string", param=where)
        out.append({"role": _ROLES[role], "content": content})
    return out


def parse_prompts(body: dict[str, Any], limit: int) -> list[str]:
    raw = body.get("prompt")
    if isinstance(raw, str):
        prompts = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(p, str) for p in raw):
        prompts = list(raw)
    elif isinstance(raw, list) and raw and all(isinstance(p, int | list) for p in raw):
        raise bad_request("token-id prompts are not supported; send text", param="prompt")
    else:
        raise bad_request("prompt must be a string or a non-empty list of strings", param="prompt")
    if len(prompts) > limit:
        raise bad_request(f"at most {limit} prompts per request, got {len(prompts)}", param="prompt")
    if any(not p for p in prompts):
        raise bad_request("prompt must not be empty", param="prompt")
    return prompts


def chat_logprobs_request(body: dict[str, Any]) -> int | None:
    """How many alternatives per token a chat request asks for (0: only the chosen token's
    log-probability), or None without `logprobs: true`. Checked as OpenAI does: `logprobs` a boolean,
    `top_logprobs` an integer in [0, 20] that needs `logprobs: true`."""
    lp, top = body.get("logprobs"), body.get("top_logprobs")
    if lp is not None and not isinstance(lp, bool):
        raise bad_request(f"logprobs must be a boolean, got {json.dumps(lp)[:40]}", param="logprobs")
    if top is not None:
        top = _integer(top, "top_logprobs")
        if not 0 <= top <= MAX_CHAT_TOP_LOGPROBS:
            raise bad_request(
                f"top_logprobs={top} is out of range [0, {MAX_CHAT_TOP_LOGPROBS}]", param="top_logprobs"
            )
        if lp is not True:
            raise bad_request("top_logprobs can only be set when logprobs is true", param="top_logprobs")
    if lp is not True:
        return None
    return int(top or 0)


def completion_logprobs_request(body: dict[str, Any]) -> int | None:
    """The legacy completions `logprobs`: an integer in [0, 5] (alternatives per token), or None."""
    lp = body.get("logprobs")
    if lp is None:
        return None
    lp = _integer(lp, "logprobs")
    if not 0 <= lp <= MAX_COMPLETION_LOGPROBS:
        raise bad_request(f"logprobs={lp} is out of range [0, {MAX_COMPLETION_LOGPROBS}]", param="logprobs")
    return lp


def _chat_logprobs(out: Completion) -> dict[str, Any]:
    entries = (out.raw or {}).get("logprobs") or []
    return {"content": [dict(e) for e in entries], "refusal": None}


def _completion_logprobs(out: Completion) -> dict[str, Any]:
    entries = (out.raw or {}).get("logprobs") or []
    offsets, pos = [], 0
    for e in entries:
        offsets.append(pos)
        pos += len(e["token"])
    return {
        "tokens": [e["token"] for e in entries],
        "token_logprobs": [e["logprob"] for e in entries],
        "top_logprobs": [{t["token"]: t["logprob"] for t in e.get("top_logprobs", [])} for e in entries],
        "text_offset": offsets,
    }


def _usage(outs: Sequence[Completion]) -> dict[str, int]:
    p = sum(c.prompt_tokens for c in outs)
    c = sum(c.completion_tokens for c in outs)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _finish(c: Completion) -> str:
    return c.finish_reason if c.finish_reason in ("stop", "length") else "stop"


def chat_response(
    model_name: str, out: Completion, *, logprobs: bool = False, fingerprint: str | None = None
) -> dict[str, Any]:
    """The `/v1/chat/completions` answer for one completion (with `choices[0].logprobs.content` when
    `logprobs`)."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_name,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": out.text},
                "finish_reason": _finish(out),
                "logprobs": _chat_logprobs(out) if logprobs else None,
            }
        ],
        "usage": _usage([out]),
        "system_fingerprint": fingerprint,
    }


def completion_response(
    model_name: str, outs: Sequence[Completion], *, logprobs: bool = False, fingerprint: str | None = None
) -> dict[str, Any]:
    """The `/v1/completions` answer: one choice per prompt, in order."""
    return {
        "id": f"cmpl-{uuid.uuid4().hex[:24]}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": model_name,
        "choices": [
            {
                "index": i,
                "text": c.text,
                "finish_reason": _finish(c),
                "logprobs": _completion_logprobs(c) if logprobs else None,
            }
            for i, c in enumerate(outs)
        ],
        "usage": _usage(outs),
        "system_fingerprint": fingerprint,
    }
