"""Versioned judge prompt templates.

A template is a text file whose first line is a header naming it:

    # judge-template id=pairwise version=1
    [system]
    ...the system message...
    [user]
    ...the user message, with $placeholders...

Worked examples for small or base models go before the final turn as repeated `[user]` /
`[assistant]` sections (taken literally, no placeholders); the LAST `[user]` section is the one
that is filled in:

    [system] ... [user] example 1 [assistant] {"winner": "1"} [user] example 2 [assistant] ... [user] $question ...

A header may end with `reply=label`: the judge then answers with one allowed label, and the verdict
is read from its next-token probabilities where the backend returns them (harness/judge/probs.py).

Built-in templates live in `harness/judge_templates/ID-vVERSION.txt` and are referred to as
"ID-vVERSION" (e.g. "rubric-v1"); a path to a file of the same shape works too. The id, version and
sha256 of the file's text are part of every judgment's identity and cache key, so an edited template
never reuses an old verdict (a released template is never edited: copy it to the next version).
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import InputError

HEADER_RE = re.compile(
    r"^#\s*judge-template\s+id=(?P<id>[A-Za-z0-9_.-]+)\s+version=(?P<version>\d+)"
    r"(?:\s+reply=(?P<reply>json|label))?\s*$"
)
REF_RE = re.compile(r"^(?P<id>[A-Za-z0-9_.-]+?)-v(?P<version>\d+)$")
SECTION_RE = re.compile(r"^\[(system|user|assistant)\]\s*$", re.MULTILINE)


@dataclass(frozen=True)
class JudgeTemplate:
    id: str
    version: int
    system: str
    user: str
    sha256: str
    source: str = ""
    examples: tuple[tuple[str, str], ...] = ()
    reply: str = "json"
    """"json": the judge writes a JSON object, parsed strictly; "label": it answers with one allowed
    label ("1", "2", "tie"; a grade), read from its next-token probabilities where the backend gives
    them (harness/judge/probs.py), else parsed from the reply's first word."""

    @property
    def ref(self) -> str:
        return f"{self.id}-v{self.version}"

    @property
    def identity(self) -> dict[str, object]:
        return {"id": self.id, "version": self.version, "sha256": self.sha256}

    @property
    def label_reply(self) -> bool:
        return self.reply == "label"

    def placeholders(self) -> set[str]:
        names: set[str] = set()
        for part in (self.system, self.user):
            for m in string.Template.pattern.finditer(part):
                name = m.group("named") or m.group("braced")
                if name:
                    names.add(name)
        return names

    def render(self, **values: str) -> list[dict[str, str]]:
        """Chat messages (system, user) with every placeholder filled; a missing value is a KeyError."""
        missing = self.placeholders() - set(values)
        if missing:
            raise KeyError(f"template {self.ref} needs value(s) for {', '.join(sorted(missing))}")
        messages = []
        if self.system.strip():
            messages.append({"role": "system", "content": string.Template(self.system).substitute(values)})
        messages += [{"role": role, "content": text} for role, text in self.examples]
        messages.append({"role": "user", "content": string.Template(self.user).substitute(values)})
        return messages


def parse_template(text: str, source: str = "") -> JudgeTemplate:
    lines = text.splitlines()
    header = HEADER_RE.match(lines[0].strip()) if lines else None
    if header is None:
        raise InputError(
            f"judge template {source or '<text>'}: the first line must be '# judge-template id=ID version=N'"
        )
    body = "\n".join(lines[1:])
    parts = SECTION_RE.split(body)
    # parts: [preamble, name1, text1, name2, text2, ...]
    where = f"judge template {source or '<text>'}"
    ordered = [(name, chunk.strip("\n")) for name, chunk in zip(parts[1::2], parts[2::2], strict=True)]
    system = ""
    if ordered and ordered[0][0] == "system":
        system = ordered.pop(0)[1]
    if any(name == "system" for name, _ in ordered):
        raise InputError(f"{where}: [system] must come first, once")
    if not ordered or ordered[-1][0] != "user":
        raise InputError(f"{where}: no final [user] section")
    turns = ordered[:-1]
    for i, (name, _) in enumerate(turns):
        if name != ("user" if i % 2 == 0 else "assistant"):
            raise InputError(
                f"{where}: example turns must alternate [user] / [assistant] before the final [user]"
            )
    if len(turns) % 2:
        raise InputError(f"{where}: every example [user] needs its [assistant] answer")
    tmpl = JudgeTemplate(
        id=header["id"],
        version=int(header["version"]),
        system=system,
        user=ordered[-1][1],
        examples=tuple((("user" if n == "user" else "assistant"), t) for n, t in turns),
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        source=source,
        reply=header["reply"] or "json",
    )
    try:
        tmpl.placeholders()
        for part in (tmpl.system, tmpl.user):
            string.Template(part).safe_substitute({})
    except ValueError as e:
        raise InputError(f"judge template {source or '<text>'}: bad placeholder: {e}") from e
    return tmpl


def builtin_templates() -> list[str]:
    folder = resources.files("harness.judge_templates")
    return sorted(p.name[: -len(".txt")] for p in folder.iterdir() if p.name.endswith(".txt"))


def load_template(ref: str) -> JudgeTemplate:
    """A built-in template by "ID-vVERSION", or a template file by path."""
    path = Path(ref)
    if ref.endswith(".txt") and path.exists():
        return parse_template(path.read_text(encoding="utf-8"), source=str(path))
    m = REF_RE.match(ref)
    known = builtin_templates()
    if m is None or ref not in known:
        import difflib

        close = difflib.get_close_matches(ref, known, n=1)
        raise InputError(
            f"unknown judge template {ref!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
            hint=f"built-in templates: {', '.join(known)}; or give a path to a .txt template file",
        )
    text = resources.files("harness.judge_templates").joinpath(f"{ref}.txt").read_text(encoding="utf-8")
    tmpl = parse_template(text, source=f"harness/judge_templates/{ref}.txt")
    if tmpl.id != m["id"] or tmpl.version != int(m["version"]):
        raise InputError(
            f"judge template {ref}: its header says {tmpl.ref}; the file name and header must agree"
        )
    return tmpl


def reference_block(reference: str | None) -> str:
    """What a template's $reference_block becomes: the reference answer, or "" without one."""
    if not reference:
        return ""
    return f"\n[Reference answer]\n{reference}\n[End of reference answer]\n"
