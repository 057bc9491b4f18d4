"""required_sections, length, rouge."""

from __future__ import annotations

import json

import pytest
from rouge_score import rouge_scorer

from harness.scorers.text import headings, split_sentences

REPORT = """# Incident report

## Summary
The API was down.

### steps:
1. Restart
2. Verify

#### Root Cause ####
Disk full.
"""


def test_headings():
    assert headings(REPORT) == [(1, "incident report"), (2, "summary"), (3, "steps"), (4, "root cause")]
    assert headings("text ## not a heading\n    ## indented code\n#NoSpace") == []


def test_required_sections_pass(build, one):
    rs = build("required_sections", name="sections", sections=["## Summary", "## Steps", "Root cause"])
    s = one(rs, REPORT)
    assert s.value is True and s.detail == ""
    assert s.data == {"fraction": 1.0, "missing": []}


def test_required_sections_missing(build, one):
    rs = build("required_sections", sections=["## Summary", "## Steps", "## Risks", "## Rollback"])
    s = one(rs, REPORT)
    assert s.value is False
    assert s.detail == "missing required sections '## Risks', '## Rollback'"
    assert s.data["fraction"] == pytest.approx(0.5)
    s = one(build("required_sections", sections=["## Risks"]), REPORT)
    assert s.detail == "missing required section '## Risks'"
    assert s.data["fraction"] == 0.0


def test_required_sections_exact_level(build, one):
    rs = build("required_sections", sections=["## Summary", "## Steps"], any_level=False)
    s = one(rs, REPORT)
    assert s.value is False and s.detail == "missing required section '## Steps'"


def test_required_sections_must_be_headings(build, one):
    rs = build("required_sections", sections=["## Summary"])
    s = one(rs, "The summary: ## Summary is inline here")
    assert s.value is False and s.detail == "missing required section '## Summary'"


NOTE = "## Chief Complaint\nChest pain.\n## History of Present Illness\nTwo days.\n## Assessment\nStable.\n"
LOOPING = NOTE + "## Assessment\nStable.\n" * 4
SECTIONS = ["## Chief Complaint", "## History of Present Illness", "## Assessment"]


def test_required_sections_presence_passes_a_looping_note(build, one):
    # the default only checks presence: the issue-13 output that repeats its last section passes
    assert one(build("required_sections", sections=SECTIONS), LOOPING).value is True


def test_required_sections_exactly_once(build, one):
    rs = build("required_sections", sections=SECTIONS, exactly_once=True)
    s = one(rs, NOTE)
    assert s.value is True and s.data == {"fraction": 1.0, "missing": [], "repeated": {}}
    s = one(rs, LOOPING)
    assert s.value is False
    assert s.detail == "'## Assessment' appears 5 times"
    assert s.data["repeated"] == {"## Assessment": 5} and s.data["fraction"] == pytest.approx(2 / 3)
    s = one(rs, "## Chief Complaint\nx\n## Chief Complaint\ny")
    assert s.detail == (
        "missing required sections '## History of Present Illness', '## Assessment'; "
        "'## Chief Complaint' appears 2 times"
    )
    assert s.data["fraction"] == 0.0


def test_required_sections_in_order(build, one):
    rs = build("required_sections", sections=SECTIONS, in_order=True)
    assert one(rs, NOTE).value is True
    assert one(rs, LOOPING).value is True  # first appearances are in order; repeats are exactly_once's job
    swapped = "## Assessment\nStable.\n## Chief Complaint\nPain.\n## History of Present Illness\nx\n"
    s = one(rs, swapped)
    assert s.value is False and s.data["out_of_order"] is True and s.data["fraction"] == 1.0
    assert s.detail == (
        "sections out of order: '## Assessment', '## Chief Complaint', '## History of Present Illness'"
    )
    # a missing section does not also count as out of order
    s = one(rs, "## Chief Complaint\nx\n## Assessment\ny\n")
    assert s.data["out_of_order"] is False and s.detail.startswith("missing required section")
    both = build("required_sections", sections=SECTIONS, exactly_once=True, in_order=True)
    assert one(both, NOTE).value is True and one(both, LOOPING).value is False


def test_required_sections_options_are_booleans(build):
    from harness.errors import InputError

    with pytest.raises(InputError, match="exactly_once must be true or false"):
        build("required_sections", sections=SECTIONS, exactly_once="yes")


def test_length(build, one):
    ln = build("length", name="len", min_words=3, max_words=5)
    s = one(ln, " one two three ")
    assert s.value is True and s.detail == "" and s.data == {"words": 3, "chars": 13}
    s = one(ln, "one two")
    assert s.value is False and s.detail == "too short: 2 words < min_words 3"
    s = one(ln, "a b c d e f")
    assert s.value is False and s.detail == "too long: 6 words > max_words 5"


