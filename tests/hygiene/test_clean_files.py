"""Files written by `data check --write-clean` get the usual permissions (issue 13, point 7): the
umask decides, as for any file a command writes, not mkstemp's private 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.hygiene import HygieneConfig, check_dataset, write_clean

ROWS = [
    '{"id": "a", "messages": [{"role": "user", "content": "where is my parcel"}, '
    '{"role": "assistant", "content": "it left the depot today"}]}',
    '{"id": "b", "messages": [{"role": "user", "content": "where is my parcel"}, '
    '{"role": "assistant", "content": "it left the depot today"}]}',
    '{"id": "c", "messages": [{"role": "user", "content": "please cancel my order"}, '
    '{"role": "assistant", "content": "your order is cancelled now"}]}',
]


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture
def train(tmp_path: Path) -> Path:
    p = tmp_path / "train.jsonl"
    p.write_text("\n".join(ROWS) + "\n", encoding="utf-8")
    return p


def test_written_files_follow_the_umask(train: Path, tmp_path: Path, umask: None) -> None:
    report = check_dataset(train, [], HygieneConfig(dev_fraction=0.4))
    written = write_clean(report, report.samples, tmp_path / "out" / "clean.jsonl")
    assert set(written) == {"clean", "removed", "dev", "report"}
    assert {k: _mode(p) for k, p in written.items()} == dict.fromkeys(written, 0o644)
    os.umask(0o027)
    again = write_clean(report, report.samples, tmp_path / "other" / "clean.jsonl")
    assert {_mode(p) for p in again.values()} == {0o640}
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_rewriting_keeps_the_old_mode(train: Path, tmp_path: Path, umask: None) -> None:
    out = tmp_path / "clean.jsonl"
    out.write_text("old\n")
    out.chmod(0o600)  # the user chose private
    report = check_dataset(train, [])
    write_clean(report, report.samples, out)
    assert _mode(out) == 0o600 and out.read_text() != "old\n"


def test_cli_write_clean_mode(train: Path, tmp_path: Path, umask: None) -> None:
    out = tmp_path / "clean.jsonl"
    ws = ["--workspace", str(tmp_path / "ws")]
    assert main([*ws, "data", "check", str(train), "--write-clean", str(out), "--no-store"]) == 0
    assert _mode(out) == 0o644 and _mode(tmp_path / "clean.removed.jsonl") == 0o644
