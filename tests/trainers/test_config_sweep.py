"""Config loading (defaults < YAML < overrides, helpful errors) and sweep expansion."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import InputError
from trainers import TrainConfig, expand_sweep, load_config, load_sweep, read_config


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "train.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults_then_yaml_then_overrides(tmp_path: Path) -> None:
    p = _write(tmp_path, "base_model: m\ntrain_file: t.jsonl\nlora_r: 8\nlearning_rate: 1.0e-4\n")
    cfg = load_config(p, overrides={"learning_rate": 5e-4})
    assert cfg.lora_r == 8  # from the file
    assert cfg.learning_rate == 5e-4  # override wins
    assert cfg.lora_alpha == 32 and cfg.quantization == "auto" and cfg.fast_loss  # defaults
    assert all(f.description for f in TrainConfig.model_fields.values())


def test_unknown_key_names_key_line_and_suggestion(tmp_path: Path) -> None:
    p = _write(tmp_path, "base_model: m\ntrain_file: t.jsonl\nlearning_rte: 1.0e-4\n")
    with pytest.raises(InputError) as info:
        load_config(p)
    err = info.value
    assert str(p) in str(err)
    assert len(err.problems) == 1
    problem = err.problems[0]
    assert problem.file == str(p) and problem.line == 3
    assert "learning_rte" in problem.message and "did you mean 'learning_rate'" in problem.message
    assert f"{p}:3" in err.render()


def test_unknown_override_and_bad_value(tmp_path: Path) -> None:
    p = _write(tmp_path, "base_model: m\ntrain_file: t.jsonl\nquantization: int8\n")
    with pytest.raises(InputError) as info:
        load_config(p)
    assert info.value.problems[0].line == 3 and "quantization" in info.value.problems[0].message
    p = _write(tmp_path, "base_model: m\ntrain_file: t.jsonl\n")
    with pytest.raises(InputError, match="override") as info:
        load_config(p, overrides={"lora_rank": 4})
    assert "did you mean 'lora_r'" in info.value.problems[0].message


def test_early_stopping_needs_eval_file(tmp_path: Path) -> None:
    p = _write(tmp_path, "base_model: m\ntrain_file: t.jsonl\nearly_stopping_patience: 2\n")
    with pytest.raises(InputError) as info:
        load_config(p)
    assert "eval_file" in info.value.render()


def test_sweep_expansion_names_and_count(tmp_path: Path) -> None:
    base = TrainConfig(base_model="m", train_file="t.jsonl", output_dir=str(tmp_path / "runs"))
    runs = expand_sweep(base, {"lora_r": [8, 16], "learning_rate": [2e-4, 1e-3], "num_epochs": [1, 2.5]})
    assert len(runs) == 8
    names = [Path(c.output_dir).name for c in runs]
    assert names[0] == "r8-lr2e-4-ep1"
    assert "r16-lr1e-3-ep2.5" in names
    assert len(set(names)) == 8
    assert all(Path(c.output_dir).parent == tmp_path / "runs" for c in runs)
    assert {(c.lora_r, c.learning_rate, c.num_epochs) for c in runs} == {
        (r, lr, ep) for r in (8, 16) for lr in (2e-4, 1e-3) for ep in (1.0, 2.5)
    }
    assert expand_sweep(base, {}) == [base]
    with pytest.raises(InputError, match="sweep"):
        expand_sweep(base, {"lora_rr": [1]})


def test_load_sweep_from_yaml(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        "base_model: m\ntrain_file: t.jsonl\noutput_dir: out\nsweep:\n  lora_r: [4, 8]\n  learning_rate: [2.0e-4]\n",
    )
    runs = load_sweep(p)
    assert [Path(c.output_dir).as_posix() for c in runs] == ["out/r4-lr2e-4", "out/r8-lr2e-4"]
    base, grid = read_config(p)
    assert base.lora_r == 16 and grid == {"lora_r": [4, 8], "learning_rate": [2e-4]}
    assert load_config(p) == base
    bad = _write(tmp_path, "base_model: m\ntrain_file: t.jsonl\nsweep:\n  lora_r: 8\n")
    with pytest.raises(InputError, match="sweep"):
        load_sweep(bad)
