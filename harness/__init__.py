"""tunebench: evaluation-first harness for fine-tuned language models.

Public API; heavy dependencies (torch, transformers, openai) load only when a backend needs them.
"""

# Loop pieces built on the core (imported lazily where they pull heavy dependencies)
from .baseline import BaselineResult, load_variants, select_baseline  # noqa: E402
from .compare import Comparison, compare_runs  # noqa: E402
from .data import load_samples, validate_file
from .errors import BackendError, InputError, Problem, TunebenchError
from .gate import GatePolicy, Verdict, evaluate_gate, get_verdict, load_policy  # noqa: E402
from .hygiene import HygieneConfig, HygieneReport, check_dataset, write_clean  # noqa: E402
from .judge import cohens_kappa  # noqa: E402
from .models import ModelBackend, create_backend, parse_spec
from .nightly import load_plan, run_nightly, trend_points  # noqa: E402
from .pairwise import PairwiseResult, judge_pairwise  # noqa: E402
from .registry import Registry
from .registry_models import bless, blessed_run  # noqa: E402
from .runner import LazyBackend, aggregate, generation_key, run_suite
from .scorers import BaseScorer, ScoreContext, Scorer, build_scorer, register_scorer, scorer_registry
from .store import Store
from .suite import builtin_suites, draw_fewshot, load_split, load_suite, register_suite
from .types import (
    Completion,
    GenerationConfig,
    Message,
    MetricInfo,
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
    "BaselineResult",
    "Comparison",
    "GatePolicy",
    "HygieneConfig",
    "HygieneReport",
    "PairwiseResult",
    "Verdict",
    "bless",
    "blessed_run",
    "check_dataset",
    "cohens_kappa",
    "compare_runs",
    "evaluate_gate",
    "get_verdict",
    "judge_pairwise",
    "load_plan",
    "load_policy",
    "load_variants",
    "run_nightly",
    "select_baseline",
    "trend_points",
    "write_clean",
    "BackendError",
    "BaseScorer",
    "Completion",
    "GenerationConfig",
    "InputError",
    "LazyBackend",
    "Message",
    "MetricInfo",
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
