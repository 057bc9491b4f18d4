"""extract_json, json_valid, json_schema, json_field_match."""

from __future__ import annotations

import json

import pytest

from harness.errors import InputError
from harness.scorers import ScoreContext, extract_json, get_field


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        '  {"a": 1}\n',
        '```json\n{"a": 1}\n```',
        '```\n{"a": 1}\n```\nHope this helps!',
        'Sure! Here is the JSON:\n```json\n{"a": 1}\n```',
        'Here you go: {"a": 1} -- let me know.',
        '{"a": 1}\nThe category is billing because {reasons}.',
        'I think {maybe} this: {"a": 1}',
    ],
)
def test_extract_json_is_lenient(text):
    assert extract_json(text) == ({"a": 1}, None)


def test_extract_json_nested_and_bare_values():
    assert extract_json('x {"a": {"b": [1, {"c": "}"}]}} y') == ({"a": {"b": [1, {"c": "}"}]}}, None)
    assert extract_json("[1, 2]") == ([1, 2], None)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "empty output"),
        ("   ", "empty output"),
        ("no json here", "no JSON object found in output"),
        ('{"a": 1 "b": 2}', "invalid JSON at char 8: Expecting ',' delimiter"),
        ('  {"a": 1 "b": 2}', "invalid JSON at char 10: Expecting ',' delimiter"),
        ('Result: {"a": 1,}', "invalid JSON at char 16: Expecting property name enclosed in double quotes"),
        ('```json\n{"a": }\n```', "invalid JSON at char 14: Expecting value"),
        ("[1, 2", "invalid JSON at char 5: Expecting ',' delimiter"),
    ],
)
def test_extract_json_errors_point_into_the_original_text(text, error):
    assert extract_json(text) == (None, error)


def test_get_field():
    obj = {"a": {"b": [10, {"c": "x"}]}, "d": None}
    assert get_field(obj, "a.b.1.c") == (True, "x")
    assert get_field(obj, "a.b.0") == (True, 10)
    assert get_field(obj, "d") == (True, None)
    assert get_field(obj, "a.z") == (False, None)
    assert get_field(obj, "a.b.5") == (False, None)
    assert get_field([1], "a") == (False, None)


def test_json_valid_lenient(build, one):
    jv = build("json_valid", name="jv")
    assert one(jv, '```json\n{"a": 1}\n```').value is True
    s = one(jv, '{"a": 1 "b": 2}')
    assert s.value is False
    assert s.detail == "invalid JSON at char 8: Expecting ',' delimiter"


def test_json_valid_strict(build, one):
    jv = build("json_valid", strict=True)
    assert one(jv, ' {"a": 1}\n').value is True
    s = one(jv, '```json\n{"a": 1}\n```')
    assert s.value is False and s.detail == "invalid JSON at char 0: Expecting value"
    s = one(jv, '{"a": 1} trailing')
    assert s.value is False and s.detail == "invalid JSON at char 9: Extra data"
    assert one(jv, "").detail == "empty output"


SCHEMA = {
    "type": "object",
    "required": ["category", "priority"],
    "properties": {
        "category": {"type": "string"},
        "priority": {"enum": ["low", "medium", "high"]},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": False,
}


def test_json_schema_inline(build, one):
    js = build("json_schema", name="schema_ok", schema=SCHEMA)
    s = one(js, '{"category": "billing", "priority": "high"}')
    assert s.value is True and s.detail == ""
    s = one(js, '{"category": "billing", "priority": "urgent"}')
    assert s.value is False
    assert s.detail == "schema: 'urgent' is not one of ['low', 'medium', 'high'] at $.priority"
    s = one(js, '{"category": "billing", "priority": "low", "tags": ["a", 3]}')
    assert s.detail == "schema: 3 is not of type 'string' at $.tags[1]"
    s = one(js, '{"category": 1}')
    assert s.value is False
    assert s.detail.startswith("schema: ") and "(+1 more error)" in s.detail
    assert s.data == {"errors": 2}
    s = one(js, "not json")
    assert s.value is False and s.detail == "no JSON object found in output"


def test_json_schema_file_relative_to_suite_and_cached(build, one, tmp_path):
    (tmp_path / "schemas").mkdir()
    path = tmp_path / "schemas" / "ticket.json"
    path.write_text(json.dumps(SCHEMA))
    js = build("json_schema", schema="schemas/ticket.json")
    ctx = ScoreContext(suite_root=tmp_path)
    assert one(js, '{"category": "x", "priority": "low"}', ctx=ctx).value is True
    validator = js.validator(ctx)
    path.unlink()  # cached: not read again
    s = one(js, '{"priority": "low"}', ctx=ctx)
    assert s.value is False and s.detail == "schema: 'category' is a required property at $"
    assert js.validator(ctx) is validator


def test_json_schema_missing_file_is_input_error(build, one, tmp_path):
    js = build("json_schema", schema="nope.json")
    with pytest.raises(InputError, match="schema file not found"):
        one(js, "{}", ctx=ScoreContext(suite_root=tmp_path))


def test_json_field_match(build, one):
    fm = build("json_field_match", name="prio", field="ticket.priority")
    ref = json.dumps({"ticket": {"priority": "High", "category": "billing"}})
    assert one(fm, 'Answer: {"ticket": {"priority": " high "}}', ref).value is True
    s = one(fm, '{"ticket": {"priority": "low"}}', ref)
    assert s.value is False
    assert s.detail == "ticket.priority: expected 'High', got 'low'"
    s = one(fm, '{"ticket": {}}', ref)
    assert s.value is False and s.detail == "missing field 'ticket.priority' in output"
    s = one(fm, '{"ticket": {"priority": "high"}}', '{"other": 1}')
    assert s.value is None and s.detail == "reference has no field 'ticket.priority'"


def test_json_field_match_without_normalize_and_with_target(build, one):
    fm = build("json_field_match", field="tags", normalize=False)
    assert one(fm, '{"tags": ["a", "b"]}', target={"tags": ["a", "b"]}).value is True
    s = one(fm, '{"tags": ["A", "b"]}', target={"tags": ["a", "b"]})
    assert s.value is False and s.detail == 'tags: expected ["a", "b"], got ["A", "b"]'
    assert one(
        build("json_field_match", field="tags"), '{"tags": ["A", "b"]}', target={"tags": ["a", "b"]}
    ).value
