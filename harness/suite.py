"""Suites: declarative YAML (`suites/<name>/suite.yaml`), versioned, content-hashed, registered by
name. A user can also point at their own suite folder or file. Every run stores a snapshot of the
resolved suite (`suite_snapshot`), so `suite_for_run` can replay it when the YAML is gone."""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .data import load_samples
from .errors import InputError, Problem
from .registry import Registry
from .scorers import build_scorer
from .types import (
    CarveSpec,
    DatasetRef,
    GenerationConfig,
    Message,
    PromptConfig,
    RunRecord,
    Sample,
    ScorerSpec,
    Suite,
    stable_hash,
)

if TYPE_CHECKING:
    from .store import Store
from .yamlio import _line_of, load_model, read_yaml

BUILTIN_ROOT = Path(__file__).resolve().parent.parent / "suites"


VERSION_RE = re.compile(r"^\d+(\.\d+){0,2}(-[0-9A-Za-z][0-9A-Za-z.-]*)?$")


class SuiteFile(BaseModel):
    """The suite.yaml schema (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    version: str = Field(
        description="bump on any change; add a line to the suite README's changelog. "
        "Semver-like: 1, 1.2, 1.2.3, optionally with a -suffix (1.2.0-rc1)"
    )

    @field_validator("version", mode="before")
    @classmethod
    def _orderable_version(cls, v: Any) -> Any:
        if isinstance(v, bool):
            v = str(v)
        if isinstance(v, float):
            raise ValueError(
                f'write the version as a quoted string, e.g. version: "{v}" (unquoted, YAML reads '
                "1.10 as the number 1.1)"
            )
        if isinstance(v, int):
            v = str(v)
        if isinstance(v, str) and not VERSION_RE.match(v.strip()):
            raise ValueError(
                f"{v!r} is not a version: versions must be orderable (runs and baselines are compared "
                "across versions), so write numbers like 1, 1.2 or 1.2.3, optionally with a -suffix "
                "(1.2.0-rc1)"
            )
        return v.strip() if isinstance(v, str) else v

    description: str = ""
    dataset: DatasetRef
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    variants: list[PromptConfig] = Field(default_factory=list)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    scorers: list[ScorerSpec] = Field(default_factory=list)
    primary_metric: str | None = None
    expects_json: bool = False


suite_registry: Registry[Path] = Registry("suite")


def _discover_builtin() -> None:
    if not BUILTIN_ROOT.is_dir():
        return
    for d in sorted(BUILTIN_ROOT.iterdir()):
        if (d / "suite.yaml").is_file() and d.name not in suite_registry:
            suite_registry.add(d.name, d / "suite.yaml")


def register_suite(name: str, path: str | Path) -> None:
    """Register a user suite by name (a folder with suite.yaml, or the YAML file)."""
    p = Path(path)
    suite_registry.add(name, p / "suite.yaml" if p.is_dir() else p)


def builtin_suites() -> list[str]:
    _discover_builtin()
    return suite_registry.names()


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def split_path(suite: Suite, split: str) -> Path | None:
    if suite.dataset.path is None:
        return None
    p = Path(suite.dataset.path.replace("{split}", split))
    if not p.is_absolute() and suite.root:
        p = Path(suite.root) / p
    return p


def load_suite(name_or_path: str | Path) -> Suite:
    """Load a suite by registered name, folder, or YAML file; validates scorers and data paths."""
    _discover_builtin()
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        yaml_path = p
    elif p.is_dir() and (p / "suite.yaml").is_file():
        yaml_path = p / "suite.yaml"
    elif str(name_or_path) in suite_registry:
        yaml_path = suite_registry.get(str(name_or_path))
    else:
        if p.exists() or "/" in str(name_or_path):
            raise InputError(
                f"{name_or_path}: not a suite (expected a suite.yaml file or a folder holding one)"
            )
        suite_registry.get(str(name_or_path))  # raises with "did you mean"
        raise AssertionError("unreachable")
    return _load_cached(str(yaml_path.resolve()), yaml_path.stat().st_mtime_ns)


@lru_cache(maxsize=64)
def _load_cached(yaml_path_s: str, _mtime: int) -> Suite:
    yaml_path = Path(yaml_path_s)
    sf = load_model(yaml_path, SuiteFile, what="suite")
    root = yaml_path.parent
    problems = []
    node = None
    for i, spec in enumerate(sf.scorers):
        try:
            build_scorer(spec, where=f"scorers[{i}]")
        except InputError as e:
            node = node or read_yaml(yaml_path)[1]  # to name the scorer's line
            problems.append(
                Problem(
                    str(yaml_path),
                    _line_of(node, ("scorers", i)),
                    str(e.args[0]) + (f" ({e.hint})" if e.hint else ""),
                )
            )
    names = [s.name for s in sf.scorers]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        problems.append(
            Problem(str(yaml_path), None, f"scorer names must be unique; repeated: {sorted(dup)}")
        )
    if problems:
        raise InputError(f"{yaml_path}: invalid suite", problems=problems)
    payload: dict[str, Any] = sf.model_dump(mode="json")
    data_digests = {}
    suite = Suite(**payload, root=str(root))
    for split in sf.dataset.splits:
        if split in sf.dataset.carved:  # no file of its own: its source file's digest covers it
            continue
        sp = split_path(suite, split)
        if sp is not None and sp.exists():
            data_digests[split] = _file_digest(sp)
    content_hash = stable_hash({"suite": payload, "data": data_digests})
    return suite.model_copy(update={"content_hash": content_hash})


CARVE_HINT = """list only the splits that have files, and carve a dev split out of train, e.g.
  dataset:
    path: data/{split}.jsonl
    splits: [train, test]
    dev: {from: train, fraction: 0.2, seed: 0}"""


def carve(samples: Sequence[Sample], spec: CarveSpec) -> tuple[list[Sample], list[Sample]]:
    """Split `samples` into (kept, carved), both in their original order. The carved ones are the
    round(fraction * n) samples (at least 1, at most n - 1) whose ids hash lowest under the seed:
    deterministic, independent of row order, and a sample stays on its side when others are added."""
    n = len(samples)
    if n < 2:
        raise InputError(
            f"cannot carve a split out of {n} sample(s): the carve needs at least 2 (one on each side)"
        )
    k = min(max(round(spec.fraction * n), 1), n - 1)
    ranked = sorted(samples, key=lambda s: hashlib.sha256(f"{spec.seed}\0{s.id}".encode()).hexdigest())
    chosen = {s.id for s in ranked[:k]}
    return [s for s in samples if s.id not in chosen], [s for s in samples if s.id in chosen]


def _read_split(suite: Suite, split: str) -> list[Sample]:
    sp = split_path(suite, split)
    if sp is None:
        return load_samples(hub_id=suite.dataset.hub_id, split=split)
    if not sp.exists():
        raise InputError(
            f"suite {suite.name!r}: data file for split {split!r} not found: {sp}",
            hint=CARVE_HINT
            if split == "dev"
            else f"create it, or list only the splits you have under dataset.splits in {suite.name}'s suite.yaml",
        )
    return load_samples(sp)


def load_split(suite: Suite, split: str, limit: int | None = None) -> list[Sample]:
    """The samples of one split (validated; InputError on any bad row). A carved split (`dev:
    {from: train, ...}`) is cut from its source split, and the source split excludes it, so every
    reader (runs, baseline selection, few-shot pools, data check) sees the same carve."""
    if split not in suite.dataset.splits:
        raise InputError(
            f"suite {suite.name!r} has no split {split!r}",
            hint=(f"its splits: {', '.join(suite.dataset.splits)}. To add one, " + CARVE_HINT)
            if split == "dev"
            else f"its splits: {', '.join(suite.dataset.splits)}",
        )
    carved = suite.dataset.carved
    if split in carved:
        samples = carve(_read_split(suite, carved[split].from_), carved[split])[1]
    else:
        samples = _read_split(suite, split)
        for spec in carved.values():
            if spec.from_ == split:
                samples = carve(samples, spec)[0]
    return samples[:limit] if limit else samples


def draw_fewshot(suite: Suite, prompt: PromptConfig, eval_split: str) -> list[Sample]:
    """Few-shot examples drawn (seeded) from the prompt's pool split, never from the eval split."""
    k = prompt.fewshot.k
    if k == 0:
        return []
    if prompt.fewshot.split == eval_split:
        raise InputError(
            f"prompt {prompt.name!r} draws few-shot examples from {eval_split!r}, the split being evaluated",
            hint="draw few-shot examples from the train split",
        )
    pool = load_split(suite, prompt.fewshot.split)
    rng = random.Random(prompt.fewshot.seed)
    return rng.sample(pool, min(k, len(pool)))


