"""The runner: suite + model -> prompts -> cached batched generation -> scores -> metrics with
bootstrap CIs -> RunRecord in the store.

Generations are cached content-addressed by (weights identity, adapter identity, generation
config, exact prompt) and committed after every batch, so a killed run resumes without
regenerating anything it finished, and a changed scorer re-scores from the cache.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from . import stats
from .models.base import Messages, ModelBackend
from .prompts import build_messages
from .scorers import BaseScorer, ScoreContext, build_scorer
from .store import Store, new_run_id, now_iso
from .suite import draw_fewshot, load_split
from .types import (
    Completion,
    GenerationConfig,
    MetricValue,
    ModelSpec,
    PromptConfig,
    RunRecord,
    Sample,
    SampleResult,
    Score,
    Suite,
    stable_hash,
)

N_BOOT = 1000
BOOT_SEED = 0


def generation_key(spec: ModelSpec, config: GenerationConfig, messages: Messages) -> str:
    """Content address of one generation. The chat template is part of the weights identity (the
    model folder's hash covers its tokenizer and template files), so messages + identity name the
    exact prompt text."""
    return stable_hash({"model": spec.identity, "gen": config.model_dump(mode="json"), "prompt": messages})


def environment() -> dict[str, Any]:
    env: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("torch", "transformers", "peft", "trl", "bitsandbytes", "datasets", "openai"):
        try:
            from importlib.metadata import version

            env[pkg] = version(pkg)
        except Exception:
            pass
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
        if rev.returncode == 0:
            env["git_rev"] = rev.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        import torch

        env["device"] = f"cuda:{torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu"
        env["torch_threads"] = torch.get_num_threads()
    except Exception:
        pass
    return env


@dataclass
class LazyBackend:
    """Creates the backend on first use: an identical re-run never loads the model."""

    spec: ModelSpec
    factory: Callable[[ModelSpec], ModelBackend]
    _backend: ModelBackend | None = field(default=None, init=False)

    def get(self) -> ModelBackend:
        if self._backend is None:
            self._backend = self.factory(self.spec)
        return self._backend

    @property
    def loaded(self) -> bool:
        return self._backend is not None


def make_backend(spec: ModelSpec, *, batch_size: int = 8) -> ModelBackend:
    from .models import create_backend

    return create_backend(spec, batch_size=batch_size)


def aggregate(
    scorers: Sequence[BaseScorer], per_sample: Sequence[Sequence[Score]], *, n_boot: int = N_BOOT, seed: int = BOOT_SEED
) -> dict[str, MetricValue]:
    """Metrics with seeded percentile-bootstrap 95% CIs. Mean-type metrics resample the per-sample
    values; corpus-level metrics (macro-F1, corpus perplexity) are recomputed on each resample."""
    out: dict[str, MetricValue] = {}
    n = len(per_sample)
    for sc in scorers:
        mine = [[s for s in row if s.name == sc.name or s.name.startswith(sc.name + ".")] for row in per_sample]
        flat = [s for row in mine for s in row]
        if not flat:
            continue
        if sc.corpus_level:
            full = sc.metrics(flat)
            for name, value in full.items():
                def fn(idx: Any, name: str = name, sc: BaseScorer = sc, mine: list = mine) -> float:
                    sub = [s for i in idx for s in mine[i]]
                    return float(sc.metrics(sub).get(name, float("nan")))

                _, lo, hi = stats.bootstrap_ci_fn(n, fn, n_boot=n_boot, seed=seed) if n > 1 else (value, value, value)
                out[name] = MetricValue(value=value, ci_low=lo, ci_high=hi, n=n)
        else:
            names = sorted({s.name for s in flat})
            for name in names:
                vals = [float(s.value) for s in flat if s.name == name and s.value is not None]
                if not vals:
                    out[name] = MetricValue(value=None, n=0)
                    continue
                point, lo, hi = stats.bootstrap_ci(vals, n_boot=n_boot, seed=seed)
                out[name] = MetricValue(value=point, ci_low=lo, ci_high=hi, n=len(vals))
    return out


def usage_summary(completions: Sequence[Completion]) -> dict[str, float]:
    if not completions:
        return {}
    pt = [c.prompt_tokens for c in completions]
    ct = [c.completion_tokens for c in completions]
    lat = [c.latency_s for c in completions if c.error is None]
    return {
        "requests": float(len(completions)),
        "prompt_tokens_mean": sum(pt) / len(pt),
        "completion_tokens_mean": sum(ct) / len(ct),
        "prompt_tokens_total": float(sum(pt)),
        "completion_tokens_total": float(sum(ct)),
        "latency_p50_s": stats.percentile(lat, 50) if lat else float("nan"),
        "latency_p95_s": stats.percentile(lat, 95) if lat else float("nan"),
        "errors": float(sum(1 for c in completions if c.error)),
    }


def run_suite(
    suite: Suite,
    spec: ModelSpec,
    *,
    store: Store,
    split: str = "test",
    limit: int | None = None,
    prompt: PromptConfig | None = None,
    backend: ModelBackend | LazyBackend | None = None,
    batch_size: int = 8,
    progress: bool = True,
    tags: dict[str, Any] | None = None,
    samples: Sequence[Sample] | None = None,
) -> RunRecord:
    """Run one suite split on one model and store the RunRecord. Input problems raise InputError
    before anything is written."""
    t_start = time.perf_counter()
    prompt = prompt or suite.prompt
    items = list(samples) if samples is not None else load_split(suite, split, limit)
    scorers = [build_scorer(s, where=f"suite {suite.name}") for s in suite.scorers]
    fewshot = draw_fewshot(suite, prompt, split)
    gen_cfg = suite.generation
    prompts = [build_messages(s, prompt, fewshot) for s in items]
    keys = [generation_key(spec, gen_cfg, m) for m in prompts]
    if isinstance(backend, LazyBackend):
        lazy = backend
    elif backend is not None:
        fixed = backend
        lazy = LazyBackend(spec, lambda _s: fixed)
    else:
        lazy = LazyBackend(spec, lambda s: make_backend(s, batch_size=batch_size))

    config_key = stable_hash({
        "suite": suite.content_hash, "model": spec.identity, "prompt": prompt.model_dump(mode="json"),
        "split": split, "limit": limit, "ids": [s.id for s in items], "tags": tags or {},
    })
    record = store.find_unfinished_run(config_key)
    resumed = record is not None
    if record is None:
        record = RunRecord(
            id=new_run_id(), suite=suite.name, suite_version=suite.version, suite_hash=suite.content_hash,
            suite_path=str(Path(suite.root) / "suite.yaml") if suite.root else None, model=spec, prompt=prompt, split=split, limit=limit, env=environment(), status="running",
            n_samples=len(items), created_at=now_iso(), tags=tags or {},
        )
        store.insert_run(record, config_key)

    # -- generation (cached, committed per batch) -------------------------------------------------
    cached = store.get_generations(keys)
    todo_keys = [k for k in dict.fromkeys(keys) if k not in cached]
    prompt_of = {k: m for k, m in zip(keys, prompts, strict=True)}
    t_gen = time.perf_counter()
    generated = 0
    if todo_keys:
        model = lazy.get()
        render = getattr(model, "render", None)
        # length-sorted across the whole todo list, so each batch holds similar lengths
        todo_keys.sort(key=lambda k: -sum(len(m["content"]) for m in prompt_of[k]))
        chunk = batch_size if spec.backend == "hf" else max(batch_size, 32)
        bar = tqdm(total=len(todo_keys), desc=f"generate {suite.name}/{split}", unit="sample",
                   disable=not progress, file=sys.stderr)
        try:
            for start in range(0, len(todo_keys), chunk):
                ks = todo_keys[start : start + chunk]
                outs = model.generate([prompt_of[k] for k in ks], gen_cfg, progress=bar.update)
                good = []
                for k, c in zip(ks, outs, strict=True):
                    cached[k] = c
                    if c.error is None:  # errors are never cached: a re-run retries them
                        text = render(prompt_of[k]) if callable(render) else _plain(prompt_of[k])
                        good.append((k, stable_hash(spec.identity), text, c))
                store.put_generations(good)
                generated += len(ks)
        finally:
            bar.close()
    gen_time = time.perf_counter() - t_gen

    # -- scoring ---------------------------------------------------------------------------------
    needs_model = any(sc.needs_model for sc in scorers)
    model_for_scoring = lazy.get() if needs_model else None
    render = getattr(lazy.get(), "render", None) if lazy.loaded else None
    # the exact text each prompt was sent as (chat template applied), even when the model was
    # never loaded because every generation came from the cache
    sent_text = store.get_prompt_texts(keys)
    results: list[SampleResult] = []
    per_sample: list[list[Score]] = []
    t_score = time.perf_counter()
    for s, m, k in zip(items, prompts, keys, strict=True):
        c = cached[k]
        c = c.model_copy(update={"raw": {**(c.raw or {}), "_cache_key": k}})
        text = sent_text.get(k) or (render(m) if callable(render) else _plain(m))
        ctx = ScoreContext(
            suite_root=Path(suite.root) if suite.root else None, prompt_text=text, model=model_for_scoring,  # type: ignore[arg-type]
        )
        row: list[Score] = []
        for sc in scorers:
            row += sc.score(s, c, ctx)
        per_sample.append(row)
        results.append(SampleResult(run_id=record.id, sample_id=s.id, prompt=m, prompt_text=text,
                                    completion=c, reference=s.reference, scores=row))
    metrics = aggregate(scorers, per_sample)
    completions = [r.completion for r in results]
    usage = usage_summary(completions)
    if usage.get("errors"):
        metrics["generation_errors"] = MetricValue(value=usage["errors"], n=len(items))
    env = dict(record.env)
    if lazy.loaded and "torch" in sys.modules:  # loading the backend sets torch's thread count
        env["torch_threads"] = sys.modules["torch"].get_num_threads()
    record = record.model_copy(update={
        "env": env,
        "status": "completed",
        "metrics": metrics,
        "usage": usage,
        "finished_at": now_iso(),
        "timing": {
            "total_s": time.perf_counter() - t_start,
            "generation_s": gen_time,
            "scoring_s": time.perf_counter() - t_score,
            "generated": float(generated),
            "cached": float(len(set(keys)) - generated),
            "resumed": float(resumed),
        },
    })
    store.finish_run(record, results)
    return record


def _plain(messages: Messages) -> str:
    return "\n".join(f"[{m['role']}] {m['content']}" for m in messages)
