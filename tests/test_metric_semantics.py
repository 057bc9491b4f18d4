"""Metric semantics (issue 12, points 1-2): directions declared once and stored with the run, the
suite's `higher_is_better` override, old records backfilled by a store migration, missing data that
fails closed in a run's metrics, and baseline selection in the metric's direction."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from builders import suite_yaml
from sqlalchemy import create_engine, insert

from harness import MetricInfo
from harness.baseline import select_baseline
from harness.cli.main import main as cli
from harness.errors import InputError
from harness.metrics import (
    RUN_METRICS,
    USAGE_METRICS,
    UnknownMetricError,
    aggregate,
    better,
    delta_in_good_direction,
    metric_info_for,
)
from harness.models import parse_spec
from harness.models.mock import MockBackend
from harness.runner import run_suite
from harness.scorers import BaseScorer, build_scorer, not_applicable
from harness.store import MIGRATIONS, RECORD_UPGRADES, Store, new_run_id, runs, schema_migrations
from harness.suite import load_suite
from harness.types import (
    Completion,
    GenerationConfig,
    MetricValue,
    ModelSpec,
    PromptConfig,
    RunRecord,
    Score,
    ScorerSpec,
)

HIGHER = MetricInfo.declare(higher_is_better=True, low=0.0, high=1.0)
LOWER = MetricInfo.declare(higher_is_better=False, kind="corpus", low=1.0)

FLAG_SUITE = suite_yaml(
    "flag-suite",
    "flagged",
    """\
  - {name: exact, type: exact_match}
  - name: flagged
    type: regex
    args: {pattern: "ERROR"}
    higher_is_better: OVERRIDE
