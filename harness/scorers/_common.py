"""Helpers shared by the scorers: lenient JSON extraction, dotted field lookup, short quoting."""

from __future__ import annotations

import json
import re
from typing import Any

from ..types import Completion, Sample

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n?(.*?)```", re.DOTALL)
_JSON_START = re.compile(r'[\["]|-?\d|(true|false|null)\b')
_MAX_BRACE_TRIES = 50
_decoder = json.JSONDecoder()


def short(text: str, limit: int = 60) -> str:
    """`repr` of `text`, cut to `limit` characters with an ellipsis."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return repr(text)


def show(value: Any, limit: int = 60) -> str:
    """A compact rendering of a JSON value for a detail message (strings quoted as `repr`)."""
    if isinstance(value, str):
        return short(value, limit)
    s = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def mismatch(expected: str, got: str, limit: int = 60) -> str:
    """ "expected 'a', got 'b'"; for long texts, where they first differ."""
    if len(expected) <= limit and len(got) <= limit:
        return f"expected {expected!r}, got {got!r}"
    n = min(len(expected), len(got))
    i = next((k for k in range(n) if expected[k] != got[k]), n)
    lo = max(0, i - 10)
    return (
        f"differs at char {i} (expected {len(expected)} chars, got {len(got)}): "
        f"expected {short(expected[lo:], 40)}, got {short(got[lo:], 40)}"
    )


def generation_error(completion: Completion) -> str | None:
    """The detail every scorer reports for a failed generation, or None when it succeeded."""
    if completion.error:
        return f"generation error: {completion.error}"
    return None


def _decode_error(e: json.JSONDecodeError, offset: int = 0) -> str:
    return f"invalid JSON at char {e.pos + offset}: {e.msg}"


def _raw_object(text: str, offset: int) -> tuple[Any, str | None, bool]:
    """Try `raw_decode` from each '{' in `text` (at most a few dozen). Returns (obj, first error, found)."""
    first_err: str | None = None
    start = text.find("{")
    tries = 0
    while start != -1 and tries < _MAX_BRACE_TRIES:
        try:
            obj, _end = _decoder.raw_decode(text, start)
            return obj, None, True
        except json.JSONDecodeError as e:
            if first_err is None:
                first_err = _decode_error(e, offset)
        tries += 1
        start = text.find("{", start + 1)
    return None, first_err, False


def extract_json(text: str) -> tuple[Any, str | None]:
    """Find the JSON a model meant to output. Returns `(obj, None)` on success, `(None, error)` if not.

    Deliberately lenient, because chat models decorate their JSON. In order, it accepts:

    1. the whole output, stripped, when it is valid JSON (any JSON value);
    2. the content of the first ``` fence (```json or a bare ```), whole or from its first '{';
    3. the first balanced `{...}` object anywhere in the text, decoded with
       `json.JSONDecoder().raw_decode` from a '{' (text before and after is ignored; if the first
       '{' does not start valid JSON, later ones are tried).

    The error message names the character position in the original text, e.g.
    "invalid JSON at char 17: Expecting ','". Success is `error is None` (a bare `null` output
    decodes to `(None, None)`). Use `json_valid(strict=True)` to require the output to be pure JSON.
    """
    stripped = text.strip()
    if not stripped:
        return None, "empty output"
    lead = len(text) - len(text.lstrip())
    try:
        return json.loads(stripped), None
    except json.JSONDecodeError as e:
        whole_err = _decode_error(e, lead)

    fence = _FENCE.search(text)
    fence_err: str | None = None
    if fence is not None:
        body = fence.group(2)
        body_start = fence.start(2)
        body_lead = len(body) - len(body.lstrip())
        try:
            return json.loads(body.strip()), None
        except json.JSONDecodeError as e:
            fence_err = _decode_error(e, body_start + body_lead)
        obj, err, found = _raw_object(body, body_start)
        if found:
            return obj, None
        fence_err = err or fence_err

    obj, err, found = _raw_object(text, 0)
    if found:
        return obj, None
    if fence_err is not None:
        return None, fence_err
    if err is not None:
        return None, err
    if _JSON_START.match(stripped):
        return None, whole_err
    return None, "no JSON object found in output"


def get_field(obj: Any, path: str) -> tuple[bool, Any]:
    """Look up a dotted path ("a.b", "items.0.name") in parsed JSON. Returns (found, value)."""
    cur = obj
    for part in path.split("."):
        if isinstance(cur, dict):
            if part not in cur:
                return False, None
            cur = cur[part]
        elif isinstance(cur, list) and re.fullmatch(r"-?\d+", part):
            i = int(part)
            if not -len(cur) <= i < len(cur):
                return False, None
            cur = cur[i]
        else:
            return False, None
    return True, cur


def reference_json(sample: Sample) -> tuple[Any, str | None]:
    """The sample's structured target: `sample.target` when set, else the parsed `sample.reference`."""
    if sample.target is not None:
        return sample.target, None
    if sample.reference is None:
        return None, "sample has no reference"
    obj, err = extract_json(sample.reference)
    if err is not None:
        return None, f"reference is not JSON ({err})"
    return obj, None


def output_field(text: str, field: str) -> tuple[bool, Any, str]:
    """The value at `field` in the output's JSON. Returns (ok, value, detail-if-not-ok)."""
    obj, err = extract_json(text)
    if err is not None:
        return False, None, err
    found, value = get_field(obj, field)
    if not found:
        return False, None, f"missing field {field!r} in output"
    return True, value, ""


def reference_field(sample: Sample, field: str) -> tuple[bool, Any, str]:
    """The value at `field` in the sample's structured target. Returns (ok, value, detail-if-not-ok)."""
    obj, err = reference_json(sample)
    if err is not None:
        return False, None, err
    found, value = get_field(obj, field)
    if not found:
        return False, None, f"reference has no field {field!r}"
    return True, value, ""


def as_text(value: Any) -> str:
    """A JSON value as text: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values that does not confuse `true` with `1` (Python's `True == 1`)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
