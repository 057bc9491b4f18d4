"""Judge calls: cached, stored, strictly parsed, through the `openai` backend only.

`JudgeClient.run(requests, parse)` asks the judge model (an `openai:MODEL@URL` spec) one chat per
request at temperature 0, through `OpenAIBackend` (async, bounded concurrency, exponential backoff with
full jitter on 429 / 5xx / timeouts / connection errors, `Retry-After` honoured). What happens to one
request:

1. Its cache key is `stable_hash({judge identity, template id+version+sha256, params, messages,
   repeat})`. A stored call with a parsed verdict under that key is returned without any request.
2. Otherwise the judge is asked. A transport failure that outlives the retry budget is an error.
3. The reply must parse (`parse(text)` returns the verdict dict or raises `ReplyParseError`). An
   unparseable reply is asked ONCE more, in the same conversation, with the parse error appended
   ("Your reply could not be parsed: ... Reply with only the JSON object."); if that reply does not
   parse either, the call is an error.
4. Every call is stored in the `judge_calls` table with every raw reply, the parsed verdict or the
   error, the number of conversation turns and the token usage. Errors are stored but never served from
   the cache: the next run asks again. An error is never a verdict: callers get `parsed=None`.

`repeat` (0 for the first asking) is part of the key only, so `repeat=1` re-asks the same prompt as a
genuinely new call (used to measure the judge's repeat agreement).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..errors import InputError
from ..store import Store
from ..types import Completion, GenerationConfig, ModelSpec, stable_hash
from .pricing import PriceTable, as_price_table
from .templates import JudgeTemplate, load_template

REPARSE_MESSAGE = "Your reply could not be parsed: {error}. Reply with only the JSON object."


class ReplyParseError(ValueError):
    """A judge reply that is not the JSON object the template asks for."""


Parser = Callable[[str], dict[str, Any]]

_FENCE_RE = re.compile(r"^```(?:json|JSON)?\s*\n(?P<body>.*?)\n?```$", re.DOTALL)


def parse_json_object(text: str) -> dict[str, Any]:
    """The reply as a JSON object: the whole reply (surrounding whitespace and one ```json fence
    aside) must be one JSON object. Anything else raises ReplyParseError."""
    s = text.strip()
    fence = _FENCE_RE.match(s)
    if fence:
        s = fence["body"].strip()
    if not s:
        raise ReplyParseError("the reply is empty")
    try:
        obj = json.loads(s)
    except json.JSONDecodeError as e:
        raise ReplyParseError(f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    if not isinstance(obj, dict):
        raise ReplyParseError(f"expected a JSON object, got {type(obj).__name__}")
    return obj


def judge_spec(judge: str | ModelSpec) -> ModelSpec:
    """Parse and check a judge spec: judges talk to endpoints only through the openai client."""
    from ..models import parse_spec

    spec = parse_spec(judge, resolve=False) if isinstance(judge, str) else judge
    if spec.backend != "openai" or not spec.url:
        raise InputError(
            f"judge {spec.label!r}: a judge must be an OpenAI-compatible endpoint",
            hint="use --judge openai:MODEL@http://HOST:PORT/v1 (e.g. a local `tunebench serve`)",
        )
    return spec


@dataclass(frozen=True)
class JudgeRequest:
    messages: tuple[Mapping[str, str], ...]
    repeat: int = 0


@dataclass(frozen=True)
class JudgeResult:
    key: str
    parsed: dict[str, Any] | None
    error: str | None
    reply: str
    attempts: int
    prompt_tokens: int
    completion_tokens: int
    cached: bool

    @property
    def ok(self) -> bool:
        return self.error is None and self.parsed is not None


class JudgeUsage(BaseModel):
    """Judge calls behind one judgment. Token totals count every call the judgment rests on (cached
    ones included); `new_*` only what was asked in this invocation. Cost is None (unknown) when the
    price table has no entry for the judge model."""

    calls: int = 0
    cached: int = 0
    new_calls: int = 0
    http_requests: int = 0
    http_retries: int = 0
    parse_retries: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    new_prompt_tokens: int = 0
    new_completion_tokens: int = 0
    cost_usd: float | None = None
    new_cost_usd: float | None = None


class JudgeClient:
    """One judge (model + template + parameters), bound to a store for its cache and call log."""

    def __init__(
        self,
        judge: str | ModelSpec,
        template: JudgeTemplate | str,
        *,
        store: Store,
        params: Mapping[str, Any] | None = None,
        max_tokens: int = 512,
        concurrency: int = 4,
        max_retries: int = 4,
        timeout_s: float = 60.0,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 20.0,
        prices: PriceTable | Mapping[str, Any] | str | None = None,
    ) -> None:
        if concurrency < 1:
            raise InputError(f"judge concurrency must be at least 1, got {concurrency}")
        if max_retries < 0:
            raise InputError(f"judge max_retries must be >= 0, got {max_retries}")
        self.spec = judge_spec(judge)
        self.template = load_template(template) if isinstance(template, str) else template
        self.store = store
        self.generation = GenerationConfig(max_new_tokens=max_tokens, temperature=0.0, top_p=1.0, seed=0)
        self.params: dict[str, Any] = {
            "temperature": 0.0,
            "max_tokens": max_tokens,
            "seed": 0,
            **dict(params or {}),
        }
        self.prices = as_price_table(prices)
        from ..models.openai_backend import OpenAIBackend  # the openai client loads on first use

        self.backend = OpenAIBackend(
            self.spec,
            concurrency=concurrency,
            timeout_s=timeout_s,
            max_retries=max_retries,
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
        )
        self.usage = JudgeUsage()

    # -- identity --------------------------------------------------------------------------------

    @property
    def label(self) -> str:
        return self.spec.raw or f"openai:{self.spec.base}@{self.spec.url}"

    @property
    def identity(self) -> dict[str, Any]:
        return {
            "judge": {"backend": "openai", "model": self.spec.base, "url": self.spec.url},
            "template": self.template.identity,
            "params": self.params,
        }

    @property
    def identity_hash(self) -> str:
        return stable_hash(self.identity)

    def key(self, request: JudgeRequest) -> str:
        return stable_hash(
            {
                "identity": self.identity,
                "messages": [dict(m) for m in request.messages],
                "repeat": request.repeat,
            }
        )

    # -- calls -----------------------------------------------------------------------------------

    def run(self, requests: Sequence[JudgeRequest], parse: Parser) -> list[JudgeResult]:
        """One JudgeResult per request, in order. Never raises for a failed call."""
        keys = [self.key(r) for r in requests]
        cached_rows = self.store.get_judge_calls(keys)
        results: dict[str, JudgeResult] = {}
        todo: dict[str, JudgeRequest] = {}
        for k, r in zip(keys, requests, strict=True):
            row = cached_rows.get(k)
            if row is not None and row["error"] is None and row["parsed"] is not None:
                results[k] = JudgeResult(
                    key=k,
                    parsed=row["parsed"],
                    error=None,
                    reply=row["reply"],
                    attempts=row["attempts"],
                    prompt_tokens=row["prompt_tokens"],
                    completion_tokens=row["completion_tokens"],
                    cached=True,
                )
            elif k not in todo:
                todo[k] = r
        if todo:
            results.update(self._ask(todo, parse))
        out = [results[k] for k in keys]
        self._count(out, new_keys=set(todo))
        return out

    def _ask(self, todo: Mapping[str, JudgeRequest], parse: Parser) -> dict[str, JudgeResult]:
        before = dict(self.backend.stats)
        todo_keys = list(todo)
        first_msgs = [[dict(m) for m in todo[k].messages] for k in todo_keys]
        first = self.backend.generate(first_msgs, self.generation)
        replies: dict[str, list[dict[str, Any]]] = {k: [] for k in todo_keys}
        tokens: dict[str, list[int]] = {k: [0, 0] for k in todo_keys}
        outcome: dict[str, tuple[dict[str, Any] | None, str | None, str, int]] = {}
        reask: list[tuple[str, list[dict[str, str]]]] = []
        for k, msgs, c in zip(todo_keys, first_msgs, first, strict=True):
            self._add_tokens(tokens[k], c)
            parsed, err = self._parse(c, parse)
            replies[k].append(
                {"text": c.text, "error": c.error, "parse_error": err if c.error is None else None}
            )
            if c.error is not None:
                outcome[k] = (None, c.error, c.text, 1)
            elif parsed is not None:
                outcome[k] = (parsed, None, c.text, 1)
            else:
                follow = msgs + [
                    {"role": "assistant", "content": c.text},
                    {"role": "user", "content": REPARSE_MESSAGE.format(error=err)},
                ]
                reask.append((k, follow))
        if reask:
            second = self.backend.generate([m for _, m in reask], self.generation)
            for (k, _), c in zip(reask, second, strict=True):
                self._add_tokens(tokens[k], c)
                parsed, err = self._parse(c, parse)
                replies[k].append(
                    {"text": c.text, "error": c.error, "parse_error": err if c.error is None else None}
                )
                if c.error is not None:
                    outcome[k] = (None, f"{c.error} (asking again after an unparseable reply)", c.text, 2)
                elif parsed is not None:
                    outcome[k] = (parsed, None, c.text, 2)
                else:
                    outcome[k] = (None, f"unparseable reply (after one re-ask): {err}", c.text, 2)
        self.usage.http_requests += self.backend.stats["requests"] - before["requests"]
        self.usage.http_retries += self.backend.stats["retries"] - before["retries"]
        self.usage.parse_retries += len(reask)
        rows = []
        results: dict[str, JudgeResult] = {}
        for k, msgs in zip(todo_keys, first_msgs, strict=True):
            parsed, error, reply, attempts = outcome[k]
            results[k] = JudgeResult(
                key=k,
                parsed=parsed,
                error=error,
                reply=reply,
                attempts=attempts,
                prompt_tokens=tokens[k][0],
                completion_tokens=tokens[k][1],
                cached=False,
            )
            rows.append(
                {
                    "key": k,
                    "judge": self.label,
                    "judge_identity": self.identity_hash,
                    "template_id": self.template.id,
                    "template_version": self.template.version,
                    "template_hash": self.template.sha256,
                    "params": {**self.params, "repeat": todo[k].repeat},
                    "prompt": msgs,
                    "reply": reply,
                    "replies": replies[k],
                    "parsed": parsed,
                    "error": error,
                    "attempts": attempts,
                    "prompt_tokens": tokens[k][0],
                    "completion_tokens": tokens[k][1],
                }
            )
        self.store.put_judge_calls(rows)
        return results

    @staticmethod
    def _add_tokens(acc: list[int], c: Completion) -> None:
        acc[0] += c.prompt_tokens
        acc[1] += c.completion_tokens

    @staticmethod
    def _parse(c: Completion, parse: Parser) -> tuple[dict[str, Any] | None, str | None]:
        if c.error is not None:
            return None, None
        try:
            return parse(c.text), None
        except ReplyParseError as e:
            return None, str(e)

    def _count(self, results: Sequence[JudgeResult], new_keys: set[str]) -> None:
        u = self.usage
        seen_new: set[str] = set()
        for r in results:
            u.calls += 1
            u.prompt_tokens += r.prompt_tokens
            u.completion_tokens += r.completion_tokens
            if r.error is not None:
                u.errors += 1
            if r.cached:
                u.cached += 1
            elif r.key in new_keys and r.key not in seen_new:
                seen_new.add(r.key)
                u.new_calls += 1
                u.new_prompt_tokens += r.prompt_tokens
                u.new_completion_tokens += r.completion_tokens
        names = (self.label, self.spec.base)
        u.cost_usd = self.prices.cost(names, u.prompt_tokens, u.completion_tokens)
        u.new_cost_usd = self.prices.cost(names, u.new_prompt_tokens, u.new_completion_tokens)
