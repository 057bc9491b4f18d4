"""exact_match, normalized_match, regex."""

from __future__ import annotations

import json

from harness.scorers.match import normalize_text


def test_exact_match_pass_and_fail(build, one):
    em = build("exact_match", name="em")
    s = one(em, "  billing\n", "billing")
    assert s.value is True and s.detail == ""
    s = one(em, "refund", "billing")
    assert s.value is False
    assert s.detail == "expected 'billing', got 'refund'"


def test_exact_match_without_strip(build, one):
    em = build("exact_match", strip=False)
    s = one(em, "billing\n", "billing")
    assert s.value is False
    assert s.detail == "expected 'billing', got 'billing\\n'"


def test_exact_match_long_texts_say_where_they_differ(build, one):
    ref = "x" * 100 + "abc"
    s = one(build("exact_match"), "x" * 100 + "abd", ref)
    assert s.value is False
    assert s.detail.startswith("differs at char 102 (expected 103 chars, got 103)")


def test_exact_match_field(build, one):
    em = build("exact_match", name="cat", field="category")
    ref = json.dumps({"category": "billing", "priority": "high"})
    assert one(em, '```json\n{"category": "billing"}\n```', ref).value is True
    s = one(em, '{"category": "refund"}', ref)
    assert s.value is False
    assert s.detail == "category: expected 'billing', got 'refund'"
    s = one(em, '{"priority": "high"}', ref)
    assert s.value is False and s.detail == "missing field 'category' in output"
    s = one(em, '{"category": "billing",, }', ref)
    assert s.value is False and s.detail.startswith("invalid JSON at char 23: Expecting property name")


def test_exact_match_field_uses_target_and_keeps_types(build, one):
    em = build("exact_match", field="n")
    assert one(em, '{"n": 3}', target={"n": 3}).value is True
    s = one(em, '{"n": true}', target={"n": 1})
    assert s.value is False and s.detail == "n: expected 1, got true"


def test_missing_reference_is_not_scored(build, one):
    s = one(build("exact_match"), "anything", None)
    assert s.value is None and s.detail == "sample has no reference"


def test_normalize_text():
    assert normalize_text("  The  Cat, sat on a mat!  ") == "cat sat on mat"
    assert normalize_text("An apple.") == "apple"


def test_normalized_match(build, one):
    nm = build("normalized_match", name="nm")
    assert one(nm, "The Eiffel Tower.", "eiffel   tower").value is True
    s = one(nm, "The Louvre", "Eiffel Tower")
    assert s.value is False
    assert s.detail == "expected 'eiffel tower', got 'louvre' (normalized)"


def test_normalized_match_field(build, one):
    nm = build("normalized_match", field="answer")
    assert one(nm, '{"answer": "PARIS!"}', '{"answer": "Paris"}').value is True
    s = one(nm, '{"answer": "Lyon"}', '{"answer": "Paris"}')
    assert s.value is False and s.detail == "answer: expected 'paris', got 'lyon' (normalized)"


def test_regex_must_match(build, one):
    rx = build("regex", name="has_ticket", pattern=r"TICKET-\d+", flags="i")
    assert one(rx, "see ticket-42 for details").value is True
    s = one(rx, "no ticket here")
    assert s.value is False
    assert s.detail == r"no match for /TICKET-\d+/i"


def test_regex_must_not_match(build, one):
    rx = build("regex", pattern=r"as an ai", must_match=False, flags="i")
    assert one(rx, "Here is the answer.").value is True
    s = one(rx, "Well, As an AI model I cannot")
    assert s.value is False
    assert s.detail == "forbidden pattern /as an ai/i matched 'As an AI' at char 6"


def test_regex_multiline_flag(build, one):
    rx = build("regex", pattern=r"^Answer:", flags="m")
    assert one(rx, "Thinking...\nAnswer: 4").value is True
    assert one(build("regex", pattern=r"^Answer:"), "Thinking...\nAnswer: 4").value is False
