"""Every built-in scorer declares, per metric it emits, its direction, kind, range and failure value;
a suite's `higher_is_better` overrides the direction; sample-side Nones are marked not applicable."""

from __future__ import annotations

from typing import Any

import pytest

from harness.scorers import ScoreContext, build_scorer, scorer_registry
from harness.types import Completion, Message, MetricInfo, Sample, ScorerSpec

JUDGE = "openai:judge-model@http://127.0.0.1:9/v1"
BOOL = MetricInfo(higher_is_better=True, kind="mean", low=0.0, high=1.0, failure_value=0.0)
RATE01 = MetricInfo(higher_is_better=True, kind="corpus", low=0.0, high=1.0, failure_value=None)
PERPLEXITY = MetricInfo(higher_is_better=False, kind="corpus", low=1.0, high=None, failure_value=None)

# type -> (args, {metric name: expected info}); metric names are for a scorer named "m"
EXPECTED: dict[str, tuple[dict[str, Any], dict[str, MetricInfo]]] = {
    "exact_match": ({}, {"m": BOOL}),
    "normalized_match": ({}, {"m": BOOL}),
    "regex": ({"pattern": "x"}, {"m": BOOL}),
    "json_valid": ({}, {"m": BOOL}),
    "json_schema": ({"schema": {"type": "object"}}, {"m": BOOL}),
    "json_field_match": ({"field": "a"}, {"m": BOOL}),
    "required_sections": ({"sections": ["## A"]}, {"m": BOOL}),
    "length": ({"max_words": 3}, {"m": BOOL}),
    "instruction_check": ({}, {"m": BOOL, "m.one_word": BOOL}),
    "rouge": ({"rouge_types": ["rouge1", "rougeL"]}, {"m.rouge1": BOOL, "m.rougeL": BOOL}),
    "mc_accuracy": ({"group_by": "category"}, {"m.acc": BOOL, "m.acc_norm": BOOL, "m.acc.geo": BOOL}),
    "classification": (
        {"labels": ["a", "b"]},
        {f"m.{k}": RATE01 for k in ("accuracy", "macro_precision", "macro_recall", "macro_f1")},
    ),
    "perplexity": ({}, {"m": PERPLEXITY}),
    "ppl": (
        {},
        {
            "m": PERPLEXITY,
            "m.word_perplexity": PERPLEXITY,
            "m.bits_per_byte": MetricInfo(higher_is_better=False, kind="corpus", low=0.0),
        },
    ),
    "evaluate": ({"module": "some_metric.py"}, {"m": MetricInfo(higher_is_better=True, kind="corpus")}),
    "judge_rubric": (
        {"judge": JUDGE, "criteria": ["accuracy", "tone"], "scale": "1-5"},
        {
            "m.accuracy": MetricInfo(higher_is_better=True, low=1.0, high=5.0, failure_value=1.0),
            "m.tone": MetricInfo(higher_is_better=True, low=1.0, high=5.0, failure_value=1.0),
            "m.overall": MetricInfo(higher_is_better=True, low=1.0, high=5.0, failure_value=1.0),
            "m.errors": MetricInfo(higher_is_better=False, low=0.0, high=1.0, failure_value=1.0),
        },
    ),
}


def build(type_: str, higher_is_better: bool | None = None, **args: Any) -> Any:
    return build_scorer(ScorerSpec(name="m", type=type_, args=args, higher_is_better=higher_is_better))


def test_every_registered_scorer_is_covered() -> None:
    assert set(EXPECTED) == set(scorer_registry.names())


@pytest.mark.parametrize("type_", sorted(EXPECTED))
def test_declared_semantics(type_: str) -> None:
    args, expected = EXPECTED[type_]
    sc = build(type_, **args)
    for name, info in expected.items():
        assert sc.info_for(name) == info, name
    # metric_info covers exactly the names the scorer says it reports
    assert set(sc.metric_info()) == set(sc.metric_names())
    for name in sc.metric_names():
        assert sc.metric_info()[name] == sc.info_for(name)


@pytest.mark.parametrize("type_", sorted(EXPECTED))
@pytest.mark.parametrize("override", [True, False])
def test_suite_override_sets_every_metric(type_: str, override: bool) -> None:
    args, expected = EXPECTED[type_]
    sc = build(type_, higher_is_better=override, **args)
    for name, declared in expected.items():
        info = sc.info_for(name)
        assert info.higher_is_better is override, name
        assert (info.kind, info.low, info.high) == (declared.kind, declared.low, declared.high)
        if info.kind == "mean" and (info.low, info.high) != (None, None):
            # the failure value sits at the bad end of the range in the overridden direction
            assert info.failure_value == (info.low if override else info.high)
        else:
            assert info.failure_value is None


def test_lower_is_better_regex_counts_a_generation_error_as_flagged() -> None:
    """A regex that flags bad outputs (higher_is_better: false): an errored sample must land on
    the bad end (True = flagged), never on the good one."""
    sample = Sample(id="s", messages=(Message(role="user", content="q"),), reference="r")
    err = Completion(text="", error="timeout")
    flags = build("regex", higher_is_better=False, pattern="ERROR")
    (s,) = flags.score(sample, err, ScoreContext())
    assert s.value is True and "timeout" in s.detail
    plain = build("regex", pattern="ERROR")
    assert plain.score(sample, err, ScoreContext())[0].value is False  # default direction: unchanged


def test_sample_side_nones_are_not_applicable_model_side_are_not() -> None:
    no_ref = Sample(id="s", messages=(Message(role="user", content="q"),))
    ok = Completion(text="x")
    for type_, args in (("exact_match", {}), ("rouge", {"rouge_types": ["rouge1"]}), ("perplexity", {})):
        for s in build(type_, **args).score(no_ref, ok, ScoreContext()):
            assert s.value is None and s.not_applicable, type_
    ppl_sample = Sample(
        id="p", messages=(Message(role="user", content="q"),), reference="r", metadata={"task": "ppl"}
    )
    (s,) = build("ppl").score(ppl_sample, Completion(text="", error="no loglikelihood"), ScoreContext())
    assert s.value is None and not s.not_applicable  # the model's side: missing, fails closed
    gen = Sample(id="g", messages=(Message(role="user", content="q"),), reference="r")
    for s in build("mc_accuracy").score(gen, ok, ScoreContext()):
        assert s.not_applicable


def test_suite_override_must_be_a_bool() -> None:
    with pytest.raises(ValueError, match="valid boolean"):
        ScorerSpec(name="m", type="regex", higher_is_better="no")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="valid boolean"):
        ScorerSpec(name="m", type="regex", higher_is_better=0)  # type: ignore[arg-type]
    # left out, it does not appear in the serialized spec (suite hashes of older suites unchanged)
    assert "higher_is_better" not in ScorerSpec(name="m", type="regex").model_dump()
    assert (
        ScorerSpec(name="m", type="regex", higher_is_better=False).model_dump()["higher_is_better"] is False
    )
