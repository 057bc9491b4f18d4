"""`tunebench nightly`: a plan over several simulated nights with mock models, a blessed baseline and a
regression on one night; idempotent re-runs; a down endpoint; failing webhooks; a killed pass that
resumes; the pass lease; plan errors with file:line.

The suite has N samples; a mock script answers sample i's category right or wrong by a rule per
test. The baseline (all right) is blessed; the candidate is all right on good nights and right on
half the samples on the regression night (its script is swapped, so its identity and generations
change), which fails the policy's non_inferior rule. Alerts go to a ThreadingHTTPServer on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from builders import write_category_script, write_category_suite
from sqlalchemy import func, select

from harness.cli.main import main as cli
from harness.errors import InputError
from harness.nightly import Lease, LockHeld, load_plan, post_webhook, run_nightly, trend_points
from harness.registry_models import bless, blessed_run
from harness.runner import run_suite
from harness.store import Store, locks, nightly_alerts, nightly_items, records, runs
from harness.suite import load_suite

N = 30
POLICY = """\
name: nightly-policy
min_samples: 10
rules:
  - {suite: SUITE, metric: category, rule: non_inferior, margin: 0.05}
"""


def write_suite(root: Path, name: str = "nightly-suite", n: int = N) -> Path:
    return write_category_suite(root, name, n, tagged=True, description="nightly tests")


def write_script(
    path: Path,
    correct: Callable[[int], bool],
    suites: tuple[str, ...] = ("nightly-suite",),
    n: int = N,
    **extra: Any,
) -> Path:
    return write_category_script(path, correct, n, suites=suites, tagged=True, **extra)


def good(i: int) -> bool:
    return True


def half(i: int) -> bool:
    return i < N // 2


class Receiver:
    """Records POST bodies on 127.0.0.1; answers the given status codes first, then 200."""

    def __init__(self, codes: list[int] | None = None):
        self.bodies: list[dict[str, Any]] = []
        self.hits = 0
        self.codes = list(codes or [])
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.hits += 1
                code = outer.codes.pop(0) if outer.codes else 200
                if code == 200:
                    outer.bodies.append(json.loads(raw))
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Setup:
    """A workspace with the suite, the blessed baseline, the candidate's script and a plan."""

    def __init__(
        self,
        root: Path,
        workspace: Path,
        webhooks: list[str],
        models: list[dict[str, Any]] | None = None,
        suites: tuple[str, ...] = ("nightly-suite",),
        on: list[str] | None = None,
        n: int = N,
        policy_suite: str = "nightly-suite",
    ):
        self.root = root
        self.workspace = workspace
        self.store = Store(workspace=workspace)
        for s in suites:
            write_suite(root / s, s, n)
        write_script(root / "base.yaml", good, suites, n)
        self.cand = write_script(root / "cand.yaml", good, suites, n)
        for s in suites:
            rec = run_suite(load_suite(root / s), _mock(root / "base.yaml"), store=self.store, progress=False)
            bless(self.store, rec.id, name="base")
        (root / "policy.yaml").write_text(POLICY.replace("SUITE", policy_suite))
        plan = {
            "name": "nightly-demo",
            "models": models or [{"name": "cand", "spec": "mock:cand.yaml", "baseline": "blessed"}],
            "suites": [f"./{s}" for s in suites],
            "policy": "policy.yaml",
            "schedule": {"cron": "0 2 * * *", "timezone": "Europe/Berlin"},
            "alerts": {
                "webhooks": webhooks,
                "on": on or ["fail", "error"],
                "retries": 2,
                "backoff_s": 0.01,
                "timeout_s": 5,
            },
        }
        self.plan_path = root / "plan.yaml"
        self.plan_path.write_text(yaml.safe_dump(plan, sort_keys=False))

    def night(self, date: str, *extra: str) -> int:
        return cli(["nightly", "--plan", str(self.plan_path), "--date", date, "--no-progress", *extra])

    def count(self, table: Any, *where: Any) -> int:
        with self.store.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())

    def nightly_runs(self) -> int:
        return self.count(runs, runs.c.record.contains('"nightly":"nightly-demo"'))