# -- replaying a run: the resolved suite it was made with -----------------------------------------


def snapshot_id(suite_hash: str, prompt: PromptConfig, split: str) -> str:
    """Id of the suite snapshot a run of this suite, prompt and split stores (one per triple)."""
    return stable_hash({"suite": suite_hash, "prompt": prompt.model_dump(mode="json"), "split": split})


def suite_snapshot(
    suite: Suite, prompt: PromptConfig, split: str, fewshot: Sequence[Sample] = ()
) -> dict[str, Any]:
    """Everything a run needs to be replayed without the suite folder: the suite as loaded (every
    field the content hash covers: dataset, prompts, generation config, scorers with their
    arguments), the suite.yaml text when it still hashes the same, each data split's sha256, and
    the run's prompt with its few-shot examples rendered (the chat the model saw, with `{input}`
    where each sample's text goes)."""
    from .prompts import build_messages

    payload = suite.model_dump(mode="json", exclude={"root", "content_hash"})
    data = {}
    for sp_name in suite.dataset.splits:
        sp = split_path(suite, sp_name)
        if sp is not None and sp.exists():
            data[sp_name] = _file_digest(sp)
    yaml_path = Path(suite.root) / "suite.yaml" if suite.root else None
    source = None
    if yaml_path is not None and yaml_path.is_file():
        text = yaml_path.read_text(encoding="utf-8")
        try:
            parsed = SuiteFile.model_validate(yaml.safe_load(text)).model_dump(mode="json")
        except Exception:  # edited into something invalid since it was loaded
            parsed = None
        if parsed is not None and stable_hash({"suite": parsed, "data": data}) == suite.content_hash:
            source = text
    placeholder = Sample(id="{input}", messages=(Message(role="user", content="{input}"),))
    return {
        "suite_hash": suite.content_hash,
        "suite_ref": suite.ref,
        "suite_path": str(yaml_path) if yaml_path else None,
        "suite": payload,
        "source_yaml": source,
        "data_sha256": data,
        "verified": stable_hash({"suite": payload, "data": data}) == suite.content_hash,
        "split": split,
        "prompt": prompt.model_dump(mode="json"),
        "fewshot_ids": [s.id for s in fewshot],
        "prompt_messages": build_messages(placeholder, prompt, fewshot),
    }


