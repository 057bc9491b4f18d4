"""Dataset validation: every bad input is reported as file:line through the CLI, with exit code 2
and nothing written to the store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main
from harness.data import load_samples, validate_file
from harness.errors import InputError
from harness.store import Store


def good(i: int = 0, sid: str | None = None) -> dict[str, Any]:
    return {
        "id": sid or f"g{i}",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": f"question {i}"},
            {"role": "assistant", "content": f"answer {i}"},
        ],
    }


def chat(*turns: tuple[Any, Any], **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": r, "content": c} for r, c in turns], **extra}


# (case id, the bad row (dict, or a raw line), what the message must say)
BAD_ROWS = [
    (
        "bad-json",
        '{"messages": [{"role": "user", "content": "hi"}',
        "bad JSON: Expecting ',' delimiter at column 48",
    ),
    ("unknown-role", chat(("user", "hi"), ("bot", "hello")), "unknown role 'bot'"),
    (
        "last-turn-user",
        chat(("user", "hi"), ("assistant", "hello"), ("user", "and?")),
        "missing assistant turn",
    ),
    ("empty-content", chat(("user", "   "), ("assistant", "hello")), "empty content"),
    ("content-number", chat(("user", 42), ("assistant", "hello")), "expected a string, got int"),
    ("messages-not-list", {"messages": {"role": "user", "content": "hi"}}, "'messages': expected a list"),
    (
        "metadata-not-object",
        chat(("user", "hi"), ("assistant", "yo"), metadata=["x"]),
        "'metadata': expected an object",
    ),
    ("no-known-keys", {"prompt": "hi", "completion": "yo"}, "expected a 'messages' list"),
    ("alpaca-missing-output", {"instruction": "translate", "input": "hola"}, "missing 'output'"),
    ("duplicate-id", good(0, sid="g1"), "duplicate id 'g1' (first on line 2)"),
]
BAD_LINE = 3  # two good rows, then the bad one


def bad_file(tmp_path: Path, row: Any, name: str = "test.jsonl") -> Path:
    lines = [
        json.dumps(good(0)),
        json.dumps(good(1)),
        row if isinstance(row, str) else json.dumps(row),
        json.dumps(good(3)),
    ]
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def assert_names(err: str, path: Path | str, line: int, what: str) -> None:
    assert f"{path}:{line}: " in err, err
    problem = next(ln for ln in err.splitlines() if f"{path}:{line}: " in ln)
    assert what in problem, err


@pytest.mark.parametrize("row,what", [c[1:] for c in BAD_ROWS], ids=[c[0] for c in BAD_ROWS])
def test_data_validate_reports_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], row: Any, what: str
) -> None:
    path = bad_file(tmp_path, row)
    assert main(["data", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert_names(err, path, BAD_LINE, what)
    assert "1 problem(s)" in err and err.count(f"{path}:") == 2, err  # header + only the bad line


@pytest.mark.parametrize("row,what", [c[1:] for c in BAD_ROWS], ids=[c[0] for c in BAD_ROWS])
def test_run_refuses_bad_test_split_and_writes_nothing(
    tmp_path: Path, workspace: Path, make_suite: Any, capsys: pytest.CaptureFixture[str], row: Any, what: str
) -> None:
    suite = make_suite(tmp_path / "suite")
    test_file = bad_file(suite / "data", row)
    store = Store(workspace=workspace)
    before = store.counts()
    assert main(["run", str(suite), "--model", "mock:echo", "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert_names(captured.err, test_file, BAD_LINE, what)
    assert "nothing was run" in captured.err
    assert captured.out == ""
    assert Store(workspace=workspace).counts() == before


def test_every_problem_listed_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "many.jsonl"
    rows = [
        good(0),
        chat(("user", "hi"), ("bot", "x")),
        "",
        "{nope",
        chat(("user", ""), ("assistant", "x")),
        good(1),
    ]
    p.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    assert main(["data", "validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert "3 problem(s)" in err
    assert_names(err, p, 2, "unknown role")
    assert_names(err, p, 4, "bad JSON")  # the blank line 3 is skipped but still counted
    assert_names(err, p, 5, "empty content")


def test_good_file_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "ok.jsonl"
    p.write_text("\n".join(json.dumps(good(i)) for i in range(3)) + "\n")
    assert main(["data", "validate", str(p)]) == 0
    assert "ok, 3 samples" in capsys.readouterr().out
    samples = load_samples(p)
    assert [s.id for s in samples] == ["g0", "g1", "g2"]
    assert samples[0].reference == "answer 0"
    assert [m.role for m in samples[0].messages] == ["system", "user"]


def test_missing_and_unsupported_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "validate", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err
    txt = tmp_path / "data.txt"
    txt.write_text("hello\n")
    assert main(["data", "validate", str(txt)]) == 2
    assert "unsupported file type" in capsys.readouterr().err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert main(["data", "validate", str(empty)]) == 2
    assert "the file is empty" in capsys.readouterr().err


def test_alpaca_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "alpaca.jsonl"
    rows = [
        {
            "instruction": "Translate to English",
            "input": "hola",
            "output": "hello",
            "system": "You translate.",
        },
        {"instruction": "Say hi", "output": "hi"},
        {"instruction": "Sum", "input": "1+1"},
    ]
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    samples, problems = validate_file(p)
    assert [s.reference for s in samples] == ["hello", "hi"]
    assert [(m.role, m.content) for m in samples[0].messages] == [
        ("system", "You translate."),
        ("user", "Translate to English\n\nhola"),
    ]
    assert [(pr.line, pr.message) for pr in problems] == [
        (3, "missing 'output' (instruction/output rows need both)")
    ]
    assert main(["data", "validate", str(p)]) == 2
    assert_names(capsys.readouterr().err, p, 3, "missing 'output'")
    with pytest.raises(InputError) as ei:
        load_samples(p)
    assert f"{p}:3: missing 'output'" in ei.value.render()


def test_csv_rows_and_bad_row_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd

    p = tmp_path / "train.csv"
    pd.DataFrame(
        [
            {"id": "c1", "instruction": "Say yes", "input": "", "output": "yes"},
            {"id": "c2", "instruction": "Say no", "input": "now", "output": "no"},
            {
                "id": "c3",
                "instruction": "Say maybe",
                "input": "",
                "output": None,
            },  # line 4 (header is line 1)
            {"id": "c4", "instruction": "Say ok", "input": "", "output": "ok"},
        ]
    ).to_csv(p, index=False)
    samples, problems = validate_file(p)
    assert [s.id for s in samples] == ["c1", "c2", "c4"]
    assert samples[1].messages[-1].content == "Say no\n\nnow"
    assert [pr.line for pr in problems] == [4]
    assert main(["data", "validate", str(p)]) == 2
    assert_names(capsys.readouterr().err, p, 4, "'output'")


def test_csv_chat_rows_keep_messages_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd

    p = tmp_path / "chat.csv"
    pd.DataFrame(
        [
            {"id": "a", "messages": json.dumps(good(0)["messages"])},
            {"id": "b", "messages": "[{not json"},
        ]
    ).to_csv(p, index=False)
    samples, problems = validate_file(p)
    assert [s.id for s in samples] == ["a"]
    assert [(pr.line, "bad JSON" in pr.message) for pr in problems] == [(3, True)]


def test_parquet_rows_and_bad_row_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datasets import Dataset

    p = tmp_path / "test.parquet"
    rows = [good(0), good(1), {"id": "bad", **chat(("user", "hi"), ("robot", "beep"))}, good(3)]
    Dataset.from_list(rows).to_parquet(str(p))
    samples, problems = validate_file(p)
    assert [s.id for s in samples] == ["g0", "g1", "g3"]
    assert samples[0].reference == "answer 0"
    assert [pr.line for pr in problems] == [3]
    assert main(["data", "validate", str(p)]) == 2
    assert_names(capsys.readouterr().err, p, 3, "unknown role 'robot'")


def test_console_script_exit_code(tmp_path: Path) -> None:
    exe = shutil.which("tunebench") or str(Path(sys.executable).parent / "tunebench")
    path = bad_file(tmp_path, chat(("user", "hi"), ("bot", "x")))
    proc = subprocess.run(
        [exe, "data", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 2, proc.stderr
    assert f"{path}:{BAD_LINE}: messages[1]: unknown role 'bot'" in proc.stderr
    assert proc.stdout == ""


# -- files that are not UTF-8 ----------------------------------------------------------------------


def latin1_jsonl(path: Path) -> Path:
    """Line 2 holds a Latin-1 'é' (byte 0xe9) in its user turn, line 3 starts with byte 0xff."""
    lines = [
        json.dumps(good(0)).encode(),
        json.dumps(good(1)).replace("question 1", "caf\\u00e9").encode(),
        b"\xff{}",
    ]
    lines[1] = lines[1].replace(b"caf\\u00e9", "café".encode("latin-1"))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_not_utf8_jsonl_names_file_line_byte_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = latin1_jsonl(tmp_path / "train.jsonl")
    col = p.read_bytes().splitlines()[1].index(b"\xe9") + 1
    samples, problems = validate_file(p)
    assert [s.id for s in samples] == ["g0"]
    assert [str(pr) for pr in problems] == [
        f"{p}:2: not UTF-8 (byte 0xe9 at column {col})",
        f"{p}:3: not UTF-8 (byte 0xff at column 1)",
    ]
    assert main(["data", "validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert f"{p}:3: not UTF-8 (byte 0xff at column 1)" in err and "Traceback" not in err


def test_not_utf8_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "train.csv"
    p.write_bytes(b"id,instruction,output\nc1,Say yes,yes\nc2,Say caf\xe9,no\n")
    samples, problems = validate_file(p)
    assert [str(pr) for pr in problems] == [f"{p}:3: not UTF-8 (byte 0xe9 at column 11)"]
    assert main(["data", "validate", str(p)]) == 2
    assert f"{p}:3: not UTF-8" in capsys.readouterr().err


def test_not_utf8_suite_yaml_and_run_data(
    tmp_path: Path, workspace: Path, make_suite: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = make_suite(tmp_path / "suite")
    latin1_jsonl(suite / "data" / "test.jsonl")
    assert main(["run", str(suite), "--model", "mock:echo", "--no-progress"]) == 2
    assert f"{suite / 'data' / 'test.jsonl'}:3: not UTF-8 (byte 0xff at column 1)" in capsys.readouterr().err

    yaml_path = suite / "suite.yaml"
    yaml_path.write_bytes(yaml_path.read_bytes().replace(b"a small suite", b"a small caf\xe9 suite"))
    assert main(["run", str(suite), "--model", "mock:echo", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{yaml_path}:3: not UTF-8 (byte 0xe9 at column" in err and "Traceback" not in err


def test_not_utf8_mock_script_and_training_data(tmp_path: Path) -> None:
    from harness.models import create_backend, parse_spec
    from trainers.sft import read_chat_jsonl

    script = tmp_path / "mock.yaml"
    script.write_bytes(b"default: caf\xe9\n")
    with pytest.raises(InputError) as e:
        create_backend(parse_spec(f"mock:{script}"))
    assert f"{script}:1: not UTF-8 (byte 0xe9 at column 13)" in e.value.render()
    with pytest.raises(InputError) as e:
        read_chat_jsonl(str(latin1_jsonl(tmp_path / "train.jsonl")))
    assert f"{tmp_path / 'train.jsonl'}:2: not UTF-8 (byte 0xe9" in e.value.render()


# -- suite versions must be orderable ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "ok"),
    [
        ('"1.0.0"', "1.0.0"),
        ("1", "1"),
        ('"1.2"', "1.2"),
        ('"2.0.1-rc1"', "2.0.1-rc1"),
        ("one", None),
        ('"v1"', None),
        ('"1.2.3.4"', None),
        ("1.10", None),  # a YAML float: 1.10 would read as 1.1
    ],
)
def test_suite_version_must_be_orderable(
    tmp_path: Path, make_suite: Any, suite_yaml: str, version: str, ok: str | None
) -> None:
    from harness.suite import load_suite

    folder = make_suite(tmp_path / "s", 2, suite_yaml.replace('version: "0.1.0"', f"version: {version}"))
    if ok is not None:
        assert load_suite(folder).version == ok
        return
    with pytest.raises(InputError) as e:
        load_suite(folder)
    text = e.value.render()
    assert f"{folder / 'suite.yaml'}:2: version:" in text
    if version == "1.10":
        assert 'quoted string, e.g. version: "1.1"' in text
    else:
        assert "versions must be orderable" in text


def test_builtin_suites_still_load() -> None:
    from harness.suite import builtin_suites, load_suite

    names = builtin_suites()
    assert {"ticket-triage", "general"} <= set(names)
    for name in names:
        assert load_suite(name).version
