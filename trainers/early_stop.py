"""Early stopping on the task metric: every N steps, score the suite's metric on a small dev slice
and stop once it has not improved for `patience` evaluations.

The evaluation is the one candidates get after training: the suite's prompt, greedy, batched,
through the hf backend (`HFBackend.from_model` over the model being trained) and `run_suite`, into a
throw-away store; one evaluation per optimizer step at most (cached by step). The model is put in
eval mode (dropout off) for it and back in training mode after. On CPU with a 4-bit (NF4) base, a
no-grad forward in eval mode makes bitsandbytes repack the weights for inference and later LoRA
gradients through them silently become zero (PLATFORM.md); the 4-bit layers are therefore kept
flagged as training during the evaluation, as the trainer's validation does
(`trainers.trainer.keep_4bit_layers_in_train_mode`).

With `keep_best` the LoRA weights of the best evaluation are kept in memory and restored when
training ends, so the saved adapter is the one the curve says is best; the final weights are
evaluated first when the last step was not an evaluation step.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch
from transformers import TrainerCallback

from harness.errors import InputError
from harness.types import PromptConfig

BARE_PROMPT = PromptConfig(name="bare", system=None, template="{input}")
"""The sample's input alone: how a fine-tuned candidate is usually asked (eval_bare_prompt)."""

Evaluate = Callable[[Any, int], "float | None"]
"""(model, step) -> the metric's value on the slice (None when it could not be computed)."""


class MetricEarlyStopping(TrainerCallback):
    """Stops training when `evaluate(model, step)` has not improved by more than `min_delta` for
    `patience` evaluations in a row. `curve` holds (step, value) for every evaluation."""

    def __init__(
        self,
        evaluate: Evaluate,
        *,
        every_steps: int,
        patience: int,
        min_delta: float = 0.0,
        higher_is_better: bool = True,
        keep_best: bool = True,
        metric: str = "metric",
    ):
        if every_steps < 1 or patience < 1 or min_delta < 0:
            raise ValueError("every_steps and patience must be >= 1 and min_delta >= 0")
        self.evaluate = evaluate
        self.every_steps = every_steps
        self.patience = patience
        self.min_delta = min_delta
        self.higher_is_better = higher_is_better
        self.keep_best = keep_best
        self.metric = metric
        self.curve: list[tuple[int, float | None]] = []
        self.best: float | None = None
        self.best_step: int | None = None
        self.bad_evals = 0
        self.stopped = False
        self.restored = False
        self.notes: list[str] = []
        self.eval_seconds = 0.0
        self._cache: dict[int, float | None] = {}
        self._best_state: dict[str, torch.Tensor] | None = None

    def value_at(self, model: Any, step: int) -> float | None:
        """The metric after `step` optimizer steps, evaluated once per step."""
        if step not in self._cache:
            started = time.perf_counter()
            value = self.evaluate(model, step)
            self.eval_seconds += time.perf_counter() - started
            self._cache[step] = None if value is None or math.isnan(value) else float(value)
            self.curve.append((step, self._cache[step]))
        return self._cache[step]

    def improves(self, value: float | None) -> bool:
        if value is None:
            return False
        if self.best is None:
            return True
        gain = value - self.best if self.higher_is_better else self.best - value
        return gain > self.min_delta

    def _record(self, model: Any, step: int) -> None:
        value = self.value_at(model, step)
        if self.improves(value):
            self.best, self.best_step, self.bad_evals = value, step, 0
            if self.keep_best and model is not None:
                self._best_state = {
                    n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad
                }
        else:
            self.bad_evals += 1

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> Any:
        step = int(state.global_step)
        if step % self.every_steps or step in self._cache:
            return control
        self._record(model, step)
        if self.bad_evals >= self.patience:
            control.should_training_stop = True
            self.stopped = True
            self.notes.append(
                f"metric early stopping: stopped at step {step}: {self.metric} did not improve by more than "
                f"{self.min_delta} for {self.patience} evaluation(s) (best {self.best} at step {self.best_step})"
            )
        return control

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> Any:
        step = int(state.global_step)
        if self.keep_best and model is not None and step not in self._cache and not self.stopped:
            self._record(model, step)  # the final weights compete too
        if self.keep_best and self._best_state is not None and self.best_step != step and model is not None:
            with torch.no_grad():
                for n, p in model.named_parameters():
                    if n in self._best_state:
                        p.copy_(self._best_state[n])
            self.restored = True
            self.notes.append(
                f"metric early stopping: kept the adapter of step {self.best_step} "
                f"(best {self.metric} {self.best}), not the last step's ({step})"
            )
        self._best_state = None
        close = getattr(self.evaluate, "close", None)
        if callable(close):
            close()
        return control


