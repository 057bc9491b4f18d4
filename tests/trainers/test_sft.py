"""End-to-end training runs on a tiny random Llama: LoRA, QLoRA on CPU (with validation), early stopping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from harness.errors import InputError
from harness.models.spec import weights_digest
from trainers import TrainConfig, TrainResult, train
from trainers.sft import (
    ADAPTER_META,
    RESULT_FILE,
    cpu_4bit_support,
    load_base_model,
    read_chat_jsonl,
    resolve_quantization,
)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _config(model: Path, data: tuple[Path, Path], out: Path, **kw) -> TrainConfig:
    values = dict(
        base_model=str(model),
        train_file=str(data[0]),
        output_dir=str(out),
        lora_r=8,
        lora_alpha=16,
        learning_rate=3e-3,
        per_device_batch_size=4,
        logging_steps=2,
        threads=1,
    )
    values.update(kw)
    return TrainConfig(**values)


def training_warnings(notes: list[str]) -> list[str]:
    """Warnings that training itself went wrong. The end-of-turn warning is left out: these tiny random
    models cannot learn to stop in a few steps (tests/trainers/test_eot.py covers it)."""
    return [n for n in notes if "WARNING" in n and "rarely ends its answers" not in n]


def _lora_b(adapter: Path) -> dict[str, torch.Tensor]:
    tensors = load_file(adapter / "adapter_model.safetensors")
    found = {k: v for k, v in tensors.items() if "lora_B" in k}
    assert found, "adapter has no lora_B tensors"
    return found


def test_lora_trains_and_writes_everything(
    tiny_model: Path, chat_data: tuple[Path, Path], tmp_path: Path
) -> None:
    cfg = _config(tiny_model, chat_data, tmp_path / "run", quantization="none", max_steps=30)
    result = train(cfg, progress=False)

    # LoRA B matrices start at zero: every one must have moved, and the loss must have fallen
    assert all(t.abs().sum() > 0 for t in _lora_b(Path(result.adapter_path)).values())
    assert result.first_loss is not None and result.final_loss is not None
    assert result.final_loss < result.first_loss
    assert result.train_loss_curve[0][0] == 1 and result.steps == 30

    # Result file and adapter folder
    saved = TrainResult.model_validate_json((tmp_path / "run" / RESULT_FILE).read_text())
    assert saved == result
    adapter = Path(result.adapter_path)
    assert adapter == tmp_path / "run" / "adapter"
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer_config.json", ADAPTER_META):
        assert (adapter / name).is_file(), name
    meta = json.loads((adapter / ADAPTER_META).read_text())
    assert meta == {
        "base_model": str(tiny_model),
        "base_precision": "bfloat16",
        "quantization": "none",
        "base_hash": weights_digest(tiny_model),  # the base's identity, as an eval run records it
    }
    assert not (tmp_path / "run" / "checkpoints").exists()

    # Recorded facts
    assert result.n_train == 24 and result.n_eval == 0 and result.eval_loss_curve == []
    assert len(result.data_hash["train"]) == 64 and "eval" not in result.data_hash
    assert len(result.adapter_hash) == 64
    assert result.quantization == "none" and result.base_precision == "bfloat16" and result.device == "cpu"
    assert 0 < result.trainable_params < result.total_params
    assert result.tokens_per_s > 0 and result.peak_memory_mb > 0 and result.wall_time_s > 0
    assert result.config["lora_r"] == 8 and not result.early_stopped
    assert not training_warnings(result.notes)


def test_trainer_reuses_the_backends_tokenizer_and_leaves_it_as_it_was(
    tiny_model: Path, chat_data: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trainer takes the tokenizer an hf backend of the same base already loaded in this process
    (no second load), and training leaves it as every backend expects it: left padding, its pad token,
    its template and vocabulary."""
    import transformers

    from harness.models.hf import shared_tokenizer

    tok = shared_tokenizer(str(tiny_model), None, weights_digest(tiny_model))  # as HFBackend keys it

    def state() -> tuple:
        return (
            tok.padding_side,
            tok.pad_token,
            tok.eos_token,
            tok.chat_template,
            len(tok),
            tok.model_input_names,
        )

    before = state()
    loads: list[tuple] = []
    real = transformers.AutoTokenizer.from_pretrained
    monkeypatch.setattr(
        transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: loads.append(a) or real(*a, **k)
    )
    result = train(_config(tiny_model, chat_data, tmp_path / "run", max_steps=2), progress=False)
    assert loads == []  # the old code loaded the tokenizer again here
    assert state() == before
    assert shared_tokenizer(str(tiny_model), None, weights_digest(tiny_model)) is tok
    assert result.steps == 2 and (Path(result.adapter_path) / "tokenizer_config.json").is_file()


def test_adapter_loads_on_base_and_changes_logits(
    tiny_model: Path, chat_data: tuple[Path, Path], tmp_path: Path
) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    result = train(
        _config(tiny_model, chat_data, tmp_path / "run", quantization="none", max_steps=12), progress=False
    )
    tok = AutoTokenizer.from_pretrained(result.adapter_path)
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "Ticket: my card was charged twice"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )["input_ids"]
    base = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    with torch.no_grad():
        base_logits = base(input_ids=ids).logits
    tuned = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32), result.adapter_path
    ).eval()
    with torch.no_grad():
        tuned_logits = tuned(input_ids=ids).logits
    assert tuned_logits.shape == base_logits.shape
    assert not torch.allclose(tuned_logits, base_logits, atol=1e-4)


