"""TRL's SFTTrainer plus three things: the fast loss, the CPU 4-bit eval guard and an honest token count.

Kept apart from `trainers.sft` because importing TRL takes seconds; `sft.main` imports this when it runs.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Any

import torch

from harness.models.loading import import_bitsandbytes_offline

import_bitsandbytes_offline()  # before trl imports it: no Hub lookup at run time

from trl import SFTTrainer  # noqa: E402

# --------------------------------------------------------------------------------------------------------------
# bitsandbytes 4-bit on CPU


def linear4bit_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    try:
        from bitsandbytes.nn import Linear4bit
    except Exception:
        return []
    return [m for m in model.modules() if isinstance(m, Linear4bit)]


@contextlib.contextmanager
def keep_4bit_layers_in_train_mode(model: torch.nn.Module) -> Iterator[None]:
    """Flag bitsandbytes 4-bit layers as training for the duration; dropout and the rest stay in eval mode.

    On a CPU with avx512_bf16, `Linear4bit.forward` repacks its weight for inference the first time it runs
    with `not self.training and not x.requires_grad`, and the repacked weight has no backward pass: later
    training steps silently get zero gradients through it. `training` changes nothing else in that forward,
    so this gives the same outputs without the repack. (`torch.enable_grad()` alone is not enough: the
    first layer's input comes from the frozen embedding and does not require grad.)"""
    layers = linear4bit_layers(model)
    before = [m.training for m in layers]
    for m in layers:
        m.training = True
    try:
        yield
    finally:
        for m, was in zip(layers, before, strict=True):
            m.training = was


@contextlib.contextmanager
def evaluating(model: Any, *, guard_4bit: bool = False) -> Iterator[None]:
    """An evaluation inside training: eval mode (dropout off) for the duration, then the mode the model
    had. The LM head gets densely laid out inputs (`harness.models.hf.contiguous_head_input`: one-row
    passes of a model with frozen weights otherwise take its slow path, about 1.3 s a call instead of
    30 ms on Gemma 3 270M), and with `guard_4bit` the 4-bit layers stay flagged as training
    (`keep_4bit_layers_in_train_mode`)."""
    from harness.models.hf import contiguous_head_input

    was_training = model.training
    model.eval()
    hook = contiguous_head_input(model)
    try:
        with keep_4bit_layers_in_train_mode(model) if guard_4bit else contextlib.nullcontext():
            yield
    finally:
        if hook is not None:
            hook.remove()
        model.train(was_training)


def count_repacked_4bit_layers(model: torch.nn.Module) -> int:
    """4-bit layers whose weight bitsandbytes has repacked for CPU inference (0 after a healthy run)."""
    return sum(
        bool(getattr(getattr(m.weight, "quant_state", None), "packing_format_for_cpu", False))
        for m in linear4bit_layers(model)
    )


# --------------------------------------------------------------------------------------------------------------
# Dataset fingerprints


@contextlib.contextmanager
def tokenizer_fingerprint_from_backend(tokenizer: Any) -> Iterator[None]:
    """While TRL tokenizes the training data, `datasets` fingerprints each `map` by pickling its
    arguments, the tokenizer included, with dill in Python. transformers' tokenizers keep Python copies
    of their vocabulary and merges (`_vocab`, `_merges`) beside the Rust tokenizer: for Gemma 3's
    262k-entry vocabulary that took 5.3 s a fingerprint on the 2-core machine. Within this block the
    tokenizer is hashed from the Rust tokenizer's own serialization (`to_str()`, which holds the same
    vocabulary and merges; 0.5 s) and the rest of its attributes, so the fingerprint still changes
    whenever the tokenizer does. Only this tokenizer's class is affected, and only inside the block."""
    backend = getattr(tokenizer, "_tokenizer", None)
    try:
        from datasets.utils._dill import Pickler
    except ImportError:  # pragma: no cover - datasets is a dependency of TRL
        Pickler = None
    if Pickler is None or not callable(getattr(backend, "to_str", None)):
        yield
        return
    cls = type(tokenizer)
    had = cls in Pickler.dispatch
    previous = Pickler.dispatch.get(cls) if had else None

    def save(pickler: Any, obj: Any) -> None:
        skip = ("_vocab", "_merges", "_tokenizer", "cache", "deprecation_warnings")
        state = {k: v for k, v in obj.__dict__.items() if k not in skip}
        pickler.save((type(obj).__module__, type(obj).__qualname__, obj._tokenizer.to_str(), state))

    Pickler.dispatch[cls] = save
    try:
        yield
    finally:
        if had:
            Pickler.dispatch[cls] = previous
        else:
            Pickler.dispatch.pop(cls, None)


# --------------------------------------------------------------------------------------------------------------
# Loss and token counting


def supports_bool_logits_to_keep(model: torch.nn.Module) -> bool:
    """Whether the causal-LM forward slices hidden states with transformers' `slice_logits_to_keep`, which
    accepts a (batch, seq) boolean mask. Otherwise only a 1-D tensor of positions is safe."""
    get_base = getattr(model, "get_base_model", None)
    base = get_base() if callable(get_base) else model
    module = sys.modules.get(type(base).__module__)
    return module is not None and "slice_logits_to_keep" in vars(module)


def count_real_tokens(inputs: dict[str, Any]) -> int:
    """Non-pad tokens of a collated batch: the attention mask's sum, or every token of a padding-free batch."""
    if inputs.get("attention_mask") is not None:
        return int(inputs["attention_mask"].sum())
    if inputs.get("position_ids") is not None:
        return int(inputs["position_ids"].numel())
    return int(inputs["input_ids"].numel())


def loss_targets(inputs: dict[str, Any]) -> torch.Tensor:
    """(batch, seq) next-token targets aligned with the positions that predict them; -100 where no loss."""
    if inputs.get("shift_labels") is not None:  # padding-free / sequence-parallel collators pre-shift
        return inputs["shift_labels"]
    labels = inputs["labels"]
    return torch.nn.functional.pad(labels[:, 1:], (0, 1), value=-100)


LOG_SOFTMAX_ROWS = 4
"""Rows of (n, vocab) logits turned into log-probabilities at a time by `token_log_probs`. Each chunk's
fp32 buffers (4 x 262k entries for Gemma 3: 4 MB) are small enough for the allocator to reuse; whole
(n, vocab) fp32 tensors (about 110 MB a step in the demo) were fresh pages every time, and writing
them cost more than the arithmetic (tests/benchmarks/README.md, the chunked log-softmax row)."""


class _ChunkedTokenLogProbs(torch.autograd.Function):
    """log p(target) for each row of `logits`: `log_softmax(logits.float()).gather(targets)`, forward
    and backward, computed LOG_SOFTMAX_ROWS rows at a time. Bit for bit the values and gradients of
    that whole-tensor expression (the same kernels, row by row), without its vocabulary-sized fp32
    tensors. The backward recomputes each chunk's log-softmax instead of keeping them all."""

    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, targets: torch.Tensor, stats: dict | None) -> torch.Tensor:
        out = torch.empty(logits.shape[0], dtype=torch.float32, device=logits.device)
        entropy = torch.zeros((), dtype=torch.float32, device=logits.device)
        correct = torch.zeros((), dtype=torch.long, device=logits.device)
        for lo in range(0, logits.shape[0], LOG_SOFTMAX_ROWS):
            rows = slice(lo, lo + LOG_SOFTMAX_ROWS)
            log_probs = torch.log_softmax(logits[rows].float(), dim=-1)
            out[rows] = log_probs.gather(-1, targets[rows].unsqueeze(-1)).squeeze(-1)
            if stats is not None:
                entropy -= (log_probs.exp() * log_probs).sum()
                correct += (log_probs.argmax(-1) == targets[rows]).sum()
        if stats is not None:
            stats["entropy"], stats["correct"] = float(entropy), int(correct)
        ctx.save_for_backward(logits, targets)
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        logits, targets = ctx.saved_tensors
        grad = torch.empty_like(logits)
        for lo in range(0, logits.shape[0], LOG_SOFTMAX_ROWS):
            rows = slice(lo, lo + LOG_SOFTMAX_ROWS)
            log_probs = torch.log_softmax(logits[rows].float(), dim=-1)
            # what autograd does: gather's backward scatters into zeros, log_softmax's backward, the cast back
            grad_log_probs = torch.zeros_like(log_probs).scatter_add_(
                -1, targets[rows].unsqueeze(-1), grad_out[rows].unsqueeze(-1)
            )
            grad[rows] = torch._log_softmax_backward_data(grad_log_probs, log_probs, -1, torch.float32)
        return grad, None, None