class SuiteEvaluator:
    """`evaluate(model, step)` for MetricEarlyStopping: the suite's metric on the first `limit` items
    of `split`, through HFBackend.from_model and run_suite (a temporary store, one run per step)."""

    def __init__(
        self,
        suite: str,
        *,
        tokenizer: Any,
        base_model: str,
        metric: str | None = None,
        split: str = "dev",
        limit: int = 40,
        batch_size: int = 8,
        dtype: str = "auto",
        quantization: str | None = None,
        guard_4bit: bool = False,
        bare_prompt: bool = False,
    ):
        from harness.metrics import scorer_metric_info, suite_scorers
        from harness.store import Store
        from harness.suite import load_split, load_suite

        self.suite = load_suite(suite)
        self.metric = metric or self.suite.primary_metric or ""
        if not self.metric:
            raise InputError(f"suite {self.suite.name!r} has no primary_metric: set eval_metric")
        if not any(self.metric == s.name or self.metric.startswith(s.name + ".") for s in self.suite.scorers):
            raise InputError(
                f"eval_metric {self.metric!r} is not produced by suite {self.suite.name!r}",
                hint=f"its scorers: {', '.join(s.name for s in self.suite.scorers)}",
            )
        # the metric's direction as the suite's scorers declare it (harness/metrics.py), as every
        # comparison reads it: never a setting of its own
        info = scorer_metric_info(suite_scorers(self.suite), [self.metric]).get(self.metric)
        if info is None:
            raise InputError(f"suite {self.suite.name!r} does not declare what {self.metric!r} means")
        self.higher_is_better = info.higher_is_better
        self.prompt = BARE_PROMPT if bare_prompt else None
        self.split = split
        self.samples = load_split(self.suite, split, limit)
        if not self.samples:
            raise InputError(f"suite {self.suite.name!r}: no {split} items to evaluate during training")
        self.tokenizer = tokenizer
        self.base_model = base_model
        self.batch_size = batch_size
        self.dtype = dtype
        self.quantization = quantization
        self.guard_4bit = guard_4bit
        self._tmp = tempfile.TemporaryDirectory(prefix="tunebench-train-eval-")
        self.store = Store(workspace=self._tmp.name)
        self.run_ids: dict[int, str] = {}

    def __call__(self, model: Any, step: int) -> float | None:
        from harness.models.hf import HFBackend
        from harness.runner import run_suite
        from harness.types import ModelSpec
        from trainers.trainer import evaluating

        spec = ModelSpec(
            backend="hf",
            base=self.base_model,
            adapter=f"training step {step}",
            adapter_hash=f"{self._tmp.name}#step{step}",  # weights change every step: never share a cache key
            dtype=self.dtype,
            quantization=self.quantization,
        )
        backend = HFBackend.from_model(spec, model, self.tokenizer, batch_size=self.batch_size)
        with evaluating(model, guard_4bit=self.guard_4bit):
            rec = run_suite(
                self.suite,
                spec,
                store=self.store,
                split=self.split,
                samples=self.samples,
                prompt=self.prompt,
                backend=backend,
                batch_size=self.batch_size,
                progress=False,
                tags={"role": "train-eval", "step": step},
            )
        self.run_ids[step] = rec.id
        m = rec.metrics.get(self.metric)
        return None if m is None else m.value

    def close(self) -> None:
        self.store.engine.dispose()
        self._tmp.cleanup()


def from_config(
    config: Any, tokenizer: Any, *, quantization: str, dtype: str, guard_4bit: bool
) -> MetricEarlyStopping:
    """The callback a TrainConfig with `eval_suite` asks for (validated before training starts)."""
    evaluator = SuiteEvaluator(
        config.eval_suite,
        tokenizer=tokenizer,
        base_model=config.base_model,
        metric=config.eval_metric,
        split=config.eval_split,
        limit=config.eval_limit,
        batch_size=config.eval_batch_size,
        dtype=dtype,
        quantization=None if quantization == "none" else quantization,
        guard_4bit=guard_4bit,
        bare_prompt=config.eval_bare_prompt,
    )
    return MetricEarlyStopping(
        evaluator,
        every_steps=config.eval_every_steps,
        patience=config.eval_patience,
        min_delta=config.eval_min_delta,
        higher_is_better=evaluator.higher_is_better,
        keep_best=config.eval_keep_best,
        metric=evaluator.metric,
    )
