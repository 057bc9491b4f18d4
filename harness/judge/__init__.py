"""LLM judges: single-answer rubric grading (`judge_rubric` scorer) and pairwise judging of two runs.

Judges talk to endpoints only through the `openai` backend (async, bounded concurrency, backoff with
jitter). Prompts are versioned templates (`harness/judge_templates/ID-vN.txt`); the judge model,
template id+version+hash and parameters key every call, which is cached and stored with its raw
replies in the `judge_calls` table. Unparseable replies are re-asked once, then counted as errors;
errors are never scores.
"""

from .client import (
    REPARSE_MESSAGE,
    JudgeClient,
    JudgeRequest,
    JudgeResult,
    JudgeUsage,
    ReplyParseError,
    judge_spec,
    parse_json_object,
)
from .pairwise import (
    PairVerdict,
    PairwiseResult,
    Reliability,
    judge_pairwise,
    length_controlled_win_rate,
    parse_pairwise_reply,
)
from .pricing import Price, PriceTable
from .reliability import (
    cohens_kappa,
    family_warning,
    human_agreement,
    model_families,
    pearson,
    read_human_ratings,
)
from .rubric import JudgeRubricScorer, judge_usage_for_run
from .templates import JudgeTemplate, builtin_templates, load_template, parse_template

__all__ = [
    "REPARSE_MESSAGE",
    "JudgeClient",
    "JudgeRequest",
    "JudgeResult",
    "JudgeRubricScorer",
    "JudgeTemplate",
    "JudgeUsage",
    "PairVerdict",
    "PairwiseResult",
    "Price",
    "PriceTable",
    "Reliability",
    "ReplyParseError",
    "builtin_templates",
    "cohens_kappa",
    "family_warning",
    "human_agreement",
    "judge_pairwise",
    "judge_spec",
    "judge_usage_for_run",
    "length_controlled_win_rate",
    "load_template",
    "model_families",
    "parse_json_object",
    "parse_pairwise_reply",
    "parse_template",
    "pearson",
    "read_human_ratings",
]
