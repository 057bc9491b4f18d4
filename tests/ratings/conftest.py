"""The `env` fixture of the rating tests: see rating_helpers.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rating_helpers import Env, make_env


@pytest.fixture
def env(tmp_path: Path, workspace: Path, make_suite: Any) -> Env:
    """A store with three mock runs (x, y, z) of one 12-sample suite, in an isolated workspace."""
    return make_env(tmp_path, make_suite)
