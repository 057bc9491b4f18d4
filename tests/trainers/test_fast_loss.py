"""fast_loss (LM head only at loss positions) equals TRL's standard SFT loss, and trains."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file


def _trainer(model_dir: Path, train_file: Path, tmp_path: Path, *, packing: bool = False, batch: int = 4):
    import datasets
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig

    from trainers.sft import checkpointing_args, read_chat_jsonl
    from trainers.trainer import TunebenchSFTTrainer

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = get_peft_model(
        model,
        LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear"),
    )
    with torch.no_grad():  # LoRA B starts at zero; give it values so every gradient is nonzero
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    args = SFTConfig(
        output_dir=str(tmp_path / "ckpt"),
        per_device_train_batch_size=batch,
        max_length=64,
        packing=packing,
        completion_only_loss=True,
        bf16=False,
        use_cpu=True,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        **checkpointing_args(SFTConfig, False),
    )
    data = datasets.Dataset.from_list(read_chat_jsonl(str(train_file), system_prompt="Triage the ticket."))
    trainer = TunebenchSFTTrainer(
        model=model, args=args, train_dataset=data, processing_class=tok, fast_loss=True
    )
    batch_inputs = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    return trainer, batch_inputs


def _loss_and_grads(trainer, inputs, *, fast: bool, num_items=None, bool_mask: bool = True):
    trainer.fast_loss = fast
    trainer.bool_logits_to_keep = bool_mask
    model = trainer.model
    model.train()
    model.zero_grad()
    loss = trainer.compute_loss(model, dict(inputs), num_items_in_batch=num_items)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    return loss.detach(), grads


@pytest.mark.parametrize("packing", [False, True], ids=["padded", "packed"])
def test_fast_loss_equals_standard_loss(
    tiny_model: Path, chat_data: tuple[Path, Path], tmp_path: Path, packing: bool
) -> None:
    trainer, inputs = _trainer(tiny_model, chat_data[0], tmp_path, packing=packing)
    labels = inputs["labels"]
    n_loss = int((labels[:, 1:] != -100).sum())
    assert 0 < n_loss < labels[:, 1:].numel()  # completion-only: some positions carry no loss
    if packing:
        assert "position_ids" in inputs and inputs["input_ids"].shape[0] == 1

    standard, g_standard = _loss_and_grads(trainer, inputs, fast=False)
    for bool_mask in (True, False):  # (batch, seq) boolean mask, and the 1-D positions fallback
        fast, g_fast = _loss_and_grads(trainer, inputs, fast=True, bool_mask=bool_mask)
        torch.testing.assert_close(fast, standard, rtol=1e-4, atol=0)
        for name, g in g_standard.items():
            torch.testing.assert_close(g_fast[name], g, rtol=1e-3, atol=1e-6, msg=name)

    # Gradient accumulation: both divide the summed NLL by the step's label count when given it
    standard_n, _ = _loss_and_grads(trainer, inputs, fast=False, num_items=torch.tensor(3 * n_loss))
    fast_n, _ = _loss_and_grads(trainer, inputs, fast=True, num_items=torch.tensor(3 * n_loss))
    torch.testing.assert_close(fast_n, standard_n, rtol=1e-4, atol=0)
    torch.testing.assert_close(fast_n * 3, standard, rtol=1e-4, atol=0)


def test_fast_loss_uses_fewer_head_positions(
    tiny_model: Path, chat_data: tuple[Path, Path], tmp_path: Path
) -> None:
    trainer, inputs = _trainer(tiny_model, chat_data[0], tmp_path)
    head = trainer.model.get_output_embeddings()
    rows: list[int] = []
    hook = head.register_forward_hook(
        lambda mod, inp, out: rows.append(inp[0].reshape(-1, inp[0].shape[-1]).shape[0])
    )
    try:
        _loss_and_grads(trainer, inputs, fast=True)
    finally:
        hook.remove()
    assert rows == [int((inputs["labels"][:, 1:] != -100).sum())]
    assert rows[0] < inputs["input_ids"].numel()


def test_training_with_fast_loss_lowers_loss(
    tiny_model: Path, chat_data: tuple[Path, Path], tmp_path: Path
) -> None:
    from trainers import TrainConfig, train

    cfg = TrainConfig(
        base_model=str(tiny_model),
        train_file=str(chat_data[0]),
        output_dir=str(tmp_path / "run"),
        quantization="none",
        fast_loss=True,
        max_steps=24,
        learning_rate=3e-3,
        lora_r=8,
        logging_steps=4,
        threads=1,
    )
    result = train(cfg, progress=False)
    assert result.final_loss is not None and result.first_loss is not None
    assert result.final_loss < result.first_loss
    tensors = load_file(Path(result.adapter_path) / "adapter_model.safetensors")
    assert all(t.abs().sum() > 0 for k, t in tensors.items() if "lora_B" in k)


def test_token_metrics_are_taken_on_logged_steps_only(
    tiny_model: Path, chat_data: tuple[Path, Path], tmp_path: Path
) -> None:
    """TRL's entropy and token accuracy cost a pass over the whole vocabulary per step: they are
    computed on the steps the Trainer logs (logging_steps, and the first step) and nowhere else, and
    every logged training entry still carries them."""
    trainer, inputs = _trainer(tiny_model, chat_data[0], tmp_path)
    trainer.args.logging_steps = 3
    trainer.args.logging_first_step = True
    trainer.state.logging_steps = 3
    model = trainer.model
    model.train()
    taken = []
    for step in range(7):
        trainer.state.global_step = step
        trainer._metrics["train"].clear()
        trainer.compute_loss(model, dict(inputs))
        taken.append("entropy" in trainer._metrics["train"])
    # steps 1..7 (global_step + 1): the first, then every third
    assert taken == [True, False, True, False, False, True, False]

    trainer.args.logging_steps = 2
    trainer.state.logging_steps = 2
    trainer.state.global_step = 0
    trainer.args.max_steps = 5
    trainer.train()
    logged = [h for h in trainer.state.log_history if "loss" in h]
    assert [h["step"] for h in logged] == [1, 2, 4]
    assert all("entropy" in h and "mean_token_accuracy" in h for h in logged)


def test_tokenizer_fingerprint_from_backend(tiny_model: Path) -> None:
    """Inside the block `datasets` hashes a tokenizer from its Rust serialization: equal tokenizers
    hash equal, a changed one hashes differently, and outside the block the library's own hashing
    is back."""
    from datasets.fingerprint import Hasher
    from datasets.utils._dill import Pickler
    from transformers import AutoTokenizer

    from trainers.trainer import tokenizer_fingerprint_from_backend

    a = AutoTokenizer.from_pretrained(tiny_model)
    b = AutoTokenizer.from_pretrained(tiny_model)
    cls = type(a)
    before = Pickler.dispatch.get(cls)
    with tokenizer_fingerprint_from_backend(a):
        assert Pickler.dispatch.get(cls) is not before
        same = Hasher.hash(a) == Hasher.hash(b)
        b.add_tokens(["<new-token>"])
        changed_vocab = Hasher.hash(a) != Hasher.hash(b)
        c = AutoTokenizer.from_pretrained(tiny_model)
        c.chat_template = "{{ messages }}"
        changed_template = Hasher.hash(a) != Hasher.hash(c)
    assert same and changed_vocab and changed_template
    assert Pickler.dispatch.get(cls) is before
    with tokenizer_fingerprint_from_backend(None):  # nothing to do without a tokenizer
        pass
