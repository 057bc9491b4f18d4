"""`evaluate`: any Hugging Face `evaluate` metric, from a local module script or a hub id."""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from typing import Any

from ..errors import InputError
from ..types import Completion, Sample, Score
from ._common import as_text, generation_error, output_field, reference_field
from .base import BaseScorer, ScoreContext, not_applicable, register_scorer


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


@register_scorer("evaluate")
class EvaluateScorer(BaseScorer):
    """Wraps `evaluate.load(module)`. `module` is a local metric script (a .py file, or a folder
    holding `<name>.py`; relative paths resolve against the suite folder) or a hub id such as "bleu"
    (hub ids need network access: offline, pass a local path). `key` picks the entry of `compute()`'s
    result to report (default: the first numeric one); `compute_args` go to every `compute` call.

    Corpus-level: the metric is `compute(predictions=[...], references=[...])` over all (resampled)
    samples. Each sample's own value is `compute` on its single pair, for per-sample inspection.
    With `field`, that JSON field of output and reference is used (an output without it becomes "").
    The metric is loaded lazily, once per instance, in memory.

    Higher is better unless the suite says otherwise: a module whose metric is an error rate (wer,
    cer) needs `higher_is_better: false` on the scorer's entry. The range is unknown (unbounded).
    """

    corpus_level = True

    def __init__(
        self,
        name: str,
        module: str,
        key: str | None = None,
        field: str | None = None,
        compute_args: dict[str, Any] | None = None,
    ):
        super().__init__(name)
        if not isinstance(module, str) or not module:
            raise ValueError("module must be a local path or a hub id")
        if compute_args is not None and not isinstance(compute_args, dict):
            raise ValueError("compute_args must be a mapping")
        self.module = module
        self.key = key
        self.field = field
        self.compute_args = dict(compute_args or {})
        self._metric: Any = None

    def _locate(self, ctx: ScoreContext | None) -> str:
        if ctx is not None:
            p = ctx.resolve(self.module)
            if p.exists():
                return str(p.resolve())
        if os.path.exists(self.module):
            return os.path.abspath(self.module)
        return self.module

    def load(self, ctx: ScoreContext | None = None) -> Any:
        """The `evaluate` metric, loaded on first use."""
        if self._metric is not None:
            return self._metric
        target = self._locate(ctx)
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
        try:
            import evaluate

            self._metric = evaluate.load(target, keep_in_memory=True)
        except Exception as e:  # evaluate raises FileNotFoundError, ConnectionError, ImportError, ...
            hint = (
                "offline (HF_HUB_OFFLINE=1): pass a local path to the metric script (a .py file or its folder)"
                if offline
                else "if you are offline or the hub is unreachable, pass a local path to the metric script "
                "(a .py file or its folder)"
            )
            raise InputError(
                f"scorer {self.name!r}: cannot load evaluate module {self.module!r}: {type(e).__name__}: {e}",
                hint=hint,
            ) from e
        return self._metric

    def _compute(self, predictions: list[str], references: list[str]) -> dict[str, Any]:
        result = self.load().compute(predictions=predictions, references=references, **self.compute_args)
        if not isinstance(result, dict):
            raise ValueError(f"evaluate module {self.module!r} returned {type(result).__name__}, not a dict")
        return result

    def _value(self, result: dict[str, Any]) -> float | None:
        if self.key is not None:
            if self.key not in result:
                raise InputError(
                    f"scorer {self.name!r}: key {self.key!r} not in the result of {self.module!r}",
                    hint=f"keys: {', '.join(map(str, result))}",
                )
            v = result[self.key]
        else:
            v = next((x for x in result.values() if _is_number(x)), None)
            if v is None:
                raise InputError(
                    f"scorer {self.name!r}: {self.module!r} returned no numeric value; pass `key`",
                    hint=f"keys: {', '.join(map(str, result))}",
                )
        return float(v) if _is_number(v) else None

    def score(self, sample: Sample, completion: Completion, ctx: ScoreContext) -> list[Score]:
        self.load(ctx)
        detail = ""
        if self.field is None:
            if sample.reference is None:
                return [not_applicable(self.name, "sample has no reference")]
            reference, prediction = sample.reference, completion.text
        else:
            ok, ref_value, why = reference_field(sample, self.field)
            if not ok:
                return [not_applicable(self.name, why)]
            reference = as_text(ref_value)
            ok, out_value, why = output_field(completion.text, self.field)
            prediction = as_text(out_value) if ok else ""
            detail = "" if ok else why
        data = {"prediction": prediction, "reference": reference}
        err = generation_error(completion)
        if err:
            data["prediction"] = ""
            return [Score(name=self.name, value=0.0, detail=err, data=data)]
        value = self._value(self._compute([prediction], [reference]))
        return [Score(name=self.name, value=value, detail=detail, data=data)]

    def metrics(self, scores: Sequence[Score]) -> dict[str, float]:
        mine = [s for s in scores if s.name == self.name and "reference" in s.data]
        if not mine:
            return {}
        result = self._compute([s.data["prediction"] for s in mine], [s.data["reference"] for s in mine])
        value = self._value(result)
        return {} if value is None else {self.name: value}