""",
)


# -- MetricInfo and the direction helpers -----------------------------------------------------------
def test_declare_derives_the_failure_value_from_the_bad_end() -> None:
    assert HIGHER.failure_value == 0.0
    assert MetricInfo.declare(higher_is_better=False, low=0.0, high=1.0).failure_value == 1.0
    assert MetricInfo.declare(higher_is_better=False, low=0.0).failure_value is None  # unbounded bad end
    assert MetricInfo.declare(higher_is_better=True, kind="corpus", low=0.0, high=1.0).failure_value is None
    flipped = HIGHER.with_direction(False)
    assert (flipped.higher_is_better, flipped.failure_value) == (False, 1.0)
    with pytest.raises(ValueError, match="outside"):
        MetricInfo(higher_is_better=True, low=0.0, high=1.0, failure_value=2.0)
    with pytest.raises(ValueError, match="empty"):
        MetricInfo(higher_is_better=True, low=2.0, high=1.0)


def test_better_and_delta_follow_the_direction() -> None:
    assert better(HIGHER, 0.9, 0.5) == 1 and better(HIGHER, 0.5, 0.9) == -1 and better(HIGHER, 0.5, 0.5) == 0
    assert better(LOWER, 3.0, 7.0) == 1 and better(LOWER, 7.0, 3.0) == -1
    # a missing value is worse than any number, in either direction
    for info in (HIGHER, LOWER):
        assert better(info, None, 0.0) == -1 and better(info, 0.0, float("nan")) == 1
        assert better(info, None, None) == 0
    assert delta_in_good_direction(HIGHER, 0.1) == 0.1
    assert delta_in_good_direction(LOWER, 0.1) == -0.1  # perplexity went up: worse


# -- fail-closed aggregation ---------------------------------------------------------------------
class Unbounded(BaseScorer):
    """A custom scorer that declares nothing: higher is better, unbounded, so no failure value."""


def test_none_counts_as_the_failure_value_of_a_bounded_metric() -> None:
    sc = build_scorer(ScorerSpec(name="ok", type="exact_match"))
    rows = [[Score(name="ok", value=True)], [Score(name="ok", value=True)]]
    rows += [[Score(name="ok", value=None, detail="generation error: boom")]]  # the model's side
    rows += [[not_applicable("ok", "sample has no reference")]]  # the sample's side
    m = aggregate([sc], rows, n_boot=50, seed=0)["ok"]
    assert m.value == pytest.approx(2 / 3) and (m.n, m.n_failed, m.n_missing) == (3, 1, 0)
    assert sc.metrics([s for r in rows for s in r]) == {"ok": pytest.approx(2 / 3)}

    flags = build_scorer(ScorerSpec(name="flag", type="regex", args={"pattern": "x"}, higher_is_better=False))
    rows = [[Score(name="flag", value=False)], [Score(name="flag", value=None, detail="judge error")]]
    m = aggregate([flags], rows, n_boot=50, seed=0)["flag"]
    assert m.value == pytest.approx(0.5) and m.n_failed == 1  # lower is better: counts as flagged


def test_none_without_a_failure_value_is_counted_missing() -> None:
    sc = Unbounded("u")
    rows = [[Score(name="u", value=3.0)], [Score(name="u", value=5.0)], [Score(name="u", value=None)]]
    m = aggregate([sc], rows, n_boot=50, seed=0)["u"]
    assert m.value == pytest.approx(4.0) and (m.n, m.n_failed, m.n_missing) == (2, 0, 1)

    ppl = build_scorer(ScorerSpec(name="p", type="perplexity"))
    rows = [
        [Score(name="p", value=math.e, data={"nll": 2.0, "tokens": 2})],
        [Score(name="p", value=None, detail="generation error: boom")],
        [not_applicable("p", "sample has no reference")],
    ]
    m = aggregate([ppl], rows, n_boot=50, seed=0)["p"]
    assert m.value == pytest.approx(math.e) and (m.n, m.n_missing) == (1, 1)
    # every sample missing: the metric is reported as missing, not left out
    m = aggregate([ppl], [rows[1], rows[1]], n_boot=50, seed=0)["p"]
    assert (m.value, m.n, m.n_missing) == (None, 0, 2)


# -- the run record --------------------------------------------------------------------------------
class ErroringMock(MockBackend):
    """Echo, except for prompts containing `fail`: those get a generation error."""

    def __init__(self, spec: ModelSpec, fail: str):
        super().__init__(spec)
        self.fail = fail

    def generate(
        self, prompts: Sequence[Any], config: GenerationConfig, progress: Any = None
    ) -> list[Completion]:
        out = super().generate(prompts, config, progress)
        return [
            Completion(text="", error="boom", finish_reason="error") if self.fail in p[-1]["content"] else c
            for p, c in zip(prompts, out, strict=True)
        ]


def flag_suite(tmp_path: Path, make_suite: Any, override: str) -> Path:
    return make_suite(tmp_path / f"flag-{override}", 10, FLAG_SUITE.replace("OVERRIDE", override))


def test_run_record_stores_semantics_of_every_metric(
    tmp_path: Path, workspace: Path, make_suite: Any
) -> None:
    suite = load_suite(flag_suite(tmp_path, make_suite, "false"))
    spec = parse_spec("mock:echo")
    store = Store()
    rec = run_suite(suite, spec, store=store, backend=ErroringMock(spec, "test 3:"), progress=False)
    assert set(rec.metric_info) == set(rec.metrics) == {"exact", "flagged", "generation_errors"}
    assert rec.metric_info["flagged"] == MetricInfo.declare(higher_is_better=False, low=0.0, high=1.0)
    assert rec.metric_info["exact"] == HIGHER
    assert rec.metric_info["generation_errors"] == RUN_METRICS["generation_errors"]
    # the errored sample is flagged (the bad end of a lower-is-better metric), not "clean"
    assert rec.metrics["flagged"].value == pytest.approx(0.1)
    assert rec.metrics["exact"].value == 0.0 and rec.metrics["exact"].n == 10
    # round trip through the store and through JSON
    stored = store.get_run(rec.id)
    assert stored == rec and stored.metric_info == rec.metric_info
    assert RunRecord.model_validate_json(rec.model_dump_json()) == rec
    assert metric_info_for(stored, "flagged") == rec.metric_info["flagged"]
    # usage numbers are costs: lower is better
    assert metric_info_for(stored, "latency_p50_s") == USAGE_METRICS["latency_p50_s"]
    assert metric_info_for(stored, "prompt_tokens_mean").higher_is_better is False


@pytest.mark.parametrize(("override", "expected"), [("true", True), ("false", False)])
def test_suite_override_true_and_false(
    tmp_path: Path, workspace: Path, make_suite: Any, override: str, expected: bool
) -> None:
    suite = load_suite(flag_suite(tmp_path, make_suite, override))
    assert {s.name: s.higher_is_better for s in suite.scorers} == {"exact": None, "flagged": expected}
    rec = run_suite(suite, parse_spec("mock:echo"), store=Store(), progress=False)
    assert rec.metric_info["flagged"].higher_is_better is expected
    assert rec.metric_info["exact"].higher_is_better is True  # only that scorer's metrics


def test_override_enters_the_suite_hash(tmp_path: Path, make_suite: Any) -> None:
    plain = FLAG_SUITE.replace("    higher_is_better: OVERRIDE\n", "")
    a = load_suite(make_suite(tmp_path / "a", 3, plain))
    b = load_suite(make_suite(tmp_path / "b", 3, FLAG_SUITE.replace("OVERRIDE", "false")))
    c = load_suite(make_suite(tmp_path / "c", 3, FLAG_SUITE.replace("OVERRIDE", "true")))
    assert len({a.content_hash, b.content_hash, c.content_hash}) == 3
    assert "higher_is_better" not in a.model_dump()["scorers"][1]


def test_non_bool_override_is_a_suite_error_with_its_line(
    tmp_path: Path, workspace: Path, make_suite: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_suite(tmp_path / "bad", 3, FLAG_SUITE.replace("OVERRIDE", "sometimes"))
    with pytest.raises(InputError) as e:
        load_suite(root)
    (problem,) = e.value.problems
    assert problem.line == 12 and "higher_is_better" in problem.message
    assert cli(["run", str(root), "--model", "mock:echo", "--no-progress"]) == 2
    assert f"{root / 'suite.yaml'}:12" in capsys.readouterr().err


# -- old records -------------------------------------------------------------------------------------
def old_record(suite_name: str, suite_path: str | None) -> dict[str, Any]:
    """A run record as a release before metric_info stored it (no metric_info, no n_failed/n_missing)."""
    rec = RunRecord(
        id=new_run_id() + suite_name[:3],
        suite=suite_name,
        suite_version="0.1.0",
        suite_hash="0" * 64,
        suite_path=suite_path,
        model=ModelSpec(backend="mock", base="echo", raw="mock:echo"),
        prompt=PromptConfig(),
        split="test",
        status="completed",
        metrics={
            "exact": MetricValue(value=0.5, n=4),
            "flagged": MetricValue(value=0.25, n=4),
            "generation_errors": MetricValue(value=1.0, n=4),
        },
        created_at="2024-01-01T00:00:00+00:00",
    )
    raw = json.loads(rec.model_dump_json())
    del raw["metric_info"]
    for m in raw["metrics"].values():
        del m["n_failed"], m["n_missing"]
    return raw


def old_store(path: Path, olds: Sequence[dict[str, Any]]) -> str:
    """A store file as a release that knew migrations 1-5 left it, holding the run records `olds`."""
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        schema_migrations.create(conn)
        for version, steps in MIGRATIONS[:5]:
            for t in steps:
                t.create(conn)  # type: ignore[union-attr]
            conn.execute(insert(schema_migrations).values(version=version, applied_at="2024-01-01"))
        for raw in olds:
            conn.execute(
                insert(runs).values(
                    id=raw["id"],
                    suite=raw["suite"],
                    suite_version="0.1.0",
                    suite_hash=raw["suite_hash"],
                    model="mock:echo",
                    prompt_name="default",
                    split="test",
                    status="completed",
                    config_key="k",
                    created_at=raw["created_at"],
                    record=json.dumps(raw),
                )
            )
    engine.dispose()
    return f"sqlite:///{path}"


def test_migration_backfills_old_records_from_their_suites(
    tmp_path: Path, workspace: Path, make_suite: Any
) -> None:
    root = flag_suite(tmp_path, make_suite, "false")
    path = tmp_path / "old.db"
    olds = [
        old_record("flag-suite", str(root / "suite.yaml")),
        old_record("gone-suite", "/nowhere/suite.yaml"),
    ]
    old_store(path, olds)

    store = Store(f"sqlite:///{path}")
    assert store.schema_version() == MIGRATIONS[-1][0] and 6 in applied(path)
    backfilled = store.get_run(olds[0]["id"])
    assert backfilled.metric_info == {
        "exact": HIGHER,
        "flagged": MetricInfo.declare(higher_is_better=False, low=0.0, high=1.0),  # the suite's override
        "generation_errors": RUN_METRICS["generation_errors"],
    }
    assert backfilled.metrics["exact"] == MetricValue(value=0.5, n=4)
    # a run whose suite cannot be loaded gets only the runner's own metrics; readers fail closed on
    # the others
    orphan = store.get_run(olds[1]["id"])
    assert orphan.metric_info == {"generation_errors": RUN_METRICS["generation_errors"]}
    assert metric_info_for(orphan, "generation_errors") == RUN_METRICS["generation_errors"]
    with pytest.raises(UnknownMetricError, match="flagged"):
        metric_info_for(orphan, "flagged")
    assert metric_info_for(orphan, "flagged", default=HIGHER) == HIGHER
    # ...or read the declarations from a suite the caller has
    assert metric_info_for(orphan, "flagged", load_suite(root)).higher_is_better is False
    with sqlite3.connect(path) as raw_db:
        versions = [r[0] for r in raw_db.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [v for v, _ in MIGRATIONS]
    Store(f"sqlite:///{path}")  # idempotent: opening again changes nothing
    assert store.get_run(olds[0]["id"]) == backfilled


def test_record_upgrade_waits_for_its_function(
    tmp_path: Path, workspace: Path, make_suite: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that opens an old store without the upgrade function registered leaves the
    migration unapplied (never recorded as done with nothing done); the next open applies it."""
    root = flag_suite(tmp_path, make_suite, "false")
    raw = old_record("flag-suite", str(root / "suite.yaml"))
    url = old_store(tmp_path / "old.db", [raw])
    monkeypatch.delitem(RECORD_UPGRADES, "metric_info")
    store = Store(url)
    assert 6 not in applied(tmp_path / "old.db") and store.get_run(raw["id"]).metric_info == {}
    monkeypatch.undo()
    store = Store(url)
    assert (
        6 in applied(tmp_path / "old.db")
        and store.get_run(raw["id"]).metric_info["flagged"].higher_is_better is False
    )
    # a store without runs has nothing to upgrade: the migration is applied at once
    monkeypatch.delitem(RECORD_UPGRADES, "metric_info")
    Store(f"sqlite:///{tmp_path / 'new.db'}")
    assert 6 in applied(tmp_path / "new.db")


