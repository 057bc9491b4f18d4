"""What a pairwise judgment records: the verdict of each order per sample (`PairVerdict`, with each
panel judge's vote), the judge's reliability (`Reliability`), the panel's agreement (`PanelSummary`),
the calibration to human ratings (`Calibration`) and the stored result (`PairwiseResult`, a record of
kind "judgment"); and how a judge's reply becomes a verdict: a JSON reply's "winner", a label reply's
label, or the most probable label when the judge gave probabilities (an abstention when the allowed
answers' total probability is below the floor)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ..judge.client import JudgeResult, JudgeUsage, ReplyParseError, parse_json_object
from ..judge.probs import DEFAULT_MIN_MASS, read_choice

PAIRWISE_SCHEMA_VERSION = 1
Outcome = Literal["A", "B", "tie", "abstain", "error"]
OUTCOME_VALUE = {"B": 1.0, "tie": 0.5, "A": 0.0}
LABELS = ("1", "2", "tie")
"""A label template's allowed answers: answer 1 (shown first) is better, answer 2 is, or a tie."""


class JudgeVote(BaseModel):
    """One panel judge's verdicts on one pair."""

    judge: int = Field(description="index into PairwiseResult.judges")
    outcome: Outcome
    verdict_ab: Outcome
    verdict_ba: Outcome
    probs_ab: dict[str, float] | None = None
    probs_ba: dict[str, float] | None = None
    mass_ab: float | None = None
    mass_ba: float | None = None
    key_ab: str | None = None
    key_ba: str | None = None
    note: str | None = Field(None, description="the error or the abstention's reason")


class PairVerdict(BaseModel):
    """One sample: the verdict of each order (in A/B terms) and the pair's outcome."""

    sample_id: str
    outcome: Outcome
    verdict_ab: Outcome = Field(description="verdict when A's answer was shown first")
    verdict_ba: Outcome = Field(description="verdict when B's answer was shown first")
    consistent: bool | None = Field(None, description="same verdict in both orders (None on error)")
    len_a: int = 0
    len_b: int = 0
    key_ab: str | None = None
    key_ba: str | None = None
    reasoning_ab: str = ""
    reasoning_ba: str = ""
    error: str | None = None
    repeat_ab: Outcome | None = None
    repeat_ba: Outcome | None = None
    repeat_keys: list[str] = Field(default_factory=list)
    probs_ab: dict[str, float] | None = Field(
        None, description="A-first order: probability of A, B, tie (normalized over them), when given"
    )
    probs_ba: dict[str, float] | None = None
    mass_ab: float | None = Field(None, description="total probability the allowed answers got (A first)")
    mass_ba: float | None = None
    p_b: float | None = Field(None, description="mean over both orders of P(B) + P(tie) / 2")
    abstain: str | None = Field(None, description="why the judge abstained (mass below the floor)")
    votes: list[JudgeVote] = Field(default_factory=list, description="each panel judge's verdicts")


class JudgeSummary(BaseModel):
    """One panel judge: who it is and how it judged on its own."""

    label: str
    info: dict[str, Any] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)
    win_rate_b: float | None = None
    position_consistency: float | None = None
    first_position_rate: float | None = None
    mean_mass: float | None = Field(None, description="mean probability of the allowed answers")


class PanelSummary(BaseModel):
    rule: str = "majority of the judges' verdicts in each order (no majority: tie)"
    n_judges: int = 1
    fleiss_kappa: float | None = None
    n_items: int = Field(0, description="pairs every judge gave an outcome (A, B or tie) on")
    unanimous: float | None = Field(None, description="share of those pairs with one outcome from all")


class Calibration(BaseModel):
    """The human win rate estimated from the judge's verdicts on every pair plus the human ratings of
    some (prediction-powered inference, harness/stats/ppi.py)."""

    n_judged: int = 0
    n_rated: int = Field(0, description="judged pairs with at least one human rating")
    n_ratings: int = 0
    judge_win_rate: float | None = None
    human_win_rate_rated: float | None = Field(None, description="humans' mean on the rated pairs alone")
    ppi_win_rate: float | None = None
    ppi_ci_low: float | None = None
    ppi_ci_high: float | None = None
    agreement: float | None = Field(None, description="share of ratings with the judge's outcome")
    agreement_ci_low: float | None = None
    agreement_ci_high: float | None = None
    kappa: float | None = None
    note: str | None = None


