"""Early stopping on the task metric (trainers/early_stop.py, issue 16 part 1), on a tiny random Llama:
a scripted plateau stops training after `patience` evaluations and the curve is recorded; an
improving metric never stops it; the real evaluation (hf backend + runner on a dev slice) runs
during training, and on a 4-bit CPU base it does not repack the weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

import trainers.early_stop as early_stop
from harness.errors import InputError
from trainers import TrainConfig, train
from trainers.early_stop import MetricEarlyStopping
from trainers.sft import cpu_4bit_support


def _config(model: Path, data: tuple[Path, Path], out: Path, **kw: Any) -> TrainConfig:
    values: dict[str, Any] = dict(
        base_model=str(model),
        train_file=str(data[0]),
        output_dir=str(out),
        quantization="none",
        lora_r=8,
        lora_alpha=16,
        learning_rate=3e-3,
        per_device_batch_size=4,
        logging_steps=2,
        threads=1,
        eval_every_steps=2,
        eval_patience=2,
        eval_limit=4,
    )
    values.update(kw)
    return TrainConfig(**values)


def _lora_b(adapter: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(adapter / "adapter_model.safetensors").items() if "lora_B" in k}


class Scripted:
    """Stands in for SuiteEvaluator: returns scripted values in order and snapshots lora_B per step."""

    values: list[float] = []

    def __init__(self, suite: str, **kw: Any):
        self.metric = "exact"
        self.higher_is_better = True
        self.calls: list[int] = []
        self.snapshots: dict[int, dict[str, torch.Tensor]] = {}
        Scripted.last = self  # type: ignore[attr-defined]

    def __call__(self, model: Any, step: int) -> float:
        self.snapshots[step] = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_B" in n}
        self.calls.append(step)
        return Scripted.values[len(self.calls) - 1]


def test_scripted_plateau_stops_after_patience(
    tiny_model: Path,
    chat_data: tuple[Path, Path],
    tmp_path: Path,
    tiny_suite: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(early_stop, "SuiteEvaluator", Scripted)
    Scripted.values = [0.2, 0.5, 0.5, 0.52, 0.9, 0.9]  # +0.02 is within min_delta: no improvement
    cfg = _config(
        tiny_model, chat_data, tmp_path / "run", eval_suite=str(tiny_suite), max_steps=30, eval_min_delta=0.05
    )
    result = train(cfg, progress=False)
    assert result.early_stopped and result.steps == 8
    assert result.eval_metric == "exact"
    assert result.eval_metric_curve == [(2, 0.2), (4, 0.5), (6, 0.5), (8, 0.52)]
    assert Scripted.last.calls == [2, 4, 6, 8]  # type: ignore[attr-defined]
    assert any("stopped at step 8" in n for n in result.notes)
    assert any("kept the adapter of step 4" in n for n in result.notes)
    # the saved adapter is step 4's (the best evaluation), not step 8's
    saved = _lora_b(Path(result.adapter_path))
    best = Scripted.last.snapshots[4]  # type: ignore[attr-defined]
    last = Scripted.last.snapshots[8]  # type: ignore[attr-defined]
    assert saved and all(v.abs().sum() > 0 for v in saved.values())
    for name, tensor in saved.items():
        key = next(
            k
            for k in best
            if k.endswith(name.removeprefix("base_model.model.").replace(".weight", ".default.weight"))
        )
        assert torch.equal(tensor, best[key].to(tensor.dtype))
    assert any(not torch.equal(best[k], last[k]) for k in best)
    # the record keeps the curve beside the loss curves
    stored = (tmp_path / "run" / "train_result.json").read_text()
    assert '"eval_metric_curve"' in stored and '"train_loss_curve"' in stored


def test_improving_metric_never_stops(
    tiny_model: Path,
    chat_data: tuple[Path, Path],
    tmp_path: Path,
    tiny_suite: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(early_stop, "SuiteEvaluator", Scripted)
    Scripted.values = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    cfg = _config(tiny_model, chat_data, tmp_path / "run", eval_suite=str(tiny_suite), max_steps=11)
    result = train(cfg, progress=False)
    assert not result.early_stopped and result.steps == 11
    # every 2 steps, then the final weights (step 11) compete for the kept adapter
    assert [s for s, _ in result.eval_metric_curve] == [2, 4, 6, 8, 10, 11]
    assert not any("kept the adapter" in n for n in result.notes)


def test_lower_is_better_direction() -> None:
    cb = MetricEarlyStopping(
        lambda m, s: 0.0, every_steps=1, patience=1, min_delta=0.1, higher_is_better=False
    )
    cb.best = 2.0
    assert cb.improves(1.8) and not cb.improves(1.95) and not cb.improves(2.5) and not cb.improves(None)


def test_real_evaluation_during_training(
    tiny_model: Path, chat_data: tuple[Path, Path], tmp_path: Path, tiny_suite: Path
) -> None:
    """The hf backend and the runner score the dev slice; a random model's exact match stays 0.0, a
    plateau: stop after the first evaluation plus `patience` more."""
    cfg = _config(tiny_model, chat_data, tmp_path / "run", eval_suite=str(tiny_suite), max_steps=30)
    result = train(cfg, progress=False)
    assert result.eval_metric == "exact"
    assert result.eval_metric_curve == [(2, 0.0), (4, 0.0), (6, 0.0)]
    assert result.early_stopped and result.steps == 6
    assert all(v.abs().sum() > 0 for v in _lora_b(Path(result.adapter_path)).values())
    assert (
        result.final_loss is not None
        and result.first_loss is not None
        and result.final_loss < result.first_loss
    )


def test_config_checks(
    tiny_model: Path, chat_data: tuple[Path, Path], tmp_path: Path, tiny_suite: Path
) -> None:
    with pytest.raises(ValueError, match="use one"):
        _config(
            tiny_model,
            chat_data,
            tmp_path,
            eval_suite=str(tiny_suite),
            eval_file=str(chat_data[1]),
            early_stopping_patience=1,
        )
    with pytest.raises(ValueError, match="needs eval_suite"):
        _config(tiny_model, chat_data, tmp_path, eval_metric="exact")
    with pytest.raises(ValueError, match="test split"):
        _config(tiny_model, chat_data, tmp_path, eval_suite=str(tiny_suite), eval_split="test")
    assert TrainConfig.model_fields["eval_suite"].default is None  # off by default
    # a metric the suite does not produce fails before anything is written
    cfg = _config(tiny_model, chat_data, tmp_path / "bad", eval_suite=str(tiny_suite), eval_metric="rouge")
    with pytest.raises(InputError, match="not produced"):
        train(cfg, progress=False)
    assert not (tmp_path / "bad").exists()


needs_cpu_4bit = pytest.mark.skipif(
    not cpu_4bit_support()[0], reason="bitsandbytes 4-bit does not work on this CPU"
)


@needs_cpu_4bit
def test_qlora_on_cpu_trains_through_metric_evaluation(
    tiny_model_64: Path, chat_data: tuple[Path, Path], tmp_path: Path, tiny_suite: Path
) -> None:
    """Generating with the 4-bit model during training must not repack its weights (PLATFORM.md)."""
    cfg = _config(
        tiny_model_64,
        chat_data,
        tmp_path / "q",
        quantization="nf4",
        eval_suite=str(tiny_suite),
        eval_every_steps=3,
        eval_patience=5,
        eval_keep_best=False,
        max_steps=12,
    )
    result = train(cfg, progress=False)
    assert result.quantization == "nf4" and len(result.eval_metric_curve) == 4
    assert not [n for n in result.notes if "repacked" in n]  # no layer was repacked for inference
    assert all(v.abs().sum() > 0 for v in _lora_b(Path(result.adapter_path)).values())
    assert (
        result.final_loss is not None
        and result.first_loss is not None
        and result.final_loss < result.first_loss
    )


@needs_cpu_4bit
def test_qlora_metric_evaluation_without_guard_would_repack(
    tiny_model_64: Path,
    chat_data: tuple[Path, Path],
    tmp_path: Path,
    tiny_suite: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Control: without keeping the 4-bit layers in training mode, the evaluation repacks them."""
    import contextlib

    from bitsandbytes.functional import has_avx512bf16

    import trainers.trainer as trainer_module

    if not has_avx512bf16():
        pytest.skip("the inference repack only happens on CPUs with avx512_bf16")
    monkeypatch.setattr(
        trainer_module, "keep_4bit_layers_in_train_mode", lambda model: contextlib.nullcontext()
    )
    cfg = _config(
        tiny_model_64, chat_data, tmp_path / "q", quantization="nf4", eval_suite=str(tiny_suite), max_steps=4
    )
    result = train(cfg, progress=False)
    assert [n for n in result.notes if "WARNING" in n and "repacked" in n]
