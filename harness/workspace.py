"""The workspace: `./.tunebench/` by default, or `--workspace` / `TUNEBENCH_HOME`."""

from __future__ import annotations

import os
from pathlib import Path


def workspace_dir(workspace: str | Path | None = None) -> Path:
    if workspace is not None:
        return Path(workspace).expanduser().resolve()
    env = os.environ.get("TUNEBENCH_HOME")
    if env:
        return Path(env).expanduser().resolve()
    return (Path.cwd() / ".tunebench").resolve()


def models_cache_dir(workspace: str | Path | None = None) -> Path:
    """Where converted models live. `TUNEBENCH_MODELS` lets several workspaces (and tests) share
    one converted embedded model instead of converting it per workspace."""
    env = os.environ.get("TUNEBENCH_MODELS")
    if env:
        return Path(env).expanduser().resolve()
    return workspace_dir(workspace) / "models"
