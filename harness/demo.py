"""`tunebench demo`: the product's loop on the embedded Gemma 3 270M and the ticket-triage suite.

data check -> best-prompt baseline (selected on dev, run once on test) -> LoRA/QLoRA candidate ->
candidate run on test -> paired comparison with CIs.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .store import Store
from .types import PromptConfig
from .workspace import workspace_dir

SUITE = "ticket-triage"
DEMO_POLICY = Path(__file__).resolve().parent / "templates" / "demo-gate.yaml"
GENERAL_METRICS = ("mc.acc", "mc.acc_norm", "ppl")
# general's test split holds 152 multiple-choice items, then 25 perplexity passages, then 30
# generation checks. The demo runs the log-likelihood part (the gate's non-inferiority rule reads
# mc.acc_norm); the generation checks add about 90 s per model on 2 CPU cores.
GENERAL_LOGLIK_ITEMS = 177

# The fine-tuned candidate is asked with the bare ticket: no system prompt, no examples. That is
# what fine-tuning buys at serving time, and the comparison's cost section shows it.
CANDIDATE_PROMPT = PromptConfig(name="finetuned-bare", system=None, template="{input}")


@dataclass(frozen=True)
class DemoPlan:
    quick: bool
    variants: tuple[str, ...]
    dev_limit: int | None
    test_limit: int | None
    train_limit: int | None
    epochs: float
    learning_rate: float
    lora_r: int
    batch_size: int
    quantization: str
    general_limit: int | None = None
    judge_n: int = 20
    # stop training when category accuracy on the first `eval_limit` dev items (bare prompt, as the
    # candidate is served) has not improved for `eval_patience` evaluations `eval_every` steps apart
    eval_every: int = 25
    eval_limit: int = 40
    eval_patience: int = 1


def plan(quick: bool, quantization: str) -> DemoPlan:
    if quick:
        return DemoPlan(
            quick=True,
            quantization=quantization,
            variants=("instruct-0shot", "instruct-5shot"),
            dev_limit=16,
            test_limit=40,
            train_limit=160,
            epochs=1.0,
            learning_rate=5e-4,
            lora_r=16,
            batch_size=4,
            general_limit=40,
            judge_n=4,
            eval_every=10,
            eval_limit=16,
        )
    return DemoPlan(
        quick=False,
        quantization=quantization,
        variants=("instruct-0shot", "instruct-3shot", "instruct-5shot", "terse-1shot"),
        dev_limit=40,
        test_limit=None,
        train_limit=None,
        epochs=2.0,
        learning_rate=3e-4,
        lora_r=16,
        batch_size=4,
        general_limit=GENERAL_LOGLIK_ITEMS,
        judge_n=10,
    )


def default_quantization() -> str:
    """The candidate's base precision when --quantization is not given: QLoRA (a 4-bit NF4 base) on
    CUDA, run there end to end on an H200 (tests/benchmarks/README.md, "On a GPU"); plain LoRA on a
    bf16 base on CPU, where bitsandbytes' 4-bit layers are slower than bf16 (PLATFORM.md)."""
    import torch

    return "nf4" if torch.cuda.is_available() else "none"


def _header(i: int, n: int, title: str) -> None:
    print(f"\n== {i}/{n} {title} ==", flush=True)


