"""Training runs as stored records, and candidates evaluated right after training.

The trainer itself lives in `trainers/` (QLoRA/LoRA via TRL); this module connects it to the
store and the runner: each training run is stored with its data hash, hygiene report, config,
loss curves, speed and adapter identity, then the adapter is run on the given suites on the same
base precision it was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import InputError
from .models import DEFAULT_BATCH_SIZE, parse_spec
from .runner import run_suite
from .store import Store, new_run_id
from .suite import load_suite, split_path
from .types import ModelSpec, RunRecord, Suite


def resolve_base(base_model: str, workspace: str | Path | None = None) -> str:
    """`default` names the embedded Gemma 3 270M (converted on first use)."""
    if base_model == "default":
        from .models.embedded import ensure_default_model

        return str(ensure_default_model(workspace))
    return base_model


def hygiene_ref(store: Store, data_hash: str, hygiene_id: str | None = None) -> dict[str, Any] | None:
    """The hygiene report a training file came from: the given id (a cleaned file has its own
    hash), else the latest report on exactly these bytes."""
    recs = store.get_records("hygiene", ref=data_hash)
    if hygiene_id:
        recs = [r for r in store.get_records("hygiene") if r["id"] == hygiene_id] or recs
    if not recs:
        return None
    body = recs[-1]["body"]
    return {
        "id": recs[-1]["id"],
        "counts": body.get("counts"),
        "n_rows": body.get("n_rows"),
        "n_kept": body.get("n_kept"),
    }


def refuse_carved_source(train_file: str | Path, suites: Sequence[Suite]) -> None:
    """InputError when `train_file` is the file a suite carves a split (its dev items) out of:
    training on it would train on the items the baseline is chosen on and the metric watched."""
    try:
        target = Path(train_file).resolve()
    except OSError:
        return
    for suite in suites:
        for split, spec in suite.dataset.carved.items():
            source = split_path(suite, spec.from_)
            if source is not None and source.resolve() == target:
                raise InputError(
                    f"{train_file}: this is suite {suite.name!r}'s {spec.from_} file, and the suite "
                    f"carves its {split} split out of it; training on it would train on the {split} items",
                    hint=f"write the {spec.from_} rows without the carved ones and train on that file: "
                    f"tunebench data check {train_file} --against {suite.root or suite.name} "
                    "--write-clean clean.jsonl",
                )


def candidate_spec(result: Any, workspace: str | Path | None = None) -> ModelSpec:
    """hf:BASE+lora:ADAPTER on the base precision and quantization the adapter was trained on."""
    q = None if result.quantization in (None, "none") else result.quantization
    dtype = result.base_precision if result.base_precision in ("bfloat16", "float16", "float32") else "auto"
    return parse_spec(
        f"hf:{result.base_model}+lora:{result.adapter_path}", workspace=workspace, dtype=dtype, quantization=q
    )


def train_candidates(
    configs: Sequence[Any],
    *,
    store: Store,
    eval_suites: Sequence[str] = (),
    eval_split: str = "test",
    eval_limit: int | None = None,
    workspace: str | Path | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = True,
    hygiene_id: str | None = None,
) -> list[tuple[dict[str, Any], list[RunRecord]]]:
    """Train each config (a sweep gives several), store its record, evaluate it on `eval_suites`."""
    from trainers import train

    suites = [load_suite(s) for s in eval_suites]  # fail on a bad suite name before training
    for cfg in configs:
        watched = [load_suite(cfg.eval_suite)] if getattr(cfg, "eval_suite", None) else []
        refuse_carved_source(cfg.train_file, suites + watched)
    out = []
    for cfg in configs:
        cfg = cfg.model_copy(update={"base_model": resolve_base(cfg.base_model, workspace)})
        result = train(cfg, progress=progress)
        body = result.model_dump(mode="json")
        body["hygiene"] = hygiene_ref(store, result.data_hash.get("train", ""), hygiene_id)
        train_id = "train-" + new_run_id()
        body["id"] = train_id
        runs = []
        if suites:
            spec = candidate_spec(result, workspace)
            for suite in suites:
                runs.append(
                    run_suite(
                        suite,
                        spec,
                        store=store,
                        split=eval_split,
                        limit=eval_limit,
                        batch_size=batch_size,
                        progress=progress,
                        tags={"role": "candidate", "training_run": train_id},
                    )
                )
        body["eval_runs"] = {r.suite: r.id for r in runs}
        store.put_record("training", train_id, body, ref=result.adapter_hash)
        out.append((body, runs))
    return out
