"""`tunebench --store postgresql+psycopg://...`: the public CLI, in subprocesses, runs (mock backend),
compares, gates and creates a rating campaign on a PostgreSQL store exactly as on SQLite; the store
URL also comes from $TUNEBENCH_STORE. Nothing is written to the workspace's SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.store import Store, rating_campaigns

LABELS = ["billing", "shipping", "account", "refund", "technical"]


def tunebench(*args: str, store_url: str | None, ws: Path) -> tuple[int, str, str]:
    env = {**os.environ, "TUNEBENCH_HOME": str(ws), "HF_HUB_OFFLINE": "1"}
    env.pop("TUNEBENCH_STORE", None)
    cmd = [sys.executable, "-m", "harness.cli.main"]
    if store_url is not None:
        cmd += ["--store", store_url]
    done = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=180)
    return done.returncode, done.stdout, done.stderr


def script(path: Path, right: int) -> str:
    """A mock model that answers the first `right` of 10 tickets correctly."""
    rules = [
        {
            "contains": f"ticket test {i}:",
            "reply": f'{{"category": "{LABELS[i % 5] if i < right else "other"}"}}',
        }
        for i in range(10)
    ]
    path.write_text(yaml.safe_dump({"default": "?", "rules": rules}))
    return f"mock:{path}"


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_run_compare_gate_and_rate_on_postgres(
    store_url: str, tmp_path: Path, workspace: Path, make_suite: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert store_url.startswith("postgresql+psycopg://")
    suite = str(make_suite(tmp_path / "suite"))
    rc, out, err = tunebench(
        "run",
        suite,
        "--model",
        script(tmp_path / "base.yaml", 4),
        "--no-progress",
        store_url=store_url,
        ws=workspace,
    )
    assert rc == 0, err
    # the store URL from the environment instead of --store
    monkeypatch.setenv("TUNEBENCH_STORE", store_url)
    env_run = subprocess.run(
        [sys.executable, "-m", "harness.cli.main", "run", suite, "--model", script(tmp_path / "cand.yaml", 9)]
        + ["--no-progress"],
        capture_output=True,
        text=True,
        env={**os.environ, "TUNEBENCH_HOME": str(workspace)},
        timeout=180,
    )
    monkeypatch.delenv("TUNEBENCH_STORE")
    assert env_run.returncode == 0, env_run.stderr

    store = Store(store_url)
    by_model = {r.model.raw: r for r in store.list_runs()}
    base, cand = by_model[f"mock:{tmp_path / 'base.yaml'}"], by_model[f"mock:{tmp_path / 'cand.yaml'}"]
    assert base.status == cand.status == "completed"
    assert base.metrics["exact"].value == pytest.approx(0.4) and cand.metrics["exact"].value == pytest.approx(
        0.9
    )
    rc, out, _ = tunebench("runs", store_url=store_url, ws=workspace)
    assert rc == 0 and base.id in out and cand.id in out

    rc, out, err = tunebench("compare", base.id, cand.id, store_url=store_url, ws=workspace)
    assert rc == 0, err
    assert "stored comparison" in out and "exact" in out
    (cmp,) = store.get_records("comparison")
    assert cmp["ref"] == f"{base.id}..{cand.id}"
    exact = next(m for m in cmp["body"]["metrics"] if m["name"] == "exact")
    assert exact["delta"] == pytest.approx(0.5) and exact["ci_low"] <= 0.5 <= exact["ci_high"]

    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"name: pg-policy\nmin_samples: 5\nrules:\n  - {{suite: {suite}, metric: exact, rule: non_inferior, margin: 0.05}}\n"
    )
    rc, out, err = tunebench(
        "gate",
        "--policy",
        str(policy),
        "--candidate",
        cand.id,
        "--baseline",
        base.id,
        store_url=store_url,
        ws=workspace,
    )
    assert rc == 0, out + err
    assert "PASS" in out and "stored verdict" in out
    rc, out, err = tunebench(  # the other way round: the old model is worse than the new one
        "gate",
        "--policy",
        str(policy),
        "--candidate",
        base.id,
        "--baseline",
        cand.id,
        store_url=store_url,
        ws=workspace,
    )
    assert rc == 1, out + err
    assert "FAIL" in out
    verdicts = store.get_records("verdict")
    assert sorted(v["body"]["passed"] for v in verdicts) == [False, True]

    rc, out, err = tunebench(
        "rate", "create", "--runs", base.id, cand.id, "--n", "5", store_url=store_url, ws=workspace
    )
    assert rc == 0, err
    assert "rater token" in out and f"--store {store_url}" in out
    with store.engine.connect() as conn:
        assert len(conn.execute(rating_campaigns.select()).all()) == 1

    assert not (workspace / "tunebench.db").exists()  # everything went to PostgreSQL
    store.engine.dispose()
