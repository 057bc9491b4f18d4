"""JSON scorers: `json_valid`, `json_schema`, `json_field_match`.

All of them find the output's JSON with `extract_json`, which is lenient on purpose: it accepts a bare
JSON value, JSON inside a ``` fence, or the first balanced {...} object in surrounding text. Only
`json_valid` with `strict: true` requires the whole (stripped) output to be JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..types import Completion, Sample, Score
from ._common import (
    extract_json,
    generation_error,
    get_field,
    json_equal,
    output_field,
    reference_field,
    show,
)
from .base import BaseScorer, ScoreContext, not_applicable, register_scorer

__all__ = ["JsonValidScorer", "JsonSchemaScorer", "JsonFieldMatchScorer", "extract_json", "get_field"]


@register_scorer("json_valid")
class JsonValidScorer(BaseScorer):
    """The output contains valid JSON. Lenient by default (see `extract_json`: fences and text around
    the first {...} object are allowed); `strict: true` requires the stripped output to be JSON."""

    value_range = (0.0, 1.0)

    def __init__(self, name: str, strict: bool = False):
        super().__init__(name)
        self.strict = strict

    def score(self, sample: Sample, completion: Completion, ctx: ScoreContext) -> list[Score]:
        err = generation_error(completion)
        if err:
            return [self.error_score(self.name, err)]
        text = completion.text
        if self.strict:
            stripped = text.strip()
            if not stripped:
                return [Score(name=self.name, value=False, detail="empty output")]
            try:
                json.loads(stripped)
            except json.JSONDecodeError as e:
                lead = len(text) - len(text.lstrip())
                return [
                    Score(name=self.name, value=False, detail=f"invalid JSON at char {e.pos + lead}: {e.msg}")
                ]
            return [Score(name=self.name, value=True)]
        _obj, why = extract_json(text)
        if why is not None:
            return [Score(name=self.name, value=False, detail=why)]
        return [Score(name=self.name, value=True)]


@register_scorer("json_schema")
class JsonSchemaScorer(BaseScorer):
    """The output's JSON validates against a JSON Schema (Draft 2020-12). `schema` is a path (relative
    paths resolve against the suite folder) or an inline schema. The detail names the most relevant
    error and where it is, e.g. "schema: 'urgent' is not one of ['low', 'high'] at $.priority"."""

    value_range = (0.0, 1.0)

    def __init__(self, name: str, schema: str | dict[str, Any]):
        super().__init__(name)
        if not isinstance(schema, (str, dict)):
            raise ValueError(f"schema must be a file path or a mapping, got {type(schema).__name__}")
        self.schema = schema
        self._validator: Any = None
        self._validator_root: Path | None = None
        if isinstance(schema, dict):
            self._validator = self._make_validator(schema, "inline schema")

    @staticmethod
    def _make_validator(schema: Any, where: str) -> Any:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as e:
            raise ValueError(f"{where} is not a valid JSON Schema: {e.message}") from e
        return Draft202012Validator(schema)

    def validator(self, ctx: ScoreContext) -> Any:
        """The validator, loaded once per instance (a schema file is read on first use)."""
        if self._validator is not None and (
            isinstance(self.schema, dict) or self._validator_root == ctx.suite_root
        ):
            return self._validator
        assert isinstance(self.schema, str)
        path = ctx.resolve(self.schema)
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"scorer {self.name!r}: schema file not found: {path}") from None
        except json.JSONDecodeError as e:
            raise InputError(
                f"scorer {self.name!r}: schema {path} is not JSON (line {e.lineno}: {e.msg})"
            ) from None
        try:
            self._validator = self._make_validator(schema, f"schema {path}")
        except ValueError as e:
            raise InputError(f"scorer {self.name!r}: {e}") from None
        self._validator_root = ctx.suite_root
        return self._validator

    def score(self, sample: Sample, completion: Completion, ctx: ScoreContext) -> list[Score]:
        err = generation_error(completion)
        if err:
            return [self.error_score(self.name, err)]
        validator = self.validator(ctx)
        obj, why = extract_json(completion.text)
        if why is not None:
            return [Score(name=self.name, value=False, detail=why)]
        from jsonschema.exceptions import best_match

        errors = list(validator.iter_errors(obj))
        if not errors:
            return [Score(name=self.name, value=True, data={"errors": 0})]
        first = best_match(errors)
        detail = f"schema: {first.message} at {first.json_path}"
        if len(errors) > 1:
            detail += f" (+{len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
        return [Score(name=self.name, value=False, detail=detail, data={"errors": len(errors)})]


def _normalize(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(value.split()).casefold()
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()}
    return value


@register_scorer("json_field_match")
class JsonFieldMatchScorer(BaseScorer):
    """A (dotted) field of the output's JSON equals the same field of the reference (parsed from
    `sample.target`, else `sample.reference`). With `normalize` (default) strings compare
    case-insensitively with whitespace collapsed, also inside lists and objects."""

    value_range = (0.0, 1.0)

    def __init__(self, name: str, field: str, normalize: bool = True):
        super().__init__(name)
        if not field:
            raise ValueError("field must be a non-empty (dotted) path")
        self.field = field
        self.normalize = normalize

    def score(self, sample: Sample, completion: Completion, ctx: ScoreContext) -> list[Score]:
        err = generation_error(completion)
        if err:
            return [self.error_score(self.name, err)]
        ok, expected, why = reference_field(sample, self.field)
        if not ok:
            return [not_applicable(self.name, why)]
        ok, got, why = output_field(completion.text, self.field)
        if not ok:
            return [Score(name=self.name, value=False, detail=why)]
        a, b = (_normalize(got), _normalize(expected)) if self.normalize else (got, expected)
        if json_equal(a, b):
            return [Score(name=self.name, value=True)]
        return [
            Score(
                name=self.name,
                value=False,
                detail=f"{self.field}: expected {show(expected)}, got {show(got)}",
            )
        ]
