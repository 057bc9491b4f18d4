"""The built-in `general` suite: composition, determinism of its generator, item sanity, an
end-to-end run on the mock backend, and (slow) a run on the embedded Gemma 3 270M."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness.models import parse_spec
from harness.runner import run_suite
from harness.scorers import InstructionCheckScorer, ScoreContext, build_scorer
from harness.store import Store
from harness.suite import BUILTIN_ROOT, load_split, load_suite
from harness.types import Completion

GENERAL = BUILTIN_ROOT / "general"


def load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("general_generate", GENERAL / "generate.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def suite() -> Any:
    return load_suite("general")


def test_suite_loads_with_expected_composition(suite: Any) -> None:
    assert suite.name == "general" and suite.version == "1.0.0"
    assert suite.primary_metric == "mc.acc_norm"
    assert [s.type for s in suite.scorers] == ["mc_accuracy", "ppl", "instruction_check", "length"]
    test, dev = load_split(suite, "test"), load_split(suite, "dev")
    assert len(test) >= 200 and 50 <= len(dev) <= 70
    kinds = Counter((s.metadata["task"], s.metadata["category"]) for s in test)
    assert sum(n for (t, _), n in kinds.items() if t == "mc") >= 140
    for cat in ("knowledge", "commonsense", "arithmetic"):
        assert kinds[("mc", cat)] >= 40, kinds
    assert kinds[("ppl", "passage")] >= 25 and kinds[("gen", "instruction")] >= 30
    assert {s.metadata["task"] for s in dev} == {"mc", "ppl", "gen"}


def test_generator_is_deterministic() -> None:
    proc = subprocess.run(
        [sys.executable, str(GENERAL / "generate.py"), "--check"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "up to date" in proc.stdout
    gen = load_generator()
    assert gen.build() == gen.build()


def test_generator_check_detects_stale_files(tmp_path: Path) -> None:
    gen = load_generator()
    assert gen.main(["--out", str(tmp_path)]) == 0
    assert gen.main(["--out", str(tmp_path), "--check"]) == 0
    path = tmp_path / "test.jsonl"
    path.write_text(path.read_text(encoding="utf-8").replace("Paris", "Lyon", 1), encoding="utf-8")
    assert gen.main(["--out", str(tmp_path), "--check"]) == 1


def norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def test_items_are_well_formed_and_distinct(suite: Any) -> None:
    seen: set[str] = set()
    ids: set[str] = set()
    for split in ("dev", "test"):
        for s in load_split(suite, split):
            assert s.id not in ids
            ids.add(s.id)
            meta = s.metadata
            key = norm(s.reference or "") if meta["task"] == "ppl" else norm(s.messages[-1].content)
            assert key not in seen, f"repeated item {s.id}"
            seen.add(key)
            if meta["task"] == "mc":
                choices = meta["choices"]
                assert len(choices) == 4 and len({c.strip().lower() for c in choices}) == 4, s.id
                assert isinstance(meta["gold"], int) and 0 <= meta["gold"] < 4, s.id
                assert choices[meta["gold"]] == s.reference, s.id
                assert meta["context"] == f"Question: {s.messages[-1].content}\nAnswer:"
                if meta["category"] == "arithmetic":
                    assert all(c.isdigit() for c in choices), s.id
            elif meta["task"] == "ppl":
                assert s.reference and 2 <= len(re.findall(r"[.!?](\s|$)", s.reference)) <= 4, s.id


def test_gold_positions_are_balanced(suite: Any) -> None:
    golds = Counter(s.metadata["gold"] for s in load_split(suite, "test") if s.metadata["task"] == "mc")
    assert set(golds) == {0, 1, 2, 3}
    assert max(golds.values()) - min(golds.values()) <= 4, golds


def test_every_instruction_reference_passes_its_checks(suite: Any) -> None:
    checker = InstructionCheckScorer("instruct")
    concise = build_scorer(next(s for s in suite.scorers if s.name == "concise"))
    for split in ("dev", "test"):
        for s in load_split(suite, split):
            if s.metadata["task"] != "gen":
                continue
            c = Completion(text=s.reference or "")
            (verdict, *_) = checker.score(s, c, ScoreContext())
            assert verdict.value is True, (s.id, verdict.detail)
            assert concise.score(s, c, ScoreContext())[0].value, s.id
            wrong = Completion(text="I am not sure what you mean by that, but here is a long answer anyway.")
            assert checker.score(s, wrong, ScoreContext())[0].value is False, s.id


def test_mock_run_scores_instructions_and_errors_loglik(suite: Any, workspace: Path) -> None:
    store = Store()
    rec = run_suite(suite, parse_spec("mock:echo"), store=store, split="dev", progress=False)
    samples = load_split(suite, "dev")
    n_ll = sum(1 for s in samples if s.metadata["task"] in ("mc", "ppl"))
    n_gen = len(samples) - n_ll
    assert rec.metrics["generation_errors"].value == n_ll  # the mock backend has no log-likelihoods
    assert rec.metrics["instruct"].n == n_gen and rec.metrics["concise"].n == n_gen
    # no log-likelihoods: every mc sample fails closed (counted as wrong), not dropped
    n_mc = sum(1 for s in samples if s.metadata["task"] == "mc")
    acc = rec.metrics["mc.acc_norm"]
    assert (acc.value, acc.n, acc.n_failed) == (0.0, n_mc, n_mc)
    for r in store.iter_results(rec.id):
        names = {s.name.split(".")[0] for s in r.scores}
        assert names in ({"mc"}, {"ppl"}, {"instruct", "concise"}), (r.sample_id, names)


@pytest.mark.slow
def test_gemma_is_above_chance(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`tunebench run general --model default --split test --limit 40` on the embedded Gemma 3 270M
    (set TUNEBENCH_MODELS to an already converted model folder to skip the conversion)."""
    from harness.cli.main import main

    assert (
        main(["run", "general", "--model", "default", "--split", "test", "--limit", "40", "--no-progress"])
        == 0
    )
    out = capsys.readouterr().out
    assert "mc.acc_norm" in out
    (rec,) = Store().list_runs()
    assert rec.n_samples == 40 and rec.status == "completed"
    acc_norm = rec.metrics["mc.acc_norm"]
    assert acc_norm.n >= 30 and acc_norm.value is not None
    assert acc_norm.value > 0.25, json.dumps(rec.metrics["mc.acc_norm"].model_dump())
