"""Tiny random Llama (and Gemma 3) models with a locally trained byte-level BPE tokenizer.

Built in about a second, fully offline, for tests of the hf backend, scorers and the trainer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

_CORPUS = [
    "The customer was charged twice for the monthly subscription and wants a refund.",
    "My package has not arrived yet, the tracking number shows no updates since Monday.",
    "I cannot log in to my account after resetting the password, please help.",
    "The app crashes every time I open the settings page on Android.",
    "Could you add a dark mode to the dashboard? It would be great.",
    '{"category": "billing", "priority": "high", "summary": "double charge"}',
    "Paris is the capital of France. Two plus two equals four. Water boils at 100 degrees.",
    "def f(x): return x + 1  # numbers 0 1 2 3 4 5 6 7 8 9",
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ .,;:!?'\"()[]{}<>-_/\\|@#$%^&*+=~`",
]


def build_tokenizer(vocab_size: int = 400):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<pad>", "<s>", "</s>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="<|end|>",
        pad_token="<pad>",
        additional_special_tokens=specials[4:],
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.padding_side = "left"
    return fast


def build_tiny_model(
    out_dir: str | Path,
    *,
    hidden_size: int = 32,
    layers: int = 2,
    heads: int = 2,
    vocab_size: int = 400,
    seed: int = 0,
    initializer_range: float = 0.02,
) -> Path:
    """Write a random tiny Llama (safetensors + tokenizer + chat template) to `out_dir`. A larger
    `initializer_range` widens the logits a LoRA adapter can reach (with 0.02 and hidden size 32 no
    token's probability can rise far above uniform, whatever the adapter learns)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(vocab_size)
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=1024,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=False,
        initializer_range=initializer_range,
    )
    return _save(LlamaForCausalLM(cfg), tok, out)


def build_tiny_gemma3(out_dir: str | Path, *, sliding_window: int = 8, seed: int = 0) -> Path:
    """Write a random tiny Gemma 3 (one sliding-window layer of `sliding_window` tokens, one full
    attention layer) with the same tokenizer to `out_dir`: prompts outgrow its window, as 5-shot
    prompts outgrow the embedded Gemma 3's 512 tokens."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    torch.manual_seed(seed)
    cfg = Gemma3TextConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        sliding_window=sliding_window,
        layer_types=["sliding_attention", "full_attention"],
        max_position_embeddings=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    return _save(Gemma3ForCausalLM(cfg), tok, out)


def _save(model: Any, tok: Any, out: Path) -> Path:
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
