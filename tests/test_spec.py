"""Model spec parsing: every form and every error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import InputError
from harness.models.spec import parse_spec, weights_hash


def fake_model(root: Path, content: bytes = b"weights") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.safetensors").write_bytes(content)
    (root / "config.json").write_text("{}")
    return root


def fake_adapter(root: Path, meta: dict | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "adapter_config.json").write_text("{}")
    (root / "adapter_model.safetensors").write_bytes(b"lora")
    if meta is not None:
        (root / "tunebench_adapter.json").write_text(json.dumps(meta))
    return root


def test_hf_local_folder(workspace: Path, tmp_path: Path) -> None:
    base = fake_model(tmp_path / "base")
    spec = parse_spec(f"hf:{base}")
    assert spec.backend == "hf" and spec.base == str(base.resolve())
    assert spec.base_hash == weights_hash(base) and len(spec.base_hash) == 64
    assert spec.adapter is None and spec.quantization is None and spec.dtype == "auto"
    assert spec.raw == f"hf:{base}" and spec.label == f"hf:{base}"
    assert parse_spec(f"  hf:{base}  ", dtype="float32").dtype == "float32"
    # the hash follows the weights, not the path
    other = fake_model(tmp_path / "elsewhere")
    assert parse_spec(f"hf:{other}").base_hash == spec.base_hash
    changed = fake_model(tmp_path / "changed", b"other weights")
    assert parse_spec(f"hf:{changed}").base_hash != spec.base_hash


def test_hf_hub_id_unresolved(workspace: Path) -> None:
    spec = parse_spec("hf:google/gemma-3-270m")
    assert spec.base == "google/gemma-3-270m" and spec.base_hash is None


def test_hf_with_lora(workspace: Path, tmp_path: Path) -> None:
    base = fake_model(tmp_path / "base")
    adapter = fake_adapter(tmp_path / "adapter")
    spec = parse_spec(f"hf:{base}+lora:{adapter}")
    assert spec.adapter == str(adapter.resolve()) and spec.adapter_hash and spec.quantization is None
    plain = parse_spec(f"hf:{base}")
    assert spec.identity != plain.identity
    assert spec.identity["adapter"] == spec.adapter_hash


@pytest.mark.parametrize(
    "meta,flag,expected",
    [
        ({"quantization": "nf4", "base_precision": "bfloat16"}, None, "nf4"),
        ({"quantization": "none"}, None, None),
        ({}, None, None),
        ({"quantization": "nf4"}, "nf4", "nf4"),
    ],
)
def test_adapter_meta_sets_quantization(
    workspace: Path, tmp_path: Path, meta: dict, flag: str | None, expected: str | None
) -> None:
    base = fake_model(tmp_path / "base")
    adapter = fake_adapter(tmp_path / "adapter", meta)
    assert parse_spec(f"hf:{base}+lora:{adapter}", quantization=flag).quantization == expected


def test_quantization_none_flag_overrides_adapter_meta(workspace: Path, tmp_path: Path) -> None:
    import argparse

    from harness.cli.common import model_spec

    base = fake_model(tmp_path / "base")
    adapter = fake_adapter(tmp_path / "adapter", {"quantization": "nf4"})
    args = argparse.Namespace(
        model=f"hf:{base}+lora:{adapter}", workspace=None, dtype="auto", quantization="none"
    )
    assert model_spec(args).quantization is None
    args.quantization = None
    assert model_spec(args).quantization == "nf4"


def test_openai_and_mock(workspace: Path, tmp_path: Path) -> None:
    spec = parse_spec("openai:my-model@http://localhost:8000/v1")
    assert (spec.backend, spec.base, spec.url) == ("openai", "my-model", "http://localhost:8000/v1")
    assert parse_spec("openai:org/m@name@https://h/v1").base == "org/m@name"
    echo = parse_spec("mock:echo")
    assert (echo.backend, echo.base, echo.base_hash) == ("mock", "echo", None)
    script = tmp_path / "script.yaml"
    script.write_text("default: hi\n")
    s1 = parse_spec(f"mock:{script}")
    assert s1.base == str(script.resolve()) and s1.base_hash
    script.write_text("default: bye\n")
    assert parse_spec(f"mock:{script}").base_hash != s1.base_hash


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("", "empty model spec"),
        ("hf:", "expected BACKEND:"),
        ("hf", "expected BACKEND:"),
        ("hf:./no-such-model", "does not exist"),
        ("hf:/no/such/model", "does not exist"),
        ("hf:{base}+lora:", "'+lora:ADAPTER_PATH'"),
        ("hf:{base}+qlora:{base}", "'+lora:ADAPTER_PATH'"),
        ("hf:{base}+lora:{base}", "not a PEFT adapter folder"),
        ("openai:gpt", "openai:MODEL@http"),
        ("openai:gpt@localhost:8000", "openai:MODEL@http"),
        ("openai:@http://x/v1", "openai:MODEL@http"),
        ("mock:no-such-script.yaml", "not found"),
        ("hff:x", "unknown backend 'hff'; did you mean 'hf'?"),
        ("mok:echo", "did you mean 'mock'?"),
    ],
)
def test_spec_errors(workspace: Path, tmp_path: Path, text: str, fragment: str) -> None:
    base = fake_model(tmp_path / "base")
    with pytest.raises(InputError) as ei:
        parse_spec(text.replace("{base}", str(base)))
    rendered = ei.value.render()
    assert fragment in rendered
    assert (
        "hint:" in rendered or "does not exist" in rendered or "PEFT" in rendered or "not found" in rendered
    )


def test_spec_error_through_cli(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli.main import main

    assert main(["run", "ticket-triage", "--model", "hff:x", "--limit", "1"]) == 2
    assert "did you mean 'hf'?" in capsys.readouterr().err


def test_default_unresolved_uses_models_dir(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TUNEBENCH_MODELS", raising=False)
    spec = parse_spec("default", resolve=False)
    assert spec.backend == "hf" and spec.raw == "default"
    assert Path(spec.base) == workspace.resolve() / "models" / "gemma-3-270m"
    assert parse_spec("default", workspace=tmp_path / "w2", resolve=False).base == str(
        (tmp_path / "w2").resolve() / "models" / "gemma-3-270m"
    )
    models = tmp_path / "shared-models"
    monkeypatch.setenv("TUNEBENCH_MODELS", str(models))
    spec = parse_spec("default+lora:/some/adapter", resolve=False)
    assert Path(spec.base) == models.resolve() / "gemma-3-270m"
    assert spec.adapter == "/some/adapter" and spec.raw == "default+lora:/some/adapter"


def test_weights_hash_cached_in_workspace(workspace: Path, tmp_path: Path) -> None:
    base = fake_model(tmp_path / "base")
    h = weights_hash(base)
    cache = json.loads((workspace / "hash-cache.json").read_text())
    assert h in cache.values()
    assert weights_hash(base) == h
