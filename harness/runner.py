"""The runner: suite + model -> prompts -> cached batched generation -> scores -> metrics with
bootstrap CIs -> RunRecord in the store.

Generations are cached content-addressed by (weights identity, adapter identity, generation
config, exact prompt) and committed after every batch, so a killed run resumes without
regenerating anything it finished, and a changed scorer re-scores from the cache.

Task types. A sample's `metadata.task` says how it is evaluated (types.TASKS):

- "gen" (or absent): the prompt is built from the suite's prompt config and the sample's messages,
  rendered by the backend (chat template) and generated; scorers read the text. Unchanged.
- "mc" (multiple choice): `metadata.choices` (list of strings), `metadata.gold` (index) and
  `metadata.context`, the plain text the choices continue, used verbatim with no chat template,
  system prompt or few-shot examples (lm-evaluation-harness style, "Question: ...\nAnswer:"; when
  absent it is built as that from the last user message). Each choice is scored as the continuation
  `delimiter + choice` (`metadata.delimiter`, default " "). The Completion's text is the choice with
  the highest summed log-likelihood; raw = {"loglikelihoods", "choice_chars", "choice_tokens"}.
- "ppl": the log-likelihood of the whole `reference` given `metadata.context` (default empty: the
  text is scored from the start, after BOS); raw = {"nll", "tokens"}.

mc and ppl samples go through `backend.loglikelihood([(context, continuation), ...])` (the hf
backend; contexts start with BOS where the tokenizer adds one to plain text, as lm-evaluation-harness
encodes them). A backend without it gives those samples a Completion with `error` set, so their scores
are None (errors, never scores) and `generation_errors` counts them. Log-likelihood results share the
generation cache: content-addressed by (model identity, request kind, the exact (context,
continuation) pairs), committed per batch, never cached when they failed. So a re-run or a resumed
run recomputes nothing it finished. Scorers run only on the task types they accept: a ScorerSpec's
`tasks`, else the scorer type's `default_tasks` (mc_accuracy: mc, ppl: ppl, instruction_check: gen),
else every task; a skipped scorer writes no Score rows for that sample.

Metrics are aggregated by harness/metrics.py (missing data fails closed) and stored with their
semantics (`RunRecord.metric_info`: direction, kind, range of every metric).
"""

from __future__ import annotations

import inspect
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from . import provenance, stats
from .errors import InputError
from .health import output_health
from .metrics import aggregate, scorer_metric_info
from .models.base import DEFAULT_BATCH_SIZE, Messages, ModelBackend
from .prompts import build_messages, last_user
from .scorers import BaseScorer, ScoreContext, build_scorer, sample_task
from .store import Store, new_run_id, now_iso
from .suite import draw_fewshot, load_split
from .types import TASKS as TASK_TYPES
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
    ScorerSpec,
    Suite,
    stable_hash,
)


def generation_key(spec: ModelSpec, config: GenerationConfig, messages: Messages) -> str:
    """Content address of one generation. `spec.identity` covers the weights and every tokenizer
    and chat-template file (models/spec.py weights_digest), the adapter, the precision, and the
    revision (the commit a hub model is pinned to, an endpoint's #rev=), so messages + identity name
    the exact prompt text and the exact model."""
    return stable_hash({"model": spec.identity, "gen": config.model_dump(mode="json"), "prompt": messages})


LOGLIK_TASKS = ("mc", "ppl")
LOGLIK_CHUNK = 64
"""Log-likelihood samples handed to the backend per call (see run_suite)."""


def loglik_requests(sample: Sample) -> list[tuple[str, str]]:
    """The (context, continuation) pairs an mc or ppl sample is scored with (see the module doc)."""
    meta = sample.metadata
    task = sample_task(sample)
    if task == "mc":
        ctx = meta.get("context")
        if ctx is None:
            ctx = f"Question: {last_user(sample)}\nAnswer:"
        delim = str(meta.get("delimiter", " "))
        return [(str(ctx), f"{delim}{c}") for c in meta["choices"]]
    if task == "ppl":
        return [(str(meta.get("context") or ""), sample.reference or "")]
    raise ValueError(f"sample {sample.id}: task {task!r} is not a log-likelihood task")


def loglik_key(spec: ModelSpec, task: str, requests: Sequence[tuple[str, str]]) -> str:
    """Content address of one sample's log-likelihood requests (same table as generations)."""
    return stable_hash(
        {"model": spec.identity, "kind": f"loglikelihood:{task}", "requests": [list(r) for r in requests]}
    )


