"""The main job: `tunebench demo --quick` on the embedded Gemma 3 270M (slow: about 5 minutes)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness import Store


@pytest.mark.slow
def test_quick_demo_candidate_beats_best_prompt_baseline(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("TUNEBENCH_THREADS", None)  # the demo runs alone: use every core
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli.main",
            "--workspace",
            str(ws),
            "demo",
            "--quick",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=2400,  # a hang guard: 177-300 s on an idle 2-core machine, far more on a busy one
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for step in (
        "1/8 data check",
        "2/8 best-prompt baseline",
        "3/8 fine-tune",
        "4/8 candidate",
        "5/8 paired comparison",
        "6/8 general-capability suite",
        "7/8 pairwise LLM judge",
        "8/8 reports",
    ):
        assert step in out
    summary = json.loads((ws / "demo" / "quick" / "summary.json").read_text())
    store = Store(workspace=ws)
    [comp] = [r["body"] for r in store.get_records("comparison") if r["id"] == summary["comparison"]]
    deltas = {m["name"]: m for m in comp["metrics"]}
    # the fine-tuned candidate beats the best-prompt baseline with a CI that excludes zero
    assert deltas["category"]["ci_low"] > 0, deltas["category"]
    assert deltas["category_cls.macro_f1"]["ci_low"] > 0
    # and it is cheaper per request: no system prompt, no few-shot examples
    base, cand = store.get_run(summary["baseline_run"]), store.get_run(summary["candidate_run"])
    assert cand.usage["prompt_tokens_mean"] < 0.5 * base.usage["prompt_tokens_mean"]
    # the baseline was chosen on dev and run once on test; every stage left a record
    [sel] = store.get_records("baseline")
    assert sel["body"]["test_run_id"] == summary["baseline_run"]
    assert {v["name"] for v in sel["body"]["variants"]} == {"instruct-0shot", "instruct-5shot"}
    assert sel["body"]["racing"] and sel["body"]["racing"][-1]["n_items"] == 16  # raced in rounds
    [train] = store.get_records("training")
    assert train["body"]["final_loss"] < train["body"]["first_loss"]
    assert train["body"]["hygiene"] is not None
    # training watched dev category accuracy: the curve is stored beside the loss curves
    assert train["body"]["eval_metric"] == "category" and train["body"]["eval_metric_curve"]
    # the gate judged the candidate on the task and on the general suite; the verdict is stored
    [verdict] = store.get_records("verdict")
    rules = {(r["suite"], r["metric"], r["kind"]): r for r in verdict["body"]["rules"]}
    assert rules[("ticket-triage", "category", "improves")]["passed"]
    assert ("general", "mc.acc_norm", "non_inferior") in rules
    assert verdict["body"]["passed"] == summary["verdict_passed"]
    # the embedded model judged every pair in process, in both orders, from its probabilities, with
    # its reliability numbers; no win rate is claimed unless its position consistency supports one
    [judgment] = store.get_records("judgment")
    body = judgment["body"]
    rel = body["reliability"]
    assert body["n_pairs"] == 4 and "position_consistency" in rel
    assert body["counts"]["error"] == 0 and body["counts"]["abstain"] == 0, body["counts"]
    assert body["judges"][0]["info"]["backend"] == "hf (in process)" and rel["mean_mass"] >= 0.5
    for text in ("position consistency", "first-position picks", "length correlation", "model families"):
        assert text in out
    if rel["position_consistency"] < 0.6:
        assert not body["win_rate_claimed"] and "no win rate is claimed" in out
    # self-contained HTML report with escaped text, and the dashboard command at the end
    html = Path(summary["reports"]["html"]).read_text()
    assert "<svg" in html and not re.search(r"""(src|href)\s*=\s*["']?https?:""", html)
    assert "dashboard" in out.splitlines()[-3]


def test_demo_trains_qlora_on_cuda_and_lora_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from harness.demo import default_quantization

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_quantization() == "nf4"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert default_quantization() == "none"
