"""Reading user text files as UTF-8, with errors that name the file, line and column.

A file saved in another encoding (Latin-1, Windows-1252, UTF-16) used to end in a traceback; these
helpers turn it into `file:line: not UTF-8 (byte 0xff at column N)`, an InputError (exit 2).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .errors import InputError, Problem


def utf8_error(raw_line: bytes) -> str | None:
    """Why `raw_line` (one line, as bytes) is not UTF-8, or None when it is. The column is the
    1-based character position of the first bad byte."""
    try:
        raw_line.decode("utf-8")
    except UnicodeDecodeError as e:
        column = len(raw_line[: e.start].decode("utf-8", errors="replace")) + 1
        return f"not UTF-8 (byte 0x{raw_line[e.start]:02x} at column {column})"
    return None


def iter_lines(path: str | Path) -> Iterator[tuple[int, str | None, str | None]]:
    """(1-based line number, text or None, problem or None) for each line of a text file, so a
    reader can collect every bad line at once."""
    with Path(path).open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            err = utf8_error(raw)
            yield lineno, (None if err else raw.decode("utf-8")), err


def utf8_problems(path: str | Path, limit: int = 50) -> list[Problem]:
    """Every line of `path` that is not UTF-8 (at most `limit`), as file:line problems."""
    out = []
    for lineno, _, err in iter_lines(path):
        if err:
            out.append(Problem(str(path), lineno, err))
            if len(out) >= limit:
                break
    return out


def read_text(path: str | Path) -> str:
    """The whole file as text; InputError listing the lines that are not UTF-8."""
    raw = Path(path).read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(
            f"{path}: not a UTF-8 text file",
            problems=utf8_problems(path),
            hint="save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 IN > OUT`)",
        ) from None