def token_log_probs(logits: torch.Tensor, targets: torch.Tensor, stats: dict | None = None) -> torch.Tensor:
    """(n,) fp32 log-probability of `targets` under each row of (n, vocab) `logits`, differentiable.
    With `stats` (a dict) it also stores the rows' summed entropy ("entropy") and how many rows'
    argmax is the target ("correct")."""
    return _ChunkedTokenLogProbs.apply(logits, targets, stats)


class TunebenchSFTTrainer(SFTTrainer):
    """SFTTrainer with `fast_loss`, the CPU 4-bit eval guard, and `train_tokens` / `eval_seconds` counters."""

    def __init__(self, *args: Any, fast_loss: bool = True, guard_4bit_eval: bool = False, **kwargs: Any):
        with tokenizer_fingerprint_from_backend(kwargs.get("processing_class")):
            super().__init__(*args, **kwargs)
        self.guard_4bit_eval = guard_4bit_eval
        self.train_tokens = 0
        self.eval_seconds = 0.0
        self.fast_loss_notes: list[str] = []
        self.fast_loss = fast_loss
        if fast_loss:
            blockers = []
            if self.aux_loss_enabled:
                blockers.append("MoE auxiliary loss")
            loss_type = getattr(self.args, "loss_type", "nll")
            if loss_type != "nll":
                blockers.append(f"loss_type={loss_type}")
            if self.compute_loss_func is not None or self.label_smoother is not None:
                blockers.append("a custom loss or label smoothing")
            if blockers:
                self.fast_loss = False
                self.fast_loss_notes.append(
                    f"fast_loss off ({', '.join(blockers)}): TRL's standard loss used."
                )
        self.bool_logits_to_keep = self.model is not None and supports_bool_logits_to_keep(self.model)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if model.training:
            self.train_tokens += count_real_tokens(inputs)
        if not self.fast_loss or return_outputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        return self.fast_compute_loss(model, inputs, num_items_in_batch)

    def fast_compute_loss(self, model, inputs, num_items_in_batch=None):
        """TRL 1.x's SFT loss: the next-token NLL summed over labels != -100, divided by num_items_in_batch
        (the label count of all micro-batches of the optimizer step) or, without it, by this batch's count.
        The LM head is applied only at the positions that carry loss, via the forward's `logits_to_keep`."""
        mode = "train" if model.training else "eval"
        targets = loss_targets(inputs)
        keep = targets != -100
        model_inputs = {k: v for k, v in inputs.items() if k not in ("labels", "shift_labels")}
        model_inputs["use_cache"] = False
        forward = self.forward_in_model_precision(model)
        if self.bool_logits_to_keep:
            logits = forward(**model_inputs, logits_to_keep=keep).logits  # (n_kept, vocab)
        else:
            positions = keep.any(dim=0).nonzero().squeeze(-1)
            logits = forward(**model_inputs, logits_to_keep=positions).logits  # (batch, n_positions, vocab)
            logits = logits[keep[:, positions]]
        wanted = targets[keep]
        # The metrics TRL logs: entropy and top-1 accuracy over the loss positions, tokens seen. In
        # training they are taken on the steps that are logged only (TRL averages them over every step
        # since the last log): over a 262k-entry vocabulary they cost about 0.1 s a step on 2 cores.
        stats: dict | None = {} if mode == "eval" or self.logs_this_step() else None
        log_probs = token_log_probs(logits, wanted, stats)
        n_valid = keep.sum()
        denominator = n_valid.clamp(min=1) if num_items_in_batch is None else num_items_in_batch
        loss = -log_probs.sum() / torch.as_tensor(denominator, device=log_probs.device)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * (self.accelerator.num_processes // self.get_tp_size())
        if stats is not None:
            count = max(int(n_valid), 1)
            self._metrics[mode]["entropy"].append(stats["entropy"] / count)
            self._metrics[mode]["mean_token_accuracy"].append(stats["correct"] / count)
        if mode == "train":
            self._total_train_tokens += count_real_tokens(inputs)
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        return loss

    def forward_in_model_precision(self, model: Any) -> Any:
        """`model`'s forward as accelerate runs it in mixed precision (under the same autocast), minus
        accelerate's cast of every output to fp32: for the logits that is a (n_kept, vocab) fp32 copy
        and its backward every step, which `token_log_probs` makes unneeded (it upcasts row chunks to
        the same values). `model` itself (its `__call__`) when accelerate did not wrap its forward."""
        original = vars(model).get("_original_forward")  # set by accelerate's prepare_model for native AMP
        if original is None or not hasattr(model.forward, "__wrapped__"):
            return model

        def forward(**kwargs: Any) -> Any:
            with self.accelerator.autocast():
                return original(**kwargs)

        return forward

    def logs_this_step(self) -> bool:
        """Whether the optimizer step being computed will be logged (the Trainer's step-logging rule)."""
        args, state = self.args, self.state
        if args.logging_strategy != "steps":
            return True
        step = state.global_step + 1
        every = state.logging_steps or args.logging_steps
        return bool(args.logging_first_step and step == 1) or (every > 0 and step % every == 0)

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        guard = keep_4bit_layers_in_train_mode(model) if self.guard_4bit_eval else contextlib.nullcontext()
        with guard:
            return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)

    def evaluate(self, *args: Any, **kwargs: Any) -> dict[str, float]:
        started = time.perf_counter()
        try:
            return super().evaluate(*args, **kwargs)
        finally:
            self.eval_seconds += time.perf_counter() - started
