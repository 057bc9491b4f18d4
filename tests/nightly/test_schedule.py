"""`tunebench schedule`: cron parsing and conversion, the APScheduler trigger, the scheduler process
(fires on a per-second test cron, refuses a second scheduler, exits 0 on SIGTERM with its lease
released), and `schedule install` for cron, systemd and GitHub Actions."""

from __future__ import annotations

import configparser
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import func, select

from harness.cli.main import main as cli
from harness.nightly import (
    LockHeld,
    cron_fields,
    cron_to_oncalendar,
    cron_to_utc,
    cron_values,
    load_plan,
    make_trigger,
    run_scheduler,
)
from harness.store import Store, locks, nightly_passes, records

BERLIN = ZoneInfo("Europe/Berlin")


def write_plan(root: Path, make_suite: Any, cron: str = "30 2 * * 1-5") -> Path:
    make_suite(root / "tiny-suite", 6)
    (root / "policy.yaml").write_text(
        "name: p\nmin_samples: 3\nrules:\n  - {suite: tiny-suite, metric: json_valid, rule: at_least, threshold: 0.0}\n"
    )
    plan = root / "plan.yaml"
    plan.write_text(
        yaml.safe_dump(
            {
                "name": "sched",
                "models": [{"name": "echo", "spec": "mock:echo"}],
                "suites": ["./tiny-suite"],
                "policy": "policy.yaml",
                "schedule": {"cron": cron, "timezone": "Europe/Berlin"},
            }
        )
    )
    return plan


def test_cron_fields_and_values() -> None:
    assert cron_values("*/15", 0, 59, "minute") == {0, 15, 30, 45}
    assert cron_values("mon-fri", 0, 7, "day of week") == {1, 2, 3, 4, 5}
    assert cron_values("7,1", 0, 7, "day of week") == {0, 1}
    assert cron_values("10-20/5", 0, 59, "minute") == {10, 15, 20}
    assert cron_fields("@daily") == ["0", "0", "*", "*", "*"]
    for bad, msg in [
        ("0 2 * *", "5 fields"),
        ("61 * * * *", "outside 0-59"),
        ("0 5-2 * * *", "backwards"),
        ("*/0 * * * *", "bad step"),
        ("0 2 * * xyz", "not a number"),
    ]:
        with pytest.raises(ValueError, match=msg):
            cron_fields(bad)


def test_trigger_reads_crontab_weekdays_and_time_zone() -> None:
    # APScheduler 3 numbers weekdays from Monday = 0; crontab's 1 is Monday and must stay Monday
    trig = make_trigger("0 2 * * 1", "Europe/Berlin")
    nxt = trig.get_next_fire_time(None, datetime(2026, 3, 4, 12, tzinfo=BERLIN))  # a Wednesday
    assert nxt == datetime(2026, 3, 9, 2, 0, tzinfo=BERLIN) and nxt.strftime("%A") == "Monday"
    sunday = make_trigger("0 2 * * 0", "UTC").get_next_fire_time(
        None, datetime(2026, 3, 4, tzinfo=ZoneInfo("UTC"))
    )
    assert sunday.strftime("%A") == "Sunday"
    every = make_trigger("* * * * * *", "UTC")  # 6 fields: seconds first (tests)
    t0 = datetime(2026, 3, 4, 12, 0, 0, 500000, tzinfo=ZoneInfo("UTC"))
    assert (every.get_next_fire_time(None, t0) - t0).total_seconds() < 1


def test_cron_conversions() -> None:
    assert cron_to_oncalendar("30 2 * * 1-5", "Europe/Berlin") == (
        "Mon,Tue,Wed,Thu,Fri *-*-* 02:30:00 Europe/Berlin",
        [],
    )
    assert cron_to_oncalendar("*/15 * * * *", "UTC")[0] == "*-*-* *:00,15,30,45:00 UTC"
    cal, notes = cron_to_oncalendar("0 3 1 * sun", "UTC")
    assert cal == "Sun *-*-01 03:00:00 UTC" and "OR" in notes[0]
    assert cron_to_utc("0 2 * * *", "Europe/Berlin", 2026)[0] == ["0 1 * * *", "0 0 * * *"]
    assert cron_to_utc("0 22 * * *", "America/New_York", 2026)[0] == ["0 3 * * *", "0 2 * * *"]
    lines, note = cron_to_utc("0 0 * * 1", "Europe/Berlin", 2026)  # would cross midnight on a weekday
    assert lines == ["0 0 * * 1"] and "UTC" in note
    assert cron_to_utc("0 2 * * *", "UTC")[0] == ["0 2 * * *"]


