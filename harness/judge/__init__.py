"""LLM judges: the client, versioned templates, prices, reliability measures and the single-answer
rubric grading scorer (`judge_rubric`). Pairwise judging of two runs is a workflow built on these
(harness/pairwise); this package never imports it.

Judges talk to endpoints through the `openai` backend (async, bounded concurrency, backoff with
jitter) or run in process on a local hf model (`transport`). Label templates read the verdict from
the judge's probabilities over the allowed answers (`probs`), free text being the fallback. Prompts are versioned templates (`harness/judge_templates/ID-vN.txt`); the judge model,
template id+version+hash and parameters key every call, which is cached and stored with its raw
replies in the `judge_calls` table. Unparseable replies are re-asked once, then counted as errors;
errors are never scores.
"""

from .client import (
    LABEL_REPARSE_MESSAGE,
    REPARSE_MESSAGE,
    JudgeClient,
    JudgeRequest,
    JudgeResult,
    JudgeUsage,
    ReplyParseError,
    judge_spec,
    parse_json_object,
)
from .pricing import Price, PriceTable
from .probs import DEFAULT_MIN_MASS, expected_grade, read_choice
from .reliability import cohens_kappa, family_warning, model_families, pearson
from .rubric import JudgeRubricScorer, judge_usage_for_run
from .templates import JudgeTemplate, builtin_templates, load_template, parse_template, reference_block

__all__ = [
    "DEFAULT_MIN_MASS",
    "LABEL_REPARSE_MESSAGE",
    "REPARSE_MESSAGE",
    "JudgeClient",
    "JudgeRequest",
    "JudgeResult",
    "JudgeRubricScorer",
    "JudgeTemplate",
    "JudgeUsage",
    "Price",
    "PriceTable",
    "ReplyParseError",
    "builtin_templates",
    "cohens_kappa",
    "expected_grade",
    "family_warning",
    "judge_spec",
    "judge_usage_for_run",
    "load_template",
    "model_families",
    "parse_json_object",
    "parse_template",
    "pearson",
    "read_choice",
    "reference_block",
]
