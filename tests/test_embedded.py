"""The embedded Gemma 3 270M (slow: opt in with --run-slow or TUNEBENCH_RUN_SLOW=1)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TUNEBENCH_MODELS when set (an already converted model), else a session folder (converts once)."""
    env = os.environ.get("TUNEBENCH_MODELS")
    return Path(env) if env else tmp_path_factory.mktemp("models")


@pytest.fixture
def shared_models(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUNEBENCH_MODELS", str(models_dir))
    return models_dir


def test_default_model_converts_once_and_generates(shared_models: Path, workspace: Path) -> None:
    from harness.models.embedded import DEFAULT_MODEL_NAME, MARKER, ensure_default_model
    from harness.models.hf import HFBackend
    from harness.models.spec import parse_spec
    from harness.types import GenerationConfig

    path = ensure_default_model(quiet=True)
    assert path == shared_models.resolve() / DEFAULT_MODEL_NAME and (path / MARKER).exists()
    before = {f.name: f.stat().st_mtime_ns for f in path.iterdir()}
    assert ensure_default_model(quiet=True) == path  # already converted: nothing to do
    assert {f.name: f.stat().st_mtime_ns for f in path.iterdir()} == before  # nothing rewritten

    spec = parse_spec("default")
    assert spec.base == str(path) and spec.raw == "default" and spec.base_hash
    backend = HFBackend(spec, batch_size=1, device="cpu")
    msgs = [{"role": "user", "content": "Say hello."}]
    text = backend.render(msgs)
    assert "<start_of_turn>user\nSay hello.<end_of_turn>\n<start_of_turn>model\n" in text
    (out,) = backend.generate([msgs], GenerationConfig(max_new_tokens=5))
    assert out.completion_tokens <= 5 and out.prompt_tokens > 5 and out.error is None


def test_run_ticket_triage_on_default(
    shared_models: Path, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli.main import main

    rc = main(
        ["run", "ticket-triage", "--model", "default", "--split", "test", "--limit", "4", "--no-progress"]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "metric" in out and "95% CI" in out
    for name in ("json_valid", "schema_valid", "category", "priority"):
        assert name in out
    assert "n=4" in out
