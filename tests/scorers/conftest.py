"""Shared helpers for scorer tests: build samples, completions and contexts in one line."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

from harness.scorers import ScoreContext, build_scorer  # noqa: E402
from harness.scorers.base import BaseScorer  # noqa: E402
from harness.types import Completion, Message, Sample, Score, ScorerSpec  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


def make_sample(
    reference: str | None = None, target: Any = None, sid: str = "s1", prompt: str = "hi"
) -> Sample:
    if isinstance(target, dict) and reference is None:
        reference = json.dumps(target)
    return Sample(
        id=sid, messages=(Message(role="user", content=prompt),), reference=reference, target=target
    )


def run_scorer(
    scorer: BaseScorer,
    output: str,
    reference: str | None = None,
    *,
    target: Any = None,
    error: str | None = None,
    ctx: ScoreContext | None = None,
) -> list[Score]:
    comp = Completion(text=output, error=error)
    return scorer.score(make_sample(reference, target), comp, ctx or ScoreContext())


def one(scorer: BaseScorer, output: str, reference: str | None = None, **kw: Any) -> Score:
    scores = run_scorer(scorer, output, reference, **kw)
    assert len(scores) == 1
    assert scores[0].name == scorer.name
    return scores[0]


def build(type_: str, name: str = "m", **args: Any) -> BaseScorer:
    return build_scorer(ScorerSpec(name=name, type=type_, args=args))


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(name="make_sample")
def make_sample_fixture() -> Any:
    """make_sample(reference=None, target=None, sid="s1", prompt="hi") -> Sample"""
    return make_sample


@pytest.fixture(name="run_scorer")
def run_scorer_fixture() -> Any:
    """run_scorer(scorer, output, reference=None, *, target=None, error=None, ctx=None) -> list[Score]"""
    return run_scorer


@pytest.fixture(name="one")
def one_fixture() -> Any:
    """one(scorer, output, reference=None, **kw) -> the single Score, named like the scorer"""
    return one


@pytest.fixture(name="build")
def build_fixture() -> Any:
    """build(type, name="m", **args) -> scorer built through build_scorer (as a suite would)"""
    return build
