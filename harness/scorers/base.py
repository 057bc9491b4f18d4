"""The scorer interface. A scorer turns (sample, completion) into Scores; `metrics` aggregates them.

Per-sample scorers average `Score.value` per `Score.name` (the default). Corpus-level scorers
(macro-F1) set `corpus_level = True` and override `metrics`; bootstrap CIs then resample samples
and call `metrics` again on each resample.

Every scorer declares what its metrics mean (`metric_info`: direction, kind, range) from the class
attributes `higher_is_better` and `value_range`, or by overriding `metric_info`; a suite's
`higher_is_better` on the scorer's entry overrides the direction (`info_for` applies it). A value
that is None because of the sample carries `not_applicable` (see `not_applicable`); any other None
is missing data and counts as the metric's failure value where it has one.
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
from ..types import NOT_APPLICABLE, Completion, MetricInfo, Sample, Score, ScorerSpec


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
    higher_is_better: ClassVar[bool] = True
    value_range: ClassVar[tuple[float | None, float | None]] = (None, None)
    """(low, high) of a metric's values; None: unbounded (then a missing sample has no failure value
    and is counted as missing, never as a score)."""

    def __init__(self, name: str):
        self.name = name
        self.higher_is_better_override: bool | None = None  # the suite's `higher_is_better`

    def score(self, sample: Sample, completion: Completion, ctx: ScoreContext) -> list[Score]:
        raise NotImplementedError

    def prepare(self, items: Sequence[tuple[Sample, Completion]], ctx: ScoreContext) -> None:
        """Called once with every (sample, completion) before per-sample scoring, so a scorer that
        calls a remote model (an LLM judge) can batch its calls. Default: nothing."""

    def metrics(self, scores: Sequence[Score]) -> dict[str, float]:
        """Default: mean of `value` per Score.name (bools count 1/0). A None counts as the metric's
        failure value (`MetricInfo.sample_value`); not-applicable ones and those of a metric without a
        failure value are left out."""
        sums: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        infos: dict[str, MetricInfo] = {}
        for s in scores:
            if s.name not in infos:
                infos[s.name] = self.info_for(s.name)
            v = infos[s.name].sample_value(s)
            if v is None:
                continue
            sums[s.name] += v
            counts[s.name] += 1
        return {k: sums[k] / counts[k] for k in sums if counts[k]}

    def metric_names(self) -> list[str]:
        """Names this scorer reports, for docs and gate validation (best effort)."""
        return [self.name]

    # -- metric semantics ------------------------------------------------------------------------
    def default_metric_info(self) -> MetricInfo:
        """The declaration every metric of this scorer gets unless `metric_info` says otherwise."""
        low, high = self.value_range
        return MetricInfo.declare(
            higher_is_better=type(self).higher_is_better,
            kind="corpus" if self.corpus_level else "mean",
            low=low,
            high=high,
        )

    def metric_info(self) -> dict[str, MetricInfo]:
        """The scorer's own declaration per metric name it reports (`metric_names`). Override when
        metrics differ (a lower-is-better one among them, another range)."""
        info = self.default_metric_info()
        return dict.fromkeys(self.metric_names(), info)

    def info_for(self, metric: str) -> MetricInfo:
        """The semantics of `metric` (a name this scorer emits, including ones not known in advance
        such as per-group names): its declaration with the suite's direction override applied."""
        info = self.metric_info().get(metric) or self.default_metric_info()
        override = getattr(self, "higher_is_better_override", None)
        return info if override is None else info.with_direction(override)

    def error_score(
        self, name: str, detail: str, data: dict[str, Any] | None = None, *, boolean: bool = True
    ) -> Score:
        """The Score of a sample with no output to judge (generation error): the metric's failure
        value, so it sits at the bad end whichever direction the suite reads the metric in (as a
        bool for a pass/fail metric when `boolean`); None (missing) when the metric has none."""
        fv = self.info_for(name).failure_value
        value: float | bool | None = fv
        if boolean and fv in (0.0, 1.0):
            value = bool(fv)
        return Score(name=name, value=value, detail=detail, data=data or {})


def not_applicable(name: str, detail: str, data: dict[str, Any] | None = None) -> Score:
    """A None score that comes from the sample alone (no reference, another task type): the sample
    is left out of the metric on every side, never counted as a failure."""
    return Score(name=name, value=None, detail=detail, data={**(data or {}), NOT_APPLICABLE: True})


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
        scorer = cls(spec.name, **spec.args)
    except (TypeError, ValueError) as e:
        raise InputError(f"{where}: scorer {spec.name!r} ({spec.type}): {e}") from e
    scorer.higher_is_better_override = spec.higher_is_better
    return scorer


def describe_args(cls: type[Any]) -> dict[str, Any]:
    sig = inspect.signature(cls.__init__)
    return {
        k: (None if p.default is inspect.Parameter.empty else p.default)
        for k, p in sig.parameters.items()
        if k not in ("self", "name")
    }
