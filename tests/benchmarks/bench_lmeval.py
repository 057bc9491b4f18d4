"""Benchmark: tunebench's hf backend vs lm-evaluation-harness's hf backend (HFLM) on the same items,
the same model object, one process, one machine, one go (issue 8, benchmarks 1 and 2).

1. generation: ticket-triage test items (the first --n-gen, default 40), the suite's 0-shot prompt
   rendered with the model's chat template, greedy, 64 new tokens, stop "\\n", batch 8 each.
   tunebench: `run_suite` on those samples. lm-eval: `simple_evaluate` on the local generate_until
   task lmeval_tasks/tunebench_ticket_triage_gen.yaml whose `prompt` field is the exact text
   tunebench sends (it starts with "<bos>" as text; lm-eval then encodes it without adding a
   second BOS, as tunebench does). Reports samples/s both ways and the identical-output share.
   tunebench runs with its cheaper-generation features (harness/models/hf_fast.py): the shared-
   prefix KV cache and prompt-lookup decoding (`--prompt-lookup off|on|exact|verify|auto`, default exact,
   `--no-prefix-cache`); a third run without them (`--no-plain` skips it) shows what they change
   and that its outputs are the same.
2. multiple choice: the general suite's 152 mc test items, scored by log-likelihood. tunebench:
   `run_suite` on those samples. lm-eval: the local multiple_choice task
   lmeval_tasks/tunebench_general_mc.yaml (doc_to_text = metadata.context, doc_to_choice = choices,
   target = gold, delimiter " "), HFLM(softmax_dtype="float32") so both take the log-softmax in
   fp32. Reports samples/s, acc and acc_norm both ways, and the largest per-choice
   log-likelihood difference.

Each side runs --repeats times, alternating (tunebench, lm-eval, tunebench, ...) with a fresh
tunebench store each time (no generation cache hits); the best wall time of each side is used.
"Wall" is the whole evaluation call (run_suite / simple_evaluate: data, prompts, model, scoring,
storing); "model" is the time inside the model calls (tunebench's timing.generation_s /
loglikelihood_s; lm-eval's HFLM.generate_until / loglikelihood). The model is loaded once, by
tunebench's HFBackend, and handed to HFLM as an already-loaded model. Not a test: numbers go in
tests/benchmarks/README.md; the correctness checks are tests/test_lmeval_parity.py.

    python tests/benchmarks/bench_lmeval.py                    # both, 40 ticket items, 152 mc items
    python tests/benchmarks/bench_lmeval.py --only mc --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[2]
TASKS = Path(__file__).resolve().parent / "lmeval_tasks"
GEN_TASK = "tunebench_ticket_triage_gen"
MC_TASK = "tunebench_general_mc"
GEN_DATA = TASKS / "ticket_triage_test.jsonl"
MC_DATA = TASKS / "general_mc_test.jsonl"


def _write_if_changed(path: Path, rows: list[dict[str, Any]]) -> bool:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def ticket_rows(backend: Any, samples: list[Any], prompt: Any) -> list[dict[str, Any]]:
    """One lm-eval doc per sample: the exact prompt text tunebench sends (chat template applied)."""
    from harness.prompts import build_messages

    return [
        {"id": s.id, "prompt": backend.render(build_messages(s, prompt)), "reference": s.reference or ""}
        for s in samples
    ]


def mc_rows(samples: list[Any]) -> list[dict[str, Any]]:
    """One lm-eval doc per mc sample: the context, choices and gold tunebench's runner scores."""
    from harness.runner import loglik_requests

    rows = []
    for s in samples:
        reqs = loglik_requests(s)  # (context, " " + choice): the runner's own requests
        rows.append(
            {
                "id": s.id,
                "context": reqs[0][0],
                "choices": list(s.metadata["choices"]),
                "gold": int(s.metadata["gold"]),
            }
        )
    return rows


class _Timed:
    """Wraps one HFLM method to add up the time spent in it."""

    def __init__(self, lm: Any, name: str):
        self.total = 0.0
        inner = getattr(lm, name)

        def call(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return inner(*a, **k)
            finally:
                self.total += time.perf_counter() - t0

        setattr(lm, name, call)


def run_lm_eval(
    backend: Any, manager: Any, task: str, limit: int | None, hflm_args: dict[str, Any]
) -> dict[str, Any]:
    import lm_eval
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=backend.model, tokenizer=backend.tokenizer, batch_size=8, **hflm_args)
    timers = {n: _Timed(lm, n) for n in ("generate_until", "loglikelihood")}
    t0 = time.perf_counter()
    res = lm_eval.simple_evaluate(
        model=lm,
        tasks=[task],
        task_manager=manager,
        limit=limit,
        log_samples=True,
        bootstrap_iters=1000,
        random_seed=0,
        numpy_random_seed=0,
        torch_random_seed=0,
        fewshot_random_seed=0,
        verbosity="ERROR",
    )
    wall = time.perf_counter() - t0
    print(f"  lm-eval {task}: {wall:.1f} s (load {load()})", flush=True)
    samples = sorted(res["samples"][task], key=lambda x: x["doc_id"])
    return {
        "wall_s": wall,
        "model_s": sum(t.total for t in timers.values()),
        "results": res["results"][task],
        "samples": samples,
    }


