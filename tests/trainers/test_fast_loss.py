"""fast_loss (LM head only at loss positions) equals TRL's standard SFT loss, and trains."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file


def _trainer(
    model_dir: Path,
    train_file: Path,
    tmp_path: Path,
    *,
    packing: bool = False,
    batch: int = 4,
    bf16: bool = False,
):
    import datasets
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig

    from trainers.sft import checkpointing_args, read_chat_jsonl
    from trainers.trainer import TunebenchSFTTrainer

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16 if bf16 else torch.float32)
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
        bf16=bf16,
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


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_token_log_probs_equal_the_whole_tensor_expression(dtype: torch.dtype) -> None:
    """The row-chunked log-probabilities give, bit for bit, the values and gradients of
    `log_softmax(logits.float()).gather(targets)` (13 rows: chunks of 4 and a last one of 1)."""
    from trainers.trainer import LOG_SOFTMAX_ROWS, token_log_probs

    assert 13 % LOG_SOFTMAX_ROWS != 0
    gen = torch.Generator().manual_seed(0)
    base = (torch.randn(13, 3001, generator=gen) * 4).to(dtype)
    targets = torch.randint(0, 3001, (13,), generator=gen)
    weights = torch.rand(13, generator=gen)  # a gradient that differs per row

    whole_in = base.clone().requires_grad_()
    whole_lp = torch.log_softmax(whole_in.float(), dim=-1)
    whole = whole_lp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    (whole * weights).sum().backward()

    chunked_in = base.clone().requires_grad_()
    stats: dict = {}
    chunked = token_log_probs(chunked_in, targets, stats)
    (chunked * weights).sum().backward()

    assert chunked.dtype == torch.float32 and torch.equal(chunked, whole)
    assert chunked_in.grad is not None and chunked_in.grad.dtype == dtype
    assert torch.equal(chunked_in.grad, whole_in.grad)
    with torch.no_grad():
        entropy = float(-(whole_lp.exp() * whole_lp).sum())
        correct = int((whole_lp.argmax(-1) == targets).sum())
    assert stats["correct"] == correct
    assert stats["entropy"] == pytest.approx(entropy, rel=1e-5)


def test_fast_loss_under_bf16_autocast_skips_the_fp32_logits(
    tiny_model: Path, chat_data: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In bf16 mixed precision accelerate casts every output of the forward to fp32: for the logits a
    (positions, vocab) copy and its backward each step. The fast loss runs the same forward under the
    same autocast without that cast: bf16 logits, and the same loss and gradients bit for bit."""
    import trainers.trainer as tt

    trainer, inputs = _trainer(tiny_model, chat_data[0], tmp_path, bf16=True)
    model = trainer.accelerator.prepare_model(trainer.model)  # as the Trainer's training loop does
    assert model is trainer.model
    assert trainer.forward_in_model_precision(model) is not model  # accelerate wrapped the forward
    seen: list[torch.dtype] = []
    real = tt.token_log_probs

    def spy(logits, targets, stats=None):
        seen.append(logits.dtype)
        return real(logits, targets, stats)

    monkeypatch.setattr(tt, "token_log_probs", spy)
    fast, g_fast = _loss_and_grads(trainer, inputs, fast=True)
    monkeypatch.setattr(trainer, "forward_in_model_precision", lambda m: m)  # accelerate's wrapped forward
    wrapped, g_wrapped = _loss_and_grads(trainer, inputs, fast=True)
    assert seen == [torch.bfloat16, torch.float32]
    assert torch.equal(fast, wrapped)
    assert g_fast.keys() == g_wrapped.keys() and g_fast
    for name, g in g_wrapped.items():
        assert torch.equal(g_fast[name], g), name


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
