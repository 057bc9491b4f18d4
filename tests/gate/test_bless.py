"""`tunebench bless` / `tunebench models` and `tunebench gate --against blessed`, end to end through
the CLI on mock models and a small user suite."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from builders import write_category_script, write_category_suite

from harness.cli.main import main as cli
from harness.errors import InputError
from harness.models import parse_spec
from harness.registry_models import bless, blessed_run, blessed_version, list_versions
from harness.runner import run_suite
from harness.store import Store
from harness.suite import load_suite

N = 40
POLICY = """\
name: ship-it
min_samples: 30
rules:
  - {suite: ./bless-suite, metric: category, rule: non_inferior, margin: 0.05}
  - {suite: ./other-suite, metric: category, rule: non_inferior, margin: 0.05}
  - {suite: ./other-suite, metric: json_valid, rule: at_least, threshold: 0.5}
"""


def write_suite(root: Path, name: str) -> Path:
    return write_category_suite(root, name, N, splits=("test",), description="bless tests")


class Env:
    def __init__(self, tmp: Path, cap: pytest.CaptureFixture[str]):
        self.tmp, self.cap = tmp, cap
        self.store = Store()
        self.suites = {n: write_suite(tmp / n, n) for n in ("bless-suite", "other-suite")}
        (tmp / "gate.yaml").write_text(POLICY)

    def spec(self, tag: str, correct: Callable[[int], bool]) -> str:
        return f"mock:{write_category_script(self.tmp / f'{tag}.yaml', correct, N)}"

    def run(self, tag: str, correct: Callable[[int], bool], suite: str = "bless-suite") -> str:
        spec = parse_spec(self.spec(tag, correct))
        return run_suite(load_suite(self.suites[suite]), spec, store=self.store, progress=False).id

    def cli(self, *args: str) -> tuple[int, str, str]:
        code = cli(list(args))
        out, err = self.cap.readouterr()
        return code, out, err


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Env:
    monkeypatch.setenv("TUNEBENCH_HOME", str(tmp_path / "ws"))
    return Env(tmp_path, capsys)


def test_bless_numbers_versions_and_latest_wins(env: Env) -> None:
    r1 = env.run("m1", lambda i: i < 30)
    r1_other = env.run("m1", lambda i: i < 30, suite="other-suite")
    r2 = env.run("m2", lambda i: True)
    assert blessed_run(env.store, "bless-suite") is None
    v1 = bless(env.store, r1, name="triage")
    v1b = bless(env.store, r1_other, name="triage")  # same model on another suite: same version
    v2 = bless(env.store, r2, name="triage", note="all right")
    assert (v1.version, v1b.version, v2.version) == ("1", "1", "2")
    assert v1.metrics["category"].value == pytest.approx(0.75)
    assert blessed_run(env.store, "bless-suite") == r2  # the latest bless of a suite wins
    assert blessed_run(env.store, "other-suite") == r1_other
    v = blessed_version(env.store, "bless-suite")
    assert v is not None and v.label == "triage v2" and v.note == "all right"
    assert [x.id for x in list_versions(env.store, "bless-suite")] == [v1.id, v2.id]
    # default name: the run's model label; explicit versions may not rename another model
    assert bless(env.store, r1).name.startswith("mock:")
    with pytest.raises(InputError, match="already names another model"):
        bless(env.store, r1, name="triage", version="2")
    assert bless(env.store, r2, name="triage", version="2").version == "2"
    with pytest.raises(InputError, match="no run"):
        bless(env.store, "nope")


def test_bless_and_gate_against_blessed_end_to_end(env: Env) -> None:
    base = env.run("base", lambda i: True)
    base_other = env.run("base", lambda i: True, suite="other-suite")
    code, out, _ = env.cli("bless", base, "--name", "triage", "--note", "first")
    assert code == 0 and out.startswith("blessed triage v1 for suite bless-suite@1.0.0") and "category" in out
    assert env.cli("bless", base_other, "--name", "triage")[0] == 0

    pol = str(env.tmp / "gate.yaml")
    good = env.spec("good", lambda i: True)
    code, out, err = env.cli(
        "gate", "--policy", pol, "--candidate", good, "--against", "blessed", "--no-progress"
    )
    assert code == 0, out + err
    assert (
        sum(ln.startswith("PASS  ") for ln in out.splitlines()) == 3
        and "baseline triage v1 (bless-suite), triage v1 (other-suite)" in out
    )

    bad = env.spec("bad", lambda i: i >= 10)  # 10 of 40 regressed on every suite
    code, out, _ = env.cli(
        "gate", "--policy", pol, "--candidate", bad, "--against", "blessed", "--format", "json"
    )
    assert code == 1
    v = json.loads(out)
    assert v["against"] == "blessed" and not v["passed"] and v["exit_code"] == 1
    assert [r["passed"] for r in v["rules"]] == [False, False, True]
    assert "regressed beyond the margin" in v["rules"][0]["reason"]
    assert set(v["baseline_versions"]) == {"bless-suite", "other-suite"}
    assert v["runs"]["bless-suite"]["baseline"] == base

    # models lists the versions with the verdicts that used them
    code, out, _ = env.cli("models")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["name", "version", "suite", "run"]
    row = next(ln for ln in lines if "bless-suite *" in ln)
    assert "triage" in row and "v1" in row and base in row and "category=1.000" in row
    assert "FAIL verdict-" in row and "PASS verdict-" in row
    assert row.index("FAIL verdict-") < row.index("PASS verdict-")  # newest first
    code, out, _ = env.cli("models", "--suite", "other-suite", "--format", "json")
    items = json.loads(out)
    assert [i["suite"] for i in items] == ["other-suite"] and items[0]["current"]
    assert len(items[0]["verdicts"]) == 2
    assert len(env.store.get_records("verdict")) == 2


def test_against_blessed_without_a_blessed_version_fails_closed(env: Env) -> None:
    base = env.run("base", lambda i: True)
    assert env.cli("bless", base)[0] == 0  # only bless-suite has a blessed version
    cand = env.run("cand", lambda i: True)
    cand_other = env.run("cand", lambda i: True, suite="other-suite")
    code, out, _ = env.cli(
        "gate",
        "--policy",
        str(env.tmp / "gate.yaml"),
        "--candidate",
        cand,
        "--candidate",
        cand_other,
        "--against",
        "blessed",
    )
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("PASS  bless-suite:category")
    assert (
        lines[1].startswith("FAIL  other-suite:category")
        and "no blessed model version for suite 'other-suite'" in lines[1]
    )
    assert lines[2].startswith("PASS  other-suite:json_valid at_least")  # needs no baseline


def test_bless_and_models_cli_errors(env: Env) -> None:
    code, _, err = env.cli("bless", "missing-run")
    assert code == 2 and "no run 'missing-run'" in err
    code, out, _ = env.cli("models")
    assert code == 0 and "no model versions" in out
    r = env.run("a", lambda i: True)
    cand = env.run("b", lambda i: True)
    code, _, err = env.cli(
        "gate",
        "--policy",
        str(env.tmp / "gate.yaml"),
        "--candidate",
        r,
        "--candidate",
        cand,
        "--against",
        "blessed",
    )
    assert code == 2 and "two candidate runs of suite 'bless-suite'" in err
