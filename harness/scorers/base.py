"""The scorer interface. A scorer turns (sample, completion) into Scores; `metrics` aggregates them.

Per-sample scorers average `Score.value` per `Score.name` (the default). Corpus-level scorers
(macro-F1) set `corpus_level = True` and override `metrics`; bootstrap CIs then resample samples
and call `metrics` again on each resample.
"""

from __future__ import annotations

import inspect
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from ..errors import InputError
from ..registry import Registry
from ..types import Completion, Sample, Score, ScorerSpec


class LoglikelihoodModel(Protocol):
    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, int]]:
        """(context, continuation) -> (sum log-prob of continuation tokens, number of those tokens)."""
        ...


@dataclass
class ScoreContext:
    """What a scorer may need besides the sample: the suite folder (to resolve files such as a JSON
    schema), the exact prompt text, the model (for reference perplexity), and the run's store (an
    LLM judge caches its calls there)."""

    suite_root: Path | None = None
    prompt_text: str = ""
    model: LoglikelihoodModel | None = None
    store: Any = None

    def resolve(self, path: str) -> Path:
        p = Path(path)
        if not p.is_absolute() and self.suite_root is not None:
            p = self.suite_root / p
        return p


class Scorer(Protocol):
    name: str

    def score(self, sample: Sample, completion: Completion, ctx: ScoreContext) -> list[Score]: ...


class BaseScorer:
    """Subclass, register with `@register_scorer("type")`, implement `score`. Keyword arguments of
    `__init__` are the scorer's `args` in suite YAML; they are recorded in every run."""

    corpus_level: ClassVar[bool] = False
    needs_model: ClassVar[bool] = False

    def __init__(self, name: str):
        self.name = name

    def score(self, sample: Sample, completion: Completion, ctx: ScoreContext) -> list[Score]:
        raise NotImplementedError

    def prepare(self, items: Sequence[tuple[Sample, Completion]], ctx: ScoreContext) -> None:
        """Called once with every (sample, completion) before per-sample scoring, so a scorer that
        calls a remote model (an LLM judge) can batch its calls. Default: nothing."""

    def metrics(self, scores: Sequence[Score]) -> dict[str, float]:
        """Default: mean of `value` per Score.name (bools count 1/0; None is skipped)."""
        sums: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        for s in scores:
            if s.value is None:
                continue
            sums[s.name] += float(s.value)
            counts[s.name] += 1
        return {k: sums[k] / counts[k] for k in sums if counts[k]}

    def metric_names(self) -> list[str]:
        """Names this scorer reports, for docs and gate validation (best effort)."""
        return [self.name]


scorer_registry: Registry[type[BaseScorer]] = Registry("scorer")


def register_scorer(type_name: str) -> Callable[[type[BaseScorer]], type[BaseScorer]]:
    def deco(cls: type[BaseScorer]) -> type[BaseScorer]:
        cls.type_name = type_name  # type: ignore[attr-defined]
        return scorer_registry.register(type_name)(cls)

    return deco


def build_scorer(spec: ScorerSpec, where: str = "suite") -> BaseScorer:
    """Instantiate a registered scorer from its spec; unknown types and arguments are InputErrors."""
    cls = scorer_registry.get(spec.type)
    params = inspect.signature(cls.__init__).parameters
    accepted = {k for k in params if k not in ("self", "name")}
    has_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = [k for k in spec.args if k not in accepted]
    if unknown and not has_kwargs:
        import difflib

        hints = []
        for k in unknown:
            close = difflib.get_close_matches(k, sorted(accepted), n=1)
            hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise InputError(
            f"{where}: scorer {spec.name!r} ({spec.type}) got unknown argument(s) {', '.join(hints)}",
            hint=f"{spec.type} accepts: {', '.join(sorted(accepted)) or 'no arguments'}",
        )
    missing = [
        k
        for k, p in params.items()
        if k not in ("self", "name")
        and p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
        and k not in spec.args
    ]
    if missing:
        raise InputError(
            f"{where}: scorer {spec.name!r} ({spec.type}) needs argument(s) {', '.join(missing)}"
        )
    try:
        return cls(spec.name, **spec.args)
    except (TypeError, ValueError) as e:
        raise InputError(f"{where}: scorer {spec.name!r} ({spec.type}): {e}") from e


def describe_args(cls: type[Any]) -> dict[str, Any]:
    sig = inspect.signature(cls.__init__)
    return {
        k: (None if p.default is inspect.Parameter.empty else p.default)
        for k, p in sig.parameters.items()
        if k not in ("self", "name")
    }
