"""How far a judge can be trusted: agreement statistics and warnings reported with every judgment.

* position consistency: share of pairs whose verdict is the same in both orders;
* repeat agreement: share of re-asked calls (a seeded subset, asked again as new calls) whose verdict
  is identical to the first asking;
* length correlation: Pearson correlation of the verdict (B wins 1, tie 0.5, A wins 0) with the
  length difference len(B) - len(A) in words (point-biserial when there are no ties);
* family warning: the judge and a judged model share a model family (self-preference bias);
* agreement with human ratings: Cohen's kappa between the judge's outcome and human preferences for
  the same pairs, once ratings exist (`stats.human_agreement` on the ratings that
  `store.human_ratings.human_pairwise` reads: both_bad counts as a tie, a sample rated by three
  people contributes three pairs).

Position consistency, repeat agreement and the human agreement are computed by the pairwise workflow
(harness/pairwise); this module holds the pieces that need no store.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..stats.agreement import cohens_kappa  # re-exported: one kappa for judge and rating reports

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
__all__ = ["FAMILIES", "cohens_kappa", "family_warning", "model_families", "pearson"]


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
