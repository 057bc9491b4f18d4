"""Scorers: importing this package registers every built-in scorer type.

Built-in types: exact_match, normalized_match, regex (match.py); json_valid, json_schema,
json_field_match (json_scorers.py); classification (classification.py); required_sections, length,
rouge (text.py); perplexity (perplexity.py); evaluate (evaluate_module.py).
"""

from ._common import extract_json, get_field
from .base import (
    BaseScorer,
    LoglikelihoodModel,
    ScoreContext,
    Scorer,
    build_scorer,
    describe_args,
    not_applicable,
    register_scorer,
    scorer_registry,
)
from .classification import ClassificationScorer, macro_prf
from .evaluate_module import EvaluateScorer
from .json_scorers import JsonFieldMatchScorer, JsonSchemaScorer, JsonValidScorer
from .loglik import InstructionCheckScorer, McAccuracyScorer, PplScorer, sample_task
from .match import ExactMatchScorer, NormalizedMatchScorer, RegexScorer, normalize_text
from .perplexity import PerplexityScorer
from .text import LengthScorer, RequiredSectionsScorer, RougeScorer, split_sentences

# the LLM judge's rubric scorer lives with the judge; it registers itself when first asked for
scorer_registry.register_lazy("judge_rubric", "harness.judge.rubric")

__all__ = [
    "BaseScorer",
    "ClassificationScorer",
    "EvaluateScorer",
    "ExactMatchScorer",
    "InstructionCheckScorer",
    "JsonFieldMatchScorer",
    "JsonSchemaScorer",
    "JsonValidScorer",
    "LengthScorer",
    "LoglikelihoodModel",
    "McAccuracyScorer",
    "NormalizedMatchScorer",
    "PerplexityScorer",
    "PplScorer",
    "RegexScorer",
    "RequiredSectionsScorer",
    "RougeScorer",
    "ScoreContext",
    "Scorer",
    "build_scorer",
    "describe_args",
    "extract_json",
    "get_field",
    "macro_prf",
    "normalize_text",
    "not_applicable",
    "register_scorer",
    "sample_task",
    "scorer_registry",
    "split_sentences",
]
