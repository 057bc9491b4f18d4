"""evaluate: a local `evaluate` metric module, loaded offline."""

from __future__ import annotations

import json
import os

import pytest

from harness.errors import InputError
from harness.scorers import ScoreContext
from harness.types import Completion

pytest.importorskip("evaluate")


@pytest.fixture
def module_path(fixtures_dir):
    return str(fixtures_dir / "exact_ratio" / "exact_ratio.py")


def _score_all(scorer, pairs, make_sample, ctx=None):
    out = []
    for i, (pred, ref) in enumerate(pairs):
        out += scorer.score(make_sample(ref, sid=str(i)), Completion(text=pred), ctx or ScoreContext())
    return out


def test_offline_env():
    assert os.environ.get("HF_HUB_OFFLINE") == "1"


def test_local_module_per_sample_and_corpus(build, make_sample, module_path):
    scorer = build("evaluate", name="er", module=module_path)
    assert scorer.corpus_level
    scores = _score_all(scorer, [("a", "a"), ("b", "c"), ("d", "d"), ("e", "f")], make_sample)
    assert [s.value for s in scores] == [1.0, 0.0, 1.0, 0.0]
    assert scores[1].data == {"prediction": "b", "reference": "c"}
    assert all(s.name == "er" for s in scores)
    assert scorer.metrics(scores) == {"er": 0.5}
    assert scorer.metrics(scores[:1] + scores[:1] + scores[1:2]) == {"er": pytest.approx(2 / 3)}  # a resample
    assert scorer.metrics([]) == {}


def test_folder_path_relative_to_suite_key_and_compute_args(build, make_sample, fixtures_dir):
    ctx = ScoreContext(suite_root=fixtures_dir)
    scorer = build("evaluate", name="n", module="exact_ratio", key="n")
    scores = _score_all(scorer, [("a", "a"), ("b", "c")], make_sample, ctx)
    assert [s.value for s in scores] == [1.0, 1.0]
    assert scorer.metrics(scores) == {"n": 2.0}
    scorer = build("evaluate", name="ci", module="exact_ratio", compute_args={"ignore_case": True})
    scores = _score_all(scorer, [("A", "a"), ("b", "c")], make_sample, ctx)
    assert scorer.metrics(scores) == {"ci": 0.5}


def test_field(build, make_sample, module_path):
    scorer = build("evaluate", name="cat", module=module_path, field="category")
    ref = json.dumps({"category": "billing"})
    scores = _score_all(scorer, [('{"category": "billing"}', ref), ("no json", ref)], make_sample)
    assert scores[0].value == 1.0
    assert scores[1].value == 0.0
    assert scores[1].detail == "no JSON object found in output"
    assert scores[1].data == {"prediction": "", "reference": "billing"}
    assert scorer.metrics(scores) == {"cat": 0.5}


def test_generation_error(build, make_sample, module_path):
    scorer = build("evaluate", name="er", module=module_path)
    s = scorer.score(make_sample("a"), Completion(text="a", error="boom"), ScoreContext())
    assert s[0].value == 0.0 and s[0].detail == "generation error: boom"
    assert s[0].data == {"prediction": "", "reference": "a"}


def test_unknown_key(build, make_sample, module_path):
    scorer = build("evaluate", name="er", module=module_path, key="f1")
    with pytest.raises(InputError, match="key 'f1' not in the result"):
        _score_all(scorer, [("a", "a")], make_sample)


def test_hub_id_offline_says_to_pass_a_local_path(build, make_sample):
    scorer = build("evaluate", name="x", module="no_such_metric_tunebench")
    with pytest.raises(InputError) as e:
        _score_all(scorer, [("a", "a")], make_sample)
    assert "cannot load evaluate module 'no_such_metric_tunebench'" in str(e.value)
    assert "local path" in (e.value.hint or "")
