"""Pairwise comparison of two runs by an LLM judge: every sample asked in both orders, B's win rate
with a CI, a length-controlled win rate, and the judge's reliability (`workflow`); panels of judges
(`panel`); the calibration to human ratings by prediction-powered inference (`calibration`); the
stored result and how a reply (or the judge's probabilities) becomes a verdict (`result`). A workflow next to harness/compare: it uses
harness.judge (client, templates, reliability), which never imports it. Text rendering:
reports/console/judge.py."""

from .calibration import calibrate
from .panel import majority
from .result import (
    LABELS,
    OUTCOME_VALUE,
    PAIRWISE_SCHEMA_VERSION,
    Calibration,
    JudgeSummary,
    JudgeVote,
    Outcome,
    PairVerdict,
    PairwiseResult,
    PanelSummary,
    Reliability,
    combine,
    order_choice,
    order_verdict,
    parse_pairwise_reply,
)
from .workflow import AUTO_TEMPLATE, MIN_CONSISTENCY, judge_pairwise, length_controlled_win_rate, words

__all__ = [
    "AUTO_TEMPLATE",
    "LABELS",
    "MIN_CONSISTENCY",
    "OUTCOME_VALUE",
    "PAIRWISE_SCHEMA_VERSION",
    "Calibration",
    "JudgeSummary",
    "JudgeVote",
    "Outcome",
    "PairVerdict",
    "PairwiseResult",
    "PanelSummary",
    "Reliability",
    "calibrate",
    "combine",
    "judge_pairwise",
    "length_controlled_win_rate",
    "majority",
    "order_choice",
    "order_verdict",
    "parse_pairwise_reply",
    "words",
]
