"""A judge's win rate calibrated to human ratings of some of the same pairs.

Values: B wins 1, tie (or "both bad") 0.5, A wins 0. A pair rated by several people takes the mean
of their ratings. On the pairs the judge decided (abstentions and errors left out):

* the judge's raw win rate (its mean on all N pairs);
* the prediction-powered estimate of the HUMAN win rate (harness/stats/ppi.py): the judge's mean on
  all N plus the mean human-minus-judge difference on the n rated pairs, with a normal 95% CI. It
  corrects the judge's bias whatever it is, and is valid when the rated pairs are a random sample
  of the judged ones;
* the humans' mean on the rated pairs alone;
* the judge-human agreement: the share of ratings whose preference equals the judge's outcome, with
  a Wilson 95% CI (ratings of one pair are not independent: read it as approximate), and Cohen's
  kappa (`stats.human_agreement`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .. import stats
from .result import OUTCOME_VALUE, Calibration, PairVerdict

HUMAN_VALUE = {"B": 1.0, "A": 0.0, "tie": 0.5, "both_bad": 0.5}


def calibrate(pairs: Sequence[PairVerdict], ratings: Sequence[Mapping[str, str]]) -> Calibration | None:
    """The calibration of the judged pairs against human ratings; None when nothing is rated."""
    judged = {p.sample_id: OUTCOME_VALUE[p.outcome] for p in pairs if p.outcome in OUTCOME_VALUE}
    human: dict[str, list[float]] = {}
    for r in ratings:
        if r["sample_id"] in judged and r["preference"] in HUMAN_VALUE:
            human.setdefault(r["sample_id"], []).append(HUMAN_VALUE[r["preference"]])
    if not human:
        return None
    rated = sorted(human)
    f_all = list(judged.values())
    f = [judged[s] for s in rated]
    y = [sum(human[s]) / len(human[s]) for s in rated]
    cal = Calibration(
        n_judged=len(f_all),
        n_rated=len(rated),
        n_ratings=sum(len(v) for v in human.values()),
        judge_win_rate=sum(f_all) / len(f_all),
        human_win_rate_rated=sum(y) / len(y),
    )
    if len(rated) >= 2 and len(f_all) >= 2:
        est = stats.ppi_mean(f_all, f, y)
        cal.ppi_win_rate = min(1.0, max(0.0, est.point))
        cal.ppi_ci_low, cal.ppi_ci_high = max(0.0, est.low), min(1.0, est.high)
    else:
        cal.note = "a PPI interval needs at least 2 rated pairs"
    outcomes = {p.sample_id: p.outcome for p in pairs if p.outcome in OUTCOME_VALUE}
    agree = stats.human_agreement(outcomes, ratings)
    cal.kappa = agree.kappa
    if agree.agreement is not None and agree.n:
        cal.agreement = agree.agreement
        ci = stats.wilson_interval(round(agree.agreement * agree.n), agree.n)
        if ci is not None:
            cal.agreement_ci_low, cal.agreement_ci_high = ci
    if len(rated) < len(f_all) and cal.note is None:
        cal.note = (
            f"{len(rated)} of {len(f_all)} judged pairs carry human ratings: the PPI interval assumes "
            "they are a random sample of the judged pairs"
        )
    return cal