def test_adapter_hash_equals_the_eval_runs(
    tiny_model: Path, chat_data: tuple[Path, Path], tmp_path: Path
) -> None:
    """The training record and an eval run of the adapter it wrote name the adapter by one hash."""
    from harness.training import candidate_spec

    result = train(
        _config(tiny_model, chat_data, tmp_path / "run", quantization="none", max_steps=2), progress=False
    )
    (Path(result.adapter_path) / "README.md").write_text("notes\n")  # not part of the identity
    spec = candidate_spec(result, tmp_path / "ws")
    assert spec.adapter_hash == result.adapter_hash and len(result.adapter_hash) == 64


needs_cpu_4bit = pytest.mark.skipif(
    not cpu_4bit_support()[0], reason="bitsandbytes 4-bit does not work on this CPU"
)


@needs_cpu_4bit
def test_qlora_on_cpu_trains_through_validation(
    tiny_model_64: Path, chat_data: tuple[Path, Path], tmp_path: Path
) -> None:
    """Validation after each epoch must not repack the 4-bit weights (PLATFORM.md): every LoRA B moves."""
    cfg = _config(
        tiny_model_64,
        chat_data,
        tmp_path / "q",
        quantization="nf4",
        eval_file=str(chat_data[1]),
        num_epochs=3,
    )
    result = train(cfg, progress=False)
    assert result.quantization == "nf4"
    assert len(result.eval_loss_curve) == 3  # validated after every epoch
    # no layer was repacked for inference, in training, validation or the end-of-turn check after it
    assert not training_warnings(result.notes)
    assert "train" in result.eot_prob and "val" in result.eot_prob
    assert all(t.abs().sum() > 0 for t in _lora_b(Path(result.adapter_path)).values())
    assert result.final_loss is not None and result.first_loss is not None
    assert result.final_loss < result.first_loss
    meta = json.loads((Path(result.adapter_path) / ADAPTER_META).read_text())
    assert meta["quantization"] == "nf4" and meta["base_precision"] == "bfloat16"


@needs_cpu_4bit
def test_qlora_eval_without_guard_would_repack(
    tiny_model_64: Path, chat_data: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Control: with the guard disabled, validation repacks the 4-bit weights and the run says so."""
    import contextlib

    from bitsandbytes.functional import has_avx512bf16

    import trainers.trainer as trainer_module

    if not has_avx512bf16():
        pytest.skip("the inference repack only happens on CPUs with avx512_bf16")
    monkeypatch.setattr(
        trainer_module, "keep_4bit_layers_in_train_mode", lambda model: contextlib.nullcontext()
    )
    cfg = _config(
        tiny_model_64,
        chat_data,
        tmp_path / "q",
        quantization="nf4",
        eval_file=str(chat_data[1]),
        num_epochs=1,
    )
    result = train(cfg, progress=False)
    assert [n for n in result.notes if "WARNING" in n and "repacked" in n]


def test_early_stopping_with_eval_file(
    tiny_model: Path, chat_data: tuple[Path, Path], tmp_path: Path
) -> None:
    # A learning rate too small to change a bf16 forward: the eval loss cannot improve after epoch 1.
    cfg = _config(
        tiny_model,
        chat_data,
        tmp_path / "es",
        quantization="none",
        eval_file=str(chat_data[1]),
        num_epochs=4,
        learning_rate=1e-12,
        early_stopping_patience=1,
    )
    result = train(cfg, progress=False)
    assert result.early_stopped
    assert [round(e) for e, _ in result.eval_loss_curve] == [1, 2]
    assert result.steps == 2 * 6  # 24 examples / batch 4, two epochs
    assert result.n_eval == 8 and "eval" in result.data_hash
    assert (Path(result.adapter_path) / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "es" / "checkpoints").exists()


def test_base_model_loads_without_hub_kernels(tiny_model: Path, tmp_path: Path) -> None:
    # transformers 5.2x kernelizes by default; on CUDA (the QLoRA path, device_map on GPU 0) that
    # resolves kernels on the Hub and failed offline on an H200 before training began
    config = _config(tiny_model, (tmp_path / "unused.jsonl", tmp_path / "unused.jsonl"), tmp_path / "out")
    model = load_base_model(config, torch.float32, "none", cuda=False)
    assert model.use_kernels is False


def test_auto_quantization_note_on_cpu() -> None:
    quant, note = resolve_quantization("auto", cuda=False)
    assert quant == ("nf4" if cpu_4bit_support()[0] else "none")
    assert note.startswith(f"quantization: auto -> {quant} on CPU (")
    assert resolve_quantization("none", cuda=False)[0] == "none"
    assert resolve_quantization("auto", cuda=True)[0] == "nf4"


def test_data_conversion_and_errors(tmp_path: Path) -> None:
    rows = [
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}], "x": 1},
        {
            "messages": [
                {"role": "system", "content": "own"},
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a"},
            ]
        },
    ]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    converted = read_chat_jsonl(str(path), system_prompt="Be brief.")
    assert converted[0] == {
        "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        "completion": [{"role": "assistant", "content": "yo"}],
    }
    assert converted[1]["prompt"][0] == {"role": "system", "content": "own"}  # not doubled
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps(rows[0])
        + "\n{oops\n"
        + json.dumps({"messages": [{"role": "user", "content": "q"}]})
        + "\n"
    )
    with pytest.raises(InputError) as info:
        read_chat_jsonl(str(bad))
    assert [p.line for p in info.value.problems] == [2, 3]
    assert "assistant" in info.value.problems[1].message


def test_bad_inputs_raise_input_error_and_write_nothing(
    tiny_model: Path, chat_data: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "never"
    with pytest.raises(InputError, match="base model"):
        train(_config(tmp_path / "no-model", chat_data, out, quantization="none"), progress=False)
    with pytest.raises(InputError, match="cannot read"):
        train(
            _config(tiny_model, (tmp_path / "missing.jsonl", chat_data[1]), out, quantization="none"),
            progress=False,
        )
    assert not out.exists()
