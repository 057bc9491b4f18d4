"""Shared test setup: offline hub, one torch thread, the `slow` marker, and small fixtures (a tiny
random hf model, an isolated workspace, a small user suite, a fresh store on SQLite and on PostgreSQL)."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("TUNEBENCH_THREADS", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest  # noqa: E402

SLOW_REASON = "slow: loads the embedded Gemma model; run with --run-slow"
PG_ENV = "TUNEBENCH_TEST_PG_URL"
PG_MISSING = (
    f"{PG_ENV} is unset: no PostgreSQL server for the store tests; start one with "
    '`eval "$(bash .ci/postgres.sh start)"` (.ci/test.sh does)'
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False, help="run tests marked slow")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: loads the embedded Gemma model or trains (opt-in with --run-slow)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow") or os.environ.get("TUNEBENCH_RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason=SLOW_REASON)
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny Llama (fp32 safetensors, BPE tokenizer, chat template), built once."""
    from harness.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model") / "model")


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store URL per test: a new SQLite file, or a new database on the PostgreSQL server
    named by $TUNEBENCH_TEST_PG_URL (dropped after the test, open connections and all). Without that
    server the postgres case is skipped, and under CI=true it fails: CI must never skip it silently."""
    if request.param == "sqlite":
        (tmp_path / "store").mkdir()
        yield f"sqlite:///{tmp_path / 'store' / 'tunebench.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(PG_MISSING)
        pytest.skip(PG_MISSING)
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"tb_test_{secrets.token_hex(6)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def store(store_url: str) -> Iterator[Any]:
    """A migrated Store on `store_url` (both backends); its connections are closed after the test."""
    from harness.store import Store

    s = Store(store_url)
    yield s
    s.engine.dispose()


@pytest.fixture
def default_store_on_both(store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test once per store: on the postgres case every Store() opened without a URL, and every
    CLI call (through $TUNEBENCH_STORE), goes to the fresh PostgreSQL database; on the sqlite case
    the test keeps its own workspace store. Used autouse by the workflow test folders."""
    if not store_url.startswith("sqlite"):
        import harness.store.core as core

        monkeypatch.setattr(core, "default_url", lambda workspace=None: store_url)
        monkeypatch.setenv("TUNEBENCH_STORE", store_url)
    return store_url


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty workspace, used by the library and the CLI through TUNEBENCH_HOME."""
    ws = tmp_path / "ws"
    ws.mkdir()
    monkeypatch.setenv("TUNEBENCH_HOME", str(ws))
    return ws


LABELS = ["billing", "shipping", "account", "refund", "technical"]


def chat_row(i: int, split: str) -> dict[str, Any]:
    label = LABELS[i % len(LABELS)]
    return {
        "id": f"{split}-{i:03d}",
        "messages": [
            {"role": "user", "content": f"ticket {split} {i}: a question about {label}"},
            {"role": "assistant", "content": json.dumps({"category": label})},
        ],
        "metadata": {"category": label},
    }


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return path


SUITE_YAML = """\
name: tiny-suite
version: "0.1.0"
description: a small suite for runner tests
dataset:
  path: data/{split}.jsonl
  splits: [train, dev, test]
expects_json: true
primary_metric: exact
prompt:
  name: plain
  system: Reply with a JSON object.
  template: "{input}"
generation:
  max_new_tokens: 16
scorers:
  - {name: exact, type: exact_match}
  - {name: json_valid, type: json_valid}
"""


def make_suite(root: Path, n: int | dict[str, int] = 10, yaml_text: str = SUITE_YAML) -> Path:
    """Write a suite folder (suite.yaml + data/{train,dev,test}.jsonl of chat rows); returns it."""
    sizes = n if isinstance(n, dict) else {"train": n, "dev": n, "test": n}
    root.mkdir(parents=True, exist_ok=True)
    (root / "suite.yaml").write_text(yaml_text, encoding="utf-8")
    for split, k in sizes.items():
        write_jsonl(root / "data" / f"{split}.jsonl", [chat_row(i, split) for i in range(k)])
    return root


@pytest.fixture(name="make_suite")
def make_suite_fixture() -> Any:
    """make_suite(root, n=10, yaml_text=SUITE_YAML) -> the suite folder (tests import nothing from
    conftest: two conftest modules share that name)."""
    return make_suite


@pytest.fixture(name="write_jsonl")
def write_jsonl_fixture() -> Any:
    """write_jsonl(path, rows) -> path; rows are dicts (dumped) or raw strings (written as is)."""
    return write_jsonl


@pytest.fixture(name="suite_yaml")
def suite_yaml_fixture() -> str:
    return SUITE_YAML


@pytest.fixture
def tiny_suite(tmp_path: Path) -> Path:
    """A user suite folder: 10 chat samples per split, scorers exact_match and json_valid."""
    return make_suite(tmp_path / "tiny-suite")
