"""The rating tests' fixtures: every test here runs on SQLite and on PostgreSQL (tests/conftest.py:
store_url), and `env` is a store with three mock runs (see rating_helpers.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rating_helpers import Env, make_env


@pytest.fixture(autouse=True)
def _on_both_stores(default_store_on_both: str) -> str:
    return default_store_on_both


@pytest.fixture
def env(tmp_path: Path, workspace: Path, make_suite: Any) -> Env:
    """A store with three mock runs (x, y, z) of one 12-sample suite, in an isolated workspace."""
    return make_env(tmp_path, make_suite)
