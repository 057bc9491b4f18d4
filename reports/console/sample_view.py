"""Whole samples of a run, for `tunebench show RUN --sample ID` and `--full`: every input turn,
the complete output and reference, each score with its reason, and how the generation ended."""

from __future__ import annotations

from harness.fmt import num
from harness.health import completion_health
from harness.types import SampleResult


def _block(text: str | None) -> list[str]:
    if text is None:
        return ["    (none)"]
    if not text:
        return ["    (empty)"]
    return ["    " + ln for ln in text.split("\n")]


def sample_view(r: SampleResult, latency_label: str = "latency") -> str:
    c = r.completion
    h = completion_health(c)
    head = (
        f"== {r.sample_id}  finish={c.finish_reason}  prompt tokens {c.prompt_tokens}  "
        f"completion tokens {c.completion_tokens}  {latency_label} {num(c.latency_s, 2)}s"
    )
    if c.error:
        head += f"  error: {c.error}"
    out = [head]
    if h["repeated_lines"] or h["repeated_ngrams"]:
        out.append(
            f"   repeated lines {h['repeated_lines']:.0%}  repeated 4-grams {h['repeated_ngrams']:.0%}"
        )
    for s in r.scores:
        value = (
            "-"
            if s.value is None
            else (str(s.value).lower() if isinstance(s.value, bool) else num(float(s.value)))
        )
        out.append(f"   score {s.name} = {value}" + (f"  ({s.detail})" if s.detail else ""))
    out.append("input:")
    for m in r.prompt:
        out.append(f"  [{m.get('role', '?')}]")
        out += _block(str(m.get("content", "")))
    out.append("output:")
    out += _block(c.text)
    out.append("reference:")
    out += _block(r.reference)
    return "\n".join(out)
