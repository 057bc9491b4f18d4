"""classification: per-sample verdicts and corpus macro precision/recall/F1."""

from __future__ import annotations

import json
import random

import pytest

from harness.scorers import ScoreContext
from harness.types import Completion

LABELS = ["billing", "shipping", "account", "bug", "feature"]


def reference_prf(golds, preds, labels):
    """Written from the definition, independently of the scorer: per-label counts over the labels seen
    as gold or prediction, precision/recall/F1 with 0 on a zero denominator, then unweighted means."""
    seen = [lab for lab in labels if lab in golds or lab in preds]
    precisions, recalls, f1s = [], [], []
    for lab in seen:
        tp = sum(1 for g, p in zip(golds, preds, strict=True) if g == lab and p == lab)
        fp = sum(1 for g, p in zip(golds, preds, strict=True) if g != lab and p == lab)
        fn = sum(1 for g, p in zip(golds, preds, strict=True) if g == lab and p != lab)
        prec = tp / (tp + fp) if (tp + fp) > 0 else 0.0
        rec = tp / (tp + fn) if (tp + fn) > 0 else 0.0
        f1 = (2 * prec * rec / (prec + rec)) if (prec + rec) > 0 else 0.0
        precisions.append(prec)
        recalls.append(rec)
        f1s.append(f1)
    k = len(seen)
    return {
        "accuracy": sum(g == p for g, p in zip(golds, preds, strict=True)) / len(golds),
        "macro_precision": sum(precisions) / k,
        "macro_recall": sum(recalls) / k,
        "macro_f1": sum(f1s) / k,
    }


def test_per_sample_verdicts(build, one):
    clf = build("classification", name="cat", labels=LABELS)
    s = one(clf, " Billing.\n", "billing")
    assert s.value is True and s.detail == ""
    assert s.data == {"pred": "billing", "gold": "billing"}
    s = one(clf, "shipping", "billing")
    assert s.value is False
    assert s.detail == "expected 'billing', got 'shipping'"
    assert s.data == {"pred": "shipping", "gold": "billing"}
    s = one(clf, "refund", "billing")
    assert s.value is False
    assert s.detail == f"invalid label 'refund': expected one of {LABELS}; gold 'billing'"
    assert s.data == {"pred": None, "gold": "billing"}


def test_field_mode(build, one):
    clf = build("classification", name="cat", labels=LABELS, field="category")
    ref = json.dumps({"category": "bug", "priority": "low"})
    assert one(clf, '```json\n{"category": "BUG"}\n```', ref).value is True
    s = one(clf, '{"category": "feature"}', ref)
    assert s.value is False and s.detail == "expected 'bug', got 'feature'"
    s = one(clf, '{"priority": "low"}', ref)
    assert s.value is False and s.detail == "missing field 'category' in output"
    assert s.data == {"pred": None, "gold": "bug"}
    s = one(clf, '{"category": 3}', ref)
    assert s.value is False and s.detail.startswith("invalid label 3")


def test_gold_outside_labels_is_flagged(build, one):
    s = one(build("classification", labels=["a", "b"]), "a", "c")
    assert s.value is False
    assert s.detail == "expected 'c', got 'a' (gold label 'c' is not in labels)"


def test_hand_computed_metrics(build, run_scorer):
    clf = build("classification", name="cat", labels=["a", "b", "c"])
    pairs = [("a", "a"), ("a", "b"), ("b", "b"), ("a", "zzz"), ("a", "a")]  # (gold, output)
    scores = [s for g, p in pairs for s in run_scorer(clf, p, g)]
    m = clf.metrics(scores)
    # a: tp 2, fp 0 (the invalid 'zzz' is no FP), fn 2 -> P 1, R 1/2, F1 2/3
    # b: tp 1, fp 1, fn 0 -> P 1/2, R 1, F1 2/3; c never seen -> excluded from the macro mean
    assert m["cat.accuracy"] == pytest.approx(3 / 5)
    assert m["cat.macro_precision"] == pytest.approx((1 + 0.5) / 2)
    assert m["cat.macro_recall"] == pytest.approx((0.5 + 1) / 2)
    assert m["cat.macro_f1"] == pytest.approx(2 / 3)
    assert set(m) == set(clf.metric_names())


@pytest.mark.parametrize("seed", range(25))
def test_macro_f1_matches_reference_implementation(seed, build, make_sample):
    rng = random.Random(seed)
    labels = LABELS[: rng.randint(2, len(LABELS))]
    invalid = ["refund", "other", "", "billing department"]
    n = rng.randint(1, 40)
    golds = [rng.choice(labels) for _ in range(n)]
    preds = [rng.choice(labels + invalid) if rng.random() < 0.8 else rng.choice(invalid) for _ in range(n)]
    clf = build("classification", name="c", labels=labels)
    scores = []
    for i, (g, p) in enumerate(zip(golds, preds, strict=True)):
        scores += clf.score(make_sample(g, sid=str(i)), Completion(text=p), ScoreContext())
    got = clf.metrics(scores)
    want = reference_prf(golds, preds, labels)
    for k, v in want.items():
        assert got[f"c.{k}"] == pytest.approx(v, abs=1e-12), k


def test_generation_errors_count_as_misses(build, make_sample):
    clf = build("classification", name="c", labels=["a", "b"])
    scores = clf.score(make_sample("a"), Completion(text="", error="oom"), ScoreContext())
    scores += clf.score(make_sample("a"), Completion(text="a"), ScoreContext())
    assert scores[0].data == {"pred": None, "gold": "a"}
    m = clf.metrics(scores)
    assert m["c.accuracy"] == 0.5
    assert m["c.macro_recall"] == 0.5
    assert m["c.macro_precision"] == 1.0


def test_metrics_of_nothing(build):
    assert build("classification", labels=["a"]).metrics([]) == {}