def run_demo(
    *,
    quick: bool = False,
    workspace: str | Path | None = None,
    store_url: str | None = None,
    progress: bool = True,
    quantization: str | None = None,
) -> dict[str, Any]:
    from reports.console.compare import render_comparison
    from reports.console.hygiene import render_hygiene

    from .baseline import select_baseline
    from .compare import compare_runs
    from .hygiene import HygieneConfig, check_dataset, store_report, write_clean
    from .models import parse_spec
    from .models.embedded import ensure_default_model
    from .models.hf import default_threads
    from .runner import run_suite
    from .suite import load_suite, split_path
    from .training import candidate_spec

    t0 = time.perf_counter()
    p = plan(quick, quantization or default_quantization())
    ws = workspace_dir(workspace)
    demo_dir = ws / "demo" / ("quick" if quick else "full")
    demo_dir.mkdir(parents=True, exist_ok=True)
    store = Store(store_url, workspace=ws)
    suite = load_suite(SUITE)
    steps = 8
    print(
        f"tunebench demo{' --quick' if quick else ''}: is a fine-tuned Gemma 3 270M better than the base model "
        f"with its best prompt on {suite.ref}?"
    )
    ensure_default_model(ws)

    # 1. data hygiene before any training --------------------------------------------------------
    _header(1, steps, "data check: train split vs the suite's dev/test items")
    train_path = split_path(suite, "train")
    assert train_path is not None
    report = check_dataset(train_path, [suite], HygieneConfig())
    hygiene_id = store_report(store, report)
    print(render_hygiene(report))
    clean = demo_dir / "train.clean.jsonl"
    write_clean(report, None, clean)
    train_file = clean
    if p.train_limit:
        lines = clean.read_text().splitlines()[: p.train_limit]
        train_file = demo_dir / f"train.first{p.train_limit}.jsonl"
        train_file.write_text("\n".join(lines) + "\n")
    n_train = sum(1 for _ in train_file.open())

    # 2. best-prompt baseline: selected on dev, run once on test ---------------------------------
    _header(
        2,
        steps,
        f"best-prompt baseline: {len(p.variants)} prompt variants raced on dev"
        f"{f' (first {p.dev_limit})' if p.dev_limit else ''}, the best run on test",
    )
    base_spec = parse_spec("default", workspace=ws)
    variants = [v for v in suite.variants if v.name in p.variants]
    base = select_baseline(
        suite,
        base_spec,
        store=store,
        variants=variants,
        dev_limit=p.dev_limit,
        test_limit=p.test_limit,
        progress=progress,
        racing=True,  # clearly worse prompts stop after a quarter or half of the dev items
    )
    print(base.to_text())

    # 3. candidate: LoRA/QLoRA on the clean train data ------------------------------------------
    _header(3, steps, f"fine-tune a candidate on {n_train} clean training examples")
    from trainers import TrainConfig

    from .training import train_candidates

    cfg = TrainConfig(
        base_model=str(ensure_default_model(ws)),
        train_file=str(train_file),
        output_dir=str(demo_dir / "candidate"),
        quantization=p.quantization,  # type: ignore[arg-type]
        lora_r=p.lora_r,
        lora_alpha=2 * p.lora_r,
        learning_rate=p.learning_rate,
        num_epochs=p.epochs,
        per_device_batch_size=p.batch_size,
        max_seq_length=192,
        seed=0,
        threads=default_threads(),
        eval_suite=SUITE,
        eval_split="dev",
        eval_limit=p.eval_limit,
        eval_every_steps=p.eval_every,
        eval_patience=p.eval_patience,
        # the whole dev slice in one generation batch: 40 items took 12.2 s at batch 40 against
        # 15.3 s at 16 (fine-tuned candidate, 2 cores)
        eval_batch_size=p.eval_limit,
        eval_bare_prompt=True,
    )
    [(train_body, _)] = train_candidates(
        [cfg], store=store, workspace=ws, progress=progress, hygiene_id=hygiene_id
    )
    print(
        f"trained {train_body['steps']} steps in {train_body['wall_time_s']:.0f}s "
        f"({train_body['tokens_per_s']:.0f} tokens/s, quantization {train_body['quantization']}); "
        f"loss {train_body['first_loss']:.3f} -> {train_body['final_loss']:.3f}"
    )
    curve = train_body.get("eval_metric_curve") or []
    if curve:
        print(
            f"{train_body.get('eval_metric')} on {p.eval_limit} dev items by step: "
            + ", ".join(f"{step}: {'-' if v is None else f'{v:.3f}'}" for step, v in curve)
            + (" (stopped: no further improvement)" if train_body.get("early_stopped") else "")
        )

    # 4. candidate on test -------------------------------------------------------------------------
    _header(4, steps, "candidate on the test split (bare ticket: no system prompt, no examples)")
    from types import SimpleNamespace

    cand_spec = candidate_spec(SimpleNamespace(**train_body), ws)
    cand = run_suite(
        suite,
        cand_spec,
        store=store,
        split="test",
        limit=p.test_limit,
        prompt=CANDIDATE_PROMPT,
        progress=progress,
        tags={"role": "candidate", "training_run": train_body["id"]},
    )

    # 5. paired comparison -----------------------------------------------------------------------
    _header(5, steps, "paired comparison on the same test items: baseline (A) vs candidate (B)")
    assert base.test_run_id is not None
    comp = compare_runs(store, base.test_run_id, cand.id)
    print(render_comparison(comp))

    # 6. general-capability regression suite, then the deploy gate ------------------------------
    _header(
        6,
        steps,
        "general-capability suite on both models, then the deploy gate "
        "(improves on ticket-triage, non-inferior on general)",
    )
    from reports.console.gate import render_verdict

    from .gate import evaluate_gate, load_policy

    general = load_suite("general")
    g_runs = {}
    for role, spec in (("baseline", base_spec), ("candidate", cand_spec)):
        g_runs[role] = run_suite(
            general,
            spec,
            store=store,
            split="test",
            limit=p.general_limit,
            progress=progress,
            tags={"role": role, "demo": "general"},
        )
    print(
        f"general ({general.ref}, n={g_runs['baseline'].n_samples}): "
        + "  ".join(
            f"{m}: base {g_runs['baseline'].metrics[m].value:.3f} -> candidate {g_runs['candidate'].metrics[m].value:.3f}"
            for m in GENERAL_METRICS
            if m in g_runs["baseline"].metrics and m in g_runs["candidate"].metrics
        )
    )
    policy = load_policy(DEMO_POLICY)
    verdict = evaluate_gate(
        store,
        policy,
        candidate_runs={SUITE: cand.id, "general": g_runs["candidate"].id},
        baseline_runs={SUITE: base.test_run_id, "general": g_runs["baseline"].id},
        candidate_label=f"candidate {train_body['id']}",
        baseline_label=f"default ({base.chosen})",
    )
    print(render_verdict(verdict))

    # 7. LLM-as-judge: the embedded model in process, verdicts from its probabilities ---------------
    _header(
        7,
        steps,
        f"pairwise LLM judge on {p.judge_n} test items, both orders, with the embedded model as the judge "
        "(in process: one forward pass per order, the verdict read from its probabilities over 1 / 2 / tie)",
    )
    from reports.console.judge import render_pairwise

    from .pairwise import judge_pairwise

    # a 270M base model is a weak judge: the reliability section says how weak, in numbers, and no
    # win rate is claimed when its verdicts follow the order the answers are shown in
    judged = judge_pairwise(store, base.test_run_id, cand.id, "default", n=p.judge_n, workspace=ws)
    print(render_pairwise(judged))

    # 8. reports and where to look next -----------------------------------------------------------
    _header(8, steps, "reports")
    import reports

    report_paths = {}
    for fmt in ("html", "md"):
        kind, body = reports.load_target(store, verdict.id)
        out = demo_dir / f"verdict.{fmt}"
        reports.write_atomic(out, reports.render(kind, body, fmt, store=store))
        report_paths[fmt] = str(out)
        print(f"{fmt}: {out}")
    wall = time.perf_counter() - t0
    summary = {
        "baseline_run": base.test_run_id,
        "baseline_variant": base.chosen,
        "candidate_run": cand.id,
        "comparison": comp.id,
        "training_run": train_body["id"],
        "adapter": train_body["adapter_path"],
        "general_runs": {k: v.id for k, v in g_runs.items()},
        "verdict": verdict.id,
        "verdict_passed": verdict.passed,
        "judgment": judged.id,
        "reports": report_paths,
        "wall_s": round(wall, 1),
        "workspace": str(ws),
    }
    (demo_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    ws_flag = "" if workspace is None else f"--workspace {ws} "
    print(
        f"\ndemo finished in {wall / 60:.1f} min; verdict {'PASS' if verdict.passed else 'FAIL'}. "
        f"Everything is stored in {store.url}"
    )
    print(
        f"  tunebench {ws_flag}dashboard            # look at runs, the comparison, training, gate and judge"
    )
    print(f"  tunebench {ws_flag}show {cand.id}")
    print(f"  tunebench {ws_flag}compare {base.test_run_id} {cand.id}")
    sys.stdout.flush()
    return summary