def run_tunebench(backend: Any, suite: Any, samples: list[Any], spec: Any) -> dict[str, Any]:
    from harness.runner import run_suite
    from harness.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/bench.db")  # fresh: nothing comes from the cache
        t0 = time.perf_counter()
        rec = run_suite(
            suite, spec, store=store, samples=samples, backend=backend, batch_size=8, progress=False
        )
        wall = time.perf_counter() - t0
        print(f"  tunebench {suite.name}: {wall:.1f} s (load {load()})", flush=True)
        rows = {r.sample_id: r for r in store.iter_results(rec.id)}
        store.engine.dispose()
    t = rec.timing
    return {
        "wall_s": wall,
        "model_s": t.get("generation_s", 0.0) + t.get("loglikelihood_s", 0.0),
        "metrics": rec.metrics,
        "rows": [rows[s.id] for s in samples],
    }


def alternate(repeats: int, a: Any, b: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    ra, rb = [], []
    for _ in range(repeats):
        ra.append(a())
        rb.append(b())
    return ra, rb


def set_features(backend: Any, prefix_cache: bool, prompt_lookup: str, lookup_tokens: int = 0) -> None:
    """Switch the hf backend's cheaper-generation features (harness/models/hf_fast.py) in place."""
    from harness.models.hf_fast import PrefixCache

    backend.prefix_cache = PrefixCache() if prefix_cache else None
    backend.prompt_lookup = prompt_lookup
    if lookup_tokens:
        backend.prompt_lookup_tokens = lookup_tokens
    backend.lookup_checked = backend.lookup_differed = 0


def speed(runs: list[dict[str, Any]], n: int) -> dict[str, float]:
    wall = min(r["wall_s"] for r in runs)
    model = min(r["model_s"] for r in runs)
    return {
        "samples_per_s": n / wall,
        "wall_s": wall,
        "model_s": model,
        "model_samples_per_s": n / model,
        "wall_s_all": [round(r["wall_s"], 2) for r in runs],
    }


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def bench_generation(
    backend: Any, spec: Any, manager_fn: Any, n: int, repeats: int, features: dict[str, Any]
) -> dict[str, Any]:
    from harness import load_split, load_suite

    suite = load_suite("ticket-triage")
    all_test = load_split(suite, "test")
    if _write_if_changed(GEN_DATA, ticket_rows(backend, all_test, suite.prompt)):
        print(
            f"wrote {GEN_DATA.relative_to(ROOT)} (prompts rendered with this model's chat template)",
            flush=True,
        )
    items = all_test[:n]
    manager = manager_fn()

    def tunebench_with_features() -> dict[str, Any]:
        set_features(backend, features["prefix_cache"], features["prompt_lookup"], features["lookup_tokens"])
        try:
            return run_tunebench(backend, suite, items, spec)
        finally:
            set_features(backend, False, "off")

    plain_runs: list[dict[str, Any]] = []

    def lm_eval_then_plain() -> dict[str, Any]:
        out = run_lm_eval(backend, manager, GEN_TASK, n, {})
        if features["compare_plain"]:  # tunebench without the features, same batches (issue 8's row 5)
            plain_runs.append(run_tunebench(backend, suite, items, spec))
        return out

    set_features(backend, False, "off")
    tb_runs, lm_runs = alternate(repeats, tunebench_with_features, lm_eval_then_plain)
    tb_texts = [r.completion.text for r in tb_runs[-1]["rows"]]
    lm_texts = [str(s["filtered_resps"][0]) for s in lm_runs[-1]["samples"]]
    sent = [r.prompt_text for r in tb_runs[-1]["rows"]]
    lm_ctx = [s["arguments"][0][0] for s in lm_runs[-1]["samples"]]
    same = sum(a == b for a, b in zip(tb_texts, lm_texts, strict=True))
    differ = [
        {"id": s.id, "tunebench": a, "lm_eval": b}
        for s, a, b in zip(items, tb_texts, lm_texts, strict=True)
        if a != b
    ]
    # lm-eval and tunebench must see the same tokens: one BOS (from the template text), no second one
    tok = backend.tokenizer
    lm_ids = tok(lm_ctx[0], add_special_tokens=False)["input_ids"]
    raws = [r.completion.raw or {} for r in tb_runs[-1]["rows"]]
    extra: dict[str, Any] = {
        "features": {k: v for k, v in features.items() if k != "compare_plain"},
        "prefix_cached_tokens_mean": sum(r.get("prefix_cached_tokens", 0) for r in raws) / n,
        "prompt_lookup_rows": sum(1 for r in raws if r.get("prompt_lookup") in ("on", "exact")),
    }
    if plain_runs:
        plain_texts = [r.completion.text for r in plain_runs[-1]["rows"]]
        extra["tunebench_plain"] = speed(plain_runs, n)
        extra["identical_to_plain"] = sum(a == b for a, b in zip(tb_texts, plain_texts, strict=True))
    return {
        "items": n,
        "tunebench": speed(tb_runs, n),
        "lm_eval": speed(lm_runs, n),
        **extra,
        "identical_outputs": same,
        "identical_share": same / n,
        "same_prompt_text": sum(a == b for a, b in zip(sent, lm_ctx, strict=True)),
        "bos_tokens_at_start": sum(1 for t in lm_ids[:2] if t == tok.bos_token_id),
        "differences": differ[:5],
        "mean_completion_tokens": sum(r.completion.completion_tokens for r in tb_runs[-1]["rows"]) / n,
    }


def bench_mc(backend: Any, spec: Any, manager_fn: Any, repeats: int) -> dict[str, Any]:
    from harness import load_split, load_suite

    suite = load_suite("general")
    items = [s for s in load_split(suite, "test") if s.metadata.get("task") == "mc"]
    if _write_if_changed(MC_DATA, mc_rows(items)):
        print(f"wrote {MC_DATA.relative_to(ROOT)}", flush=True)
    n = len(items)
    manager = manager_fn()
    tb_runs, lm_runs = alternate(
        repeats,
        lambda: run_tunebench(backend, suite, items, spec),
        lambda: run_lm_eval(backend, manager, MC_TASK, None, {"softmax_dtype": "float32"}),
    )
    tb, lm = tb_runs[-1], lm_runs[-1]
    diffs, flips_acc, flips_norm = [], 0, 0
    for row, doc in zip(tb["rows"], lm["samples"], strict=True):
        ours = row.completion.raw["loglikelihoods"]
        theirs = [float(r[0]) for r in doc["filtered_resps"]]
        diffs += [abs(a - b) for a, b in zip(ours, theirs, strict=True)]
        acc = {sc.name: sc.value for sc in row.scores}
        flips_acc += acc.get("mc.acc", acc.get("mc")) != doc["acc"]
        flips_norm += acc.get("mc.acc_norm") != doc["acc_norm"]
    m, r = tb["metrics"], lm["results"]
    return {
        "items": n,
        "requests": sum(len(s.metadata["choices"]) for s in items),
        "tunebench": {**speed(tb_runs, n), "acc": m["mc.acc"].value, "acc_norm": m["mc.acc_norm"].value},
        "lm_eval": {**speed(lm_runs, n), "acc": r["acc,none"], "acc_norm": r["acc_norm,none"]},
        "items_acc_differ": flips_acc,
        "items_acc_norm_differ": flips_norm,
        "max_abs_loglik_diff": max(diffs),
        "mean_abs_loglik_diff": sum(diffs) / len(diffs),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["gen", "mc"], default=None)
    ap.add_argument("--n-gen", type=int, default=40, help="ticket-triage test items (the first N)")
    ap.add_argument("--repeats", type=int, default=2, help="runs per side, alternating; the best is used")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--model", default="default")
    ap.add_argument(
        "--prompt-lookup",
        choices=["off", "on", "exact", "verify", "auto"],
        default="exact",
        help="tunebench's prompt-lookup decoding mode for the generation benchmark (default exact: "
        "every token as generate computes it; it skips the prefix cache)",
    )
    ap.add_argument("--prompt-lookup-tokens", type=int, default=5, help="draft length for prompt lookup")
    ap.add_argument(
        "--no-prefix-cache", action="store_true", help="tunebench without the shared-prefix cache"
    )
    ap.add_argument(
        "--no-plain", action="store_true", help="skip the extra tunebench run without the features"
    )
    args = ap.parse_args()
    os.chdir(ROOT)  # the task YAMLs name their data files relative to the repository root

    import lm_eval
    import torch
    import transformers

    from harness import parse_spec
    from harness.models.hf import HFBackend

    spec = parse_spec(args.model)
    backend = HFBackend(spec, batch_size=8, threads=args.threads)
    managers: dict[str, Any] = {}

    def manager_fn() -> Any:
        if "m" not in managers:
            from lm_eval.tasks import TaskManager

            managers["m"] = TaskManager(include_path=str(TASKS), include_defaults=False)
        return managers["m"]

    out: dict[str, Any] = {
        "machine": platform.node(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "lm_eval": getattr(lm_eval, "__version__", "?"),
        "model": spec.identity,
        "dtype": str(backend.model.dtype),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "load_before": load(),
    }
    # warm-up (first-call allocations, lazy imports) outside every timer
    from harness.types import GenerationConfig

    backend.generate_text(
        [backend.render([{"role": "user", "content": "hi"}])], GenerationConfig(max_new_tokens=4)
    )
    backend.loglikelihood([("Question: hi\nAnswer:", " yes")], add_bos=True)
    if args.only in (None, "gen"):
        features = {
            "prefix_cache": not args.no_prefix_cache,
            "prompt_lookup": args.prompt_lookup,
            "lookup_tokens": args.prompt_lookup_tokens,
            "compare_plain": not args.no_plain,
        }
        out["generation"] = bench_generation(backend, spec, manager_fn, args.n_gen, args.repeats, features)
    if args.only in (None, "mc"):
        out["mc"] = bench_mc(backend, spec, manager_fn, args.repeats)
    out["load_after"] = load()

    print(f"\n{'benchmark':<34} {'tunebench':>16} {'lm-eval':>16} {'ratio':>7}  target")
    for key, label, target in (
        ("generation", f"generation ({args.n_gen} ticket items)", 1.3),
        ("mc", "multiple choice (152 general items)", 1.0),
    ):
        if key not in out:
            continue
        b = out[key]
        ratio = b["tunebench"]["samples_per_s"] / b["lm_eval"]["samples_per_s"]
        mratio = b["tunebench"]["model_samples_per_s"] / b["lm_eval"]["model_samples_per_s"]
        b["ratio"], b["model_ratio"], b["target"] = ratio, mratio, target
        b["target_met"] = ratio >= target
        print(
            f"{label:<34} {b['tunebench']['samples_per_s']:>10.2f} smp/s {b['lm_eval']['samples_per_s']:>10.2f} smp/s "
            f"{ratio:>6.2f}x  >= {target}x {'met' if ratio >= target else 'MISSED'}"
        )
        print(
            f"{'  (model calls only)':<34} {b['tunebench']['model_samples_per_s']:>10.2f} smp/s "
            f"{b['lm_eval']['model_samples_per_s']:>10.2f} smp/s {mratio:>6.2f}x"
        )
    if "generation" in out:
        g = out["generation"]
        print(
            f"generation: identical greedy outputs {g['identical_outputs']}/{g['items']} "
            f"({100 * g['identical_share']:.1f}%); same prompt text {g['same_prompt_text']}/{g['items']}; "
            f"BOS tokens at the start of lm-eval's input: {g['bos_tokens_at_start']}"
        )
        print(
            f"generation features {g['features']}: cached prefix {g['prefix_cached_tokens_mean']:.0f} tokens/item, "
            f"prompt lookup on {g['prompt_lookup_rows']}/{g['items']} items"
        )
        if "tunebench_plain" in g:
            p = g["tunebench_plain"]
            print(
                f"tunebench without the features: {p['samples_per_s']:.2f} smp/s (features on: "
                f"{g['tunebench']['samples_per_s'] / p['samples_per_s']:.2f}x); identical outputs "
                f"{g['identical_to_plain']}/{g['items']}"
            )
    if "mc" in out:
        c = out["mc"]
        print(
            f"mc: acc {c['tunebench']['acc']:.4f} vs {c['lm_eval']['acc']:.4f}, acc_norm {c['tunebench']['acc_norm']:.4f} "
            f"vs {c['lm_eval']['acc_norm']:.4f}; items differing acc {c['items_acc_differ']}, acc_norm "
            f"{c['items_acc_norm_differ']}; per-choice log-likelihood |diff| max {c['max_abs_loglik_diff']:.2e}, "
            f"mean {c['mean_abs_loglik_diff']:.2e}"
        )
    print(f"load average before/after: {out['load_before']} / {out['load_after']}")
    print(json.dumps(out, default=str))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
