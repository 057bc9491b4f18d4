"""Benchmark: a stored run of 100,000 samples, and `tunebench compare` of two such runs (issue 8,
part 6). Target: compare under 5 s, without loading every completion into memory.

`--build DIR` writes DIR/tunebench.db holding two completed ticket-triage runs of N samples each
(A: a weak baseline, B: a better candidate) with the real record shapes: every sample's prompt,
prompt text, reference, completion, and the six ticket-triage scores (json_valid, schema_valid,
category, priority, category_cls with pred/gold data, summary_rouge.rougeL), written through
`Store.insert_run` / `Store.finish_run`, with metrics from `runner.aggregate` (bootstrap CIs). It
prints the two run ids (also saved to DIR/runs.json). The dashboard's Compare page can be timed on
this store: `TUNEBENCH_HOME=DIR` (or `--store sqlite:///DIR/tunebench.db`).

`--compare DIR` times `compare_runs` (the library) in this process and `tunebench compare A B`
as a subprocess, and reports each one's peak RSS (ru_maxrss), next to the RSS a full
`list(store.iter_results(A))` (every completion at once) adds, for scale.

    python tests/benchmarks/bench_scale.py --build /tmp/tb-scale --n 100000
    python tests/benchmarks/bench_scale.py --compare /tmp/tb-scale
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

LABELS = ["billing", "technical", "account", "shipping", "refund", "feature_request"]
PRIORITIES = ["low", "medium", "high", "urgent"]
WORDS = "order charge login crash refund parcel invoice password screen delivery account export".split()


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _results(run_id: str, n: int, skill: float, seed: int) -> list:
    """Per-sample SampleResults of one synthetic run: right with probability `skill`."""
    from harness.types import Completion, SampleResult, Score

    rng = random.Random(seed)
    system = (
        "You triage customer-support tickets. Reply with only a JSON object with keys category, "
        "priority and summary."
    )
    out = []
    for i in range(n):
        gold, prio = LABELS[i % 6], PRIORITIES[(i // 6) % 4]
        words = [WORDS[(i * 7 + k) % len(WORDS)] for k in range(6)]
        user = f"Ticket {i}: my {words[0]} has a problem with the {words[1]} and the {words[2]}, please help soon."
        ref_summary = " ".join(words[:4])
        reference = json.dumps({"category": gold, "priority": prio, "summary": ref_summary})
        right = rng.random() < skill
        pred = gold if right else LABELS[(i + 1 + rng.randrange(5)) % 6]
        pprio = prio if rng.random() < skill else PRIORITIES[(i + 1) % 4]
        summary = " ".join(words[:4] if right else words[2:5])
        valid = rng.random() < 0.5 + skill / 2
        text = (
            json.dumps({"category": pred, "priority": pprio, "summary": summary})
            if valid
            else summary + " mendatang"
        )
        rl = (1.0 if right else 0.25) if valid else 0.0
        key = f"{seed:02d}{i:062d}"
        comp = Completion(
            text=text,
            prompt_tokens=40 + i % 20,
            completion_tokens=20 + i % 7,
            latency_s=0.5 + (i % 13) / 10,
            raw={"_cache_key": key},
        )
        cat_ok = valid and pred == gold
        scores = [
            Score(name="json_valid", value=valid, detail="" if valid else "not JSON"),
            Score(
                name="schema_valid",
                value=valid,
                detail="" if valid else "not JSON",
                data={"errors": 0 if valid else 1},
            ),
            Score(name="category", value=cat_ok, detail="" if cat_ok else f"category: expected {gold!r}"),
            Score(name="priority", value=valid and pprio == prio),
            Score(name="category_cls", value=cat_ok, data={"pred": pred if valid else None, "gold": gold}),
            Score(name="summary_rouge.rougeL", value=rl, data={"precision": rl, "recall": rl}),
        ]
        out.append(
            SampleResult(
                run_id=run_id,
                sample_id=f"tt-scale-{i:06d}",
                prompt=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                prompt_text=f"<start_of_turn>user\n{system}\n\n{user}<end_of_turn>\n<start_of_turn>model\n",
                completion=comp,
                reference=reference,
                scores=scores,
            )
        )
    return out


def build(directory: Path, n: int) -> list[str]:
    from harness import load_suite
    from harness.runner import aggregate, usage_summary
    from harness.scorers import build_scorer
    from harness.store import Store, new_run_id, now_iso
    from harness.types import ModelSpec, RunRecord

    directory.mkdir(parents=True, exist_ok=True)
    suite = load_suite("ticket-triage")
    scorers = [build_scorer(s) for s in suite.scorers]
    store = Store(f"sqlite:///{directory / 'tunebench.db'}")
    ids = []
    for tag, skill, seed in (("A", 0.3, 1), ("B", 0.9, 2)):
        t0 = time.perf_counter()
        rid = new_run_id() + tag.lower()
        spec = ModelSpec(backend="mock", base=f"scale-{tag}", raw=f"mock:scale-{tag}")
        rec = RunRecord(
            id=rid,
            suite=suite.name,
            suite_version=suite.version,
            suite_hash=suite.content_hash,
            suite_path=str(Path(suite.root or ".") / "suite.yaml"),
            model=spec,
            prompt=suite.prompt,
            split="test",
            status="running",
            n_samples=n,
            created_at=now_iso(),
        )
        store.insert_run(rec, config_key=rid)
        results = _results(rid, n, skill, seed)
        t1 = time.perf_counter()
        metrics = aggregate(scorers, [r.scores for r in results])
        t2 = time.perf_counter()
        rec = rec.model_copy(
            update={
                "status": "completed",
                "metrics": metrics,
                "finished_at": now_iso(),
                "usage": usage_summary([r.completion for r in results]),
            }
        )
        store.finish_run(rec, results)
        t3 = time.perf_counter()
        del results
        print(
            f"run {tag} {rid}: {n} samples; records {t1 - t0:.1f}s, aggregate {t2 - t1:.1f}s, "
            f"finish_run {t3 - t2:.1f}s",
            flush=True,
        )
        ids.append(rid)
    (directory / "runs.json").write_text(json.dumps({"run_a": ids[0], "run_b": ids[1], "n": n}))
    print(json.dumps({"store": f"sqlite:///{directory / 'tunebench.db'}", "run_a": ids[0], "run_b": ids[1]}))
    return ids


def compare(directory: Path, repeat: int) -> None:
    from harness.compare import compare_runs
    from harness.store import Store

    runs = json.loads((directory / "runs.json").read_text())
    url = f"sqlite:///{directory / 'tunebench.db'}"
    load = os.getloadavg()[0]
    rss0 = _rss_mb()
    store = Store(url)
    walls = []
    cmp = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        cmp = compare_runs(store, runs["run_a"], runs["run_b"], save=False)
        walls.append(time.perf_counter() - t0)
    rss_lib = _rss_mb()
    assert cmp is not None
    print(
        f"compare_runs (library), n={cmp.n_samples}, {cmp.n_boot} resamples: "
        + ", ".join(f"{w:.2f}s" for w in walls)
        + f"; peak RSS {rss_lib:.0f} MB (before: {rss0:.0f} MB)",
        flush=True,
    )
    for m in cmp.metrics:
        print(
            f"  {m.name:32s} A {m.a:.4f} B {m.b:.4f} delta {m.delta:+.4f} CI [{m.ci_low}, {m.ci_high}] n {m.n}"
        )
    cli = [
        str(Path(sys.executable).with_name("tunebench")),
        "--store",
        url,
        "compare",
        runs["run_a"],
        runs["run_b"],
    ]
    cli_walls = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run(cli, capture_output=True, text=True)
        cli_walls.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            print(proc.stdout[-2000:], proc.stderr[-2000:])
            raise SystemExit(proc.returncode)
    rss_cli = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        "`tunebench compare A B` (subprocess, includes start-up): "
        + ", ".join(f"{w:.2f}s" for w in cli_walls)
        + f"; peak RSS {rss_cli:.0f} MB",
        flush=True,
    )
    print("\n".join(proc.stdout.splitlines()[:16]))
    # for scale: what holding every completion of one run at once costs
    t0 = time.perf_counter()
    everything = list(store.iter_results(runs["run_a"]))
    t_all = time.perf_counter() - t0
    rss_all = _rss_mb()
    print(
        f"for scale: list(iter_results(A)) holds {len(everything)} results: {t_all:.1f}s, peak RSS {rss_all:.0f} MB "
        f"(+{rss_all - rss_lib:.0f} MB over compare's peak)"
    )
    print(
        json.dumps(
            {
                "machine": platform.node(),
                "cpus": os.cpu_count(),
                "load": load,
                "date": time.strftime("%Y-%m-%d"),
                "n": cmp.n_samples,
                "compare_lib_s": walls,
                "compare_cli_s": cli_walls,
                "rss_lib_mb": rss_lib,
                "rss_cli_mb": rss_cli,
                "rss_all_results_mb": rss_all,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", type=Path, help="write two N-sample runs into DIR/tunebench.db")
    ap.add_argument("--compare", type=Path, help="time compare on the runs built in DIR")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    if not args.build and not args.compare:
        ap.error("give --build DIR and/or --compare DIR")
    if args.build:
        t0 = time.perf_counter()
        build(args.build, args.n)
        print(f"built in {time.perf_counter() - t0:.1f}s; peak RSS {_rss_mb():.0f} MB")
    if args.compare:
        if args.build:  # measure compare's memory in a fresh process
            raise SystemExit(
                subprocess.call(
                    [sys.executable, __file__, "--compare", str(args.compare), "--repeat", str(args.repeat)]
                )
            )
        compare(args.compare, args.repeat)


if __name__ == "__main__":
    main()
