"""Errors a user can act on. The CLI turns `InputError` into exit code 2 with every problem listed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where (file and 1-based line, when known) and what."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"


class TunebenchError(Exception):
    """Base class for errors tunebench reports to users."""


class InputError(TunebenchError):
    """Bad user input (file, suite, spec, flag). Exit code 2; nothing is written."""

    def __init__(self, message: str, problems: list[Problem] | None = None, hint: str | None = None):
        self.problems = list(problems or [])
        self.hint = hint
        super().__init__(message)

    def render(self) -> str:
        lines = [f"error: {self.args[0]}"]
        lines += [f"  {p}" for p in self.problems]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)


class BackendError(TunebenchError):
    """A model backend failed in a way that is not the user's input."""
