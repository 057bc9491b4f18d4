"""Replayable runs: every run stores the resolved suite (YAML, scorer arguments, data hashes, the
prompt with its rendered few-shot examples); `suite_for_run` rebuilds it when the folder is gone,
so compare keeps corpus-metric CIs, and `tunebench show RUN --suite` prints it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import delete

from harness.cli.main import main as cli
from harness.compare import compare_runs
from harness.errors import InputError
from harness.models import parse_spec
from harness.runner import run_suite
from harness.store import Store, records
from harness.store.snapshots import SUITE_SNAPSHOT, get_suite_snapshot
from harness.suite import load_suite, snapshot_id, suite_for_run

SUITE_YAML = """\
name: snap-suite
version: "2.0.0"
description: a user suite that will move away
dataset:
  path: data/{split}.jsonl
  splits: [train, test]
primary_metric: category_cls.macro_f1
prompt:
  name: fewshot
  system: Answer with JSON.
  template: "Ticket: {input}"
  fewshot: {k: 2, split: train, seed: 3}
generation:
  max_new_tokens: 16
scorers:
  - {name: category_cls, type: classification, args: {field: category, labels: [billing, shipping, account, refund, technical]}}
  - {name: json_valid, type: json_valid}
"""


def mock_spec(path: Path, smart: bool) -> Any:
    labels = ["billing", "shipping", "account", "refund", "technical"]
    rules = (
        [{"contains": f"about {lab}", "reply": json.dumps({"category": lab})} for lab in labels]
        if smart
        else []
    )
    path.write_text(yaml.safe_dump({"default": json.dumps({"category": "billing"}), "rules": rules}))
    return parse_spec(f"mock:{path}")


@pytest.fixture
def runs(tmp_path: Path, workspace: Path, make_suite: Any) -> tuple[Store, Path, str, str]:
    suite_dir = make_suite(tmp_path / "snap-suite", {"train": 6, "test": 30}, SUITE_YAML)
    store = Store()
    suite = load_suite(suite_dir)
    a = run_suite(suite, mock_spec(tmp_path / "a.yaml", False), store=store, progress=False)
    b = run_suite(suite, mock_spec(tmp_path / "b.yaml", True), store=store, progress=False)
    return store, suite_dir, a.id, b.id


def test_snapshot_holds_the_resolved_suite(runs: tuple[Store, Path, str, str]) -> None:
    store, suite_dir, a, _ = runs
    rec = store.get_run(a)
    suite = load_suite(suite_dir)
    body = get_suite_snapshot(store, snapshot_id(rec.suite_hash, rec.prompt, rec.split))
    assert body is not None and body["verified"] is True
    assert body["source_yaml"] == SUITE_YAML
    assert body["suite"]["scorers"][0]["args"]["labels"][0] == "billing"
    assert set(body["data_sha256"]) == {"train", "test"}
    assert len(body["fewshot_ids"]) == 2 and all(i.startswith("train-") for i in body["fewshot_ids"])
    msgs = body["prompt_messages"]
    assert msgs[0] == {"role": "system", "content": "Answer with JSON."}
    assert msgs[1]["content"].startswith("Ticket: ticket train") and msgs[2]["role"] == "assistant"
    assert msgs[-1] == {"role": "user", "content": "Ticket: {input}"}
    # one snapshot per suite hash, prompt and split: both runs share it
    assert len(store.get_records(SUITE_SNAPSHOT)) == 1
    # rebuilt, it is the same suite (same hash, scorers and arguments)
    shutil.move(str(suite_dir), str(suite_dir) + "-moved")
    rebuilt = suite_for_run(store, rec)
    assert rebuilt.content_hash == suite.content_hash == rec.suite_hash
    assert rebuilt.scorers == suite.scorers and rebuilt.prompt == suite.prompt and rebuilt.root is None


def test_compare_keeps_corpus_cis_after_the_suite_moved(runs: tuple[Store, Path, str, str]) -> None:
    store, suite_dir, a, b = runs
    before = compare_runs(store, a, b, n_boot=200).metric("category_cls.macro_f1")
    shutil.rmtree(suite_dir)
    after = compare_runs(store, a, b, n_boot=200).metric("category_cls.macro_f1")
    assert after.kind == "corpus" and after.ci_low is not None and after.ci_high is not None
    assert (after.delta, after.ci_low, after.ci_high) == (before.delta, before.ci_low, before.ci_high)


def test_show_suite_prints_the_stored_yaml(
    runs: tuple[Store, Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    store, suite_dir, a, _ = runs
    shutil.rmtree(suite_dir)
    capsys.readouterr()
    assert cli(["show", a, "--suite"]) == 0
    out = capsys.readouterr().out
    suite_doc, resolved = list(yaml.safe_load_all(out))
    assert suite_doc == yaml.safe_load(SUITE_YAML)
    assert resolved["suite_hash"] == store.get_run(a).suite_hash and set(resolved["data_sha256"]) == {
        "train",
        "test",
    }
    assert resolved["prompt_messages"][-1]["content"] == "Ticket: {input}"
    assert f"as run {a} used it" in out


def test_runs_without_a_snapshot(
    runs: tuple[Store, Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    store, suite_dir, a, _ = runs
    with store.engine.begin() as conn:
        conn.execute(delete(records).where(records.c.kind == SUITE_SNAPSHOT))
    rec = store.get_run(a)
    assert suite_for_run(store, rec).content_hash == rec.suite_hash  # still on disk
    capsys.readouterr()
    assert cli(["show", a, "--suite"]) == 0 and "name: snap-suite" in capsys.readouterr().out
    shutil.rmtree(suite_dir)
    with pytest.raises(InputError, match="no snapshot"):
        suite_for_run(store, rec)
    assert cli(["show", a, "--suite"]) == 2
