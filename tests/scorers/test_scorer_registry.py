"""Building scorers from suite specs: registration, unknown types and arguments."""

from __future__ import annotations

import pytest

from harness.errors import InputError
from harness.scorers import BaseScorer, build_scorer, scorer_registry
from harness.types import ScorerSpec

ALL_TYPES = {
    "exact_match",
    "normalized_match",
    "regex",
    "json_valid",
    "json_schema",
    "json_field_match",
    "classification",
    "required_sections",
    "length",
    "rouge",
    "perplexity",
    "evaluate",
}


def test_every_scorer_type_is_registered():
    assert ALL_TYPES <= set(scorer_registry.names())
    for t in ALL_TYPES:
        assert issubclass(scorer_registry.get(t), BaseScorer)


def test_unknown_type_suggests_the_close_one():
    with pytest.raises(InputError) as e:
        build_scorer(ScorerSpec(name="x", type="json_schem"))
    assert "did you mean 'json_schema'" in str(e.value)


def test_unknown_argument_is_named():
    with pytest.raises(InputError) as e:
        build_scorer(ScorerSpec(name="x", type="exact_match", args={"feild": "a"}))
    msg = str(e.value)
    assert "'feild'" in msg
    assert "did you mean 'field'" in msg


def test_missing_required_argument_is_named():
    with pytest.raises(InputError) as e:
        build_scorer(ScorerSpec(name="x", type="classification", args={}))
    assert "labels" in str(e.value)


@pytest.mark.parametrize(
    ("type_", "args", "fragment"),
    [
        ("regex", {"pattern": "("}, "invalid regex"),
        ("regex", {"pattern": "a", "flags": "iq"}, "unknown regex flag"),
        ("rouge", {"rouge_types": ["rougeX"]}, "unknown rouge type"),
        ("length", {"min_words": 5, "max_words": 2}, "min_words (5) > max_words (2)"),
        ("length", {}, "at least one"),
        ("classification", {"labels": []}, "non-empty"),
        ("classification", {"labels": ["a", "A"]}, "distinct"),
        ("json_schema", {"schema": {"type": "nope"}}, "not a valid JSON Schema"),
        ("required_sections", {"sections": "## Steps"}, "non-empty list"),
    ],
)
def test_bad_argument_values_are_input_errors(type_, args, fragment):
    with pytest.raises(InputError) as e:
        build_scorer(ScorerSpec(name="x", type=type_, args=args))
    assert fragment in str(e.value)
    assert "'x'" in str(e.value)


def test_metric_names():
    rouge = build_scorer(
        ScorerSpec(name="summary_rouge", type="rouge", args={"rouge_types": ["rouge1", "rougeL"]})
    )
    assert rouge.metric_names() == ["summary_rouge.rouge1", "summary_rouge.rougeL"]
    clf = build_scorer(ScorerSpec(name="cat", type="classification", args={"labels": ["a", "b"]}))
    assert clf.metric_names() == ["cat.accuracy", "cat.macro_precision", "cat.macro_recall", "cat.macro_f1"]
    assert build_scorer(ScorerSpec(name="em", type="exact_match")).metric_names() == ["em"]


@pytest.mark.parametrize(
    ("type_", "args"),
    [
        ("exact_match", {}),
        ("normalized_match", {}),
        ("regex", {"pattern": "x"}),
        ("json_valid", {}),
        ("json_schema", {"schema": {"type": "object"}}),
        ("json_field_match", {"field": "a"}),
        ("classification", {"labels": ["a", "b"]}),
        ("required_sections", {"sections": ["## A"]}),
        ("length", {"max_words": 3}),
    ],
)
def test_generation_error_fails_every_scorer(type_, args, build, run_scorer):
    scorer = build(type_, **args)
    scores = run_scorer(scorer, "", '{"a": "a"}', error="timeout after 30s")
    assert scores
    for s in scores:
        assert s.value is False or s.value == 0
        assert s.detail == "generation error: timeout after 30s"


def test_generation_error_rouge_is_zero(build, run_scorer):
    scores = run_scorer(build("rouge", name="r"), "", "some reference", error="boom")
    assert [s.name for s in scores] == ["r.rouge1", "r.rouge2", "r.rougeL", "r.rougeLsum"]
    assert all(s.value == 0.0 and s.detail == "generation error: boom" for s in scores)
