"""Judge calls: cached, stored, strictly parsed; to an OpenAI-compatible endpoint or a local model.

`JudgeClient.run(requests, parse)` asks the judge one chat per request at temperature 0: an
`openai:MODEL@URL` endpoint through `OpenAIBackend` (async, bounded concurrency, exponential backoff
with full jitter on 429 / 5xx / timeouts / connection errors, `Retry-After` honoured), or a local hf
model (`default`, `hf:PATH`) in process (harness/judge/transport.py). What happens to one request:

1. Its cache key is `stable_hash({judge identity, template id+version+sha256, params, messages,
   repeat})`. A stored call with a parsed verdict under that key is returned without any request.
2. Otherwise the judge is asked. A transport failure that outlives the retry budget is an error.
3. A JSON template's reply must parse (`parse(text)` returns the verdict dict or raises
   `ReplyParseError`). A label template's reply (`run(requests, labels=[...])`) is read from the
   judge's probabilities over the labels when it gives them (always in process; an endpoint through
   `logprobs`), stored as {"mode": "probs", "label", "probs", "mass", "top_logprobs"}; a low mass is
   not a parse error (the reader applies its floor and abstains). Without probabilities the reply's
   first word must be a label ({"mode": "text", "label"}). An unparseable reply is asked ONCE more, in
   the same conversation, with the parse error appended ("Your reply could not be parsed: ... Reply
   with only the JSON object." / "... only one of: 1, 2, tie."); if that reply does not parse
   either, the call is an error.
4. Every call is stored in the `judge_calls` table with every raw reply, the parsed verdict (with its
   probabilities) or the error, the number of conversation turns and the token usage. Errors are
   stored but never served from the cache: the next run asks again. An error is never a verdict:
   callers get `parsed=None`.

`repeat` (0 for the first asking) is part of the key only, so `repeat=1` re-asks the same prompt as a
genuinely new call (used to measure the judge's repeat agreement).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..errors import InputError
from ..store import Store
from ..types import GenerationConfig, ModelSpec, stable_hash
from .pricing import PriceTable, as_price_table
from .probs import TOP_LOGPROBS, parse_label_reply, read_choice
from .templates import JudgeTemplate, load_template
from .transport import Reply, judge_spec, make_transport

REPARSE_MESSAGE = "Your reply could not be parsed: {error}. Reply with only the JSON object."
LABEL_REPARSE_MESSAGE = "Your reply could not be parsed: {error}. Reply with only one of: {labels}."


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
        workspace: str | Path | None = None,
        backend: Any = None,
    ) -> None:
        if concurrency < 1:
            raise InputError(f"judge concurrency must be at least 1, got {concurrency}")
        if max_retries < 0:
            raise InputError(f"judge max_retries must be >= 0, got {max_retries}")
        self.spec = judge_spec(judge)
        self.template = load_template(template) if isinstance(template, str) else template
        self.store = store
        label = self.template.label_reply
        self.generation = GenerationConfig(
            max_new_tokens=1 if label else max_tokens, temperature=0.0, top_p=1.0, seed=0
        )
        self.params: dict[str, Any] = {
            "temperature": 0.0,
            "max_tokens": 1 if label else max_tokens,
            "seed": 0,
            **({"top_logprobs": TOP_LOGPROBS} if label else {}),
            **dict(params or {}),
        }
        self.prices = as_price_table(prices)
        self.transport = make_transport(
            self.spec,
            concurrency=concurrency,
            timeout_s=timeout_s,
            max_retries=max_retries,
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
            workspace=workspace,
            backend=backend,
        )
        self.spec = self.transport.spec  # resolved (weights hashed) for a local model
        self.usage = JudgeUsage()
        self.seen_modes: set[str] = set()  # how the verdicts it served were read: "probs", "text"
        self.seen_fingerprints: set[str] = set()  # endpoint fingerprints of its calls (cached too)

    # -- identity --------------------------------------------------------------------------------

    @property
    def label(self) -> str:
        return self.spec.raw or f"openai:{self.spec.base}@{self.spec.url}"

    @property
    def identity(self) -> dict[str, Any]:
        return {"judge": self.transport.identity, "template": self.template.identity, "params": self.params}

    @property
    def identity_hash(self) -> str:
        return stable_hash(self.identity)

    @property
    def info(self) -> dict[str, Any]:
        """Who judged: label, model, revision, endpoint and its fingerprint, whether its verdicts came
        from probabilities (`logprobs`), template, identity; from its calls so far, cached ones too."""
        info = dict(self.transport.info)
        if "probs" in self.seen_modes:
            info["logprobs"] = True
        elif "text" in self.seen_modes:
            info["logprobs"] = False
        if self.seen_fingerprints:
            info["fingerprint"] = ",".join(sorted(self.seen_fingerprints))
        return {
            "label": self.label,
            **info,
            "template": self.template.ref,
            "template_hash": self.template.sha256,
            "identity": self.identity_hash,
        }

    def key(self, request: JudgeRequest) -> str:
        return stable_hash(
            {
                "identity": self.identity,
                "messages": [dict(m) for m in request.messages],
                "repeat": request.repeat,
            }
        )

    # -- calls -----------------------------------------------------------------------------------

    def run(
        self,
        requests: Sequence[JudgeRequest],
        parse: Parser | None = None,
        *,
        labels: Sequence[str] | None = None,
    ) -> list[JudgeResult]:
        """One JudgeResult per request, in order. Never raises for a failed call. A JSON template
        needs `parse`; a label template the allowed `labels` (its replies become
        {"mode": "probs"|"text", "label", "probs", "mass", "top_logprobs"}; see harness/judge/probs.py)."""
        if self.template.label_reply:
            if not labels:
                raise ValueError(f"template {self.template.ref} answers with a label: pass labels=")
            allowed = list(labels)

            def check(r: Reply) -> tuple[dict[str, Any] | None, str | None]:
                return _parse_label(r, allowed)

        else:
            if parse is None:
                raise ValueError(f"template {self.template.ref} answers in JSON: pass parse=")
            json_parse = parse

            def check(r: Reply) -> tuple[dict[str, Any] | None, str | None]:
                try:
                    return json_parse(r.text), None
                except ReplyParseError as e:
                    return None, str(e)

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
            results.update(self._ask(todo, check, labels))
        for k, res in results.items():
            if res.parsed is not None and isinstance(res.parsed.get("mode"), str):
                self.seen_modes.add(res.parsed["mode"])
            row = cached_rows.get(k) if res.cached else None
            for entry in (row or {}).get("replies") or []:
                if isinstance(entry, dict) and isinstance(entry.get("fingerprint"), str):
                    self.seen_fingerprints.add(entry["fingerprint"])
        out = [results[k] for k in keys]
        self._count(out, new_keys=set(todo))
        return out

    def _send(self, messages: list[list[dict[str, str]]], labels: Sequence[str] | None) -> list[Reply]:
        if labels and self.template.label_reply:
            return self.transport.choose(messages, labels, self.generation)
        return self.transport.generate(messages, self.generation)

    def _ask(
        self,
        todo: Mapping[str, JudgeRequest],
        check: Callable[[Reply], tuple[dict[str, Any] | None, str | None]],
        labels: Sequence[str] | None,
    ) -> dict[str, JudgeResult]:
        before = self.transport.requests
        todo_keys = list(todo)
        first_msgs = [[dict(m) for m in todo[k].messages] for k in todo_keys]
        first = self._send(first_msgs, labels)
        replies: dict[str, list[dict[str, Any]]] = {k: [] for k in todo_keys}
        tokens: dict[str, list[int]] = {k: [0, 0] for k in todo_keys}
        outcome: dict[str, tuple[dict[str, Any] | None, str | None, str, int]] = {}
        reask: list[tuple[str, list[dict[str, str]]]] = []
        again_msg = (
            LABEL_REPARSE_MESSAGE.replace("{labels}", ", ".join(labels or ()))
            if self.template.label_reply
            else REPARSE_MESSAGE
        )
        for k, msgs, c in zip(todo_keys, first_msgs, first, strict=True):
            self._add_tokens(tokens[k], c)
            parsed, err = check(c) if c.error is None else (None, None)
            replies[k].append(self._entry(c, err))
            if c.error is not None:
                outcome[k] = (None, c.error, c.text, 1)
            elif parsed is not None:
                outcome[k] = (parsed, None, c.text, 1)
            else:
                follow = msgs + [
                    {"role": "assistant", "content": c.text},
                    {"role": "user", "content": again_msg.format(error=err)},
                ]
                reask.append((k, follow))
        if reask:
            second = self._send([m for _, m in reask], labels)
            for (k, _), c in zip(reask, second, strict=True):
                self._add_tokens(tokens[k], c)
                parsed, err = check(c) if c.error is None else (None, None)
                replies[k].append(self._entry(c, err))
                if c.error is not None:
                    outcome[k] = (None, f"{c.error} (asking again after an unparseable reply)", c.text, 2)
                elif parsed is not None:
                    outcome[k] = (parsed, None, c.text, 2)
                else:
                    outcome[k] = (None, f"unparseable reply (after one re-ask): {err}", c.text, 2)
        after = self.transport.requests
        self.usage.http_requests += after[0] - before[0]
        self.usage.http_retries += after[1] - before[1]
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

    def _entry(self, c: Reply, parse_error: str | None) -> dict[str, Any]:
        """One raw reply as stored (with the endpoint's fingerprint when it sent one)."""
        entry: dict[str, Any] = {"text": c.text, "error": c.error, "parse_error": parse_error}
        if c.fingerprint:
            entry["fingerprint"] = c.fingerprint
            self.seen_fingerprints.add(c.fingerprint)
        return entry

    @staticmethod
    def _add_tokens(acc: list[int], c: Reply) -> None:
        acc[0] += c.prompt_tokens
        acc[1] += c.completion_tokens

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
        local = 0.0 if self.transport.local else None  # an in-process judge costs compute, not money
        cost = self.prices.cost(names, u.prompt_tokens, u.completion_tokens)
        new_cost = self.prices.cost(names, u.new_prompt_tokens, u.new_completion_tokens)
        u.cost_usd = cost if cost is not None else local
        u.new_cost_usd = new_cost if new_cost is not None else local


def _parse_label(r: Reply, labels: Sequence[str]) -> tuple[dict[str, Any] | None, str | None]:
    """A label reply as stored: the probabilities when the judge gave them (no floor applied here:
    whoever reads the verdict decides whether the allowed answers got enough mass), else the label
    its text names, or a parse error."""
    if r.probs is not None:
        choice = read_choice(r.probs, labels, min_mass=0.0)
        return {
            "mode": "probs",
            "label": choice["label"],
            "probs": choice["probs"],
            "mass": choice["mass"],
            "top_logprobs": [[t, lp] for t, lp in r.top[:TOP_LOGPROBS]],
            "forwards": r.forwards,
        }, None
    label = parse_label_reply(r.text, labels)
    if label is None:
        return None, f"expected one of {', '.join(labels)}, got {r.text.strip()[:40]!r}"
    return {"mode": "text", "label": label}, None
