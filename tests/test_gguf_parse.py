"""The embedded model's conversion parses its GGUF once, through a plain ndarray view of the file
(harness/models/embedded.py `parse_gguf_once`): same fields, same tensors, and gguf left as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _write_gguf(path: Path) -> None:
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(2)
    w.add_array("tokenizer.ggml.tokens", [f"tok{i}" for i in range(300)])
    w.add_array("tokenizer.ggml.scores", [float(i) / 7 for i in range(300)])
    w.add_string("general.name", "tiny")
    w.add_tensor("blk.0.weight", np.arange(24, dtype=np.float32).reshape(4, 6))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def _fields(reader) -> dict:
    return {name: [f.parts[i].tolist() for i in f.data] for name, f in reader.fields.items()}


def test_parse_gguf_once_reads_the_same_fields_once(tmp_path: Path) -> None:
    import gguf
    import gguf.gguf_reader as gguf_reader

    from harness.models.embedded import parse_gguf_once

    path = tmp_path / "tiny.gguf"
    _write_gguf(path)
    plain = gguf.GGUFReader(path)
    assert isinstance(plain.data, np.memmap)
    original_class, original_np = gguf.GGUFReader, gguf_reader.np
    with parse_gguf_once():
        first = gguf.GGUFReader(path)
        assert gguf.GGUFReader(str(path)) is first  # the same file: parsed once
        assert type(first.data) is np.ndarray  # a plain view of the map, no memmap hooks per slice
        assert _fields(first) == _fields(plain)
        assert [t.name for t in first.tensors] == [t.name for t in plain.tensors] == ["blk.0.weight"]
        assert np.array_equal(np.asarray(first.tensors[0].data), np.asarray(plain.tensors[0].data))
    assert gguf.GGUFReader is original_class and gguf_reader.np is original_np
    assert gguf.GGUFReader(path) is not gguf.GGUFReader(path)