def suite_from_snapshot(body: dict[str, Any]) -> Suite:
    """The Suite a snapshot was taken of (no root folder: its data is not needed to replay scores)."""
    return Suite(**body["suite"], root=None, content_hash=body["suite_hash"])


def suite_for_run(store: Store | None, record: RunRecord) -> Suite:
    """The suite `record` was made with: loaded from disk when its suite.yaml (or registered name)
    still has the run's content hash, else rebuilt from the snapshot the run stored (scorers
    included, so corpus metrics get their intervals back). InputError when neither exists (a run
    made before snapshots were stored, whose suite has moved or changed)."""
    tried: list[str] = []
    for ref in dict.fromkeys(r for r in (record.suite_path, record.suite) if r):
        try:
            s = load_suite(ref)
        except Exception as e:  # an unregistered user suite, a moved folder, ...
            tried.append(f"{ref}: {str(e).splitlines()[0]}")
            continue
        if s.content_hash == record.suite_hash:
            return s
        tried.append(f"{ref}: content hash {s.content_hash[:12]}, the run used {record.suite_hash[:12]}")
    if store is not None:
        from .store.snapshots import get_suite_snapshot, suite_snapshot_for_hash

        body = get_suite_snapshot(
            store, snapshot_id(record.suite_hash, record.prompt, record.split)
        ) or suite_snapshot_for_hash(store, record.suite_hash)
        if body is not None:
            return suite_from_snapshot(body)
        tried.append("the store holds no snapshot of it (the run predates stored suites)")
    raise InputError(
        f"run {record.id}: suite {record.suite}@{record.suite_version}+{record.suite_hash[:12]} not found: "
        + "; ".join(tried),
        hint="pass the suite the run used (--suite PATH)",
    )
