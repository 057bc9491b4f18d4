"""Racing prompt variants (harness/racing.py, issue 16 part 2): on a scripted backend racing picks the
variant full evaluation picks on the built-in ticket-triage variants, drops a clearly bad variant
after the first round (fewer generations), stores every variant's figures, partial or full, and
never reads the test split during selection."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import harness.runner as runner_mod
import harness.suite as suite_mod
from harness import Store, load_suite, parse_spec
from harness.baseline import select_baseline
from harness.cli.main import main as cli
from harness.racing import paired_delta, round_sizes
from harness.types import Completion
from tests.test_baseline import _suite_copy

ROOT = Path(__file__).resolve().parent.parent

# share of dev items each variant answers correctly, by few-shot count (0-shot: never)
QUALITY = {0: 0.0, 1: 0.55, 3: 0.9, 5: 0.9}


class ScriptedMock:
    """Answers with the reference for a fixed, prompt-dependent share of items; counts generations
    per few-shot count."""

    def __init__(self, spec: Any, references: dict[str, str], quality: dict[int, float] = QUALITY):
        self.spec = spec
        self.refs = references
        self.quality = quality
        self.calls: Counter[int] = Counter()
        self.seen_users: list[str] = []

    def generate(self, prompts: Any, config: Any, progress: Any = None) -> list[Completion]:
        out = []
        for p in prompts:
            user = p[-1]["content"]
            shots = sum(1 for m in p if m["role"] == "assistant")
            self.calls[shots] += 1
            self.seen_users.append(user)
            draw = int(hashlib.sha256(user.encode()).hexdigest()[:8], 16) % 1000 / 1000
            good = draw < self.quality[shots]
            text = self.refs[user] if good else '{"category": "nope", "priority": "low", "summary": "x"}'
            out.append(Completion(text=text, prompt_tokens=10 + 50 * shots))
            if progress:
                progress(1)
        return out


@pytest.fixture
def refs() -> dict[str, str]:
    out = {}
    for split in ("train", "dev", "test"):
        for line in (ROOT / "suites/ticket-triage/data" / f"{split}.jsonl").read_text().splitlines():
            row = json.loads(line)
            out[row["messages"][0]["content"]] = row["messages"][1]["content"]
    return out


def test_round_sizes() -> None:
    assert round_sizes(40) == [10, 20, 40]
    assert round_sizes(100) == [25, 50, 100]
    assert round_sizes(12) == [8, 12]  # no round below 8 items
    assert round_sizes(5) == [5]
    assert round_sizes(40, [0.5]) == [20, 40]
    # rounded up to whole batches: no round adds a partial batch
    assert round_sizes(40, multiple=8) == [16, 24, 40]
    assert round_sizes(100, multiple=8) == [32, 56, 100]
    assert round_sizes(16, multiple=8) == [8, 16]


def test_racing_picks_the_full_choice_and_drops_early(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refs: dict[str, str]
) -> None:
    reads: list[str] = []
    real = suite_mod.load_split

    def spy(suite: Any, split: str, limit: int | None = None) -> Any:
        reads.append(split)
        return real(suite, split, limit)

    monkeypatch.setattr(suite_mod, "load_split", spy)
    monkeypatch.setattr(runner_mod, "load_split", spy)
    import harness.racing as racing_mod

    monkeypatch.setattr(racing_mod, "load_split", spy)
    dst = _suite_copy(tmp_path, n=40)
    (dst / "data" / "test.jsonl").unlink()  # selection must not need it at all
    suite = load_suite(dst)
    spec = parse_spec("mock:echo")

    full_mock = ScriptedMock(spec, refs)
    full = select_baseline(
        suite,
        spec,
        store=Store(workspace=tmp_path / "full"),
        backend=full_mock,
        run_test=False,
        progress=False,
    )
    raced_mock = ScriptedMock(spec, refs)
    store = Store(workspace=tmp_path / "race")
    raced = select_baseline(
        suite, spec, store=store, backend=raced_mock, run_test=False, progress=False, racing=True
    )

    # same choice (3-shot: as good as 5-shot, cheaper), and the test split was never read
    assert full.chosen == raced.chosen == "instruct-3shot"
    assert "test" not in reads and set(reads) <= {"dev", "train"}
    test_inputs = {
        json.loads(x)["messages"][0]["content"]
        for x in (ROOT / "suites/ticket-triage/data/test.jsonl").read_text().splitlines()
    }
    assert not test_inputs & set(raced_mock.seen_users)

    # the 0-shot variant (always wrong) stopped after the first round's 16 items (a quarter of 40,
    # rounded up to whole batches of 8)
    by_name = {v.name: v for v in raced.variants}
    assert [v.name for v in raced.variants] == [v.name for v in full.variants]
    zero = by_name["instruct-0shot"]
    assert zero.dropped_round == 1 and zero.n_evaluated == 16 and zero.dev_value == 0.0
    assert raced_mock.calls[0] == 16 < full_mock.calls[0] == 40
    assert sum(raced_mock.calls.values()) < sum(full_mock.calls.values())
    # the chosen variant ran on every dev item and its figures equal full evaluation's
    assert by_name["instruct-3shot"].n_evaluated == 40 and by_name["instruct-3shot"].dropped_round is None
    full_by_name = {v.name: v for v in full.variants}
    assert by_name["instruct-3shot"].dev_value == full_by_name["instruct-3shot"].dev_value
    # rounds of a quarter, a half and all of 40 items, each rounded up to whole batches of 16 (the
    # default batch size)
    assert raced.racing and [r["n_items"] for r in raced.racing] == [16, 32, 40]
    assert "instruct-0shot" in raced.racing[0]["dropped"]
    assert raced.racing[0]["vs_leader"]["instruct-0shot"][2] < 0

    # stored like a full selection's record, with the partial figures
    body = store.get_records("baseline")[-1]["body"]
    assert body["chosen"] == "instruct-3shot" and len(body["variants"]) == 4
    stored = {v["name"]: v for v in body["variants"]}
    assert stored["instruct-0shot"]["n_evaluated"] == 16 and stored["instruct-0shot"]["dropped_round"] == 1
    assert body["racing"][0]["leader"] in ("instruct-3shot", "instruct-5shot")
    dev_run = store.get_run(stored["instruct-0shot"]["run_id"])
    assert dev_run.split == "dev" and dev_run.n_samples == 16


def test_racing_never_drops_while_variants_tie(tmp_path: Path, refs: dict[str, str]) -> None:
    suite = load_suite(_suite_copy(tmp_path, n=40))
    spec = parse_spec("mock:echo")
    mock = ScriptedMock(spec, refs, quality={0: 0.9, 1: 0.9, 3: 0.9, 5: 0.9})
    res = select_baseline(
        suite,
        spec,
        store=Store(workspace=tmp_path / "ws"),
        backend=mock,
        run_test=False,
        progress=False,
        racing=True,
    )
    assert all(v.dropped_round is None and v.n_evaluated == 40 for v in res.variants)
    assert res.chosen == "instruct-0shot"  # equal values: the cheapest prompt


def test_corpus_level_metric_delta(tmp_path: Path, refs: dict[str, str]) -> None:
    """A corpus-level selection metric (macro-F1) is compared on paired resamples."""
    suite = load_suite(_suite_copy(tmp_path, n=40))
    spec = parse_spec("mock:echo")
    store = Store(workspace=tmp_path / "ws")
    res = select_baseline(
        suite,
        spec,
        store=store,
        backend=ScriptedMock(spec, refs),
        metric="category_cls.macro_f1",
        run_test=False,
        progress=False,
        racing=True,
    )
    by_name = {v.name: v for v in res.variants}
    assert by_name["instruct-0shot"].dropped_round == 1
    assert res.chosen in ("instruct-3shot", "instruct-5shot")
    d = paired_delta(
        store,
        suite,
        "category_cls.macro_f1",
        by_name["instruct-3shot"].run_id,
        by_name["instruct-0shot"].run_id,
        alpha=0.05,
    )
    assert d[0] < 0 and d[2] < 0


def test_baseline_cli_race(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = tmp_path / "ws"
    code = cli(
        ["--workspace", str(ws), "baseline", "ticket-triage", "--model", "mock:echo", "--dev-limit", "16",
         "--test-limit", "4", "--no-progress", "--race", "--batch-size", "8"]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "racing rounds:" in out and "round 1: 8 items" in out and "chosen:" in out
    body = Store(workspace=ws).get_records("baseline")[-1]["body"]
    assert [r["n_items"] for r in body["racing"]] == [8, 16]


def test_direction_comes_from_the_metric_declaration() -> None:
    """A lower-is-better metric (an error count, perplexity) ranks and drops the other way round."""
    from harness.racing import leader_significantly_better
    from harness.types import MetricInfo

    up = MetricInfo.declare(higher_is_better=True, kind="mean")
    down = MetricInfo.declare(higher_is_better=False, kind="mean")
    # CI of (other - leader) wholly below zero: the other is worse when higher is better ...
    assert leader_significantly_better(up, -0.3, -0.1)
    assert not leader_significantly_better(down, -0.3, -0.1)
    # ... and wholly above zero: worse when lower is better
    assert leader_significantly_better(down, 0.1, 0.3)
    assert not leader_significantly_better(up, 0.1, 0.3)
    assert not leader_significantly_better(up, -0.1, 0.1) and not leader_significantly_better(down, -0.1, 0.1)
