"""Model versions: `tunebench bless RUN` records a run's model as a named, numbered version and as the
blessed baseline of the run's suite. The latest bless of a suite wins; `--against blessed` gates a
candidate against it.

Each bless is a store record of kind "model_version" with ref = the suite name. A version number
names one model (its weights/adapter identity, prompt and backend) under one name: blessing runs of
the same model on several suites reuses the version, a different model gets the next number.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, Field

from .errors import InputError
from .store import Store, new_run_id
from .types import MetricValue, RunRecord, stable_hash

KIND = "model_version"


class ModelVersion(BaseModel):
    """One bless: model `name` version `version`, blessed as the baseline of `suite` by run `run_id`."""

    id: str
    name: str
    version: str
    suite: str
    suite_version: str
    suite_hash: str
    split: str
    limit: int | None = None
    run_id: str
    model: str = Field(description="the run's model label (spec string)")
    model_key: str = Field(description="hash of the model identity and prompt: what a version number names")
    prompt: str = ""
    metrics: dict[str, MetricValue] = Field(default_factory=dict)
    note: str = ""
    blessed_at: str

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


def _now() -> str:
    # microseconds: two blesses in the same second still order correctly
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _model_key(run: RunRecord) -> str:
    return stable_hash({"model": run.model.identity, "prompt": run.prompt.model_dump(mode="json")})


def list_versions(store: Store, suite: str | None = None) -> list[ModelVersion]:
    """Every bless, oldest first (optionally of one suite)."""
    rows = store.get_records(KIND, ref=suite)
    out = [ModelVersion.model_validate(r["body"]) for r in rows]
    out.sort(key=lambda v: v.blessed_at)
    return out


def blessed_version(store: Store, suite: str) -> ModelVersion | None:
    """The current blessed baseline of `suite` (its latest bless), or None."""
    versions = list_versions(store, suite)
    return versions[-1] if versions else None


def blessed_run(store: Store, suite: str) -> str | None:
    """The run id of the blessed baseline of `suite`, or None when nothing was blessed for it."""
    v = blessed_version(store, suite)
    return v.run_id if v else None


def bless(
    store: Store, run_id: str, *, name: str | None = None, version: str | None = None, note: str = ""
) -> ModelVersion:
    """Record run `run_id`'s model as a model version and as the blessed baseline of its suite.

    `name` defaults to the run's model label. `version` defaults to the version this name already
    gave the same model (same weights, adapter and prompt), else one more than the name's highest
    numeric version. An explicit `version` that already names a different model is an InputError.
    """
    run = store.get_run(run_id)
    if run.status != "completed":
        raise InputError(
            f"run {run.id} is {run.status}, not completed: only a completed run can be blessed",
            hint="re-run the same `tunebench run` command to finish it",
        )
    name = (name or run.model.label).strip()
    if not name:
        raise InputError("--name must not be empty")
    key = _model_key(run)
    same_name = [v for v in list_versions(store) if v.name == name]
    if version is not None:
        version = str(version).strip()
        if not version:
            raise InputError("--version must not be empty")
        clash = [v for v in same_name if v.version == version and v.model_key != key]
        if clash:
            raise InputError(
                f"{name} v{version} already names another model ({clash[-1].model}, run {clash[-1].run_id})",
                hint="pick another --version, or leave it out to number the version automatically",
            )
    else:
        mine = [v for v in same_name if v.model_key == key]
        if mine:
            version = mine[-1].version
        else:
            numbers = [int(v.version) for v in same_name if v.version.isdigit()]
            version = str(max(numbers, default=0) + 1)
    mv = ModelVersion(
        id=f"mv-{new_run_id()}",
        name=name,
        version=version,
        suite=run.suite,
        suite_version=run.suite_version,
        suite_hash=run.suite_hash,
        split=run.split,
        limit=run.limit,
        run_id=run.id,
        model=run.model.label,
        model_key=key,
        prompt=run.prompt.name,
        metrics=dict(run.metrics),
        note=note or "",
        blessed_at=_now(),
    )
    store.put_record(KIND, mv.id, mv.model_dump(mode="json"), ref=run.suite)
    return mv


def verdicts_referencing(store: Store, version: ModelVersion) -> list[dict[str, Any]]:
    """Verdict bodies (newest first) that used `version` as a baseline or gated one of its runs."""
    out = []
    for rec in store.get_records("verdict"):
        body = rec["body"]
        used = set((body.get("baseline_versions") or {}).values())
        runs = {r for pair in (body.get("runs") or {}).values() for r in (pair or {}).values() if r}
        if version.id in used or version.run_id in runs:
            out.append(body)
    out.sort(key=lambda b: str(b.get("created_at", "")), reverse=True)
    return out
