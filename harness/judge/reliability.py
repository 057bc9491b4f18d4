"""How far a judge can be trusted: agreement statistics and warnings reported with every judgment.

* position consistency: share of pairs whose verdict is the same in both orders (computed in
  `pairwise`);
* repeat agreement: share of re-asked calls (a seeded subset, asked again as new calls) whose verdict
  is identical to the first asking;
* length correlation: Pearson correlation of the verdict (B wins 1, tie 0.5, A wins 0) with the
  length difference len(B) - len(A) in words (point-biserial when there are no ties);
* family warning: the judge and a judged model share a model family (self-preference bias);
* agreement with human ratings: Cohen's kappa between the judge's outcome and human preferences for
  the same pairs, once ratings exist.

Human ratings are read from a `ratings` table when the store has one (the rating UI writes it). The
expected shape, one row per human judgment of one pair:

    run_a TEXT, run_b TEXT, sample_id TEXT, preference TEXT  -- preference in {A, B, tie, both_bad}

(further columns such as rater or created_at are ignored; when there is a `kind` column, only rows
with kind "pair" count: "gold" rows are attention checks). This is the shape of the `ratings` table
of store migration 5 (harness/ratings). A row stored with the runs swapped
(run_a = our B) has its A/B preference swapped. `both_bad` counts as "tie" (no preference) when
compared with the judge. Each rating row is one pair of (judge outcome, human preference), so a
sample rated by three people contributes three pairs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..store import Store

FAMILIES: dict[str, tuple[str, ...]] = {
    "gemma": ("gemma",),
    "llama": ("llama", "codellama", "tinyllama"),
    "qwen": ("qwen", "qwq"),
    "mistral": ("mistral", "mixtral", "ministral", "codestral"),
    "gpt": ("gpt", "chatgpt"),
    "claude": ("claude",),
    "phi": ("phi",),
    "deepseek": ("deepseek",),
    "falcon": ("falcon",),
    "olmo": ("olmo",),
    "smollm": ("smollm",),
    "granite": ("granite",),
    "command": ("command-r", "cohere"),
}
HUMAN_PREFERENCES = ("A", "B", "tie", "both_bad")


def model_families(*names: str | None) -> set[str]:
    """Family tokens found in model names or paths (case-insensitive, at word-ish boundaries: "phi"
    matches "phi-3" and "Phi3" but not "graphite")."""
    found: set[str] = set()
    for name in names:
        if not name:
            continue
        low = name.lower()
        for family, tokens in FAMILIES.items():
            for t in tokens:
                if re.search(rf"(?<![a-z]){re.escape(t)}(?![a-z])", low):
                    found.add(family)
    return found


def family_warning(judge_names: Sequence[str | None], judged: dict[str, Sequence[str | None]]) -> str | None:
    """A warning when the judge shares a family with any judged model; `judged` maps a label (e.g.
    "A", "B") to that model's names/paths."""
    jf = model_families(*judge_names)
    shared = []
    for tag, names in judged.items():
        common = sorted(jf & model_families(*names))
        if common:
            shared.append(f"{tag} ({', '.join(common)})")
    if not shared:
        return None
    return (
        f"the judge and the judged model(s) {', '.join(shared)} share a model family: "
        "judges tend to prefer answers of their own family; prefer a judge from another family"
    )


def cohens_kappa(a: Sequence[Any], b: Sequence[Any]) -> float | None:
    """Cohen's kappa of two raters' labels on the same items (any hashable labels). None with no
    items; 1.0 when both raters use one and the same label throughout (perfect, chance-free), and
    0.0 for any other case where chance agreement is 1."""
    if len(a) != len(b):
        raise ValueError(f"cohens_kappa: {len(a)} labels against {len(b)}")
    n = len(a)
    if n == 0:
        return None
    labels = sorted(set(a) | set(b), key=str)
    observed = sum(1 for x, y in zip(a, b, strict=True) if x == y) / n
    expected = sum((list(a).count(lab) / n) * (list(b).count(lab) / n) for lab in labels)
    if math.isclose(expected, 1.0):
        return 1.0 if math.isclose(observed, 1.0) else 0.0
    return (observed - expected) / (1.0 - expected)


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson correlation; None with fewer than 3 points or a constant variable."""
    if len(x) != len(y):
        raise ValueError("pearson: lengths differ")
    if len(x) < 3:
        return None
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if np.std(xa) == 0 or np.std(ya) == 0:
        return None
    return float(np.corrcoef(xa, ya)[0, 1])


def read_human_ratings(store: Store, run_a: str, run_b: str) -> list[tuple[str, str]]:
    """(sample_id, preference as seen from run_a vs run_b) for every stored human rating of these two
    runs; [] when the store has no `ratings` table (see the module docstring for its shape)."""
    if not store.has_table("ratings"):
        return []
    from sqlalchemy import inspect as sa_inspect
    from sqlalchemy import text

    columns = {c["name"] for c in sa_inspect(store.engine).get_columns("ratings")}
    if not {"run_a", "run_b", "sample_id", "preference"} <= columns:
        return []
    # attention checks (kind "gold") are not ratings of these pairs
    only_pairs = " AND (kind IS NULL OR kind = 'pair')" if "kind" in columns else ""
    out: list[tuple[str, str]] = []
    with store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT run_a, run_b, sample_id, preference FROM ratings "
                "WHERE ((run_a = :a AND run_b = :b) OR (run_a = :b AND run_b = :a))" + only_pairs
            ),
            {"a": run_a, "b": run_b},
        ).all()
    for ra, _rb, sid, pref in rows:
        if pref not in HUMAN_PREFERENCES:
            continue
        if ra != run_a and pref in ("A", "B"):
            pref = "B" if pref == "A" else "A"
        out.append((str(sid), str(pref)))
    return out


def human_agreement(
    judge_outcomes: dict[str, str], ratings: Iterable[tuple[str, str]]
) -> tuple[float | None, int]:
    """Cohen's kappa between judge outcomes (sample_id -> A/B/tie; errors skipped) and human
    preferences (both_bad read as tie), over the rated pairs the judge also judged; and that count."""
    judge, human = [], []
    for sid, pref in ratings:
        j = judge_outcomes.get(sid)
        if j is None or j == "error":
            continue
        judge.append(j)
        human.append("tie" if pref == "both_bad" else pref)
    return cohens_kappa(judge, human), len(judge)
