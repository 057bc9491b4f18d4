"""Run an lm-evaluation-harness task as a tunebench run (optional: needs `pip install lm_eval`).

    from harness.lmeval_adapter import run_lmeval
    rec = run_lmeval("hellaswag", parse_spec("default+lora:adapters/x"), Store(), limit=100)
    rec = run_lmeval("path/to/my_task.yaml", spec, store)          # a local lm-eval task YAML

The model is loaded by tunebench's own hf backend (the same base weights, precision and PEFT adapter
a `tunebench run` would use) and handed to lm-eval's `HFLM` as an already-loaded model, so lm-eval
never resolves a model id of its own. The result is stored like any run: a RunRecord with suite
`lmeval:<task>`, suite_version the task's lm-eval version, suite_hash covering the task config
(and, for a local YAML, the YAML and its local data files), metrics from lm-eval's aggregated
results with its stderr turned into a normal-approximation 95% CI (value ± 1.96·stderr), and one
stored sample per logged lm-eval document (doc id, context, per-document metric values), so
`tunebench show` and paired comparisons work on it. Metrics computed under an lm-eval filter other
than "none" are named `metric.filter`.

Offline: a task whose data lives on the Hugging Face hub needs network (or a populated datasets
cache); a local YAML with `dataset_path: json` and `dataset_kwargs: {data_files: ...}` runs offline.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any

from .errors import InputError
from .store import Store, new_run_id, now_iso
from .types import (
    Completion,
    MetricValue,
    ModelSpec,
    PromptConfig,
    RunRecord,
    SampleResult,
    Score,
    stable_hash,
)

Z95 = 1.959963984540054
INSTALL_HINT = "install lm-evaluation-harness: pip install lm_eval (or the tunebench extra: pip install 'tunebench[lmeval]')"


def lmeval_available() -> bool:
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        return False
    return True


def _task_from_yaml(path: Path) -> str:
    """The `task:` name of an lm-eval task YAML (lm-eval's own tags such as !function are ignored)."""
    import yaml

    class _Lenient(yaml.SafeLoader):
        pass

    _Lenient.add_multi_constructor("!", lambda loader, suffix, node: None)
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_Lenient)  # noqa: S506 (SafeLoader subclass)
    except (OSError, yaml.YAMLError) as e:
        raise InputError(f"{path}: cannot read the lm-eval task YAML: {e}") from e
    task = doc.get("task") if isinstance(doc, dict) else None
    if not isinstance(task, str) or not task:
        raise InputError(f"{path}: an lm-eval task YAML needs a `task:` name")
    return task


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _local_data_digests(config: dict[str, Any], base: Path | None) -> dict[str, str]:
    """sha256 of every local data file the task config names (dataset_kwargs.data_files)."""
    files = (config.get("dataset_kwargs") or {}).get("data_files")
    names: list[str] = []
    if isinstance(files, str):
        names = [files]
    elif isinstance(files, list):
        names = [str(f) for f in files]
    elif isinstance(files, dict):
        for v in files.values():
            names += [str(f) for f in (v if isinstance(v, list) else [v])]
    out = {}
    for n in names:
        p = Path(n)
        if not p.is_absolute() and base is not None and not p.exists():
            p = base / p
        if p.is_file():
            out[n] = _digest(p)
    return out


def _jsonable(x: Any) -> Any:
    return json.loads(json.dumps(x, default=str, ensure_ascii=False))


def parse_metrics(task_results: dict[str, Any], n: int) -> dict[str, MetricValue]:
    """lm-eval's `results[task]` ({"acc,none": v, "acc_stderr,none": se, "alias": ...}) as tunebench
    metrics: name `metric` (filter "none") or `metric.filter`; CI = value ± 1.96·stderr."""
    out: dict[str, MetricValue] = {}
    for key, value in task_results.items():
        if "," not in key or "_stderr," in key:
            continue
        metric, filt = key.split(",", 1)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        name = metric if filt == "none" else f"{metric}.{filt}"
        se = task_results.get(f"{metric}_stderr,{filt}")
        lo = hi = None
        if isinstance(se, (int, float)) and not isinstance(se, bool) and math.isfinite(float(se)):
            lo, hi = float(value) - Z95 * float(se), float(value) + Z95 * float(se)
        out[name] = MetricValue(value=float(value), ci_low=lo, ci_high=hi, n=n)
    return out


