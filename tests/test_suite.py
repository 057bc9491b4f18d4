"""Suites: the built-in ticket-triage suite, content hashing, user suites and their errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main
from harness.errors import InputError
from harness.store import Store
from harness.suite import BUILTIN_ROOT, builtin_suites, draw_fewshot, load_split, load_suite, register_suite
from harness.types import FewShotConfig, PromptConfig

TRIAGE = BUILTIN_ROOT / "ticket-triage"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))
    st = path.stat()  # make sure the suite cache (keyed on mtime) sees the change
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


@pytest.fixture
def triage_copy(tmp_path: Path) -> Path:
    return Path(
        shutil.copytree(TRIAGE, tmp_path / "ticket-triage", ignore=shutil.ignore_patterns("__pycache__"))
    )


def test_builtin_ticket_triage_loads() -> None:
    assert "ticket-triage" in builtin_suites()
    s = load_suite("ticket-triage")
    assert s.name == "ticket-triage" and s.version
    assert s.expects_json and s.primary_metric == "category"
    assert [sc.type for sc in s.scorers][:3] == ["json_valid", "json_schema", "json_field_match"]
    assert {v.name for v in s.variants} >= {"instruct-0shot", "instruct-3shot"}
    sizes = {split: len(load_split(s, split)) for split in ("train", "dev", "test")}
    assert sizes == {"train": 400, "dev": 100, "test": 150}
    assert len(load_split(s, "test", limit=7)) == 7
    assert s.ref.startswith(f"ticket-triage@{s.version}+")


def test_splits_are_disjoint() -> None:
    s = load_suite("ticket-triage")
    ids = {split: {x.id for x in load_split(s, split)} for split in ("train", "dev", "test")}
    assert not ids["train"] & ids["test"] and not ids["dev"] & ids["test"] and not ids["train"] & ids["dev"]


def test_unknown_split(tiny_suite: Path) -> None:
    with pytest.raises(InputError, match="no split 'validation'"):
        load_split(load_suite(tiny_suite), "validation")


def test_content_hash_stable_and_content_addressed(triage_copy: Path) -> None:
    import harness.suite as suite_mod

    h1 = load_suite("ticket-triage").content_hash
    suite_mod._load_cached.cache_clear()
    assert load_suite("ticket-triage").content_hash == h1
    assert len(h1) == 64
    # the same files elsewhere hash the same: the hash covers content, not location
    copy = load_suite(triage_copy)
    assert copy.content_hash == h1

    edit(triage_copy / "suite.yaml", "max_new_tokens: 64", "max_new_tokens: 65")
    h2 = load_suite(triage_copy).content_hash
    assert h2 != h1
    edit(triage_copy / "suite.yaml", "max_new_tokens: 65", "max_new_tokens: 64")
    assert load_suite(triage_copy).content_hash == h1
    # a data change changes it too
    test_file = triage_copy / "data" / "test.jsonl"
    lines = test_file.read_text().splitlines(keepends=True)
    test_file.write_text("".join(lines[:-1]))
    edit(triage_copy / "suite.yaml", "max_new_tokens: 64", "max_new_tokens: 64 ")
    assert load_suite(triage_copy).content_hash not in (h1, h2)


def test_unknown_suite_name_did_you_mean() -> None:
    with pytest.raises(InputError) as ei:
        load_suite("ticket-triag")
    assert "did you mean 'ticket-triage'" in ei.value.render()


def test_unknown_suite_through_cli(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "tickets-triage", "--model", "mock:echo"]) == 2
    assert "did you mean 'ticket-triage'" in capsys.readouterr().err


def test_path_that_is_not_a_suite(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a suite"):
        load_suite(tmp_path)


def test_unknown_scorer_type_did_you_mean(tiny_suite: Path) -> None:
    edit(tiny_suite / "suite.yaml", "type: exact_match", "type: exact_mach")
    with pytest.raises(InputError) as ei:
        load_suite(tiny_suite)
    text = ei.value.render()
    yaml_path = tiny_suite / "suite.yaml"
    line = 1 + next(i for i, ln in enumerate(yaml_path.read_text().splitlines()) if "exact_mach" in ln)
    assert f"{yaml_path}:{line}: " in text
    assert "unknown scorer 'exact_mach'; did you mean 'exact_match'?" in text


def test_unknown_scorer_argument(tiny_suite: Path) -> None:
    edit(tiny_suite / "suite.yaml", "type: json_valid}", "type: json_valid, args: {feild: x}}")
    with pytest.raises(InputError) as ei:
        load_suite(tiny_suite)
    yaml_path = tiny_suite / "suite.yaml"
    line = 1 + next(i for i, ln in enumerate(yaml_path.read_text().splitlines()) if "feild" in ln)
    assert (
        f"{yaml_path}:{line}: scorers[1]: scorer 'json_valid' (json_valid) got unknown argument(s) 'feild'"
        in ei.value.render()
    )


def test_bad_indentation_names_file_and_line(tiny_suite: Path) -> None:
    yaml_path = tiny_suite / "suite.yaml"
    edit(yaml_path, "  splits: [train, dev, test]", "    splits: [train, dev, test]")  # line 6
    with pytest.raises(InputError) as ei:
        load_suite(tiny_suite)
    assert "invalid YAML" in ei.value.render()
    (problem,) = ei.value.problems
    assert problem.file == str(yaml_path) and problem.line == 6
    assert f"{yaml_path}:6: " in ei.value.render()


def test_unknown_top_level_key_names_file_and_line(
    tiny_suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    yaml_path = tiny_suite / "suite.yaml"
    edit(yaml_path, "scorers:", "scorer:")
    line = 1 + next(i for i, ln in enumerate(yaml_path.read_text().splitlines()) if ln.startswith("scorer:"))
    with pytest.raises(InputError) as ei:
        load_suite(tiny_suite)
    assert f"{yaml_path}:{line}: scorer: unknown key; did you mean 'scorers'?" in ei.value.render()
    assert main(["run", str(tiny_suite), "--model", "mock:echo"]) == 2
    assert f"{yaml_path}:{line}: scorer: unknown key" in capsys.readouterr().err


def test_bad_nested_value_names_its_line(tiny_suite: Path) -> None:
    yaml_path = tiny_suite / "suite.yaml"
    edit(yaml_path, "max_new_tokens: 16", "max_new_tokens: lots")
    line = 1 + next(i for i, ln in enumerate(yaml_path.read_text().splitlines()) if "max_new_tokens" in ln)
    with pytest.raises(InputError) as ei:
        load_suite(tiny_suite)
    assert f"{yaml_path}:{line}: generation.max_new_tokens:" in ei.value.render()


def test_fewshot_from_eval_split_refused(
    tiny_suite: Path, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = load_suite(tiny_suite)
    leaky = PromptConfig(name="leaky", fewshot=FewShotConfig(k=2, split="test"))
    with pytest.raises(InputError, match="split being evaluated"):
        draw_fewshot(suite, leaky, "test")
    ok = PromptConfig(name="ok", fewshot=FewShotConfig(k=2, split="train", seed=3))
    shots = draw_fewshot(suite, ok, "test")
    assert len(shots) == 2 and all(s.id.startswith("train-") for s in shots)
    assert [s.id for s in draw_fewshot(suite, ok, "test")] == [s.id for s in shots]  # seeded

    # through the CLI: a variant drawing from the test split is refused before anything is stored
    yaml_path = tiny_suite / "suite.yaml"
    yaml_path.write_text(
        yaml_path.read_text()
        + "variants:\n  - {name: leaky, template: '{input}', fewshot: {k: 2, split: test}}\n"
    )
    before = Store(workspace=workspace).counts()
    assert main(["run", str(tiny_suite), "--model", "mock:echo", "--prompt", "leaky", "--no-progress"]) == 2
    assert "split being evaluated" in capsys.readouterr().err
    assert Store(workspace=workspace).counts() == before


def test_folder_and_yaml_file_and_registered_name(
    tiny_suite: Path, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    by_dir = load_suite(tiny_suite)
    by_file = load_suite(tiny_suite / "suite.yaml")
    by_str = load_suite(str(tiny_suite / "suite.yaml"))
    assert by_dir.content_hash == by_file.content_hash == by_str.content_hash
    assert by_dir.root == str(tiny_suite.resolve())
    register_suite("my-tiny-suite", tiny_suite)
    assert load_suite("my-tiny-suite").content_hash == by_dir.content_hash

    assert (
        main(["run", str(tiny_suite / "suite.yaml"), "--model", "mock:echo", "--no-progress", "--limit", "3"])
        == 0
    )
    out = capsys.readouterr().out
    assert "tiny-suite@0.1.0" in out and "n=3" in out


def test_generator_is_deterministic() -> None:
    proc = subprocess.run(
        [sys.executable, str(TRIAGE / "generate.py"), "--check"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "up to date" in proc.stdout


def test_suites_command_lists_builtin(capsys: pytest.CaptureFixture[str], **_: Any) -> None:
    assert main(["suites"]) == 0
    out = capsys.readouterr().out
    assert "ticket-triage" in out and "train=400 dev=100 test=150" in out