def check_tasks(samples: Sequence[Sample], where: str = "suite") -> None:
    """InputError (before anything is written) for unknown task types and malformed mc/ppl samples."""
    problems = []
    for s in samples:
        task = sample_task(s)
        meta = s.metadata
        if task not in TASK_TYPES:
            problems.append(
                f"{s.id}: unknown metadata.task {task!r} (expected one of {', '.join(TASK_TYPES)})"
            )
        elif task == "mc":
            choices, gold = meta.get("choices"), meta.get("gold")
            if (
                not isinstance(choices, list)
                or len(choices) < 2
                or not all(isinstance(c, str) and c for c in choices)
            ):
                problems.append(f"{s.id}: mc needs metadata.choices, a list of at least 2 non-empty strings")
            elif isinstance(gold, bool) or not isinstance(gold, int) or not 0 <= gold < len(choices):
                problems.append(
                    f"{s.id}: mc needs metadata.gold, an index into its {len(choices)} choices (got {gold!r})"
                )
            elif "context" in meta and not isinstance(meta["context"], str):
                problems.append(f"{s.id}: metadata.context must be a string")
        elif task == "ppl" and not s.reference:
            problems.append(f"{s.id}: ppl needs a reference text (the final assistant turn)")
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise InputError(f"{where}: {len(problems)} bad sample(s): " + "; ".join(problems[:10]) + more)


def scorer_tasks(spec: ScorerSpec, scorer: BaseScorer) -> tuple[str, ...] | None:
    """The task types a scorer runs on: the spec's `tasks`, else the type's `default_tasks`."""
    if spec.tasks is not None:
        return tuple(spec.tasks)
    default = getattr(scorer, "default_tasks", None)
    return tuple(default) if default is not None else None


def _loglik_completions(
    model: Any, samples: Sequence[Sample], reqs: Sequence[list[tuple[str, str]]]
) -> list[Completion]:
    """One Completion per sample from a single batched `loglikelihood` call."""
    fn = getattr(model, "loglikelihood", None)
    backend = getattr(getattr(model, "spec", None), "backend", type(model).__name__)
    no_ll = f"backend {backend!r} cannot score log-likelihoods; mc and ppl samples need the hf backend"
    if not callable(fn):
        return [Completion(text="", error=no_ll, finish_reason="error") for _ in samples]
    flat = [r for rs in reqs for r in rs]
    t0 = time.perf_counter()
    try:
        # plain-text contexts start with BOS where the tokenizer adds one (as lm-eval encodes them)
        results = fn(flat, add_bos=True) if "add_bos" in inspect.signature(fn).parameters else fn(flat)
    except NotImplementedError as e:
        return [
            Completion(text="", error=f"{no_ll} ({e})" if str(e) else no_ll, finish_reason="error")
            for _ in samples
        ]
    dt = (time.perf_counter() - t0) / max(1, len(samples))
    if len(results) != len(flat):
        raise RuntimeError(f"loglikelihood returned {len(results)} results for {len(flat)} requests")
    out: list[Completion] = []
    pos = 0
    for s, rs in zip(samples, reqs, strict=True):
        res = [(float(ll), int(n)) for ll, n in results[pos : pos + len(rs)]]
        pos += len(rs)
        ntok = sum(n for _, n in res)
        if sample_task(s) == "mc":
            choices = [str(c) for c in s.metadata["choices"]]
            lls = [ll for ll, _ in res]
            best = max(range(len(lls)), key=lambda i: (lls[i], -i))
            raw = {
                "loglikelihoods": lls,
                "choice_chars": [len(c) for c in choices],
                "choice_tokens": [n for _, n in res],
            }
            out.append(
                Completion(
                    text=choices[best],
                    completion_tokens=ntok,
                    latency_s=dt,
                    finish_reason="loglikelihood",
                    raw=raw,
                )
            )
        else:
            raw = {"nll": -res[0][0], "tokens": res[0][1]}
            out.append(
                Completion(
                    text="", completion_tokens=ntok, latency_s=dt, finish_reason="loglikelihood", raw=raw
                )
            )
    return out


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
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
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


def make_backend(spec: ModelSpec, *, batch_size: int = DEFAULT_BATCH_SIZE) -> ModelBackend:
    from .models import create_backend

    return create_backend(spec, batch_size=batch_size)


def usage_summary(completions: Sequence[Completion]) -> dict[str, float]:
    if not completions:
        return {}
    pt = [c.prompt_tokens for c in completions]
    ct = [c.completion_tokens for c in completions]
    lat = [c.latency_s for c in completions if c.error is None]
    out = {
        "requests": float(len(completions)),
        "prompt_tokens_mean": sum(pt) / len(pt),
        "completion_tokens_mean": sum(ct) / len(ct),
        "prompt_tokens_total": float(sum(pt)),
        "completion_tokens_total": float(sum(ct)),
        "errors": float(sum(1 for c in completions if c.error)),
    }
    if lat:  # no latency when every request failed (NaN would not survive the JSON record)
        out["latency_p50_s"] = stats.percentile(lat, 50)
        out["latency_p95_s"] = stats.percentile(lat, 95)
        # a batching backend (hf) can only time the batch: say so (see inspect_run.latency_label)
        out["latency_is_batch"] = float(any(int((c.raw or {}).get("batch_size", 1)) > 1 for c in completions))
    return out


