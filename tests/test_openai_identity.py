"""Endpoint identity: `openai:MODEL@URL#rev=REV` enters the cache key (two revisions never share
entries), and the endpoint's `system_fingerprint` is recorded in the run, with a warning (stored,
printed, shown) when it changes within a run or since the last run of the same spec."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openai_fault_server import FaultServer, raw

from harness.cli.main import main as cli
from harness.models import parse_spec
from harness.runner import generation_key, run_suite
from harness.store import Store
from harness.suite import load_suite
from harness.types import GenerationConfig


def reply(fingerprint: str | None) -> bytes:
    body = {
        "id": "chatcmpl-x",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "fault-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": '{"category": "billing"}'},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
    if fingerprint is not None:
        body["system_fingerprint"] = fingerprint
    return json.dumps(body).encode()


def test_two_revisions_never_share_cache_entries(tiny_suite: Path, workspace: Path) -> None:
    store = Store()
    suite = load_suite(tiny_suite)
    with FaultServer() as srv:
        rev_a = parse_spec(f"openai:fault-model@{srv.base_url}#rev=a")
        rev_b = parse_spec(f"openai:fault-model@{srv.base_url}#rev=b")
        assert rev_a.url == rev_b.url == srv.base_url  # the fragment is never sent
        msgs = [{"role": "user", "content": "x"}]
        assert generation_key(rev_a, GenerationConfig(), msgs) != generation_key(
            rev_b, GenerationConfig(), msgs
        )
        first = run_suite(suite, rev_a, store=store, limit=3, progress=False)
        again = run_suite(suite, rev_a, store=store, limit=3, progress=False)
        other = run_suite(suite, rev_b, store=store, limit=3, progress=False)
        assert (first.timing["generated"], again.timing["generated"], other.timing["generated"]) == (3, 0, 3)
        assert len(srv.requests) == 6
        assert other.model.revision == "b" and store.get_run(other.id).model.revision == "b"


def test_fingerprint_recorded_and_its_change_warned(
    tiny_suite: Path, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store()
    suite = load_suite(tiny_suite)
    with FaultServer(default=raw(reply("fp_1"))) as srv:
        spec = parse_spec(f"openai:fault-model@{srv.base_url}")
        first = run_suite(suite, spec, store=store, limit=2, progress=False)
        assert first.env["system_fingerprints"] == ["fp_1"] and first.warnings == []
        capsys.readouterr()

        srv.default = raw(reply("fp_2"))  # the server is redeployed under the same model name
        moved = run_suite(suite, spec, store=store, split="dev", limit=2, progress=False)
        assert moved.env["system_fingerprints"] == ["fp_2"]
        (warning,) = moved.warnings
        assert "fp_2 differs from fp_1" in warning and first.id in warning and "#rev=" in warning
        assert f"[tunebench] warning: {warning}" in capsys.readouterr().err

        # within one run: two cached outputs from fp_1, two new ones from fp_2
        mixed = run_suite(suite, spec, store=store, limit=4, progress=False)
        assert mixed.timing["generated"] == 2
        assert mixed.env["system_fingerprints"] == ["fp_1", "fp_2"]
        assert any("changed within this run (fp_1, fp_2)" in w for w in mixed.warnings)
        assert store.get_run(mixed.id).warnings == mixed.warnings

    capsys.readouterr()
    assert cli(["show", moved.id, "--worst", "0"]) == 0
    assert "warning: endpoint" in capsys.readouterr().out


def test_no_fingerprint_no_record(tiny_suite: Path, workspace: Path) -> None:
    with FaultServer(default=raw(reply(None))) as srv:
        rec = run_suite(
            load_suite(tiny_suite),
            parse_spec(f"openai:fault-model@{srv.base_url}"),
            store=Store(),
            limit=2,
            progress=False,
        )
    assert "system_fingerprints" not in rec.env and rec.warnings == []
