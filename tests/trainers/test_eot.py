"""Did the adapter learn to stop? p(end of turn) after the reference answer, measured after training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from trainers import TrainConfig, train
from trainers.eot import EOT_WARN, end_of_answer, eot_warning, measure_eot
from trainers.sft import cpu_4bit_support, read_chat_jsonl


@pytest.fixture(scope="module")
def learnable_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """initializer_range 0.2: with the default 0.02 a LoRA adapter cannot move the tiny model's logits far
    enough from uniform for any token to become likely."""
    from harness.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-eot") / "model", initializer_range=0.2)


def _train(model: Path, data: tuple[Path, Path], out: Path, steps: int, lr: float):
    cfg = TrainConfig(
        base_model=str(model),
        train_file=str(data[0]),
        eval_file=str(data[1]),
        output_dir=str(out),
        quantization="none",
        lora_r=8,
        lora_alpha=16,
        learning_rate=lr,
        per_device_batch_size=4,
        logging_steps=2,
        threads=1,
        max_steps=steps,
    )
    return train(cfg, progress=False)


def test_brief_training_warns_and_longer_training_learns_to_stop(
    learnable_model: Path, chat_data: tuple[Path, Path], tmp_path: Path
) -> None:
    brief = _train(learnable_model, chat_data, tmp_path / "brief", steps=2, lr=1e-3)
    long = _train(learnable_model, chat_data, tmp_path / "long", steps=60, lr=2e-2)
    assert set(brief.eot_prob) == set(long.eot_prob) == {"train", "val"}
    assert brief.eot_token == long.eot_token == "<|end|>"
    assert max(brief.eot_prob.values()) < 0.05
    for split in ("train", "val"):
        assert long.eot_prob[split] > 0.3
        assert long.eot_prob[split] > 20 * brief.eot_prob[split]
    (note,) = [n for n in brief.notes if "rarely ends its answers" in n]
    assert "train longer or check the chat template" in note and "p(<|end|>)" in note
    # stored in train_result.json (and so in the training record)
    saved = json.loads((tmp_path / "brief" / "train_result.json").read_text())
    assert saved["eot_prob"] == brief.eot_prob and saved["eot_token"] == "<|end|>"


def test_end_of_answer_finds_the_token_after_the_answer(
    tiny_model: Path, chat_data: tuple[Path, Path]
) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    row = read_chat_jsonl(str(chat_data[0]))[0]
    ids, eot = end_of_answer(tok, row)  # type: ignore[misc]
    assert eot == tok.convert_tokens_to_ids("<|end|>")
    text = tok.decode(ids, skip_special_tokens=False)
    assert text.endswith(row["completion"][0]["content"])
    assert text.startswith(tok.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True))

    # a template that puts nothing after the answer: the next token is the tokenizer's EOS
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    got = end_of_answer(tok, row)
    assert got is not None and got[1] == tok.eos_token_id


def test_measure_eot_is_a_probability_and_can_be_skipped(
    tiny_model: Path, chat_data: tuple[Path, Path]
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    model.train()
    rows = read_chat_jsonl(str(chat_data[0]))
    probs, token = measure_eot(model, tok, rows, [], n=3)
    assert set(probs) == {"train"} and 0.0 < probs["train"] < 1.0 and token == "<|end|>"
    assert model.training  # left as it was found
    assert measure_eot(model, tok, rows, rows, n=0) == ({}, None)


def test_eot_warning_threshold() -> None:
    assert eot_warning({"train": 0.996, "val": 0.9}, "<end_of_turn>") is None
    assert eot_warning({}, None) is None
    note = eot_warning({"train": 0.003, "val": 0.9}, "<end_of_turn>")
    assert note is not None and note.startswith("WARNING: the adapter rarely ends its answers")
    assert "0.003 on training examples" in note and "validation" not in note
    assert eot_warning({"train": EOT_WARN}, "x") is None


@pytest.mark.skipif(not cpu_4bit_support()[0], reason="bitsandbytes 4-bit does not work on this CPU")
def test_measure_eot_on_4bit_does_not_repack(tiny_model_64: Path, chat_data: tuple[Path, Path]) -> None:
    """PLATFORM.md: an eval-mode no-grad forward of a 4-bit model on CPU repacks its weights for inference
    (after which LoRA gradients are zero). The check runs with the 4-bit layers flagged as training."""
    from bitsandbytes.functional import has_avx512bf16
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    from trainers.trainer import count_repacked_4bit_layers

    def load() -> torch.nn.Module:
        q = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
        )
        base = AutoModelForCausalLM.from_pretrained(
            tiny_model_64, dtype=torch.bfloat16, quantization_config=q
        )
        return get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", r=4, target_modules="all-linear"))

    tok = AutoTokenizer.from_pretrained(tiny_model_64)
    rows = read_chat_jsonl(str(chat_data[0]))
    model = load()
    probs, _ = measure_eot(model, tok, rows, [], n=2, guard_4bit=True)
    assert "train" in probs
    assert count_repacked_4bit_layers(model) == 0
    if has_avx512bf16():  # control: the same pass without the guard repacks
        control = load()
        measure_eot(control, tok, rows, [], n=2, guard_4bit=False)
        assert count_repacked_4bit_layers(control) > 0