def test_length_chars_and_several_failures(build, one):
    ln = build("length", max_chars=10, max_words=1)
    assert one(ln, "tiny").value is True
    s = one(ln, "far too long here")
    assert s.value is False
    assert s.detail == "too long: 4 words > max_words 1; too long: 17 chars > max_chars 10"
    s = one(build("length", min_chars=5), "abc")
    assert s.detail == "too short: 3 chars < min_chars 5"


PAIRS = [
    ("The cat sat on the mat.", "A cat was sitting on the mat."),
    (
        "The server ran out of disk.\nWe restarted it.\nLogs were rotated.",
        "Disk space ran out on the server.\nLogs got rotated and the server restarted.",
    ),
    ("Refunds take five business days.", "Refunds are processed within 5 business days."),
    ("running runners ran", "the runner is running"),
    ("completely different", "nothing in common here"),
    ("", "empty prediction"),
]

TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]


def test_split_sentences():
    assert split_sentences("One. Two!  Three?\nFour\n\nFive.") == "One.\nTwo!\nThree?\nFour\nFive."


@pytest.mark.parametrize(("prediction", "reference"), PAIRS)
def test_rouge_equals_rouge_score(prediction, reference, build, run_scorer):
    scorer = build("rouge", name="summary_rouge")
    scores = {s.name: s for s in run_scorer(scorer, prediction, reference)}
    assert list(scores) == [f"summary_rouge.{t}" for t in TYPES]
    ref_scorer = rouge_scorer.RougeScorer(TYPES, use_stemmer=True)
    plain = ref_scorer.score(reference, prediction)
    # rougeLsum wants one sentence per line: the documented split, built by hand here
    lsum_ref = "\n".join(s.strip() for s in reference.replace(". ", ".\n").split("\n") if s.strip())
    lsum_pred = "\n".join(s.strip() for s in prediction.replace(". ", ".\n").split("\n") if s.strip())
    lsum = ref_scorer.score(lsum_ref, lsum_pred)["rougeLsum"]
    for t in ["rouge1", "rouge2", "rougeL"]:
        assert scores[f"summary_rouge.{t}"].value == pytest.approx(plain[t].fmeasure, abs=1e-12)
    assert scores["summary_rouge.rougeLsum"].value == pytest.approx(lsum.fmeasure, abs=1e-12)


def test_rouge_lsum_on_newline_text_is_plain_rouge_score():
    pred, ref = PAIRS[1]
    ours = {s.name: s.value for s in _score(pred, ref)}
    theirs = rouge_scorer.RougeScorer(TYPES, use_stemmer=True).score(ref, pred)
    for t in TYPES:
        assert ours[f"r.{t}"] == pytest.approx(theirs[t].fmeasure, abs=1e-12)


def _score(pred, ref, **args):
    from harness.scorers import ScoreContext
    from harness.scorers.text import RougeScorer
    from harness.types import Completion, Message, Sample

    sample = Sample(id="x", messages=(Message(role="user", content="q"),), reference=ref)
    return RougeScorer("r", **args).score(sample, Completion(text=pred), ScoreContext())


def test_rouge_without_stemmer_and_subset():
    scores = _score("running runners", "the runner runs", rouge_types=["rouge1"], use_stemmer=False)
    theirs = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=False).score(
        "the runner runs", "running runners"
    )
    assert [s.name for s in scores] == ["r.rouge1"]
    assert scores[0].value == pytest.approx(theirs["rouge1"].fmeasure)
    assert scores[0].data["precision"] == pytest.approx(theirs["rouge1"].precision)


def test_rouge_field(build, run_scorer):
    scorer = build("rouge", name="sr", field="summary", rouge_types=["rouge1", "rougeL"])
    ref = json.dumps({"summary": "The customer was charged twice", "category": "billing"})
    scores = run_scorer(scorer, '```json\n{"summary": "customer charged twice"}\n```', ref)
    theirs = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True).score(
        "The customer was charged twice", "customer charged twice"
    )
    assert scores[0].name == "sr.rouge1"
    assert scores[0].value == pytest.approx(theirs["rouge1"].fmeasure)
    bad = run_scorer(scorer, '{"summary": "x",}', ref)
    assert [s.value for s in bad] == [0.0, 0.0]
    assert all(s.detail.startswith("invalid JSON at char 16") for s in bad)
    missing = run_scorer(scorer, '{"title": "x"}', ref)
    assert all(s.value == 0.0 and s.detail == "missing field 'summary' in output" for s in missing)
