"""Supervised fine-tuning with LoRA or QLoRA: `main(config) -> TrainResult`.

Reads top to bottom like TRL's `scripts/sft.py`: seed and threads, data, precision, tokenizer and model,
LoRA, trainer, train (then the end-of-turn check), save. Two additions for CPU machines (see /work/shared/PLATFORM.md):

- fast loss: the LM head is applied only at the positions that carry loss (the completion tokens), instead
  of at every position of every sequence; with a 262k-entry vocabulary that is most of the step time.
- 4-bit on CPU: bitsandbytes repacks NF4 weights for inference the first time a `Linear4bit` layer runs in
  eval mode on an input without gradients (on CPUs with avx512_bf16). Later training steps then run a kernel
  with no backward pass and the LoRA gradients silently become zero. Validation therefore runs with the
  4-bit layers flagged as training (they have no other train/eval difference), dropout still off.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import resource
import shutil
import sys
import time
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, Field

from harness.errors import InputError, Problem
from harness.models.adapter_check import base_identity
from harness.models.hf import shared_tokenizer
from harness.models.loading import import_bitsandbytes_offline, load_causal_lm, nf4_config
from harness.models.spec import weights_digest
from harness.textio import read_text
from trainers.config import TrainConfig

ADAPTER_DIR = "adapter"
ADAPTER_META = "tunebench_adapter.json"
RESULT_FILE = "train_result.json"
CHECKPOINT_DIR = "checkpoints"


class TrainResult(BaseModel):
    """What a training run did and produced; also written to output_dir/train_result.json."""

    config: dict[str, Any] = Field(description="The TrainConfig, as a dict.")
    data_hash: dict[str, str] = Field(description="sha256 of the train file bytes (and of the eval file).")
    n_train: int = Field(description="Training examples.")
    n_eval: int = Field(description="Validation examples (0 without eval_file).")
    train_loss_curve: list[tuple[int, float]] = Field(description="(step, logged training loss).")
    eval_loss_curve: list[tuple[float, float]] = Field(description="(epoch, validation loss).")
    first_loss: float | None = Field(description="Training loss logged at step 1.")
    final_loss: float | None = Field(description="Last logged training loss.")
    steps: int = Field(description="Optimizer steps run.")
    epochs: float | None = Field(
        default=None,
        description="Epochs actually trained (fewer than num_epochs when max_steps or early stopping cut them).",
    )
    wall_time_s: float = Field(description="Whole run, loading included.")
    train_runtime_s: float = Field(description="Time in the training loop, evaluation included.")
    peak_memory_mb: float = Field(description="CUDA max_memory_allocated, or the process's peak RSS on CPU.")
    tokens_per_s: float = Field(
        description="Non-pad training tokens processed per second of training (eval excluded)."
    )
    trainable_params: int
    total_params: int
    adapter_path: str
    adapter_hash: str = Field(
        description="The adapter folder's sha256 (harness.models.spec.weights_digest), as an eval run of "
        "this adapter records it."
    )
    base_model: str
    base_precision: str = Field(description="dtype the base model was loaded in, e.g. bfloat16.")
    quantization: str = Field(description="nf4 or none.")
    device: str = Field(description="cpu or cuda:<device name>.")
    quantization_note: str
    early_stopped: bool
    eot_prob: dict[str, float] = Field(
        default_factory=dict,
        description="Mean probability of the end-of-turn token right after the reference answer, on training "
        "('train') and validation ('val') examples (trainers/eot.py); empty when not measured.",
    )
    eot_token: str | None = Field(default=None, description="The end-of-turn token eot_prob is about.")
    eval_metric: str | None = Field(None, description="Task metric watched during training (eval_suite).")
    eval_metric_curve: list[tuple[int, float | None]] = Field(
        default_factory=list, description="(step, task metric on the dev slice) for every evaluation."
    )
    notes: list[str] = Field(default_factory=list, description="Other things worth knowing about the run.")


def main(config: TrainConfig, progress: bool = True) -> TrainResult:
    """Train a LoRA adapter on config.train_file and save it to config.output_dir/adapter."""
    # Imported here so that `import trainers` stays cheap for the CLI and the dashboard.
    import datasets

    import_bitsandbytes_offline()  # before peft and trl import it: no Hub lookup at run time
    from peft import LoraConfig, get_peft_model
    from transformers import EarlyStoppingCallback, PrinterCallback, set_seed
    from trl import SFTConfig

    from trainers.eot import eot_warning, measure_eot
    from trainers.trainer import TunebenchSFTTrainer, count_repacked_4bit_layers

    started = time.perf_counter()
    notes: list[str] = []
    out = Path(config.output_dir)

    # 1. Seed and threads
    cuda = torch.cuda.is_available()
    set_seed(config.seed)
    threads = config.threads if config.threads is not None else (None if cuda else 1)
    if threads is not None:
        torch.set_num_threads(threads)

    # 2. Data: prompt-completion conversations, so the loss is on the assistant answer only
    train_rows = read_chat_jsonl(config.train_file, config.system_prompt)
    eval_rows = read_chat_jsonl(config.eval_file, config.system_prompt) if config.eval_file else []
    data_hash = {"train": sha256_file(config.train_file)}
    if config.eval_file:
        data_hash["eval"] = sha256_file(config.eval_file)
    train_dataset = datasets.Dataset.from_list(train_rows)
    eval_dataset = datasets.Dataset.from_list(eval_rows) if eval_rows else None

    # 3. Precision
    quantization, quantization_note = resolve_quantization(config.quantization, cuda)
    print(f"[tunebench] {quantization_note}", file=sys.stderr)
    dtype = resolve_dtype(config.dtype)
    device = f"cuda:{torch.cuda.get_device_name(0)}" if cuda else "cpu"
    cpu_4bit = quantization == "nf4" and not cuda

    # 4. Tokenizer and base model. The tokenizer is the one every hf backend of this base in this
    # process shares (harness.models.hf.shared_tokenizer, keyed by the base's weights digest): loading
    # Gemma 3's 262k-entry tokenizer again took 2.5 s of the quick demo on 2 cores. Training does not
    # change it: TRL pads the batches itself (right) and sets the pad token the tokenizer already has
    # (shared_tokenizer gives every tokenizer one, the end-of-sequence token if it had none).
    base_meta = base_identity(config.base_model)
    try:
        tokenizer = shared_tokenizer(config.base_model, None, base_meta.get("base_hash"))
    except OSError as e:
        raise InputError(f"cannot load the tokenizer of base model {config.base_model}: {e}") from None
    if not tokenizer.chat_template:
        raise InputError(f"{config.base_model}: the tokenizer has no chat template; training needs one")
    metric_stopper = None
    if config.eval_suite:  # early stopping on the task metric (trainers/early_stop.py); checks the suite
        from trainers import early_stop

        precision = str(dtype).removeprefix("torch.")
        metric_stopper = early_stop.from_config(
            config, tokenizer, quantization=quantization, dtype=precision, guard_4bit=cpu_4bit
        )
    model = load_base_model(config, dtype, quantization, cuda)
    out.mkdir(parents=True, exist_ok=True)  # inputs are valid: from here on the run writes

    # 5. LoRA
    peft_config = LoraConfig(
        task_type="CAUSAL_LM",
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.target_modules,
    )
    model = get_peft_model(model, peft_config)
    trainable_params, total_params = model.get_nb_trainable_parameters()

    # 6. Trainer
    early_stopping = config.early_stopping_patience is not None
    per_epoch_eval = eval_dataset is not None
    args = SFTConfig(
        output_dir=str(out / CHECKPOINT_DIR),
        num_train_epochs=config.num_epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.per_device_batch_size,
        per_device_eval_batch_size=config.per_device_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a ratio of the total steps
        max_length=config.max_seq_length,
        packing=config.packing,
        completion_only_loss=True,
        **checkpointing_args(SFTConfig, config.gradient_checkpointing),
        optim="paged_adamw_8bit" if cuda else "adamw_torch",
        bf16=dtype == torch.bfloat16,
        use_cpu=not cuda,
        eval_strategy="epoch" if per_epoch_eval else "no",
        save_strategy="epoch" if early_stopping else "no",
        save_only_model=True,
        save_total_limit=1 if early_stopping else None,
        load_best_model_at_end=early_stopping,
        metric_for_best_model="eval_loss" if early_stopping else None,
        greater_is_better=False if early_stopping else None,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        report_to="none",
        disable_tqdm=not progress,
        dataloader_num_workers=0,
        seed=config.seed,
    )
    callbacks: list[Any] = []
    stopper = None
    if early_stopping:
        stopper = EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience or 1)
        callbacks.append(stopper)
    if metric_stopper is not None:
        callbacks.append(metric_stopper)
    with _quiet_datasets(not progress):
        trainer = TunebenchSFTTrainer(
            model=model,
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=tokenizer,
            callbacks=callbacks,
            fast_loss=config.fast_loss,
            guard_4bit_eval=cpu_4bit,
        )
    if not progress:  # the HF Trainer prints every log line when its progress bar is off
        trainer.remove_callback(PrinterCallback)
    notes += trainer.fast_loss_notes
    if cpu_4bit and per_epoch_eval:
        notes.append("4-bit base on CPU: validation ran with the 4-bit layers in training mode (no repack).")

    # 7. Train
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    train_output = trainer.train()
    trained: Any = trainer.model  # the PEFT model (the best epoch's adapter when early stopping)
    train_runtime = float(train_output.metrics.get("train_runtime", 0.0))
    early_stopped = bool(
        stopper is not None and stopper.early_stopping_patience_counter >= stopper.early_stopping_patience
    ) or bool(metric_stopper is not None and metric_stopper.stopped)
    if metric_stopper is not None:
        notes += metric_stopper.notes
    # Did it learn to stop? p(end of turn | prompt + reference answer), measured before the repack count
    # below so that the count covers this forward pass too
    eot_prob, eot_token = measure_eot(
        trained, tokenizer, train_rows, eval_rows, n=config.eot_check_examples, guard_4bit=cpu_4bit
    )
    eot_note = eot_warning(eot_prob, eot_token)
    if eot_note:
        notes.append(eot_note)
    if cpu_4bit:
        packed = count_repacked_4bit_layers(trained)
        if packed:
            notes.append(
                f"WARNING: {packed} 4-bit layers were repacked for inference during training; LoRA "
                "gradients through them may have been zero."
            )
    if not lora_weights_moved(trained):
        notes.append(
            "WARNING: every lora_B weight is still zero after training: the adapter learned nothing."
        )

    # 8. Save the adapter (the best epoch's when early stopping), its tokenizer and its base precision
    adapter_dir = out / ADAPTER_DIR
    if adapter_dir.exists():
        shutil.rmtree(adapter_dir)
    trained.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    base_precision = str(dtype).removeprefix("torch.")
    meta: dict[str, Any] = {
        "base_model": config.base_model,
        "base_precision": base_precision,
        "quantization": quantization,
    }
    # the base's identity (weights hash of a local folder, else the hub commit loaded), so an eval on
    # another base warns (harness/models/adapter_check.py base_identity_warnings)
    meta.update(base_meta or base_identity(config.base_model, trained.get_base_model()))
    (adapter_dir / ADAPTER_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(out / CHECKPOINT_DIR, ignore_errors=True)

    # 9. Record what happened
    history = trainer.state.log_history
    train_curve = [(int(h["step"]), float(h["loss"])) for h in history if "loss" in h and "step" in h]
    eval_curve = [(float(h["epoch"]), float(h["eval_loss"])) for h in history if "eval_loss" in h]
    eval_seconds = trainer.eval_seconds + (metric_stopper.eval_seconds if metric_stopper is not None else 0.0)
    train_seconds = max(train_runtime - eval_seconds, 1e-9)
    result = TrainResult(
        config=config.model_dump(),
        data_hash=data_hash,
        n_train=len(train_rows),
        n_eval=len(eval_rows),
        train_loss_curve=train_curve,
        eval_loss_curve=eval_curve,
        first_loss=train_curve[0][1] if train_curve else None,
        final_loss=train_curve[-1][1] if train_curve else None,
        steps=int(trainer.state.global_step),
        epochs=round(float(trainer.state.epoch or 0.0), 2),
        wall_time_s=round(time.perf_counter() - started, 3),
        train_runtime_s=round(train_runtime, 3),
        peak_memory_mb=round(peak_memory_mb(cuda), 1),
        tokens_per_s=round(trainer.train_tokens / train_seconds, 2),
        trainable_params=int(trainable_params),
        total_params=int(total_params),
        adapter_path=str(adapter_dir),
        adapter_hash=weights_digest(adapter_dir),
        base_model=config.base_model,
        base_precision=base_precision,
        quantization=quantization,
        device=device,
        quantization_note=quantization_note,
        early_stopped=early_stopped,
        eot_prob=eot_prob,
        eot_token=eot_token,
        eval_metric=metric_stopper.metric if metric_stopper is not None else None,
        eval_metric_curve=metric_stopper.curve if metric_stopper is not None else [],
        notes=notes,
    )
    (out / RESULT_FILE).write_text(result.model_dump_json(indent=2) + "\n", encoding="utf-8")
    for note in notes:
        print(f"[tunebench] {note}", file=sys.stderr)
    return result


# --------------------------------------------------------------------------------------------------------------
# Data


def read_chat_jsonl(path: str, system_prompt: str | None = None) -> list[dict[str, list[dict[str, str]]]]:
    """Rows in TRL's conversational prompt-completion form: prompt = every turn but the last (after the
    system prompt, when configured and the example has none), completion = [the final assistant turn]."""
    rows: list[dict[str, list[dict[str, str]]]] = []
    problems: list[Problem] = []
    try:
        lines = read_text(path).splitlines()
    except OSError as e:
        raise InputError(f"cannot read training data {path}: {e.strerror or e}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(Problem(path, number, f"not valid JSON: {e.msg}"))
            continue
        messages = record.get("messages") if isinstance(record, dict) else None
        if not isinstance(messages, list) or not messages:
            problems.append(Problem(path, number, "needs a non-empty `messages` list"))
            continue
        bad = [
            i
            for i, m in enumerate(messages)
            if not isinstance(m, dict)
            or not isinstance(m.get("role"), str)
            or not isinstance(m.get("content"), str)
        ]
        if bad:
            problems.append(Problem(path, number, f"message {bad[0]} needs string `role` and `content`"))
            continue
        if messages[-1]["role"] != "assistant":
            problems.append(Problem(path, number, "the last message must be the assistant answer"))
            continue
        turns = [{"role": m["role"], "content": m["content"]} for m in messages]
        if system_prompt and turns[0]["role"] != "system":
            turns.insert(0, {"role": "system", "content": system_prompt})
        rows.append({"prompt": turns[:-1], "completion": turns[-1:]})
    if problems:
        shown = problems[:20]
        more = f" (first {len(shown)} of {len(problems)} shown)" if len(problems) > len(shown) else ""
        raise InputError(f"{path}: {len(problems)} bad training example(s){more}", shown)
    if not rows:
        raise InputError(f"{path}: no training examples")
    return rows


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def _quiet_datasets(quiet: bool) -> Iterator[None]:
    import datasets

    was_enabled = datasets.utils.logging.is_progress_bar_enabled()
    if quiet:
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        if quiet and was_enabled:
            datasets.enable_progress_bars()


# --------------------------------------------------------------------------------------------------------------
# Precision and model


@lru_cache(maxsize=1)
def cpu_4bit_support() -> tuple[bool, str]:
    """Whether bitsandbytes can quantize a Linear to NF4 on this CPU and train through it (forward close to
    the float layer, finite input gradients). Runs in training mode, so it never triggers the inference repack."""
    try:
        import bitsandbytes as bnb

        torch.manual_seed(0)
        layer = bnb.nn.Linear4bit(64, 64, bias=False, compute_dtype=torch.bfloat16, quant_type="nf4")
        weight = layer.weight.data.clone()
        layer = layer.to("cpu")
        layer.train()
        x = torch.randn(4, 64, requires_grad=True)
        y = layer(x).float()
        y.sum().backward()
        reference = x.detach() @ weight.T
        error = float((y.detach() - reference).norm() / reference.norm())
        grad_ok = x.grad is not None and bool(torch.isfinite(x.grad).all()) and float(x.grad.abs().sum()) > 0
        if error > 0.25 or not grad_ok:
            return False, f"bitsandbytes 4-bit gave wrong results on this CPU (relative error {error:.2f})"
        return True, f"bitsandbytes {bnb.__version__} 4-bit works on this CPU"
    except Exception as e:  # any failure (missing library, no CPU kernel) means: do not quantize
        return False, f"bitsandbytes 4-bit does not work on this CPU ({type(e).__name__}: {str(e)[:120]})"


def resolve_quantization(requested: str, cuda: bool) -> tuple[str, str]:
    """("nf4" | "none", a one-line note saying which and why)."""
    if requested == "none":
        return "none", "quantization: none (as configured); LoRA on the full-precision base"
    if requested == "nf4":
        if not cuda:
            ok, why = cpu_4bit_support()
            if not ok:
                raise InputError(f"quantization: nf4 was requested but {why}; use quantization: none or auto")
        return "nf4", "quantization: nf4 (as configured); QLoRA on a 4-bit base" + ("" if cuda else " on CPU")
    if cuda:
        return "nf4", "quantization: auto -> nf4 (CUDA available); QLoRA on a 4-bit base"
    ok, why = cpu_4bit_support()
    if ok:
        return "nf4", f"quantization: auto -> nf4 on CPU ({why}); QLoRA on a 4-bit base"
    return "none", f"quantization: auto -> none on CPU ({why}); LoRA on the full-precision base"


def resolve_dtype(requested: str) -> torch.dtype:
    return torch.float32 if requested == "float32" else torch.bfloat16


def load_base_model(config: TrainConfig, dtype: torch.dtype, quantization: str, cuda: bool) -> Any:
    kwargs: dict[str, Any] = {"dtype": dtype}
    if quantization == "nf4":
        kwargs["quantization_config"] = nf4_config()
        if cuda:
            kwargs["device_map"] = {"": 0}
    try:
        model = load_causal_lm(config.base_model, **kwargs)
    except OSError as e:
        raise InputError(f"cannot load base model {config.base_model}: {e}") from None
    if quantization == "nf4":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=config.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    return model


def lora_weights_moved(model: torch.nn.Module) -> bool:
    """LoRA B matrices start at zero; any nonzero one means training changed the adapter."""
    bs = [p for n, p in model.named_parameters() if "lora_B" in n]
    return not bs or any(bool(p.detach().abs().sum() > 0) for p in bs)


def checkpointing_args(config_class: type, enabled: bool) -> dict[str, Any]:
    """Activation (gradient) checkpointing arguments under the name this transformers version uses."""
    names = getattr(config_class, "__dataclass_fields__", {})
    prefix = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    return {prefix: enabled, f"{prefix}_kwargs": {"use_reentrant": False} if enabled else None}


def peak_memory_mb(cuda: bool) -> float:
    if cuda:
        return torch.cuda.max_memory_allocated() / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 if sys.platform != "darwin" else rss / 2**20  # KiB on Linux, bytes on macOS