class Reliability(BaseModel):
    position_consistency: float | None = None
    n_position: int = 0
    first_position_rate: float | None = Field(
        None, description="share of decisive per-order verdicts that picked the answer shown first"
    )
    repeat_agreement: float | None = None
    n_repeat: int = 0
    length_correlation: float | None = None
    n_length: int = 0
    families_judge: list[str] = Field(default_factory=list)
    families_a: list[str] = Field(default_factory=list)
    families_b: list[str] = Field(default_factory=list)
    family_warning: str | None = None
    kappa: float | None = None
    n_rated: int = 0
    mean_mass: float | None = Field(None, description="mean probability of the allowed answers")


class PairwiseResult(BaseModel):
    schema_version: int = PAIRWISE_SCHEMA_VERSION
    id: str
    created_at: str
    run_a: str
    run_b: str
    model_a: str
    model_b: str
    suite: str
    suite_version: str
    suite_hash: str
    split: str
    judge: str
    judge_identity: str
    template: str
    template_version: int
    template_hash: str
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    n_boot: int = 1000
    repeat_fraction: float = 0.2
    n_pairs: int = 0
    n_judged: int = Field(0, description="pairs with an outcome other than error")
    counts: dict[str, int] = Field(default_factory=dict)
    win_rate_b: float | None = None
    win_ci_low: float | None = None
    win_ci_high: float | None = None
    lc_win_rate_b: float | None = None
    lc_ci_low: float | None = None
    lc_ci_high: float | None = None
    lc_slope: float | None = Field(None, description="change in y per standard deviation of len(B)-len(A)")
    reliability: Reliability = Field(default_factory=Reliability)
    usage: JudgeUsage = Field(default_factory=JudgeUsage)
    pairs: list[PairVerdict] = Field(default_factory=list)
    call_keys: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    min_mass: float = Field(DEFAULT_MIN_MASS, description="below this mass of the allowed answers: abstain")
    min_consistency: float = Field(0.6, description="below this position consistency no win rate is claimed")
    win_rate_claimed: bool = True
    claim_note: str | None = None
    judges: list[JudgeSummary] = Field(default_factory=list)
    panel: PanelSummary | None = None
    calibration: Calibration | None = None


# --------------------------------------------------------------------------- parsing


def parse_pairwise_reply(text: str) -> dict[str, Any]:
    """{"reasoning": str, "winner": "1" | "2" | "tie"}; the winner may also be the integer 1 or 2."""
    obj = parse_json_object(text)
    reasoning = obj.get("reasoning")
    if not isinstance(reasoning, str):
        raise ReplyParseError('the object needs a string "reasoning"')
    if "winner" not in obj:
        raise ReplyParseError('the object needs "winner": "1", "2" or "tie"')
    w = obj["winner"]
    if isinstance(w, int) and not isinstance(w, bool):
        w = str(w)
    if not isinstance(w, str) or w.strip().lower() not in ("1", "2", "tie"):
        raise ReplyParseError(f'"winner" must be "1", "2" or "tie", got {obj["winner"]!r}')
    return {"reasoning": reasoning, "winner": w.strip().lower()}


def order_choice(
    result: JudgeResult, a_first: bool, *, min_mass: float = DEFAULT_MIN_MASS
) -> tuple[Outcome, dict[str, float] | None, float | None, str | None]:
    """One order's (verdict in A/B terms, probabilities of A/B/tie normalized, mass, note): "error"
    on a failed call, "abstain" when the judge's probabilities give the allowed answers less than
    `min_mass` (note: the reason)."""
    if not result.ok or result.parsed is None:
        return "error", None, None, result.error
    parsed = result.parsed
    first, second = ("A", "B") if a_first else ("B", "A")
    to_run = {"1": first, "2": second, "tie": "tie"}
    if parsed.get("mode") == "probs":
        choice = read_choice(parsed.get("probs") or {}, LABELS, min_mass=min_mass)
        mass = float(choice["mass"])
        if choice["label"] is None:
            return "abstain", None, mass, str(choice["abstain"])
        norm = {to_run[k]: float(v) for k, v in choice["normalized"].items()}
        return to_run[choice["label"]], norm, mass, None  # type: ignore[return-value]
    w = parsed.get("winner", parsed.get("label"))
    return to_run.get(str(w), "error"), None, None, None  # type: ignore[return-value]


def order_verdict(result: JudgeResult, a_first: bool, *, min_mass: float = DEFAULT_MIN_MASS) -> Outcome:
    """One order's verdict in A/B terms (`a_first`: A's answer was shown first); "error" on failure,
    "abstain" when the judge's probabilities give the allowed answers less than `min_mass`."""
    return order_choice(result, a_first, min_mass=min_mass)[0]


def combine(ab: Outcome, ba: Outcome) -> Outcome:
    if "error" in (ab, ba):
        return "error"
    if "abstain" in (ab, ba):
        return "abstain"
    return ab if ab == ba else "tie"
