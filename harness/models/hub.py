"""Pinning a Hugging Face hub model to the commit it resolves to.

A hub id names a moving target: `main` today is not `main` next month. A spec that names a hub id
(`hf:org/name`, optionally `hf:org/name#rev=BRANCH_TAG_OR_COMMIT`) is resolved to a 40-hex commit,
which enters the model's identity (so the generation cache never serves another commit's outputs)
and is what the backend loads (`from_pretrained(..., revision=COMMIT)`).

Resolution: a full commit hash is taken as is; online, the hub says what the revision points at
(`HfApi.model_info(...).sha`); offline (HF_HUB_OFFLINE) or when the hub cannot be reached, the local
cache does (`<HF_HUB_CACHE>/models--org--name/refs/<revision>` holds the commit that
`snapshots/<commit>/` was downloaded at). Nothing found: InputError, since an unpinned model is
exactly what makes a cached generation silently stale.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import InputError

COMMIT_RE = re.compile(r"[0-9a-f]{40}")


def hub_offline() -> bool:
    """HF_HUB_OFFLINE as huggingface_hub reads it, but at call time (tests set it after import)."""
    value = os.environ.get("HF_HUB_OFFLINE")
    if value is not None:
        return value.strip().lower() in ("1", "on", "yes", "true")
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def hub_cache_dir() -> Path:
    """HF_HUB_CACHE (read at call time), else huggingface_hub's default."""
    value = os.environ.get("HF_HUB_CACHE")
    if value:
        return Path(value)
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def looks_like_hub_id(s: str) -> bool:
    """`name` or `org/name`: no path prefix, at most one slash."""
    return bool(s) and not s.startswith((".", "/", "~")) and s.count("/") <= 1 and all(s.split("/"))


def cached_snapshot(repo_id: str, revision: str | None = None) -> Path | None:
    """The local snapshot folder of `repo_id` at `revision` (default main), when it is cached."""
    commit = cached_commit(repo_id, revision)
    if commit is None:
        return None
    from huggingface_hub.file_download import repo_folder_name

    return hub_cache_dir() / repo_folder_name(repo_id=repo_id, repo_type="model") / "snapshots" / commit


def cached_commit(repo_id: str, revision: str | None = None) -> str | None:
    """The commit `revision` (default main) of a hub model points at in the local cache, when that
    commit's snapshot folder is there."""
    from huggingface_hub.file_download import repo_folder_name

    if not looks_like_hub_id(repo_id):
        return None
    repo = hub_cache_dir() / repo_folder_name(repo_id=repo_id, repo_type="model")
    rev = revision or "main"
    if COMMIT_RE.fullmatch(rev):
        commit: str | None = rev
    else:
        ref = repo / "refs" / rev
        commit = ref.read_text().strip() if ref.is_file() else None
    if commit and (repo / "snapshots" / commit).is_dir():
        return commit
    return None


def resolve_hub_revision(repo_id: str, revision: str | None = None) -> str:
    """The commit hash `repo_id` at `revision` (branch, tag or commit; default main) resolves to."""
    if revision and COMMIT_RE.fullmatch(revision.lower()):
        return revision.lower()
    why = "offline (HF_HUB_OFFLINE is set)"
    if not hub_offline():
        try:
            from huggingface_hub import HfApi

            sha = HfApi().model_info(repo_id, revision=revision).sha
            if sha:
                return str(sha)
            why = "the hub returned no commit"
        except Exception as e:  # no network, gated repo, unknown id: fall back to the cache
            why = (
                f"the hub could not be asked ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
            )
    commit = cached_commit(repo_id, revision)
    if commit:
        return commit
    raise InputError(
        f"hub model {repo_id!r} (revision {revision or 'main'}): cannot resolve the commit to pin it to: "
        f"{why}, and it is not in the local Hugging Face cache ({hub_cache_dir()})",
        hint="download it first (e.g. `hf download ORG/NAME`), pass a full commit with "
        "hf:ORG/NAME#rev=COMMIT, or use a local model folder",
    )
