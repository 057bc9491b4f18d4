"""Tests for harness.hygiene and `tunebench data check`: every planted problem is found on its line
with the right kind, removed by --write-clean, and the clean file re-validates."""

from __future__ import annotations

import itertools
import json
import random
import time
from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main
from harness.hygiene import (
    KINDS,
    HygieneConfig,
    check_dataset,
    jaccard,
    near_duplicate_pairs,
    output_paths,
    shingles,
    words,
    write_clean,
)
from harness.store import Store
from harness.suite import BUILTIN_ROOT, load_suite
from reports.console.hygiene import render_hygiene

TT_DATA = BUILTIN_ROOT / "ticket-triage" / "data"


def _first_user_text(split: str, index: int = 0) -> tuple[str, str]:
    lines = (TT_DATA / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    row = json.loads(lines[index])
    return row["id"], row["messages"][0]["content"]


def _out(category: str, priority: str, summary: str) -> str:
    return json.dumps({"category": category, "priority": priority, "summary": summary})


def _row(rid: str, user: str, answer: str) -> str:
    return json.dumps(
        {"id": rid, "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]}
    )


LONG_TICKET = (
    "Our warehouse scanner app freezes every time the nightly inventory export starts, and the "
    "operators on the late shift have to restart every handheld device by hand before they can "
    "continue packing the remaining customer orders for the morning trucks."
)
TEST_ID, TEST_TEXT = _first_user_text("test")
DEV_ID, DEV_TEXT = _first_user_text("dev")

# line -> expected finding kinds (lines without an entry must have none)
EXPECTED: dict[int, set[str]] = {
    2: {"duplicate"},
    4: {"near_duplicate"},
    5: {"short_output"},
    6: {"invalid_json"},
    7: {"contamination"},
    8: {"contamination"},
    9: {"schema"},
}


def _dirty_lines() -> list[str]:
    good = _row(
        "good-1",
        "I was charged twice for the annual plan this month, can you check my last invoice?",
        _out("billing", "medium", "charged twice for annual plan"),
    )
    return [
        good,  # 1 good
        good.replace('"good-1"', '"copy-of-1"'),  # 2 exact duplicate of line 1 (new id)
        _row("long-1", LONG_TICKET, _out("technical", "high", "scanner app freezes during export")),  # 3 good
        _row(
            "long-2",
            LONG_TICKET.replace("nightly", "weekly"),  # 4 near-duplicate of line 3 (one word)
            _out("technical", "high", "scanner app freezes during export"),
        ),
        _row(
            "short-1",
            "Where do I find the setting that changes the language of the dashboard?",
            '{"category":"account"}',
        ),  # 5 short output (one whitespace token, valid JSON)
        _row(
            "badjson-1",
            "Please add a dark mode to the mobile app, my eyes hurt at night when reading reports.",
            "category: feature_request, priority: low, summary: dark mode for the mobile app",
        ),  # 6
        _row("leak-test", TEST_TEXT, _out("technical", "low", "copied from the test split")),  # 7 test item
        _row("leak-dev", "Hi team, " + DEV_TEXT, _out("technical", "low", "copied from the dev split")),  # 8
        '{"id": "broken", "messages": [',  # 9 schema error (bad JSON line)
        _row(
            "good-2",
            "My parcel with the garden chairs was marked as delivered but nothing arrived at my door.",
            _out("shipping", "high", "parcel marked delivered but missing"),
        ),  # 10 good
    ]


@pytest.fixture
def dirty(tmp_path: Path) -> Path:
    p = tmp_path / "train.jsonl"
    p.write_text("\n".join(_dirty_lines()) + "\n", encoding="utf-8")
    return p


@pytest.fixture
def ws(tmp_path: Path) -> list[str]:
    return ["--workspace", str(tmp_path / "ws")]


@pytest.fixture(scope="module")
def tt() -> Any:
    return load_suite("ticket-triage")


def _by_line(report: Any) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for f in report.findings:
        out.setdefault(f.line, set()).add(f.kind)
    return out


def _ids(path: Path) -> list[str]:
    return [json.loads(ln)["id"] for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


# ------------------------------------------------------------------------------------------------ library


def test_every_planted_problem_found_on_its_line(dirty: Path, tt: Any) -> None:
    report = check_dataset(dirty, [tt])
    assert _by_line(report) == EXPECTED
    assert report.n_rows == 10 and report.n_removed == 7 and report.n_kept == 3
    assert report.json_checked and report.contamination_checked
    assert report.counts == {
        "schema": 1,
        "duplicate": 1,
        "near_duplicate": 1,
        "short_output": 1,
        "invalid_json": 1,
        "contamination": 2,
    }
    f = {x.line: x for x in report.findings}
    assert f[2].data["other_line"] == 1 and "line 1" in f[2].detail
    assert f[4].data["other_line"] == 3 and f[4].data["similarity"] >= 0.8
    assert f[7].data | {"split": "test", "eval_id": TEST_ID, "exact": True} == f[7].data
    assert f[8].data["split"] == "dev" and f[8].data["eval_id"] == DEV_ID and f[8].data["exact"] is False
    assert f[8].data["coverage"] == 1.0 and f[8].data["ngram"] in " ".join(words(DEV_TEXT))
    assert "ticket-triage/dev" in f[8].detail and DEV_ID in f[8].detail
    assert "bad JSON" in f[9].detail
    assert report.suites[0].ref == tt.ref and report.suites[0].splits == {"dev": 100, "test": 150}


def test_text_report_names_file_and_line(dirty: Path, tt: Any) -> None:
    text = render_hygiene(check_dataset(dirty, [tt]))
    assert f"{dirty}:4: near_duplicate: Jaccard" in text
    assert f"{dirty}:7: contamination: input is identical to ticket-triage/test {TEST_ID}" in text
    for kind in KINDS:
        assert kind in text


def test_write_clean_files(dirty: Path, tt: Any, tmp_path: Path) -> None:
    report = check_dataset(dirty, [tt])
    written = write_clean(report, report.samples, tmp_path / "out" / "clean.jsonl")
    assert _ids(written["clean"]) == ["good-1", "long-1", "good-2"]
    removed = [json.loads(ln) for ln in written["removed"].read_text().splitlines()]
    assert {r["line"]: set(r["kinds"]) for r in removed} == EXPECTED
    assert all(r["reasons"] and r["reasons"][0].startswith(r["kinds"][0]) for r in removed)
    assert json.loads(written["report"].read_text())["data_hash"] == report.data_hash
    assert not list((tmp_path / "out").glob("*.tmp"))  # atomic writes leave no temp files


def test_remove_only_some_kinds(dirty: Path, tt: Any, tmp_path: Path) -> None:
    report = check_dataset(dirty, [tt], HygieneConfig(remove=("duplicate", "contamination")))
    assert _by_line(report) == EXPECTED  # still reported
    written = write_clean(report, report.samples, tmp_path / "clean.jsonl")
    # schema rows always go; short output, invalid JSON and the near-duplicate stay
    assert _ids(written["clean"]) == ["good-1", "long-1", "long-2", "short-1", "badjson-1", "good-2"]


def test_no_suites_skips_contamination_and_json(dirty: Path) -> None:
    report = check_dataset(dirty, [])
    assert not report.contamination_checked and not report.json_checked
    assert {k for ks in _by_line(report).values() for k in ks} == {
        "duplicate",
        "near_duplicate",
        "short_output",
        "schema",
    }
    assert check_dataset(dirty, [], HygieneConfig(check_json=True)).counts["invalid_json"] == 1


def test_strict_contamination_rule_is_available(tt: Any) -> None:
    """coverage 0 = 'any shared 8-gram' flags most of the templated built-in train split."""
    report = check_dataset(TT_DATA / "train.jsonl", [tt], HygieneConfig(contamination_min_coverage=0.0))
    assert report.counts["contamination"] > 300


def test_builtin_train_split_has_no_copied_eval_items(tt: Any) -> None:
    """The built-in train split is clean: no problem of any kind, and no contamination against its
    own dev/test items. (Version 1.0.0 of the suite had three train rows that were near-copies of
    test items; this check found them and the generator now redraws such items.) Stock phrases
    recur across splits by design, so the strict any-shared-8-gram rule still flags most rows; see
    test_strict_contamination_rule_is_available."""
    report = check_dataset(TT_DATA / "train.jsonl", [tt])
    assert report.n_rows == 400
    assert report.counts == dict.fromkeys(
        ("schema", "duplicate", "near_duplicate", "short_output", "invalid_json", "contamination"), 0
    )
    assert report.n_kept == 400


def test_holdout_is_seeded_disjoint_and_unchecked(dirty: Path, tt: Any, tmp_path: Path) -> None:
    cfg = HygieneConfig(dev_fraction=0.3, seed=7)
    a, b = check_dataset(dirty, [tt], cfg), check_dataset(dirty, [tt], cfg)
    assert a.holdout is not None and b.holdout is not None
    assert a.holdout.lines == b.holdout.lines and a.holdout.n == round(0.3 * 9)  # 9 rows parse
    others = {
        tuple(check_dataset(dirty, [tt], HygieneConfig(dev_fraction=0.3, seed=s)).holdout.lines)  # type: ignore[union-attr]
        for s in range(8)
    }
    assert len(others) > 1  # the seed matters
    held = set(a.holdout.lines)
    assert not held & {f.line for f in a.findings}  # cleaning never looks at held-out rows
    assert a.n_checked == a.n_rows - a.n_holdout and a.n_kept == a.n_checked - a.n_removed
    written = write_clean(a, a.samples, tmp_path / "clean.jsonl")
    dev_ids, clean_ids = _ids(written["dev"]), _ids(written["clean"])
    assert dev_ids == a.holdout.ids and len(dev_ids) == 3
    assert not set(dev_ids) & set(clean_ids)
    assert written["dev"] == output_paths(tmp_path / "clean.jsonl")["dev"] == tmp_path / "clean.dev.jsonl"


def test_near_duplicate_pairs_match_brute_force() -> None:
    rng = random.Random(3)
    vocab = [f"w{i}" for i in range(12)]
    texts = [[rng.choice(vocab) for _ in range(rng.randint(0, 9))] for _ in range(150)]
    sets = [shingles(t, 2) for t in texts]
    for t in (0.5, 0.8, 1.0):
        got = {(i, j) for j, pairs in near_duplicate_pairs(sets, t) for i, _ in pairs}
        want = {
            (i, j) for i, j in itertools.combinations(range(len(sets)), 2) if jaccard(sets[i], sets[j]) >= t
        }
        assert got == want


def test_ten_thousand_rows(tmp_path: Path) -> None:
    rng = random.Random(0)
    vocab = [f"tok{i}" for i in range(3000)]
    rows = [[rng.choice(vocab) for _ in range(rng.randint(40, 60))] for _ in range(10_000)]
    sources = rng.sample(range(0, 4000), 50)
    targets = rng.sample(range(5000, 10_000), 50)
    for src, dst in zip(sources[:25], targets[:25], strict=True):  # exact copies of an earlier row
        rows[dst] = list(rows[src])
    for k, (src, dst) in enumerate(zip(sources[25:], targets[25:], strict=True)):  # one word changed
        rows[dst] = rows[src][:-1] + [f"changed{k}"]  # 3 of >= 41 shingles change: Jaccard >= 0.86
    planted_dup = {dst + 1 for dst in targets[:25]}
    planted_near = {dst + 1 for dst in targets[25:]}
    p = tmp_path / "big.jsonl"
    p.write_text("".join(_row(f"r{i}", " ".join(ws), "some answer text") + "\n" for i, ws in enumerate(rows)))
    t0 = time.perf_counter()
    report = check_dataset(p, [])
    elapsed = time.perf_counter() - t0
    print(f"\n10,000 rows checked in {elapsed:.2f}s")
    by_kind: dict[str, set[int]] = {}
    for f in report.findings:
        by_kind.setdefault(f.kind, set()).add(f.line)  # type: ignore[arg-type]
    assert planted_dup <= by_kind["duplicate"]
    assert planted_near <= by_kind["near_duplicate"]
    assert report.n_rows == 10_000  # its time is benchmark row 4, not an assertion


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_dirty_file_exits_1_and_stores_a_record(dirty: Path, ws: list[str], capsys: Any) -> None:
    assert main([*ws, "data", "check", str(dirty), "--against", "ticket-triage"]) == 1
    out = capsys.readouterr().out
    assert f"{dirty}:2: duplicate: same input and output as line 1" in out
    report = check_dataset(dirty, [load_suite("ticket-triage")])
    recs = Store(workspace=ws[1]).get_records("hygiene", ref=report.data_hash)
    assert len(recs) == 1 and recs[0]["id"].startswith("hyg-")
    body = recs[0]["body"]
    assert (
        body["n_rows"] == 10
        and body["counts"]["contamination"] == 2
        and body["suites"][0]["name"] == "ticket-triage"
    )


def test_cli_write_clean_then_validate_and_recheck(
    dirty: Path, ws: list[str], tmp_path: Path, capsys: Any
) -> None:
    out = tmp_path / "clean.jsonl"
    assert (
        main([*ws, "data", "check", str(dirty), "--against", "ticket-triage", "--write-clean", str(out)]) == 0
    )
    assert _ids(out) == ["good-1", "long-1", "good-2"]
    removed = [json.loads(ln) for ln in (tmp_path / "clean.removed.jsonl").read_text().splitlines()]
    assert [r["line"] for r in removed] == sorted(EXPECTED) and all(r["reasons"] for r in removed)
    assert (tmp_path / "clean.report.json").exists()
    assert main(["data", "validate", str(out)]) == 0
    capsys.readouterr()
    assert main([*ws, "data", "check", str(out), "--against", "ticket-triage"]) == 0  # clean now
    assert "clean; a clean file keeps 3 of 3" in capsys.readouterr().out


def test_cli_options_map_to_config(dirty: Path, ws: list[str], tmp_path: Path, capsys: Any) -> None:
    rc = main(
        [
            *ws,
            "data",
            "check",
            str(dirty),
            "--against",
            "ticket-triage",
            "--near-dup-threshold",
            "0.99",
            "--shingle-n",
            "2",
            "--min-output-tokens",
            "0",
            "--contamination-n",
            "6",
            "--contamination-min-overlap",
            "2",
            "--contamination-min-coverage",
            "0.9",
            "--no-mask-numbers",
            "--contamination-short-words",
            "30",
            "--contamination-short-similarity",
            "0.95",
            "--dev-fraction",
            "0.2",
            "--seed",
            "5",
            "--no-check-json",
            "--remove",
            "schema",
            "duplicate",
            "--format",
            "json",
            "--no-store",
        ]
    )
    assert rc == 1
    body = json.loads(capsys.readouterr().out)
    assert body["config"] == {
        "near_dup_threshold": 0.99,
        "shingle_n": 2,
        "min_output_tokens": 0,
        "contamination_n": 6,
        "contamination_min_overlap": 2,
        "contamination_min_coverage": 0.9,
        "mask_numbers": False,
        "contamination_short_words": 30,
        "contamination_short_similarity": 0.95,
        "dev_fraction": 0.2,
        "seed": 5,
        "check_json": False,
        "remove": ["schema", "duplicate"],
    }
    assert body["record_id"] is None and body["holdout"]["n"] == 2
    kinds = {f["kind"] for f in body["findings"]}
    assert "short_output" not in kinds and "invalid_json" not in kinds


def test_cli_usage_errors_exit_2(dirty: Path, ws: list[str], tmp_path: Path, capsys: Any) -> None:
    assert main([*ws, "data", "check", str(tmp_path / "missing.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main([*ws, "data", "check", str(dirty), "--against", "no-such-suite"]) == 2
    assert "unknown suite" in capsys.readouterr().err
    assert main([*ws, "data", "check", str(dirty), "--write-clean", str(tmp_path / "x.csv")]) == 2
    with pytest.raises(SystemExit) as e:
        main([*ws, "data", "check", str(dirty), "--near-dup-threshold", "2"])
    assert e.value.code == 2


def test_cli_without_against_prints_note(dirty: Path, ws: list[str], capsys: Any) -> None:
    assert main([*ws, "data", "check", str(dirty)]) == 1
    captured = capsys.readouterr()
    assert "contamination with eval data is not checked" in captured.err
    assert "contamination not checked" in captured.out
