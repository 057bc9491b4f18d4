"""Hyper-parameter sweeps: a grid of field values expanded into one TrainConfig per combination.

Each run writes to base.output_dir/<short name>, e.g. `r8-lr2e-4-ep1`.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from harness.errors import InputError, Problem
from trainers.config import TrainConfig, _did_you_mean, build_config, config_fields, read_config

# Short names for the fields people usually sweep; any other field is named in full.
SHORT_NAMES = {
    "lora_r": "r",
    "lora_alpha": "a",
    "lora_dropout": "do",
    "learning_rate": "lr",
    "num_epochs": "ep",
    "max_steps": "steps",
    "per_device_batch_size": "bs",
    "gradient_accumulation_steps": "ga",
    "max_seq_length": "len",
    "warmup_ratio": "wu",
    "quantization": "q",
    "seed": "seed",
}

# Fields a sweep may not vary: every run needs its own output folder, derived from the base one.
NOT_SWEEPABLE = {"output_dir"}


def format_value(value: Any) -> str:
    """Short, filename-safe text for one value: 2e-4, 0.5, 1, nf4, q_proj+v_proj."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e6:
            return str(int(value))
        if value != 0 and abs(value) < 1e-2:
            mantissa, exponent = f"{value:.6e}".split("e")
            mantissa = mantissa.rstrip("0").rstrip(".")
            return f"{mantissa}e{int(exponent)}"
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "+".join(format_value(v) for v in value)
    text = str(value)
    return "".join(c if c.isalnum() or c in "._+-" else "_" for c in text)


def run_name(combo: dict[str, Any]) -> str:
    return "-".join(f"{SHORT_NAMES.get(k, k)}{format_value(v)}" for k, v in combo.items())


def _check_grid(grid: dict[str, Any], file: str) -> None:
    fields = config_fields()
    problems = []
    for key, values in grid.items():
        if key not in fields:
            problems.append(Problem(file, None, f"sweep: unknown key '{key}'{_did_you_mean(key, fields)}"))
        elif key in NOT_SWEEPABLE:
            problems.append(
                Problem(file, None, f"sweep: '{key}' cannot be swept (each run gets its own folder)")
            )
        elif not isinstance(values, list) or not values:
            problems.append(Problem(file, None, f"sweep: '{key}' must be a non-empty list of values"))
    if problems:
        raise InputError(f"{file}: invalid sweep", problems)


def expand_sweep(
    base: TrainConfig, grid: dict[str, list[Any]], *, file: str = "<sweep>"
) -> list[TrainConfig]:
    """One config per combination of the grid's values (cartesian product, in the grid's key order).

    Each gets output_dir = base.output_dir/<name> where name is like `r8-lr2e-4-ep1`. An empty grid gives [base].
    """
    _check_grid(grid, file)
    if not grid:
        return [base]
    keys = list(grid)
    configs: list[TrainConfig] = []
    seen: set[str] = set()
    for values in itertools.product(*(grid[k] for k in keys)):
        combo = dict(zip(keys, values, strict=True))
        name = run_name(combo)
        if name in seen:
            raise InputError(f"{file}: sweep has a repeated combination ({name})")
        seen.add(name)
        data = base.model_dump()
        data.update(combo)
        data["output_dir"] = str(Path(base.output_dir) / name)
        configs.append(build_config(data, file=f"{file} [{name}]"))
    return configs


def load_sweep(path: str | Path, overrides: dict[str, Any] | None = None) -> list[TrainConfig]:
    """Configs for every run of the YAML file at `path`: its `sweep:` grid expanded over the base config
    (just the base config when the file has no `sweep:` block)."""
    base, grid = read_config(path, overrides)
    return expand_sweep(base, grid, file=str(path))