def sample_results(run_id: str, logged: list[dict[str, Any]]) -> list[SampleResult]:
    """One SampleResult per logged document (documents logged under several filters are merged)."""
    by_doc: dict[str, SampleResult] = {}
    for ex in logged:
        doc_id = str(ex.get("doc_id"))
        filt = str(ex.get("filter", "none"))
        scores = []
        for m in ex.get("metrics", []):
            v = ex.get(m)
            if isinstance(v, bool) or isinstance(v, (int, float)):
                scores.append(Score(name=m if filt == "none" else f"{m}.{filt}", value=float(v)))
        if doc_id in by_doc:
            prev = by_doc[doc_id]
            by_doc[doc_id] = prev.model_copy(update={"scores": prev.scores + scores})
            continue
        args = ex.get("arguments") or []
        ctx = str(args[0][0]) if args and isinstance(args[0], (list, tuple)) and args[0] else ""
        resps = _jsonable(ex.get("filtered_resps"))
        text = ""
        lls = None
        if (
            args
            and all(isinstance(a, (list, tuple)) and len(a) == 2 and isinstance(a[1], str) for a in args)
            and (
                isinstance(resps, list)
                and resps
                and all(isinstance(r, list) and r and isinstance(r[0], (int, float)) for r in resps)
            )
        ):  # log-likelihood requests: (context, continuation) -> [loglikelihood, is_greedy]
            lls = [float(r[0]) for r in resps]
            text = str(args[max(range(len(lls)), key=lambda i: (lls[i], -i))][1]).strip()
        elif isinstance(resps, list) and resps:
            first = resps[0]
            text = str(first[0] if isinstance(first, list) and first else first)
        raw: dict[str, Any] = {"doc_id": ex.get("doc_id"), "filtered_resps": resps}
        if lls is not None:
            raw["loglikelihoods"] = lls
            raw["continuations"] = [str(a[1]) for a in args]
        by_doc[doc_id] = SampleResult(
            run_id=run_id,
            sample_id=doc_id,
            prompt=[{"role": "user", "content": ctx}],
            prompt_text=ctx,
            completion=Completion(text=text, finish_reason="lmeval", raw=raw),
            reference=None if ex.get("target") is None else str(ex.get("target")),
            scores=scores,
        )
    return sorted(by_doc.values(), key=lambda r: (len(r.sample_id), r.sample_id))


