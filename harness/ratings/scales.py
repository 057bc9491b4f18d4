"""The 1-5 scales a campaign's raters score each output on.

A campaign's scales come from `rate create --scales FILE`: a YAML list of
`{name, description, required}` (required defaults to true), e.g.

    - name: correctness
      description: Is the category right for the ticket?
    - name: politeness
      description: Would a customer find the summary polite?
      required: false

Without a file a campaign uses the four default scales (`DEFAULT_SCALES`). The four default names
have columns of their own in the `ratings` table; scores on any other scale go to `rating_scores`
(harness/store/human_ratings.py reads both back alike as "a_<scale>" / "b_<scale>")."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError, Problem
from ..yamlio import read_yaml

__all__ = ["DEFAULT_SCALES", "SCALES", "Scale", "load_scales", "scales_from_json", "scales_to_json"]


@dataclass(frozen=True)
class Scale:
    name: str
    description: str
    required: bool = True

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").capitalize()


DEFAULT_SCALES = (
    Scale("accuracy", "Is it correct and faithful to the input?"),
    Scale("format", "Does it follow the requested format?"),
    Scale("tone", "Is the tone appropriate?"),
    Scale("completeness", "Does it cover everything asked?"),
)
SCALES = tuple(s.name for s in DEFAULT_SCALES)
"""The default scales' names; each has a column of its own in `ratings` (a_<name>, b_<name>)."""

NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_SCALES = 12
KEYS = ("name", "description", "required")


def scales_to_json(scales: Iterable[Scale]) -> list[dict[str, Any]]:
    return [asdict(s) for s in scales]


def scales_from_json(data: Iterable[Mapping[str, Any]] | None) -> tuple[Scale, ...]:
    """Scales as stored in a campaign's body; the defaults for a campaign made before scales were stored."""
    if not data:
        return DEFAULT_SCALES
    return tuple(
        Scale(str(d["name"]), str(d.get("description", "")), bool(d.get("required", True))) for d in data
    )


def _line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


def _check(
    entry: Any, node: yaml.Node | None, path: str, seen: set[str]
) -> tuple[Scale | None, list[Problem]]:
    line = _line(node)
    if not isinstance(entry, dict):
        return None, [Problem(path, line, "each scale is a mapping with name, description and required")]
    keys = {k.value: k for k, _ in node.value} if isinstance(node, yaml.MappingNode) else {}
    problems = [
        Problem(path, _line(keys.get(k)) or line, f"unknown key {k!r} (keys: {', '.join(KEYS)})")
        for k in entry
        if k not in KEYS
    ]
    name, desc, req = entry.get("name"), entry.get("description"), entry.get("required", True)
    if not isinstance(name, str) or not NAME.match(name):
        problems.append(
            Problem(
                path,
                _line(keys.get("name")) or line,
                f"name must be lowercase letters, digits or _ (starting with a letter, 40 at most), got {name!r}",
            )
        )
    elif name in seen:
        problems.append(Problem(path, _line(keys.get("name")) or line, f"scale {name!r} is named twice"))
    if not isinstance(desc, str) or not desc.strip() or len(desc) > 500:
        problems.append(
            Problem(
                path,
                _line(keys.get("description")) or line,
                "description must be a non-empty string (500 at most)",
            )
        )
    if not isinstance(req, bool):
        problems.append(
            Problem(path, _line(keys.get("required")) or line, f"required must be true or false, got {req!r}")
        )
    if problems:
        return None, problems
    seen.add(str(name))
    return Scale(str(name), str(desc).strip(), bool(req)), []


def load_scales(path: str | Path) -> tuple[Scale, ...]:
    """A campaign's scales from a YAML list of {name, description, required}; InputError listing
    every problem as file:line otherwise."""
    p = str(path)
    data, node, _ = read_yaml(path)
    if isinstance(data, dict) and set(data) == {"scales"}:  # `scales: [...]` is read the same
        data = data["scales"]
        node = node.value[0][1] if isinstance(node, yaml.MappingNode) else None
    if not isinstance(data, list) or not data:
        raise InputError(
            f"{p}: expected a YAML list of scales",
            [Problem(p, _line(node) or 1, "expected a non-empty list of {name, description, required}")],
            hint="- name: accuracy\n    description: Is it correct?\n    required: true",
        )
    nodes = node.value if isinstance(node, yaml.SequenceNode) else [None] * len(data)
    scales: list[Scale] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for entry, n in zip(data, nodes, strict=False):
        s, probs = _check(entry, n, p, seen)
        problems += probs
        if s is not None:
            scales.append(s)
    if len(data) > MAX_SCALES:
        problems.append(Problem(p, _line(node), f"{len(data)} scales: {MAX_SCALES} at most"))
    if problems:
        raise InputError(f"{p}: {len(problems)} problem(s) in the scales", problems)
    return tuple(scales)
