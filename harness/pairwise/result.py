"""What a pairwise judgment records: the verdict of each order per sample (`PairVerdict`), the judge's
reliability (`Reliability`) and the stored result (`PairwiseResult`, a record of kind "judgment");
and how a judge's reply becomes a verdict."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ..judge.client import JudgeResult, JudgeUsage, ReplyParseError, parse_json_object

PAIRWISE_SCHEMA_VERSION = 1
Outcome = Literal["A", "B", "tie", "error"]
OUTCOME_VALUE = {"B": 1.0, "tie": 0.5, "A": 0.0}


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


def order_verdict(result: JudgeResult, a_first: bool) -> Outcome:
    """One order's verdict in A/B terms (`a_first`: A's answer was shown first); "error" on failure."""
    if not result.ok or result.parsed is None:
        return "error"
    w = result.parsed["winner"]
    if w == "tie":
        return "tie"
    first_wins = w == "1"
    return "A" if first_wins == a_first else "B"


def combine(ab: Outcome, ba: Outcome) -> Outcome:
    if "error" in (ab, ba):
        return "error"
    return ab if ab == ba else "tie"
