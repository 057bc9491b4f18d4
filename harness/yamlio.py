"""YAML loading whose errors name the file and line: syntax errors, and pydantic validation
errors mapped back to the line of the offending key."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .errors import InputError, Problem
from .textio import read_text

M = TypeVar("M", bound=BaseModel)


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at `loc` (a pydantic error location), or of its nearest parent."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if k.value == key:
                    line = k.start_mark.line + 1
                    nxt = v
                    break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
        if node is None:
            break
    return line


def read_yaml(path: str | Path) -> tuple[Any, yaml.Node | None, str]:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    try:
        text = read_text(p)
    except OSError as e:  # a folder, no permission
        raise InputError(f"{p}: cannot read: {e.strerror or e}") from None
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(e, "problem", None) or str(e)
        raise InputError(f"{p}: invalid YAML", problems=[Problem(str(p), line, str(problem))]) from None
    return data, node, text


def load_model(
    path: str | Path, cls: type[M], *, extra: dict[str, Any] | None = None, what: str | None = None
) -> M:
    """Read YAML at `path` into the pydantic model `cls`; errors list file:line: field: message."""
    data, node, _ = read_yaml(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a YAML mapping at the top level, got {type(data).__name__}")
    return validate_model(data, cls, path=str(path), node=node, extra=extra, what=what)


def validate_model(
    data: dict[str, Any],
    cls: type[M],
    *,
    path: str,
    node: yaml.Node | None = None,
    extra: dict[str, Any] | None = None,
    what: str | None = None,
) -> M:
    try:
        return cls.model_validate({**data, **(extra or {})})
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = tuple(err["loc"])
            field = ".".join(str(x) for x in loc) or "(top level)"
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                import difflib

                allowed = list(cls.model_fields)
                close = difflib.get_close_matches(str(loc[-1]), allowed, n=1) if len(loc) == 1 else []
                msg = "unknown key" + (f"; did you mean {close[0]!r}?" if close else "")
            problems.append(Problem(path, _line_of(node, loc), f"{field}: {msg}"))
        raise InputError(f"{path}: invalid {what or cls.__name__}", problems=problems) from None
