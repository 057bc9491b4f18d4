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


COMMIT_A = "a" * 40
COMMIT_B = "b" * 40


def fake_hub_cache(cache: Path, repo: str, refs: dict[str, str]) -> Path:
    """A local folder in the Hugging Face cache layout: refs/<name> holds a commit, and
    snapshots/<commit>/ the files downloaded at it."""
    root = cache / ("models--" + repo.replace("/", "--"))
    for ref, commit in refs.items():
        (root / "refs").mkdir(parents=True, exist_ok=True)
        (root / "refs" / ref).write_text(commit)
        fake_model(root / "snapshots" / commit, commit.encode())
    return root


def test_hf_hub_id_pinned_to_the_cached_commit(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    fake_hub_cache(tmp_path / "hub", "acme/tiny", {"main": COMMIT_A, "v2": COMMIT_B})
    spec = parse_spec("hf:acme/tiny")
    assert spec.base == "acme/tiny" and spec.base_hash is None and spec.revision == COMMIT_A
    assert spec.identity["revision"] == COMMIT_A
    tagged = parse_spec("hf:acme/tiny#rev=v2")
    assert tagged.base == "acme/tiny" and tagged.revision == COMMIT_B and tagged.raw == "hf:acme/tiny#rev=v2"
    assert tagged.identity != spec.identity
    # a full commit is taken as is (it names exactly one tree), with an adapter too
    adapter = fake_adapter(tmp_path / "adapter")
    pinned = parse_spec(f"hf:acme/tiny#rev={COMMIT_B.upper()}+lora:{adapter}")
    assert pinned.revision == COMMIT_B and pinned.adapter == str(adapter.resolve())
    # main moves: the same spec now pins another commit, so the cache cannot serve the old outputs
    (tmp_path / "hub" / "models--acme--tiny" / "refs" / "main").write_text(COMMIT_B)
    assert parse_spec("hf:acme/tiny").identity == tagged.identity != spec.identity
    # unresolved specs (resolve=False) leave the revision as given
    assert parse_spec("hf:acme/tiny", resolve=False).revision is None


def test_hf_hub_id_that_cannot_be_pinned_is_refused(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    with pytest.raises(InputError, match="cannot resolve the commit to pin it to") as ei:
        parse_spec("hf:google/gemma-3-270m")
    assert "#rev=COMMIT" in ei.value.render()
    # a ref whose snapshot folder is missing is not a usable pin either
    root = tmp_path / "empty-hub" / "models--acme--gone"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(COMMIT_A)
    with pytest.raises(InputError, match="acme/gone"):
        parse_spec("hf:acme/gone")


def test_hub_revision_asks_the_hub_when_online(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub

    from harness.models.hub import resolve_hub_revision

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    fake_hub_cache(tmp_path / "hub", "acme/tiny", {"main": COMMIT_A})
    asked = []

    class Info:
        sha = COMMIT_B

    def model_info(self: object, repo_id: str, *, revision: str | None = None, **kw: object) -> Info:
        asked.append((repo_id, revision))
        return Info()

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)
    assert resolve_hub_revision("acme/tiny") == COMMIT_B  # the hub's answer beats a stale cache
    assert asked == [("acme/tiny", None)]

    def unreachable(self: object, repo_id: str, **kw: object) -> Info:
        raise ConnectionError("no network")

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", unreachable)
    assert resolve_hub_revision("acme/tiny") == COMMIT_A  # unreachable: the cache's pin


def test_revision_on_a_local_folder_is_refused(workspace: Path, tmp_path: Path) -> None:
    base = fake_model(tmp_path / "base")
    with pytest.raises(InputError, match="local folder is identified by the hash"):
        parse_spec(f"hf:{base}#rev=main")


def test_openai_revision_enters_the_identity(workspace: Path) -> None:
    plain = parse_spec("openai:m@http://h:8000/v1")
    r1 = parse_spec("openai:m@http://h:8000/v1#rev=2024-06-01")
    r2 = parse_spec("openai:m@http://h:8000/v1#rev=ckpt-1200")
    assert (r1.base, r1.url, r1.revision) == ("m", "http://h:8000/v1", "2024-06-01")
    assert "revision" not in plain.identity  # unpinned specs keep the cache keys they had
    assert len({str(plain.identity), str(r1.identity), str(r2.identity)}) == 3
    with pytest.raises(InputError, match="#rev=REVISION"):
        parse_spec("openai:m@http://h:8000/v1#rev=")


def test_identity_covers_every_tokenizer_file_and_the_chat_template(tmp_path: Path) -> None:
    from harness.models.spec import weights_digest

    base = fake_model(tmp_path / "base")
    (base / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    seen = {weights_digest(base)}
    for name, content in [
        ("tokenizer_config.json", json.dumps({"chat_template": "{{ messages[0] }}"})),
        ("chat_template.jinja", "{{ bos }}"),
        ("additional_chat_templates/tool_use.jinja", "{{ tools }}"),
        ("merges.txt", "a b\n"),
        ("vocab.txt", "[PAD]\n"),
        ("spiece.model", "sp"),
        ("tokenizer.tiktoken", "tk"),
        ("modeling_custom.py", "x = 1"),
    ]:
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_text(content)
        digest = weights_digest(base)
        assert digest not in seen, name
        seen.add(digest)
    for name in ("README.md", ".gitattributes", ".cache/huggingface/download/x.json", "logo.png"):
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_text("doc")
        assert weights_digest(base) in seen, name  # documentation and bookkeeping are not identity


def test_weights_hash_cache_sees_every_change(workspace: Path, tmp_path: Path) -> None:
    import os
    import time

    base = fake_model(tmp_path / "base")
    tpl = base / "chat_template.jinja"
    tpl.write_text("{{ a }}")
    h1 = weights_hash(base)
    st = tpl.stat()
    time.sleep(0.05)  # past the kernel's coarse timestamp granularity
    tpl.write_text("{{ b }}")  # same size, and the mtime put back as `cp -p` would
    os.utime(tpl, ns=(st.st_atime_ns, st.st_mtime_ns))
    h2 = weights_hash(base)
    assert h2 != h1 and h2 == weights_hash(base)


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
