"""tunebench: evaluation-first harness for fine-tuned language models.

Public API; heavy dependencies (torch, transformers, openai) load only when a backend needs them.
"""

from .data import load_samples, validate_file
from .errors import BackendError, InputError, Problem, TunebenchError
from .models import ModelBackend, create_backend, parse_spec
from .registry import Registry
from .runner import LazyBackend, aggregate, generation_key, run_suite
from .scorers import BaseScorer, ScoreContext, Scorer, build_scorer, register_scorer, scorer_registry
from .store import Store
from .suite import builtin_suites, draw_fewshot, load_split, load_suite, register_suite
from .types import (
    Completion,
    GenerationConfig,
    Message,
    MetricValue,
    ModelSpec,
    PromptConfig,
    RunRecord,
    Sample,
    SampleResult,
    Score,
    ScorerSpec,
    Suite,
)
from .workspace import workspace_dir

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "BaseScorer",
    "Completion",
    "GenerationConfig",
    "InputError",
    "LazyBackend",
    "Message",
    "MetricValue",
    "ModelBackend",
    "ModelSpec",
    "Problem",
    "PromptConfig",
    "Registry",
    "RunRecord",
    "Sample",
    "SampleResult",
    "Score",
    "ScoreContext",
    "Scorer",
    "ScorerSpec",
    "Store",
    "Suite",
    "TunebenchError",
    "aggregate",
    "build_scorer",
    "builtin_suites",
    "create_backend",
    "draw_fewshot",
    "generation_key",
    "load_samples",
    "load_split",
    "load_suite",
    "parse_spec",
    "register_scorer",
    "register_suite",
    "run_suite",
    "scorer_registry",
    "validate_file",
    "workspace_dir",
]