def run_suite(
    suite: Suite,
    spec: ModelSpec,
    *,
    store: Store,
    split: str = "test",
    limit: int | None = None,
    prompt: PromptConfig | None = None,
    backend: ModelBackend | LazyBackend | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
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
    check_tasks(items, where=f"suite {suite.name}")
    tasks = [sample_task(s) for s in items]
    ll_reqs = {i: loglik_requests(s) for i, s in enumerate(items) if tasks[i] in LOGLIK_TASKS}
    keys = [
        loglik_key(spec, tasks[i], ll_reqs[i]) if i in ll_reqs else generation_key(spec, gen_cfg, m)
        for i, m in enumerate(prompts)
    ]
    gen_keys = [k for i, k in enumerate(keys) if i not in ll_reqs]
    if isinstance(backend, LazyBackend):
        lazy = backend
    elif backend is not None:
        fixed = backend
        lazy = LazyBackend(spec, lambda _s: fixed)
    else:
        lazy = LazyBackend(spec, lambda s: make_backend(s, batch_size=batch_size))

    config_key = stable_hash(
        {
            "suite": suite.content_hash,
            "model": spec.identity,
            "prompt": prompt.model_dump(mode="json"),
            "split": split,
            "limit": limit,
            "ids": [s.id for s in items],
            "tags": tags or {},
        }
    )
    if spec.adapter and len(store.get_generations(keys)) < len(set(keys)):
        # load now: the backend refuses a no-op adapter (models/adapter_check.py) before anything is
        # written; a run served entirely from the cache never loads the model
        lazy.get()
    warnings = provenance.start_warnings(spec)
    record = store.find_unfinished_run(config_key)
    resumed = record is not None
    if record is None:
        record = RunRecord(
            id=new_run_id(),
            suite=suite.name,
            suite_version=suite.version,
            suite_hash=suite.content_hash,
            suite_path=str(Path(suite.root) / "suite.yaml") if suite.root else None,
            model=spec,
            prompt=prompt,
            split=split,
            limit=limit,
            env=environment(),
            status="running",
            n_samples=len(items),
            created_at=now_iso(),
            tags=tags or {},
            warnings=warnings,
        )
        store.insert_run(record, config_key)
    provenance.store_suite_snapshot(store, suite, prompt, split, fewshot)
    provenance.emit(warnings)

    # -- generation (cached, committed per batch) -------------------------------------------------
    cached = store.get_generations(keys)
    todo_keys = [k for k in dict.fromkeys(gen_keys) if k not in cached]
    prompt_of = {k: m for i, (k, m) in enumerate(zip(keys, prompts, strict=True)) if i not in ll_reqs}
    t_gen = time.perf_counter()
    generated = 0
    if todo_keys:
        model = lazy.get()
        render = getattr(model, "render", None)
        # sorted across the whole todo list, so each batch holds similar lengths; in the backend's
        # own batch order where it has one, so each chunk is a batch it would form itself
        batch_key = getattr(model, "batch_key", None)
        if callable(batch_key):
            todo_keys.sort(key=lambda k: batch_key(prompt_of[k]))
        else:
            todo_keys.sort(key=lambda k: -sum(len(m["content"]) for m in prompt_of[k]))
        chunk = batch_size if spec.backend == "hf" else max(batch_size, 32)
        bar = tqdm(
            total=len(todo_keys),
            desc=f"generate {suite.name}/{split}",
            unit="sample",
            disable=not progress,
            file=sys.stderr,
        )
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

    # -- log-likelihood (mc / ppl samples; cached like generations, committed per batch) --------
    t_ll = time.perf_counter()
    ll_first: dict[str, int] = {}
    for i in ll_reqs:
        if keys[i] not in cached:
            ll_first.setdefault(keys[i], i)
    ll_todo = list(ll_first.values())
    if ll_todo:
        model = lazy.get()
        # longest first, so each backend batch holds similar lengths
        ll_todo.sort(key=lambda i: -sum(len(c) + len(x) for c, x in ll_reqs[i]))
        bar = tqdm(
            total=len(ll_todo),
            desc=f"loglikelihood {suite.name}/{split}",
            unit="sample",
            disable=not progress,
            file=sys.stderr,
        )
        # the backend batches requests of equal token length only (bit-exact results whatever
        # the grouping), so hand it many samples per call: with `batch_size` samples (4 choices
        # each, lengths all different) most of its forward passes held one or two rows; the
        # general suite's 177 items took 34 s on the base model this way and 21 s in calls of
        # LOGLIK_CHUNK samples (2 cores). Results are committed per call.
        chunk = max(batch_size, LOGLIK_CHUNK)
        try:
            for start in range(0, len(ll_todo), chunk):
                idx = ll_todo[start : start + chunk]
                outs = _loglik_completions(model, [items[i] for i in idx], [ll_reqs[i] for i in idx])
                good = []
                for i, c in zip(idx, outs, strict=True):
                    cached[keys[i]] = c
                    if c.error is None:  # errors are never cached: a re-run retries them
                        good.append((keys[i], stable_hash(spec.identity), _loglik_text(ll_reqs[i]), c))
                store.put_generations(good)
                generated += len(idx)
                bar.update(len(idx))
        finally:
            bar.close()
    ll_time = time.perf_counter() - t_ll

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
    base_ctx = ScoreContext(
        suite_root=Path(suite.root) if suite.root else None,
        model=model_for_scoring,  # type: ignore[arg-type]
        store=store,
    )
    accepts = [scorer_tasks(spec_, sc) for spec_, sc in zip(suite.scorers, scorers, strict=True)]
    for sc, ok in zip(scorers, accepts, strict=True):
        sc.prepare(
            [(s, cached[k]) for s, k, t in zip(items, keys, tasks, strict=True) if ok is None or t in ok],
            base_ctx,
        )
    for i, (s, m, k) in enumerate(zip(items, prompts, keys, strict=True)):
        c = cached[k]
        c = c.model_copy(update={"raw": {**(c.raw or {}), "_cache_key": k}})
        if i in ll_reqs:
            text = _loglik_text(ll_reqs[i])
        else:
            text = sent_text.get(k) or (render(m) if callable(render) else _plain(m))
        ctx = ScoreContext(
            suite_root=Path(suite.root) if suite.root else None,
            prompt_text=text,
            model=model_for_scoring,  # type: ignore[arg-type]
            store=store,
        )
        row: list[Score] = []
        for sc, ok in zip(scorers, accepts, strict=True):
            if ok is None or tasks[i] in ok:
                row += sc.score(s, c, ctx)
        per_sample.append(row)
        results.append(
            SampleResult(
                run_id=record.id,
                sample_id=s.id,
                prompt=m,
                prompt_text=text,
                completion=c,
                reference=s.reference,
                scores=row,
            )
        )
    metrics = aggregate(scorers, per_sample)
    completions = [r.completion for i, r in enumerate(results) if i not in ll_reqs]
    usage = usage_summary(completions)
    if ll_reqs:
        ll_done = [r.completion for i, r in enumerate(results) if i in ll_reqs]
        usage["loglik_samples"] = float(len(ll_done))
        usage["loglik_requests"] = float(sum(len(r) for r in ll_reqs.values()))
        usage["loglik_tokens_total"] = float(sum(c.completion_tokens for c in ll_done))
        usage["errors"] = usage.get("errors", 0.0) + float(sum(1 for c in ll_done if c.error))
    if usage.get("errors"):
        metrics["generation_errors"] = MetricValue(value=usage["errors"], n=len(items))
    metric_info = scorer_metric_info(scorers, metrics)
    env = dict(record.env)
    if lazy.loaded and "torch" in sys.modules:  # loading the backend sets torch's thread count
        env["torch_threads"] = sys.modules["torch"].get_num_threads()
    fingerprints = provenance.endpoint_fingerprints(completions)
    env = provenance.env_with_fingerprints(env, fingerprints)
    late = provenance.fingerprint_warnings(store, record, fingerprints)
    provenance.emit(late)
    record = record.model_copy(
        update={
            "env": env,
            "warnings": provenance.merge_warnings(record.warnings, warnings, late),
            "status": "completed",
            "metrics": metrics,
            "metric_info": metric_info,
            "usage": usage,
            "health": output_health(completions),
            "finished_at": now_iso(),
            "timing": {
                "total_s": time.perf_counter() - t_start,
                "generation_s": gen_time,
                **({"loglikelihood_s": ll_time} if ll_reqs else {}),
                "scoring_s": time.perf_counter() - t_score,
                "generated": float(generated),
                "cached": float(len(set(keys)) - generated),
                "resumed": float(resumed),
            },
        }
    )
    store.finish_run(record, results)
    return record


def _loglik_text(requests: Sequence[tuple[str, str]]) -> str:
    """What a log-likelihood sample was sent as: its context, then each continuation on a line."""
    ctx = requests[0][0] if requests else ""
    return ctx + "".join(f"\n  -> {x!r}" for _, x in requests)


def _plain(messages: Messages) -> str:
    return "\n".join(f"[{m['role']}] {m['content']}" for m in messages)
