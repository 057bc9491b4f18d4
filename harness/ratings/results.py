"""What the ratings of a campaign say: win rates, Bradley-Terry strengths, agreement, gold accuracy
and the judge against humans. The statistics themselves are in harness/stats/agreement.py.

Results (`campaign_results(store, campaign_id, admin_token)`, admin token required)
---------------------------------------------------------------------------------------
Gold items are left out of every statistic except gold accuracy.

* Win rate of run A against run B, per pair: (A wins + ties / 2) / (A wins + B wins + ties).
  "both bad" ratings are left out of the win rate and reported separately (count and share of the
  pair's ratings). 95% CI: percentile bootstrap over items (each resample draws items with
  replacement and keeps all ratings of a drawn item: a cluster bootstrap).
* Bradley-Terry strengths: P(i beats j) = p_i / (p_i + p_j), fitted by Hunter's (2004) MM algorithm
  on the win matrix (a tie is half a win for each side; both bad is left out), with `prior` = 0.1
  pseudo-wins added to every ordered pair so that an undefeated run keeps a finite strength.
  Reported as log-strength centred at mean 0 and as the expected win rate against a run of average
  strength (p_i / (p_i + 1) with p normalised to geometric mean 1); 95% CIs from refits on bootstrap
  resamples of the items.
* Inter-rater agreement on items rated by two or more raters: Krippendorff's alpha, nominal for the
  preference (in run terms: A, B, tie, both_bad), interval and ordinal for each 1-5 scale (a unit is
  one run's output on one item).
* Gold accuracy per rater: share of gold items answered with the better output; raters below
  `gold_threshold` (0.8) are flagged (`exclude_flagged=True` leaves their ratings out of the other
  statistics).
* Human position bias: the share of the ratings that prefer one output (pair items; ties and "both
  bad" left out) that prefer the output shown first, over all raters and per rater, with a 95%
  cluster-bootstrap CI over items (0.5: no bias; sides are counterbalanced per rater, so a bias
  does not move the win rates, but it says how much of the raters' choices is position).
  Each row also counts how often the item's run_a was shown first (half of the rater's pair items,
  +-1 per pair of runs, for campaigns made with counterbalancing).
* Judge against humans: for each pair of campaign runs with a stored pairwise judgment (records of
  kind "judgment", ref "RUN_A..RUN_B" in either order, the latest one), Cohen's kappa between the
  judge's outcome (A, B, tie; errors skipped) and each human rating of the same sample (both bad read
  as tie), with raw agreement and n.

For the judge (harness/pairwise)
--------------------------------
`human_pairwise(store, run_a, run_b)` (harness/store/human_ratings.py, re-exported by
harness.ratings) returns every human rating (all campaigns, gold items excluded) of these two runs
as [{"sample_id": str, "preference": "A"|"B"|"tie"|"both_bad"}], one entry per rating, with the
preference oriented as run_a against run_b; `stats.human_agreement` compares it with a judgment.
The `ratings` table holds run_a, run_b, sample_id and preference in run terms (gold rows have
run_a = run_b = NULL).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from ..errors import InputError
from ..stats import bradley_terry, human_agreement, krippendorff_alpha, win_rate_ci
from ..store import Store
from ..store import human_ratings as q
from .campaign import PREFERENCES, Campaign, admin_campaign

__all__ = [
    "AgreementResult",
    "CampaignResults",
    "JudgeAgreement",
    "PairResult",
    "PositionBias",
    "RaterResult",
    "StrengthResult",
    "campaign_results",
]

# --------------------------------------------------------------------------- results


class PairResult(BaseModel):
    run_a: str
    run_b: str
    label_a: str
    label_b: str
    n_items: int = Field(description="items with at least one rating that is not 'both bad'")
    n_ratings: int
    a_wins: int
    b_wins: int
    ties: int
    both_bad: int
    both_bad_rate: float | None
    win_rate_a: float | None = Field(description="(A wins + ties/2) / (A wins + B wins + ties)")
    ci_low: float | None
    ci_high: float | None


class StrengthResult(BaseModel):
    run: str
    label: str
    log_strength: float
    ci_low: float | None
    ci_high: float | None
    win_vs_average: float = Field(description="expected win rate against a run of average strength")
    scales: dict[str, float | None] = Field(default_factory=dict, description="mean 1-5 scale scores")


class AgreementResult(BaseModel):
    name: str
    level: str
    alpha: float | None
    n_units: int = Field(description="units rated by two or more raters")


class RaterResult(BaseModel):
    rater: str
    n_ratings: int
    n_gold: int
    gold_correct: int
    gold_accuracy: float | None
    flagged: bool


class PositionBias(BaseModel):
    rater: str | None = Field(None, description="None: every rater together")
    n_ratings: int = Field(description="pair ratings")
    a_first: int = Field(description="pair ratings where the item's run_a was shown first")
    n: int = Field(description="pair ratings preferring one output (ties and 'both bad' left out)")
    first: int = Field(description="of those, preferring the output shown first")
    share: float | None = Field(description="first / n; 0.5 = no position bias")
    ci_low: float | None
    ci_high: float | None


class JudgeAgreement(BaseModel):
    run_a: str
    run_b: str
    judgment: str
    n: int
    agreement: float | None
    kappa: float | None


class CampaignResults(BaseModel):
    campaign: str
    suite: str
    split: str
    runs: dict[str, str] = Field(description="run id -> label")
    scales: list[str] = Field(default_factory=list, description="the campaign's 1-5 scales")
    n_items: int
    n_gold_items: int
    n_ratings: int
    n_boot: int
    seed: int
    gold_threshold: float
    excluded_raters: list[str] = Field(default_factory=list)
    pairs: list[PairResult] = Field(default_factory=list)
    strengths: list[StrengthResult] = Field(default_factory=list)
    agreement: list[AgreementResult] = Field(default_factory=list)
    raters: list[RaterResult] = Field(default_factory=list)
    position_bias: list[PositionBias] = Field(
        default_factory=list, description="every rater together first, then each rater"
    )
    judge: list[JudgeAgreement] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def _judge_outcomes(store: Store, run_a: str, run_b: str) -> tuple[str, dict[str, str]] | None:
    """The latest pairwise judgment of these runs: (id, sample_id -> outcome as run_a vs run_b)."""
    found = q.latest_judgment(store, run_a, run_b)
    if found is None:
        return None
    rid, ref, body = found
    swapped = ref != f"{run_a}..{run_b}"
    swap = {"A": "B", "B": "A"}
    out = {}
    for p in body.get("pairs", []):
        o = p.get("outcome")
        if o in ("A", "B", "tie"):
            out[str(p.get("sample_id"))] = swap.get(o, o) if swapped else o
    return rid, out


def campaign_results(
    store: Store,
    campaign_id: str,
    admin_token: str,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    gold_threshold: float = 0.8,
    exclude_flagged: bool = False,
) -> CampaignResults:
    """Every statistic of a campaign (see the module docstring); InputError without the admin token."""
    camp = admin_campaign(store, campaign_id, admin_token)
    if n_boot < 1:
        raise InputError(f"n_boot must be >= 1, got {n_boot}")
    rows = q.rating_rows(store, campaign_id)
    shared = {it["token"]: bool(it["shared"]) for it in q.items_and_raters(store, campaign_id)[0]}
    res = CampaignResults(
        campaign=camp.id,
        suite=f"{camp.suite}@{camp.suite_version}+{camp.suite_hash[:12]}",
        split=camp.split,
        runs=camp.labels,
        scales=[sc.name for sc in camp.scales],
        n_items=camp.n_items,
        n_gold_items=camp.n_gold,
        n_ratings=len(rows),
        n_boot=n_boot,
        seed=seed,
        gold_threshold=gold_threshold,
        notes=list(camp.notes),
    )
    # raters and gold
    by_rater: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_rater.setdefault(r["rater"], []).append(r)
    for rater, rs in sorted(by_rater.items()):
        gold = [r for r in rs if r["kind"] == "gold"]
        correct = sum(r["preference"] == "A" for r in gold)
        acc = correct / len(gold) if gold else None
        res.raters.append(
            RaterResult(
                rater=rater,
                n_ratings=len(rs),
                n_gold=len(gold),
                gold_correct=correct,
                gold_accuracy=acc,
                flagged=acc is not None and acc < gold_threshold,
            )
        )
    if exclude_flagged:
        res.excluded_raters = [r.rater for r in res.raters if r.flagged]
    pair_rows = [r for r in rows if r["kind"] == "pair" and r["rater"] not in res.excluded_raters]
    if camp.n_gold and any(r.n_gold < camp.n_gold for r in res.raters):
        res.notes.append("some raters have not reached every gold item yet: their gold accuracy is partial")

    # win rates per pair; items are (sample, pair) units
    items: dict[str, list[dict[str, Any]]] = {}
    for r in pair_rows:
        items.setdefault(r["item"], []).append(r)
    for i, (a, b) in enumerate(combinations(camp.runs, 2)):
        prs = [r for r in pair_rows if r["run_a"] == a and r["run_b"] == b]
        cnt = {p: sum(r["preference"] == p for r in prs) for p in PREFERENCES}
        per_item: dict[str, list[float]] = {}
        for r in prs:
            if r["preference"] == "both_bad":
                continue
            acc2 = per_item.setdefault(r["item"], [0.0, 0.0])
            acc2[0] += {"A": 1.0, "tie": 0.5}.get(r["preference"], 0.0)
            acc2[1] += 1.0
        if per_item:
            point, lo, hi = win_rate_ci(
                [v[0] for v in per_item.values()],
                [v[1] for v in per_item.values()],
                n_boot=n_boot,
                seed=seed + i,
            )
            wr: float | None = point
            lo_: float | None = lo
            hi_: float | None = hi
        else:
            wr = lo_ = hi_ = None
        res.pairs.append(
            PairResult(
                run_a=a,
                run_b=b,
                label_a=camp.labels.get(a, a),
                label_b=camp.labels.get(b, b),
                n_items=len(per_item),
                n_ratings=len(prs),
                a_wins=cnt["A"],
                b_wins=cnt["B"],
                ties=cnt["tie"],
                both_bad=cnt["both_bad"],
                both_bad_rate=cnt["both_bad"] / len(prs) if prs else None,
                win_rate_a=wr,
                ci_low=lo_,
                ci_high=hi_,
            )
        )
    res.strengths = _strengths(camp, items, pair_rows, n_boot, seed)
    res.agreement = _agreement(items, res.scales)
    res.position_bias = [_position_bias(pair_rows, None, n_boot, seed)]
    for rater in sorted({r["rater"] for r in pair_rows}):
        mine = [r for r in pair_rows if r["rater"] == rater]
        res.position_bias.append(_position_bias(mine, rater, n_boot, seed))
    raced = sum(1 for rs in items.values() if len(rs) > 1 and not shared.get(rs[0]["item"], True))
    if raced:
        res.notes.append(
            f"{raced} item(s) meant for one rater were rated by more than one (raters on them at the "
            "same moment): every rating is kept"
        )
    res.judge = _judge_agreement(store, camp, pair_rows)
    return res


def _strengths(
    camp: Campaign,
    items: Mapping[str, list[dict[str, Any]]],
    pair_rows: list[dict[str, Any]],
    n_boot: int,
    seed: int,
) -> list[StrengthResult]:
    k = len(camp.runs)
    pos = {r: i for i, r in enumerate(camp.runs)}
    ii, jj, wa, wb = [], [], [], []
    for rs in items.values():
        a, b = pos[rs[0]["run_a"]], pos[rs[0]["run_b"]]
        x = sum({"A": 1.0, "tie": 0.5}.get(r["preference"], 0.0) for r in rs)
        y = sum({"B": 1.0, "tie": 0.5}.get(r["preference"], 0.0) for r in rs)
        if x + y > 0:
            ii.append(a)
            jj.append(b)
            wa.append(x)
            wb.append(y)
    # each item adds its A-side wins at (i, j) and B-side wins at (j, i): W = counts @ E
    n = len(ii)
    e = np.zeros((n, k * k))
    e[np.arange(n), np.asarray(ii, dtype=np.intp) * k + np.asarray(jj, dtype=np.intp)] = wa
    e[np.arange(n), np.asarray(jj, dtype=np.intp) * k + np.asarray(ii, dtype=np.intp)] = wb
    point = bradley_terry((np.ones(n) @ e).reshape(k, k))
    lo = hi = None
    if n > 1:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n, size=(n_boot, n))
        counts = np.zeros((n_boot, n))
        np.add.at(counts, (np.repeat(np.arange(n_boot), n), idx.ravel()), 1.0)
        boot = bradley_terry((counts @ e).reshape(n_boot, k, k))
        lo, hi = np.quantile(boot, 0.025, axis=0), np.quantile(boot, 0.975, axis=0)
    gm = np.exp(point)
    out = []
    for r, i in pos.items():
        scales: dict[str, float | None] = {}
        for s in camp.scales:
            found = [
                row.get(f"{'a' if row['run_a'] == r else 'b'}_{s.name}")
                for row in pair_rows
                if r in (row["run_a"], row["run_b"])
            ]
            vals = [float(v) for v in found if v is not None]
            scales[s.name] = float(np.mean(vals)) if vals else None
        out.append(
            StrengthResult(
                run=r,
                label=camp.labels.get(r, r),
                log_strength=float(point[i]),
                ci_low=None if lo is None else float(lo[i]),
                ci_high=None if hi is None else float(hi[i]),
                win_vs_average=float(gm[i] / (gm[i] + 1.0)),
                scales=scales,
            )
        )
    return sorted(out, key=lambda s: -s.log_strength)


def _position_bias(rows: list[dict[str, Any]], rater: str | None, n_boot: int, seed: int) -> PositionBias:
    per_item: dict[str, list[float]] = {}
    for r in rows:
        if r["preference"] in ("A", "B"):
            acc = per_item.setdefault(r["item"], [0.0, 0.0])
            acc[0] += float(r["preference"] == r["first"])
            acc[1] += 1.0
    n = int(sum(v[1] for v in per_item.values()))
    first = int(sum(v[0] for v in per_item.values()))
    share: float | None = None
    lo: float | None = None
    hi: float | None = None
    if per_item:
        share, lo, hi = win_rate_ci(
            [v[0] for v in per_item.values()], [v[1] for v in per_item.values()], n_boot=n_boot, seed=seed
        )
    return PositionBias(
        rater=rater,
        n_ratings=len(rows),
        a_first=sum(r["first"] == "A" for r in rows),
        n=n,
        first=first,
        share=share,
        ci_low=lo,
        ci_high=hi,
    )


def _agreement(items: Mapping[str, list[dict[str, Any]]], scales: list[str]) -> list[AgreementResult]:
    out = []
    pref_units = [[r["preference"] for r in rs] for rs in items.values()]
    out.append(
        AgreementResult(
            name="preference",
            level="nominal",
            alpha=krippendorff_alpha(pref_units, "nominal"),
            n_units=sum(len(u) >= 2 for u in pref_units),
        )
    )
    for s in scales:
        units = [
            [r[f"{side}_{s}"] for r in rs if r.get(f"{side}_{s}") is not None]
            for rs in items.values()
            for side in ("a", "b")
        ]
        n_units = sum(len(u) >= 2 for u in units)
        for level in ("interval", "ordinal"):
            out.append(
                AgreementResult(name=s, level=level, alpha=krippendorff_alpha(units, level), n_units=n_units)  # type: ignore[arg-type]
            )
    return out


def _judge_agreement(store: Store, camp: Campaign, pair_rows: list[dict[str, Any]]) -> list[JudgeAgreement]:
    out = []
    for a, b in combinations(camp.runs, 2):
        found = _judge_outcomes(store, a, b)
        if found is None:
            continue
        jid, outcomes = found
        human = [r for r in pair_rows if r["run_a"] == a and r["run_b"] == b]
        h = human_agreement(outcomes, human)
        out.append(
            JudgeAgreement(run_a=a, run_b=b, judgment=jid, n=h.n, agreement=h.agreement, kappa=h.kappa)
        )
    return out