def run_lmeval(
    task_or_yaml_path: str | Path,
    spec: ModelSpec,
    store: Store,
    limit: int | None = None,
    *,
    num_fewshot: int | None = None,
    batch_size: int = 8,
    model: Any = None,
    hflm_args: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
) -> RunRecord:
    """Run one lm-eval task (a registered name, or a path to a task YAML) on `spec` (an hf model, with
    its adapter if any) and store it as a RunRecord. `model` may be an already-created tunebench
    HFBackend for `spec` (reused instead of loading the weights again). `hflm_args` go to lm-eval's
    HFLM (e.g. {"softmax_dtype": "float32"}: by default lm-eval takes the log-softmax in the model's
    dtype, so on a bf16 model its log-likelihoods differ from tunebench's fp32 ones, by about 0.02
    typically and up to about 0.3)."""
    try:
        import lm_eval
        from lm_eval.models.huggingface import HFLM
        from lm_eval.tasks import TaskManager
    except ImportError as e:
        raise InputError(f"lm-evaluation-harness is not installed ({e})", hint=INSTALL_HINT) from e
    if spec.backend != "hf":
        raise InputError(
            f"run_lmeval runs hf model specs; got {spec.backend!r}",
            hint="for an OpenAI-compatible server, run lm-eval's local-completions model directly",
        )
    t0 = time.perf_counter()
    p = Path(task_or_yaml_path)
    yaml_path: Path | None = None
    if p.suffix in (".yaml", ".yml"):
        if not p.is_file():
            raise InputError(f"{p}: no such lm-eval task YAML")
        yaml_path = p.resolve()
        task = _task_from_yaml(yaml_path)
        # only the YAML's folder: scanning lm-eval's thousands of built-in task files takes seconds
        manager = TaskManager(include_path=str(yaml_path.parent), include_defaults=False)
        if task not in manager.all_tasks:  # e.g. it includes one of lm-eval's own templates
            manager = TaskManager(include_path=str(yaml_path.parent))
    else:
        task = str(task_or_yaml_path)
        manager = TaskManager()
    if task not in manager.all_tasks:
        import difflib

        close = difflib.get_close_matches(task, manager.all_tasks, n=3)
        raise InputError(
            f"lm-eval has no task {task!r}", hint=f"did you mean {', '.join(close)}?" if close else None
        )

    if model is None:
        from .models import create_backend

        model = create_backend(spec, batch_size=batch_size)
    lm = HFLM(pretrained=model.model, tokenizer=model.tokenizer, batch_size=batch_size, **(hflm_args or {}))
    from .runner import environment

    env = {**environment(), "lm_eval": getattr(lm_eval, "__version__", "")}
    t_eval = time.perf_counter()
    res = lm_eval.simple_evaluate(
        model=lm,
        tasks=[task],
        task_manager=manager,
        limit=limit,
        num_fewshot=num_fewshot,
        log_samples=True,
        bootstrap_iters=1000,
        random_seed=0,
        numpy_random_seed=0,
        torch_random_seed=0,
        fewshot_random_seed=0,
    )
    eval_s = time.perf_counter() - t_eval
    if not res or task not in res.get("results", {}):
        raise RuntimeError(f"lm-eval returned no results for task {task!r}")
    config = _jsonable(res.get("configs", {}).get(task, {}))
    n_samples = res.get("n-samples", {}).get(task, {})
    n = int(n_samples.get("effective", 0) or 0)
    version = res.get("versions", {}).get(task)
    hash_input: dict[str, Any] = {"config": config, "lm_eval": env["lm_eval"]}
    if yaml_path is not None:
        hash_input["yaml"] = _digest(yaml_path)
        hash_input["data"] = _local_data_digests(config, yaml_path.parent)
    suite_hash = stable_hash(hash_input)
    split = str(config.get("test_split") or config.get("validation_split") or "test")
    n_shot = res.get("n-shot", {}).get(task, num_fewshot or 0)
    record = RunRecord(
        id=new_run_id(),
        suite=f"lmeval:{task}",
        suite_version=str(version if version is not None else "0"),
        suite_hash=suite_hash,
        suite_path=str(yaml_path) if yaml_path else None,
        model=spec,
        prompt=PromptConfig(name=f"lmeval-{n_shot}shot"),
        split=split,
        limit=limit,
        env=env,
        status="running",
        n_samples=n,
        created_at=now_iso(),
        tags={
            **(tags or {}),
            "lmeval": {
                "task": task,
                "yaml": str(yaml_path) if yaml_path else None,
                "n_shot": n_shot,
                "hflm_args": _jsonable(hflm_args or {}),
            },
        },
    )
    config_key = stable_hash(
        {"lmeval": task, "hash": suite_hash, "model": spec.identity, "limit": limit, "id": record.id}
    )
    store.insert_run(record, config_key)
    results = sample_results(record.id, list(res.get("samples", {}).get(task, [])))
    metrics = parse_metrics(res["results"][task], n)
    record = record.model_copy(
        update={
            "status": "completed",
            "metrics": metrics,
            "n_samples": len(results) or n,
            "finished_at": now_iso(),
            "timing": {
                "total_s": time.perf_counter() - t0,
                "evaluation_s": eval_s,
                "generated": float(n),
                "cached": 0.0,
            },
        }
    )
    store.finish_run(record, results)
    return record


__all__ = ["lmeval_available", "parse_metrics", "run_lmeval", "sample_results"]
