"""The README's scorer table ("Your own task") lists every registered scorer type with each of its
arguments, and nothing that is not registered, so the documentation cannot fall behind the code.

Run as a script (`python tests/test_readme_scorers.py`) to print a row to start from for every type
or argument the table is missing."""

from __future__ import annotations

import re
from pathlib import Path

from harness.scorers import describe_args, scorer_registry

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "### Scorers and their arguments"


def readme_rows(text: str | None = None) -> dict[str, tuple[str, str]]:
    """type -> (arguments cell, description cell) from the table under SECTION."""
    text = README.read_text(encoding="utf-8") if text is None else text
    start = text.index(SECTION)
    end = text.find("\n#", start + len(SECTION))
    rows = {}
    for line in text[start : end if end > 0 else None].splitlines():
        m = re.match(r"\|\s*`([a-z_]+)`\s*\|(.*)\|(.*)\|\s*$", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3))
    return rows


def missing() -> dict[str, list[str]]:
    """Registered types absent from the table ([] as value) or with arguments it does not name."""
    rows = readme_rows()
    out: dict[str, list[str]] = {}
    for name in scorer_registry.names():
        args = list(describe_args(scorer_registry.get(name)))
        if name not in rows:
            out[name] = args or ["(no arguments)"]
            continue
        absent = [a for a in args if f"`{a}`" not in rows[name][0]]
        if absent:
            out[name] = absent
    return out


def test_every_scorer_type_and_argument_is_in_the_readme() -> None:
    assert missing() == {}, "README scorer table is behind the registry: " + str(missing())


def test_no_row_for_an_unregistered_type() -> None:
    rows = readme_rows()
    assert len(rows) >= 10
    assert set(rows) <= set(scorer_registry.names())


def test_a_type_without_arguments_says_none() -> None:
    rows = readme_rows()
    for name in scorer_registry.names():
        if not describe_args(scorer_registry.get(name)):
            assert rows[name][0].strip() == "none", name


def test_the_check_can_fail() -> None:
    rows = readme_rows(f"{SECTION}\n\n| `regex` | `pattern`, `flags` | x |\n\n### next\n| `rouge` | | |\n")
    assert set(rows) == {"regex"} and "`must_match`" not in rows["regex"][0]


if __name__ == "__main__":
    for name, args in missing().items():
        defaults = describe_args(scorer_registry.get(name))
        cell = ", ".join(f"`{a}` ({defaults.get(a)!r})" for a in args if a in defaults) or "none"
        print(f"| `{name}` | {cell} | ... |")
