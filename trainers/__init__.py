"""LoRA / QLoRA supervised fine-tuning for tunebench: `train(config) -> TrainResult`, configs and sweeps.

Importing this package is cheap; TRL, PEFT and datasets load when a run starts.
"""

from trainers.config import TrainConfig, load_config, read_config
from trainers.sft import TrainResult, main
from trainers.sweep import expand_sweep, load_sweep

train = main

__all__ = [
    "TrainConfig",
    "TrainResult",
    "expand_sweep",
    "load_config",
    "load_sweep",
    "main",
    "read_config",
    "train",
]
