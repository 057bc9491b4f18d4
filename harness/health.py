"""Output health: what every run measures about its outputs regardless of the suite's scorers.

Scorers can pass an output that is broken in ways they do not look at: a model that never learned
to stop runs every answer to `max_new_tokens`, repeats a heading five times and trails off into junk,
and a presence check ("has the `## Assessment` section") still passes. So each run records, over its
generated outputs (log-likelihood samples and failed generations are left out):

- `truncated`: share of outputs that ended at the length limit (`finish_reason == "length"`);
- `repeated_lines`: mean per-output share of non-empty lines that repeat an earlier line;
- `repeated_ngrams`: mean per-output share of word 4-grams that repeat an earlier 4-gram
  (1 - distinct / total, the "rep-n" of Welleck et al. 2019);
- `empty`: share of outputs with no text (whitespace only);
- `n`: how many outputs these are computed over.

All four rates are in [0, 1] and lower is better. They are stored as `RunRecord.health`
(`HEALTH_KEYS` names them) so compare and gate can address them; `health_warnings` says what a
human should look at.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .types import Completion

NGRAM_N = 4
HEALTH_KEYS = ("truncated", "repeated_lines", "repeated_ngrams", "empty")
HEALTH_INFO = {
    "truncated": "share of outputs that ended at the length limit (max_new_tokens)",
    "repeated_lines": "mean share of an output's non-empty lines that repeat an earlier line",
    "repeated_ngrams": f"mean share of an output's word {NGRAM_N}-grams that repeat an earlier one",
    "empty": "share of empty (whitespace-only) outputs",
}
"""What each health rate means (all in [0, 1], lower is better)."""

TRUNCATED_WARN = 0.5
"""Warn when more than this share of outputs ran to the length limit."""
EMPTY_WARN = 0.5
"""Warn when more than this share of outputs are empty."""


def repeated_line_rate(text: str) -> float:
    """Share of the non-empty lines of `text` that repeat an earlier line (compared stripped and
    case-folded); 0 for fewer than two lines."""
    lines = [ln.strip().casefold() for ln in text.splitlines() if ln.strip()]
    if len(lines) < 2:
        return 0.0
    return 1.0 - len(set(lines)) / len(lines)


def repeated_ngram_rate(text: str, n: int = NGRAM_N) -> float:
    """1 - distinct / total word n-grams of `text` (whitespace words, case-folded); 0 when the
    text has fewer than n + 1 words (a single n-gram cannot repeat)."""
    words = text.casefold().split()
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if len(grams) < 2:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def counts_for_health(c: Completion) -> bool:
    """Generated outputs only: failed generations are counted as errors elsewhere, and
    log-likelihood samples generate nothing."""
    return c.error is None and c.finish_reason not in ("error", "loglikelihood")


def completion_health(c: Completion) -> dict[str, float]:
    """The health of one output: `truncated` and `empty` are 0 or 1, the repetition keys rates."""
    return {
        "truncated": float(c.finish_reason == "length"),
        "repeated_lines": repeated_line_rate(c.text),
        "repeated_ngrams": repeated_ngram_rate(c.text),
        "empty": float(not c.text.strip()),
    }


def output_health(completions: Iterable[Completion]) -> dict[str, float]:
    """Run-level health: the mean of `completion_health` over the generated outputs, plus `n`.
    `{}` when there are none (a run of only log-likelihood samples, or every generation failed)."""
    rows = [completion_health(c) for c in completions if counts_for_health(c)]
    if not rows:
        return {}
    out = {k: sum(r[k] for r in rows) / len(rows) for k in HEALTH_KEYS}
    out["n"] = float(len(rows))
    return out


def health_warnings(health: Mapping[str, float], run_id: str | None = None) -> list[str]:
    """What a person should look at, one sentence each; [] when nothing stands out. `run_id`
    names the run in the suggested `tunebench show` command."""
    out = []
    n = int(health.get("n", 0))
    trunc = health.get("truncated", 0.0)
    if n and trunc > TRUNCATED_WARN:
        out.append(
            f"{round(trunc * n)} of {n} outputs ({trunc:.0%}) ended at the length limit "
            "(generation.max_new_tokens): the model may not be ending its answers; read some "
            f"(`tunebench show {run_id or 'RUN'} --full`) before trusting the scores"
        )
    empty = health.get("empty", 0.0)
    if n and empty > EMPTY_WARN:
        out.append(f"{round(empty * n)} of {n} outputs ({empty:.0%}) are empty")
    return out


REPETITION_WARN = 0.3
"""Warn when a candidate's repetition rate (repeated lines or n-grams) is above this share."""
RISE_WARN = 0.1
"""Warn when a candidate's truncation or repetition rate rose by at least this much over the baseline."""


def repetition(health: Mapping[str, float]) -> float:
    """The larger of the repeated-line and repeated-n-gram rates."""
    return max(float(health.get("repeated_lines", 0.0)), float(health.get("repeated_ngrams", 0.0)))


def health_change_warnings(health_a: Mapping[str, float], health_b: Mapping[str, float]) -> list[str]:
    """Warnings for a comparison of baseline A and candidate B: the candidate truncates or repeats
    itself a lot, or more than the baseline did. [] when either run has no health recorded."""
    if not health_a.get("n") or not health_b.get("n"):
        return []
    out = []
    ta, tb = float(health_a.get("truncated", 0.0)), float(health_b.get("truncated", 0.0))
    if tb > TRUNCATED_WARN or tb - ta >= RISE_WARN:
        out.append(
            f"B's outputs ended at the length limit {tb:.0%} of the time (A: {ta:.0%}): it may not be "
            "ending its answers; read some before trusting the scores"
        )
    ra, rb = repetition(health_a), repetition(health_b)
    if rb > REPETITION_WARN or rb - ra >= RISE_WARN:
        out.append(f"B repeats itself: repetition rate {rb:.0%} (A: {ra:.0%})")
    return out
