"""Training configuration: field defaults, then a YAML file, then overrides (e.g. from the command line).

A YAML file may also carry a `sweep:` block, a grid of field values that `load_sweep` expands into one
configuration per combination (see `trainers.sweep`).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.errors import InputError, Problem
from harness.yamlio import _line_of, read_yaml, validate_model

SWEEP_KEY = "sweep"


class TrainConfig(BaseModel):
    """Everything one LoRA / QLoRA supervised fine-tuning run needs. Unknown fields are an error."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # What to train on
    base_model: str = Field(
        description="Path to a local Hugging Face model folder (config, weights, tokenizer)."
    )
    train_file: str = Field(
        description="JSONL training data: each line has `messages` [{role, content}, ...] whose last turn is "
        "the assistant answer the model learns; other keys are ignored."
    )
    eval_file: str | None = Field(
        default=None,
        description="Optional JSONL validation data in the same format; its loss is computed after each epoch.",
    )
    output_dir: str = Field(
        default="runs/sft",
        description="Folder for the adapter (output_dir/adapter) and train_result.json.",
    )
    system_prompt: str | None = Field(
        default=None,
        description="Prepended as a system message to every example that has none, so training prompts "
        "match the prompts used at evaluation.",
    )

    # Base model precision
    quantization: Literal["auto", "nf4", "none"] = Field(
        default="auto",
        description="Base weights in 4-bit NF4 (QLoRA) or not. auto: nf4 on CUDA; on CPU nf4 when "
        "bitsandbytes 4-bit works on this CPU, else none.",
    )
    dtype: Literal["auto", "bfloat16", "float32"] = Field(
        default="auto",
        description="dtype the (non-quantized part of the) base model is loaded in. auto: bfloat16 on CUDA and CPU.",
    )

    # LoRA
    lora_r: int = Field(default=16, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(default=32, ge=1, description="LoRA scaling numerator (scale = alpha / r).")
    lora_dropout: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="Dropout on the LoRA input (0: off). Each LoRA layer draws its own mask every step: on "
        "the embedded Gemma on 2 CPU cores 0.05 cost a fifth of the training throughput (258 vs 324 "
        "tokens/s; tests/benchmarks row 11c).",
    )
    target_modules: str | list[str] = Field(
        default="all-linear",
        description="Modules that get LoRA adapters: 'all-linear' or a list of module names (e.g. q_proj).",
    )

    # Optimisation
    learning_rate: float = Field(default=2e-4, gt=0.0, description="Peak learning rate.")
    num_epochs: float = Field(
        default=1.0, gt=0.0, description="Passes over the training data (may be fractional)."
    )
    max_steps: int = Field(default=-1, description="Optimizer steps to run; -1 means use num_epochs.")
    per_device_batch_size: int = Field(default=4, ge=1, description="Examples per forward pass.")
    gradient_accumulation_steps: int = Field(
        default=1, ge=1, description="Forward passes per optimizer step."
    )
    max_seq_length: int = Field(
        default=256, ge=8, description="Tokens per example; longer ones are truncated."
    )
    packing: bool = Field(default=False, description="Pack several examples into one sequence.")
    gradient_checkpointing: bool = Field(
        default=False, description="Recompute activations in the backward pass to save memory (slower)."
    )
    warmup_ratio: float = Field(
        default=0.05, ge=0.0, lt=1.0, description="Fraction of steps with linear warmup."
    )
    lr_scheduler: str = Field(default="cosine", description="transformers learning-rate schedule name.")
    early_stopping_patience: int | None = Field(
        default=None,
        ge=1,
        description="Stop after this many epochs without a lower eval loss, and keep the best epoch's adapter. "
        "Needs eval_file.",
    )
    seed: int = Field(default=0, description="Random seed (data order, LoRA init, dropout).")

    # Early stopping on the task metric (trainers/early_stop.py); off unless eval_suite is set
    eval_suite: str | None = Field(
        default=None,
        description="Suite (built-in name or folder) whose metric is evaluated on a dev slice every "
        "eval_every_steps steps, greedy and batched through the hf backend and the runner; training "
        "stops after eval_patience evaluations without improvement. Off when unset.",
    )
    eval_metric: str | None = Field(
        default=None, description="Metric watched; default: the suite's primary metric."
    )
    eval_split: str = Field(
        default="dev", description="Split the slice is drawn from (its first eval_limit items); never test."
    )
    eval_limit: int = Field(default=40, ge=1, description="Items evaluated each time.")
    eval_batch_size: int = Field(
        default=16,
        ge=1,
        description="Prompts generated together during an evaluation (decoding is memory bound: a "
        "larger batch costs little more per step).",
    )
    eval_every_steps: int = Field(default=25, ge=1, description="Evaluate every this many optimizer steps.")
    eval_patience: int = Field(
        default=3, ge=1, description="Stop after this many evaluations in a row without improvement."
    )
    eval_min_delta: float = Field(
        default=0.0, ge=0.0, description="An evaluation improves on the best so far only by more than this."
    )
    eval_bare_prompt: bool = Field(
        default=False,
        description="Score the bare input (no system prompt, no examples), as a fine-tuned model is "
        "usually served; default: the suite's own prompt.",
    )
    eval_keep_best: bool = Field(
        default=True, description="At the end, restore the LoRA weights of the best evaluation."
    )

    # Speed
    threads: int | None = Field(
        default=None,
        ge=1,
        description="torch CPU threads. Default: 1 when CUDA is absent (safe on a small shared machine), "
        "torch's default otherwise.",
    )
    fast_loss: bool = Field(
        default=True,
        description="Apply the LM head only at positions that carry loss (the completion tokens). Same loss, "
        "much faster with a large vocabulary.",
    )
    logging_steps: int = Field(default=5, ge=1, description="Log the training loss every this many steps.")
    eot_check_examples: int = Field(
        default=8,
        ge=0,
        description="After training, measure the probability of the end-of-turn token right after the "
        "reference answer on this many training and validation examples (0: skip); a mean below 0.5 warns "
        "that the adapter rarely ends its answers.",
    )

    @field_validator("target_modules")
    @classmethod
    def _modules_not_empty(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, list) and not v:
            raise ValueError("target_modules must name at least one module")
        return v

    @model_validator(mode="after")
    def _check_combinations(self) -> TrainConfig:
        if self.early_stopping_patience is not None and not self.eval_file:
            raise ValueError("early_stopping_patience needs eval_file (it watches the eval loss)")
        if self.eval_suite and self.early_stopping_patience is not None:
            raise ValueError(
                "early_stopping_patience (eval loss) and eval_suite (task metric) both stop training and "
                "restore a best adapter: use one"
            )
        if self.eval_metric and not self.eval_suite:
            raise ValueError("eval_metric needs eval_suite (the suite that produces it)")
        if self.eval_suite and self.eval_split == "test":
            raise ValueError("eval_split must not be the test split: the test split is for the final report")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError("max_steps must be -1 (use num_epochs) or a positive number")
        return self