def _mock(path: Path) -> Any:
    from harness.models import parse_spec

    return parse_spec(f"mock:{path}")


def test_nights_regression_alert_history_and_idempotent_rerun(
    tmp_path: Path, workspace: Path, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    env = Setup(tmp_path, workspace, [receiver.url])
    assert env.night("2026-03-01") == 0
    assert env.night("2026-03-02") == 0
    write_script(env.cand, half)  # the regression night
    assert env.night("2026-03-03") == 1
    out = capsys.readouterr().out
    assert "verdict FAIL" in out and "alert cand (fail)" in out and "sent" in out
    write_script(env.cand, good)
    assert env.night("2026-03-04") == 0
    assert env.nightly_runs() == 4

    # the alert: exactly one, for the regression night, with model, suite, failing rule reason and date
    assert len(receiver.bodies) == 1
    alert = receiver.bodies[0]
    assert "nightly-demo 2026-03-03" in alert["text"] and "cand" in alert["text"]
    assert "nightly-suite:category non_inferior" in alert["text"]
    details = alert["tunebench"]
    assert (
        details["date"] == "2026-03-03"
        and details["model"] == "cand"
        and details["event"] == "verdict_failed"
    )
    rule = details["failed_rules"][0]
    assert (
        rule["suite"] == "nightly-suite" and rule["metric"] == "category" and rule["reason"] in alert["text"]
    )
    assert rule["delta"] == pytest.approx(-0.5)

    # history: trend points carry the values, dates and verdicts
    pts = trend_points(env.store, "nightly-suite", "category", model="cand")
    assert [p["date"] for p in pts] == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
    assert [p["value"] for p in pts] == pytest.approx([1.0, 1.0, 0.5, 1.0])
    assert [p["verdict_passed"] for p in pts] == [True, True, False, True]
    assert all(p["ci_low"] is not None and p["run_id"] for p in pts)
    plain = trend_points(env.store, "nightly-suite", "category")
    assert any(not p["nightly"] and p["verdict_passed"] is None for p in plain)  # the baseline's plain run

    # re-running the regression night repeats nothing: no new run, no second alert, same exit code
    n_records = env.count(records)
    assert env.night("2026-03-03") == 1
    assert env.nightly_runs() == 4 and len(receiver.bodies) == 1 and receiver.hits == 1
    assert env.count(records) == n_records  # no new verdict, comparison or nightly record
    assert env.count(records, records.c.kind == "nightly") == 4

    # reports
    day = workspace / "nightly" / "nightly-demo" / "2026-03-03"
    summary = json.loads((day / "summary.json").read_text())
    assert summary["outcome"] == "fail" and summary["exit_code"] == 1
    assert summary["models"][0]["items"][0]["value"] == pytest.approx(0.5)
    assert summary["models"][0]["items"][0]["higher_is_better"] is True  # the run's stored direction
    assert "FAIL" in (day / "summary.md").read_text()
    assert "category (↑ better)" in (day / "summary.md").read_text()


def test_down_endpoint_fails_its_run_alerts_and_others_continue(
    tmp_path: Path, workspace: Path, receiver: Receiver
) -> None:
    down = f"openai:m@http://127.0.0.1:{closed_port()}/v1"
    models = [
        {"name": "down", "spec": down, "baseline": "blessed", "options": {"max_retries": 0, "timeout_s": 2}},
        {"name": "cand", "spec": "mock:cand.yaml", "baseline": "blessed"},
    ]
    env = Setup(tmp_path, workspace, [receiver.url], models=models)
    assert env.night("2026-03-01") == 1
    with env.store.engine.connect() as conn:
        items = {r["model"]: dict(r) for r in conn.execute(select(nightly_items)).mappings()}
    assert items["down"]["status"] == "error" and "connection" in items["down"]["error"].lower()
    assert items["cand"]["status"] == "done" and items["cand"]["verdict_id"]
    assert env.store.get_run(items["down"]["run_id"]).status == "failed"
    assert env.store.get_run(items["cand"]["run_id"]).status == "completed"
    assert len(receiver.bodies) == 1
    alert = receiver.bodies[0]["tunebench"]
    assert (
        alert["model"] == "down"
        and alert["event"] == "run_error"
        and alert["errors"][0]["suite"] == "nightly-suite"
    )
    # again: nothing repeated (the failed item is finished; --retry-errors would run it again)
    assert env.night("2026-03-01") == 1
    assert env.nightly_runs() == 2 and len(receiver.bodies) == 1
    # --retry-errors runs the failed item again (still down): a new failed run, the same alert not resent
    assert env.night("2026-03-01", "--retry-errors") == 1
    assert env.nightly_runs() == 3 and len(receiver.bodies) == 1


def test_failing_webhooks_are_retried_and_logged_and_never_fail_the_pass(
    tmp_path: Path, workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = Receiver(codes=[500, 500])  # two 500s, then 200
    dead = f"http://127.0.0.1:{closed_port()}/hook"
    try:
        env = Setup(tmp_path, workspace, [flaky.url, dead], on=["pass", "fail", "error"])
        with caplog.at_level("WARNING", logger="tunebench.schedule"):
            assert env.night("2026-03-01") == 0  # the verdict passed; the dead webhook changes nothing
        assert flaky.hits == 3 and len(flaky.bodies) == 1
        assert flaky.bodies[0]["tunebench"]["event"] == "verdict_passed"
        assert sum("attempt" in r.getMessage() and "HTTP 500" in r.getMessage() for r in caplog.records) == 2
        assert sum("Connection refused" in r.getMessage() for r in caplog.records) == 3  # 1 try + 2 retries
        with env.store.engine.connect() as conn:
            rows = {r["status"]: dict(r) for r in conn.execute(select(nightly_alerts)).mappings()}
        assert rows["sent"]["attempts"] == 3 and rows["failed"]["attempts"] == 3
        assert (
            "127.0.0.1" in rows["failed"]["webhook"] and "/hook" not in rows["failed"]["webhook"]
        )  # redacted
        # the next pass of the date retries only the undelivered alert
        assert env.night("2026-03-01") == 0
        assert flaky.hits == 3
        with env.store.engine.connect() as conn:
            failed = conn.execute(
                select(nightly_alerts.c.attempts).where(nightly_alerts.c.status == "failed")
            ).scalar_one()
        assert failed == 6
    finally:
        flaky.close()


def test_post_webhook_gives_up_on_4xx_and_backs_off() -> None:
    r = Receiver(codes=[404, 500])
    sleeps: list[float] = []
    try:
        ok, attempts, err = post_webhook(r.url, {"text": "x"}, retries=3, backoff_s=0.5, sleep=sleeps.append)
        assert (ok, attempts, err) == (False, 1, "HTTP 404") and sleeps == []
        ok, attempts, err = post_webhook(r.url, {"text": "x"}, retries=3, backoff_s=0.5, sleep=sleeps.append)
        assert (ok, attempts, err) == (True, 2, None) and sleeps == [0.5]
    finally:
        r.close()


def test_killed_pass_resumes_without_duplicates(tmp_path: Path, workspace: Path) -> None:
    suites = ("suite-a", "suite-b", "suite-c")
    env = Setup(tmp_path, workspace, [], suites=suites, n=12, policy_suite="suite-a")
    log = tmp_path / "calls.log"
    write_script(env.cand, good, suites, 12, delay_s=0.12, log=str(log))
    cmd = [
        sys.executable,
        "-m",
        "harness.cli.main",
        "nightly",
        "--plan",
        str(env.plan_path),
        "--date",
        "2026-03-01",
        "--no-progress",
    ]
    proc = subprocess.Popen(
        cmd,
        env={**os.environ, "TUNEBENCH_HOME": str(workspace)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # kill once suite-a is finished and suite-b is under way
            asked = log.read_text().splitlines() if log.exists() else []
            if env.count(nightly_items, nightly_items.c.status == "ran") == 1 and any(
                "[suite-b" in x for x in asked
            ):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the pass never reached suite-b")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    with env.store.engine.connect() as conn:
        before = {r["suite"]: dict(r) for r in conn.execute(select(nightly_items)).mappings()}
    assert before["suite-a"]["status"] == "ran" and before["suite-b"]["status"] in ("running", "ran")
    assert env.count(locks) == 1  # the dead process's lease is still there ...
    assert env.night("2026-03-01") == 0  # ... and taken over at once
    with env.store.engine.connect() as conn:
        after = {r["suite"]: dict(r) for r in conn.execute(select(nightly_items)).mappings()}
        nightly = conn.execute(
            select(runs.c.id, runs.c.status).where(runs.c.record.contains('"nightly":"nightly-demo"'))
        ).all()
    assert {s: r["status"] for s, r in after.items()} == {s: "done" for s in suites}
    assert after["suite-a"]["run_id"] == before["suite-a"]["run_id"]
    assert len(nightly) == 3 and {st for _, st in nightly} == {
        "completed"
    }  # the killed run was resumed, not doubled
    assert len({r["verdict_id"] for r in after.values()}) == 1
    assert env.count(records, records.c.kind == "nightly") == 1 and env.count(locks) == 0
    asked = log.read_text().splitlines()
    a = [x for x in asked if x.startswith("[suite-a")]
    assert len(a) == 12 and len(set(a)) == 12  # finished work was not redone
    assert len({x for x in asked if x.startswith("[suite-c")}) == 12


def test_pass_lease_refuses_a_second_pass_and_takes_over_dead_or_expired(
    tmp_path: Path, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = Setup(tmp_path, workspace, [])
    plan = load_plan(env.plan_path)
    other = Lease(env.store, "nightly:nightly-demo", owner=f"{socket.gethostname()}:{os.getpid()}:other")
    assert other.acquire()
    try:
        with pytest.raises(LockHeld, match="another nightly pass"):
            run_nightly(plan, env.store, date="2026-03-01")
        assert env.night("2026-03-01") == 1
        assert "another nightly pass" in capsys.readouterr().err
    finally:
        other.release()
    with env.store.engine.begin() as conn:  # a lease of a process that is gone
        conn.execute(
            locks.insert().values(
                name="nightly:nightly-demo",
                owner=f"{socket.gethostname()}:999999999:x",
                acquired_at=time.time(),
                expires_at=time.time() + 3600,
            )
        )
    assert run_nightly(plan, env.store, date="2026-03-01").exit_code == 0
    with env.store.engine.begin() as conn:  # an expired lease of another host
        conn.execute(
            locks.insert().values(
                name="nightly:nightly-demo",
                owner="elsewhere:1:x",
                acquired_at=time.time() - 100,
                expires_at=time.time() - 1,
            )
        )
    assert run_nightly(plan, env.store, date="2026-03-02").exit_code == 0
    assert env.count(locks) == 0


def test_baseline_by_model_name_and_run_id(tmp_path: Path, workspace: Path) -> None:
    write_script(tmp_path / "bad.yaml", half)
    env = Setup(
        tmp_path,
        workspace,
        [],
        models=[
            {"name": "bad", "spec": "mock:bad.yaml", "baseline": "ref"},
            {"name": "ref", "spec": "mock:cand.yaml", "baseline": "blessed"},
        ],
    )
    res = run_nightly(load_plan(env.plan_path), env.store, date="2026-03-01")
    outcomes = {m["name"]: m["outcome"] for m in res.body["models"]}
    assert outcomes == {"ref": "pass", "bad": "fail"} and res.exit_code == 1
    assert [m["name"] for m in res.body["models"]] == ["ref", "bad"]  # the baseline model runs first
    ref_run = res.body["models"][0]["items"][0]["run_id"]
    plan = yaml.safe_load(env.plan_path.read_text())
    plan["models"] = [{"name": "bad", "spec": "mock:bad.yaml", "baseline": [ref_run]}]
    env.plan_path.write_text(yaml.safe_dump(plan))
    res = run_nightly(load_plan(env.plan_path), env.store, date="2026-03-02")
    assert res.body["models"][0]["outcome"] == "fail"
    assert res.body["models"][0]["failed_rules"][0]["reason"]


def test_two_baseline_runs_of_one_suite_are_a_plan_error(tmp_path: Path, workspace: Path) -> None:
    """Baselines resolve as in `tunebench gate --baseline`: one run per suite (file:line, exit 2)."""
    env = Setup(tmp_path, workspace, [])
    first = run_nightly(load_plan(env.plan_path), env.store, date="2026-03-01")
    cand_run = first.body["models"][0]["items"][0]["run_id"]
    base_run = blessed_run(env.store, "nightly-suite")
    plan = yaml.safe_load(env.plan_path.read_text())
    plan["models"][0]["baseline"] = [base_run, cand_run]
    env.plan_path.write_text(yaml.safe_dump(plan))
    with pytest.raises(InputError) as e:
        run_nightly(load_plan(env.plan_path), env.store, date="2026-03-02")
    text = e.value.render()
    assert "models.0.baseline: two baseline runs of suite 'nightly-suite'" in text
    assert f"{env.plan_path}:" in text


def test_plan_errors_name_file_and_line(
    tmp_path: Path, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_suite(tmp_path / "nightly-suite")
    (tmp_path / "policy.yaml").write_text(POLICY.replace("SUITE", "nightly-suite"))
    bad = tmp_path / "plan.yaml"
    bad.write_text(
        "name: p\n"
        "models:\n"
        "  - {name: a, spec: 'mock:echo', baseline: b}\n"
        "  - {name: b, spec: 'mock:echo', baseline: a}\n"
        "  - {name: c, spec: 'mock:echo'}\n"
        "  - {name: c, spec: 'nope:x'}\n"
        "suites: [./nightly-suite]\n"
        "policy: policy.yaml\n"
    )
    with pytest.raises(InputError) as e:
        load_plan(bad)
    text = e.value.render()
    assert f"{bad}:6: models.3.name: duplicate model name 'c'" in text
    assert f"{bad}:2: models: baseline cycle: a -> b -> a" in text and f"{bad}:6: models.3.spec" in text
    bad.write_text(
        "name: p\n"
        "models: [{name: a, spec: 'mock:echo'}]\n"
        "suites: [./nightly-suite]\n"
        "policy: policy.yaml\n"
        "schedule: {cron: '0 25 * * *', timezone: Mars/Olympus}\n"
        "alerts: {webhooks: [ftp://x], onn: [fail]}\n"
    )
    assert cli(["nightly", "--plan", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:5: schedule.cron" in err and "25 is outside 0-23" in err
    assert f"{bad}:5: schedule.timezone" in err and f"{bad}:6: alerts.webhooks" in err
    assert "alerts.onn: unknown key" in err
    # suites the plan cannot load, a split the suite lacks, a policy suite the plan does not run
    bad.write_text(
        "name: p\n"
        "models: [{name: a, spec: 'mock:missing.yaml'}]\n"
        "suites:\n"
        "  - {suite: ./nightly-suite, split: nope}\n"
        "  - ./no-such-suite\n"
        "policy: policy.yaml\n"
    )
    assert cli(["nightly", "--plan", str(bad), "--date", "2026-03-01"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:4: suites.0.split" in err and f"{bad}:5: suites.1" in err and "models.0.spec" in err
    assert cli(["nightly", "--plan", str(bad), "--date", "03/01/2026"]) == 2
    assert not (workspace / "nightly").exists()