def applied(path: Path) -> set[int]:
    """The migration versions a SQLite store records as applied."""
    with sqlite3.connect(path) as raw_db:
        return {r[0] for r in raw_db.execute("SELECT version FROM schema_migrations")}


def test_builtin_suite_records_backfill_by_name(workspace: Path) -> None:
    raw = old_record("ticket-triage", None)
    raw["metrics"] = {"category": {"value": 0.5, "n": 4}, "category_cls.macro_f1": {"value": 0.4, "n": 4}}
    store = Store()
    with store.engine.begin() as conn:
        conn.execute(
            insert(runs).values(
                id=raw["id"],
                suite="ticket-triage",
                suite_version="0.1.0",
                suite_hash=raw["suite_hash"],
                model="mock:echo",
                prompt_name="default",
                split="test",
                status="completed",
                config_key="k",
                created_at=raw["created_at"],
                record=json.dumps(raw),
            )
        )
        conn.execute(schema_migrations.delete().where(schema_migrations.c.version == 6))
    store.migrate()
    rec = store.get_run(raw["id"])
    assert rec.metric_info["category"] == HIGHER
    assert rec.metric_info["category_cls.macro_f1"] == MetricInfo.declare(kind="corpus", low=0.0, high=1.0)


# -- baseline selection ------------------------------------------------------------------------------
class PplMock(MockBackend):
    """Echo generation; log-likelihoods that make the reference likely only after a GOOD system
    prompt (perplexity e^0.5 instead of e^3)."""

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, int]]:
        return [(-(1.0 if "GOOD" in ctx else 6.0), 2) for ctx, _ in requests]


PPL_SUITE = suite_yaml("ppl-suite", "ref_ppl", "  - {name: ref_ppl, type: perplexity}\n")


def test_baseline_picks_the_lowest_of_a_lower_is_better_metric(
    tmp_path: Path, workspace: Path, make_suite: Any
) -> None:
    suite = load_suite(make_suite(tmp_path / "ppl", 6, PPL_SUITE))
    spec = parse_spec("mock:echo")
    variants = [
        PromptConfig(name="terse", system="BAD."),
        # the good prompt is the longer one, so a tie-break on cost cannot be what picks it
        PromptConfig(name="careful", system="GOOD: answer carefully, in full, with the exact words."),
    ]
    res = select_baseline(
        suite, spec, store=Store(), variants=variants, backend=PplMock(spec), run_test=False, progress=False
    )
    by_name = {v.name: v.dev_value for v in res.variants}
    assert by_name["careful"] == pytest.approx(math.exp(0.5))
    assert by_name["terse"] == pytest.approx(math.exp(3.0))
    assert res.chosen == "careful"
