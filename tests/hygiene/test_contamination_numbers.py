"""Contamination that differs by a number (issue 13, point 4): train rows that copy an eval item
up to an age, a date or an order number are flagged, so are near-copies of short items; short items
that only share boilerplate are not."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import pytest

from harness.hygiene import (
    HygieneConfig,
    NearDupIndex,
    bag,
    check_dataset,
    jaccard,
    mask_numbers,
    masked_words,
    sequence_similarity,
)
from harness.hygiene.similarity import _EvalIndex
from harness.suite import load_suite
from harness.types import Message, Sample

DICTATION = (
    "Patient is a {age}-year-old man seen today for chest pain that started two days ago while "
    "climbing stairs. He denies shortness of breath or sweating. Blood pressure {bp}. Plan: ECG, "
    "troponin, aspirin, and follow-up in cardiology clinic next week."
)
# eval (test/dev) items: id -> text
EVAL = {
    "dict-1": DICTATION.format(age=64, bp="142/88"),
    "dict-2": "Dictation for a sixty-four year old woman with a cough for three weeks, worse at night. "
    "No fever. Lungs clear. Chest X-ray ordered; return in 2 weeks if not better.",
    "dict-3": "Seen on 03/14/2024: 7-year-old boy with a sore throat and fever of 38.9 since Monday. "
    "Rapid strep positive. Amoxicillin for 10 days.",
    "dict-4": "Follow-up visit, patient aged 81, after a hip replacement on 2024-02-02. Walking with a "
    "frame, wound healing well, pain 3 out of 10. Continue physiotherapy twice a week.",
    "tick-1": "Order 48213 arrived with a cracked screen on March 3rd, please send a replacement unit "
    "to the same address.",
    "tick-2": "Reset the password for user 4411 please",
    "tick-3": "I was charged $49.99 twice on 12/01 for the Pro plan, please refund one of the charges.",
}
# train rows that copy an eval item up to numbers (or one word as well): id -> (text, eval id)
COPIES = {
    "c-age": (DICTATION.format(age=58, bp="142/88"), "dict-1"),
    "c-age-bp": (DICTATION.format(age=71, bp="128/80"), "dict-1"),
    "c-age-words": (EVAL["dict-2"].replace("sixty-four", "seventy-one"), "dict-2"),
    "c-age-digits": (EVAL["dict-2"].replace("sixty-four", "72"), "dict-2"),
    "c-date": (EVAL["dict-3"].replace("03/14/2024", "04/02/2024").replace("7-year", "9-year"), "dict-3"),
    "c-age-date": (EVAL["dict-4"].replace("81", "79").replace("2024-02-02", "2023-11-30"), "dict-4"),
    "c-order": (EVAL["tick-1"].replace("48213", "55190").replace("3rd", "9th"), "tick-1"),
    "c-order-word": (EVAL["tick-1"].replace("48213", "55190").replace("cracked", "broken"), "tick-1"),
    "c-tiny": (EVAL["tick-2"].replace("4411", "9876"), "tick-2"),
    "c-greeting": ("Hi team, " + EVAL["tick-3"].replace("49.99", "59.99"), "tick-3"),
}
# train rows that share boilerplate with an eval item but are about something else
DIFFERENT = {
    "d-rash": "Patient is a 45-year-old woman seen today for a rash on both forearms that started a week "
    "ago. She denies fever or joint pain. Plan: topical steroid cream, and follow-up in dermatology "
    "clinic next week.",
    "d-knee": "Patient is a 64-year-old man seen today for knee pain that started two weeks ago after "
    "a fall. He denies locking or giving way. Plan: X-ray, ibuprofen, and follow-up in orthopedic "
    "clinic next month.",
    "d-cough": "Dictation for a sixty-four year old man with a sprained ankle for three days. No "
    "swelling. Walking fine. Ankle brace given; return in 2 weeks if not better.",
    "d-order": "Order 48213 arrived two days late and the box was open, please refund the shipping fee.",
    "d-tick": "Reset the billing address for my account please",
    "d-charge": "I was charged $49.99 for the Pro plan but I wanted the Basic plan, please switch it.",
}


def _row(rid: str, text: str) -> dict[str, Any]:
    return {
        "id": rid,
        "messages": [
            {"role": "user", "content": text},
            {"role": "assistant", "content": "a short note here"},
        ],
    }


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def suite(tmp_path: Path, make_suite: Any, suite_yaml: str) -> Any:
    root = make_suite(tmp_path / "notes", yaml_text=suite_yaml.replace("name: tiny-suite", "name: notes"))
    items = [_row(k, v) for k, v in EVAL.items()]
    _write(root / "data" / "test.jsonl", items[:4])
    _write(root / "data" / "dev.jsonl", items[4:])
    return load_suite(str(root))


@pytest.fixture
def train(tmp_path: Path) -> Path:
    rows = [_row(k, t) for k, (t, _) in COPIES.items()] + [_row(k, t) for k, t in DIFFERENT.items()]
    return _write(tmp_path / "train.jsonl", rows)


def _flagged(report: Any) -> dict[str, dict[str, Any]]:
    return {f.sample_id: f.data for f in report.findings if f.kind == "contamination"}


def test_every_near_copy_is_flagged_and_no_boilerplate_sibling(suite: Any, train: Path) -> None:
    flagged = _flagged(check_dataset(train, [suite]))
    assert {k: v["eval_id"] for k, v in flagged.items()} == {k: e for k, (_, e) in COPIES.items()}
    assert not set(flagged) & set(DIFFERENT)
    assert flagged["c-age"]["rule"] == flagged["c-tiny"]["rule"] == "numbers"  # identical but numbers
    assert flagged["c-greeting"]["rule"] == "ngram" and flagged["c-greeting"]["coverage"] == 1.0
    assert flagged["c-order-word"]["rule"] == "short" and flagged["c-order-word"]["similarity"] >= 0.85


def test_the_old_rules_missed_some(suite: Any, train: Path) -> None:
    """Without masking and the short-item rule (the rules before issue 13) copies slip through."""
    old = HygieneConfig(mask_numbers=False, contamination_short_words=0)
    missed = set(COPIES) - set(_flagged(check_dataset(train, [suite], old)))
    # the age near the start of a dictation left 88% of its 8-grams; a second number, or a number
    # in a short item, costs too many of them
    assert missed == {"c-age-bp", "c-age-date", "c-order", "c-order-word", "c-tiny", "c-greeting"}
    # masking alone catches the number-only copies; the short rule adds the changed word
    masked_only = _flagged(check_dataset(train, [suite], HygieneConfig(contamination_short_words=0)))
    assert set(COPIES) - set(masked_only) == {"c-order-word"}


def test_details_say_what_matched(suite: Any, train: Path) -> None:
    by_id = {f.sample_id: f.detail for f in check_dataset(train, [suite]).findings}
    assert by_id["c-age"].startswith("input is identical to notes/test dict-1 except for its numbers")
    assert "near-copy of notes/dev tick-1: word-sequence similarity" in by_id["c-order-word"]
    assert "numbers masked" in by_id["c-greeting"]


def test_negatives_stay_below_the_thresholds() -> None:
    """The boilerplate siblings are not borderline: well under both cutoffs."""
    pairs = [("d-rash", "dict-1"), ("d-knee", "dict-1"), ("d-cough", "dict-2"), ("d-order", "tick-1")]
    pairs += [("d-tick", "tick-2"), ("d-charge", "tick-3")]
    for d, e in pairs:
        sim = sequence_similarity(masked_words(DIFFERENT[d]), masked_words(EVAL[e]))
        assert sim < 0.8, (d, e, sim)


def test_mask_numbers() -> None:
    same = [
        "a 64-year-old man",
        "a sixty-four-year-old man",
        "a 58 year old man",
        "a fifty eight year old man",
    ]
    assert len({" ".join(masked_words(t)).replace("yearold", "year old") for t in same}) == 1
    assert masked_words("on 03/14/2024, 2024-03-14 at 10:30") == ["on", "0", "0", "at", "0"]
    assert masked_words("one hundred and five dollars, $1,200.50, the 21st") == [
        "0",
        "dollars",
        "0",
        "the",
        "0",
    ]
    assert masked_words("someone often listens to tens") == ["someone", "often", "listens", "to", "tens"]
    assert mask_numbers("Order 48213").split() == ["order", "0"]
    assert masked_words("SKU A1234, an mp3 of covid19 news") == [
        "sku",
        "a1234",
        "an",
        "mp3",
        "of",
        "covid19",
        "news",
    ]


def test_prefix_filter_query_set_matches_brute_force() -> None:
    rng = random.Random(5)
    vocab = [f"w{i}" for i in range(10)]
    sets = [frozenset(rng.sample(vocab, rng.randint(1, 8))) for _ in range(80)]
    outside = [frozenset(rng.sample(vocab + ["new1", "new2"], rng.randint(1, 8))) for _ in range(80)]
    for t in (0.4, 0.7, 1.0):
        index = NearDupIndex(sets, t)
        for j in range(len(sets)):
            index.add(j)
        for s in outside:
            got = {i for i, _ in index.query_set(s)}
            assert got == {i for i, x in enumerate(sets) if jaccard(s, x) >= t}


def test_short_rule_finds_every_pair_over_the_threshold() -> None:
    """The bag-Jaccard candidate bound loses nothing: the rule flags exactly what comparing every
    row with every short item would."""
    rng = random.Random(11)
    vocab = ["the", "order", "screen", "please", "send", "a", "new", "unit", "to", "me"]
    texts = [[rng.choice(vocab) for _ in range(rng.randint(1, 12))] for _ in range(60)]
    cfg = HygieneConfig(contamination_n=50, contamination_short_similarity=0.7)  # n-gram rule off

    def sample(i: int, ws: list[str]) -> Sample:
        return Sample(id=f"s{i}", messages=[Message(role="user", content=" ".join(ws))])

    index = _EvalIndex(cfg)
    for i, ws in enumerate(texts[:30]):
        index.add("s", "test", sample(i, ws))
    for k, ws in enumerate(texts[30:]):
        want = {f"s{i}" for i, e in enumerate(texts[:30]) if sequence_similarity(ws, e) >= 0.7}
        hit = index.match(sample(100 + k, ws))
        assert (hit is not None) == bool(want)
        if hit is not None:
            assert hit.data["eval_id"] in want


def test_bag_counts_repeats() -> None:
    assert bag(["a", "b", "a"]) == frozenset({("a", 1), ("b", 1), ("a", 2)})


def test_ten_thousand_rows_against_a_thousand_short_items(tmp_path: Path, make_suite: Any) -> None:
    """The short-item rule stays fast: 10,000 rows against 1,000 short eval items (random words,
    so prefix filtering gets no help from rare words), with copies planted that differ in a number."""
    rng = random.Random(0)
    vocab = [f"tok{i}" for i in range(3000)]
    stock = [" ".join(rng.choice(vocab[:200]) for _ in range(8)) for _ in range(30)]

    def text() -> str:
        body = " ".join(rng.choice(vocab) for _ in range(rng.randint(10, 30)))
        return f"{body} {rng.choice(stock)} order {rng.randint(1000, 99999)}"

    items = [text() for _ in range(1000)]
    root = make_suite(tmp_path / "big")
    _write(root / "data" / "test.jsonl", [_row(f"e{i}", t) for i, t in enumerate(items)])
    rows = [text() for _ in range(10_000)]
    planted = {}
    for k, dst in enumerate(rng.sample(range(10_000), 40)):
        src = rng.randrange(1000)
        rows[dst] = items[src].rsplit(" ", 1)[0] + f" {k}"  # another order number
        planted[f"r{dst}"] = f"e{src}"
    train = _write(tmp_path / "train.jsonl", [_row(f"r{i}", t) for i, t in enumerate(rows)])
    t0 = time.perf_counter()
    report = check_dataset(train, [load_suite(str(root))], HygieneConfig(check_json=False))
    elapsed = time.perf_counter() - t0
    print(f"\n10,000 rows against 1,000 short items checked in {elapsed:.2f}s")
    assert {k: v["eval_id"] for k, v in _flagged(report).items()} == planted