def test_install_writes_crontab_systemd_and_workflow(
    tmp_path: Path,
    workspace: Path,
    make_suite: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan = write_plan(tmp_path, make_suite)
    monkeypatch.chdir(tmp_path)
    assert (
        cli(["schedule", "install", "--plan", "plan.yaml", "--kind", "cron", "--out", "out/nightly.crontab"])
        == 0
    )
    lines = [
        x
        for x in (tmp_path / "out" / "nightly.crontab").read_text().splitlines()
        if x and not x.startswith("#")
    ]
    assert lines[0] == "CRON_TZ=Europe/Berlin"
    job = lines[1].split()
    assert cron_fields(" ".join(job[:5])) == ["30", "2", "*", "*", "1-5"]
    assert f"nightly --plan {plan}" in lines[1] and f"--workspace {workspace}" in lines[1]

    assert cli(["schedule", "install", "--plan", "plan.yaml", "--kind", "systemd", "--out", "units"]) == 0
    service = configparser.ConfigParser(interpolation=None)
    service.read_string((tmp_path / "units" / "tunebench-nightly-sched.service").read_text())
    assert service["Service"]["Type"] == "oneshot"
    assert service["Service"]["ExecStart"].endswith(f"nightly --plan {plan} --no-progress")
    timer = configparser.ConfigParser(interpolation=None)
    timer.read_string((tmp_path / "units" / "tunebench-nightly-sched.timer").read_text())
    on_calendar = timer["Timer"]["OnCalendar"]
    assert on_calendar == "Mon,Tue,Wed,Thu,Fri *-*-* 02:30:00 Europe/Berlin"
    assert (
        timer["Timer"]["Unit"] == "tunebench-nightly-sched.service"
        and timer["Install"]["WantedBy"] == "timers.target"
    )
    if shutil.which("systemd-analyze"):
        assert (
            subprocess.run(["systemd-analyze", "calendar", on_calendar], capture_output=True).returncode == 0
        )

    capsys.readouterr()
    assert cli(["schedule", "install", "--plan", "plan.yaml", "--kind", "github-actions"]) == 0
    wf = yaml.safe_load(capsys.readouterr().out)
    on = wf.get("on", wf.get(True))
    assert [c["cron"] for c in on["schedule"]] == ["30 1 * * 1-5", "30 0 * * 1-5"]
    assert "workflow_dispatch" in on
    run_steps = [s.get("run", "") for s in wf["jobs"]["nightly"]["steps"]]
    assert any("nightly --plan plan.yaml" in r for r in run_steps)
    assert cli(["schedule", "install", "--kind", "cron"]) == 2


def _count(store: Store, table: Any, *where: Any) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_scheduler_fires_refuses_a_second_and_stops_on_sigterm(
    tmp_path: Path, workspace: Path, make_suite: Any
) -> None:
    plan = write_plan(tmp_path, make_suite)
    out = tmp_path / "schedule.out"
    env = {**os.environ, "TUNEBENCH_HOME": str(workspace), "TUNEBENCH_SCHEDULE_CRON": "* * * * * *"}
    with out.open("w") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness.cli.main", "schedule", "--plan", str(plan)],
            env=env,
            stdout=f,
            stderr=subprocess.STDOUT,
        )
    store = Store(workspace=workspace)
    today = load_plan(plan).today()
    try:
        deadline = time.monotonic() + 60
        while _count(store, nightly_passes, nightly_passes.c.status == "complete") < 1:
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.2)
        # a second scheduler of the plan refuses while the first holds its lease
        with pytest.raises(LockHeld, match="already running"):
            run_scheduler(plan, stop=threading.Event())
        time.sleep(1.5)  # more ticks: the finished pass is not repeated
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, out.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    text = out.read_text()
    assert "next pass" in text and f"pass sched {today} complete" in text and "stopped" in text
    assert text.count(f"pass sched {today} complete") == 1
    assert _count(store, records, records.c.kind == "nightly") == 1
    assert _count(store, locks) == 0


def test_scheduler_resumes_an_unfinished_pass_then_stops(
    tmp_path: Path, workspace: Path, make_suite: Any
) -> None:
    plan = write_plan(tmp_path, make_suite, cron="0 2 1 1 *")  # next fire months away
    store = Store(workspace=workspace)
    today = load_plan(plan).today()
    with store.engine.begin() as conn:  # a pass that was killed earlier today
        conn.execute(
            nightly_passes.insert().values(plan="sched", date=today, status="running", started_at="x")
        )
    stop = threading.Event()
    lines: list[str] = []

    def echo(msg: str) -> None:
        lines.append(msg)
        if "exit code" in msg:
            stop.set()

    t = threading.Thread(target=run_scheduler, args=(plan,), kwargs={"stop": stop, "echo": echo}, daemon=True)
    t.start()
    t.join(timeout=60)
    assert not t.is_alive()
    assert any(f"resuming the unfinished pass of {today}" in x for x in lines)
    assert any(f"pass sched {today} complete" in x for x in lines)
    assert _count(store, locks) == 0
