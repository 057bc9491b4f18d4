"""A panel of judges on the same pairs: the panel's verdict in each order is the majority of the
judges' verdicts (abstentions and errors do not vote; no strict majority is a tie; nobody voting is
an abstention, or an error when every judge failed); how much the judges agree (Fleiss' kappa over
their pair outcomes, on the pairs every judge gave an outcome); and each judge's own numbers.

With one judge the panel's verdicts are that judge's."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from .. import stats
from .result import OUTCOME_VALUE, JudgeSummary, JudgeVote, Outcome, PanelSummary

DECIDED = ("A", "B", "tie")


def majority(verdicts: Sequence[Outcome]) -> Outcome:
    votes = [v for v in verdicts if v in DECIDED]
    if not votes:
        return "abstain" if "abstain" in verdicts else "error"
    (top, count), *_ = Counter(votes).most_common(1)
    return top if 2 * count > len(votes) else "tie"


def position_stats(verdicts: Sequence[tuple[Outcome, Outcome]]) -> tuple[float | None, float | None, int]:
    """(position consistency, first-position rate, pairs decided) of (A-first, B-first) verdicts."""
    decided = [(ab, ba) for ab, ba in verdicts if ab in DECIDED and ba in DECIDED]
    consistency = sum(ab == ba for ab, ba in decided) / len(decided) if decided else None
    first = total = 0
    for ab, ba in verdicts:
        for verdict, shown_first in ((ab, "A"), (ba, "B")):
            if verdict in ("A", "B"):
                total += 1
                first += verdict == shown_first
    return consistency, (first / total if total else None), len(decided)


def judge_summary(label: str, info: dict[str, object], votes: Sequence[JudgeVote]) -> JudgeSummary:
    counts = {o: sum(1 for v in votes if v.outcome == o) for o in ("A", "B", "tie", "abstain", "error")}
    decided = [OUTCOME_VALUE[v.outcome] for v in votes if v.outcome in DECIDED]
    consistency, first, _ = position_stats([(v.verdict_ab, v.verdict_ba) for v in votes])
    masses = [m for v in votes for m in (v.mass_ab, v.mass_ba) if m is not None]
    return JudgeSummary(
        label=label,
        info=dict(info),
        counts=counts,
        win_rate_b=sum(decided) / len(decided) if decided else None,
        position_consistency=consistency,
        first_position_rate=first,
        mean_mass=sum(masses) / len(masses) if masses else None,
    )


def panel_summary(votes_by_pair: Sequence[Sequence[JudgeVote]], n_judges: int) -> PanelSummary:
    """Fleiss' kappa of the judges' pair outcomes (A, B, tie) on the pairs all of them decided."""
    units = [
        [v.outcome for v in votes]
        for votes in votes_by_pair
        if len(votes) == n_judges and all(v.outcome in DECIDED for v in votes)
    ]
    out = PanelSummary(n_judges=n_judges, n_items=len(units))
    if n_judges >= 2 and units:
        out.fleiss_kappa = stats.fleiss_kappa_labels(units)
        out.unanimous = sum(len(set(u)) == 1 for u in units) / len(units)
    return out
