"""Pairwise comparison of two runs by an LLM judge: every sample asked in both orders, B's win rate
with a CI, a length-controlled win rate, and the judge's reliability (`workflow`); the stored
result and how a reply becomes a verdict (`result`). A workflow next to harness/compare: it uses
harness.judge (client, templates, reliability), which never imports it. Text rendering:
reports/console/judge.py."""

from .result import (
    OUTCOME_VALUE,
    PAIRWISE_SCHEMA_VERSION,
    Outcome,
    PairVerdict,
    PairwiseResult,
    Reliability,
    combine,
    order_verdict,
    parse_pairwise_reply,
)
from .workflow import judge_pairwise, length_controlled_win_rate, words

__all__ = [
    "OUTCOME_VALUE",
    "PAIRWISE_SCHEMA_VERSION",
    "Outcome",
    "PairVerdict",
    "PairwiseResult",
    "Reliability",
    "combine",
    "judge_pairwise",
    "length_controlled_win_rate",
    "order_verdict",
    "parse_pairwise_reply",
    "words",
]