def config_fields() -> list[str]:
    return list(TrainConfig.model_fields)


def _did_you_mean(key: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def build_config(
    values: dict[str, Any], *, file: str = "<config>", node: yaml.Node | None = None
) -> TrainConfig:
    """Validate a mapping into a TrainConfig; unknown keys and bad values become one InputError whose
    problems name the line of each key in `node` (the YAML the values were read from, when given)."""
    return validate_model(values, TrainConfig, path=file, node=node, what="training config")


def read_config(
    path: str | Path, overrides: dict[str, Any] | None = None
) -> tuple[TrainConfig, dict[str, list[Any]]]:
    """Read a YAML config: the base TrainConfig (defaults < file < overrides) and its `sweep:` grid ({} if none)."""
    name = str(Path(path))
    data, node, _ = read_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{name}: a training config must be a YAML mapping of keys to values")
    grid = data.pop(SWEEP_KEY, None) or {}
    if not isinstance(grid, dict):
        raise InputError(
            f"{name}: `{SWEEP_KEY}` must map config keys to lists of values",
            [Problem(name, _line_of(node, (SWEEP_KEY,)), f"got {type(grid).__name__}")],
        )
    values = dict(data)
    if overrides:
        bad = [k for k in overrides if k not in config_fields()]
        if bad:
            raise InputError(
                "unknown training config override(s)",
                [
                    Problem("overrides", None, f"unknown key '{k}'{_did_you_mean(k, config_fields())}")
                    for k in bad
                ],
            )
        values.update(overrides)
    return build_config(values, file=name, node=node), grid


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults, then the YAML file at `path`, then `overrides`. A `sweep:` block is left to `load_sweep`:
    this returns the base configuration it varies."""
    return read_config(path, overrides)[0]
