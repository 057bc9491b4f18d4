"""Install files that run `tunebench nightly` on a plan's schedule without a long-running process:
a crontab line (CRON_TZ), a systemd service and timer (OnCalendar= in the plan's time zone), or a
GitHub Actions workflow (cron in UTC, one line per UTC offset of the zone)."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

from ..errors import InputError
from .cron import cron_fields, cron_to_oncalendar, cron_to_utc
from .plan import load_plan

TEMPLATES = Path(__file__).parent.parent / "templates"


INSTALL_KINDS = ("cron", "systemd", "github-actions")


def _fill(template: str, values: dict[str, str]) -> str:
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    for k, v in values.items():
        text = text.replace(f"@@{k}@@", v)
    left = re.findall(r"@@\w+@@", text)
    if left:
        raise RuntimeError(f"template {template}: unfilled {', '.join(sorted(set(left)))}")
    return text


def _tunebench_exe() -> str:
    exe = Path(sys.executable).parent / "tunebench"
    return str(exe) if exe.exists() else f"{sys.executable} -m harness.cli.main"


def _systemd_quote(s: str) -> str:
    return (
        s if re.fullmatch(r"[\w@%+=:,./-]+", s) else '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    )


def install_files(
    plan_path: str | Path,
    kind: str,
    *,
    workspace: str | None = None,
    store_url: str | None = None,
    cwd: Path | None = None,
) -> dict[str, str]:
    """File name -> text of the scheduler files for `kind` (cron: a crontab; systemd: a service and
    a timer; github-actions: a workflow). Paths are absolute, except in the workflow (repository-relative)."""
    if kind not in INSTALL_KINDS:
        raise InputError(f"--kind {kind!r}: expected one of {', '.join(INSTALL_KINDS)}")
    plan = load_plan(plan_path)
    cwd = (cwd or Path.cwd()).resolve()
    plan_abs = Path(plan.path or plan_path).resolve()
    from ..workspace import workspace_dir

    ws = str(workspace_dir(workspace or plan.workspace_path()))
    exe = _tunebench_exe()
    cron, tz = plan.schedule.cron, plan.schedule.timezone
    unit = f"tunebench-nightly-{plan.name}"
    store_arg = f" --store {shlex.quote(store_url)}" if store_url else ""
    if kind == "cron":
        log_file = str(Path(ws) / "nightly" / f"{plan.name}.log")
        cmd = (
            f"cd {shlex.quote(str(cwd))} && mkdir -p {shlex.quote(str(Path(log_file).parent))} && "
            f"{exe} --workspace {shlex.quote(ws)}{store_arg} nightly --plan {shlex.quote(str(plan_abs))} --no-progress "
            f">> {shlex.quote(log_file)} 2>&1"
        )
        five = " ".join(cron_fields(cron)[-5:])
        return {
            f"{unit}.crontab": _fill(
                "nightly-crontab.txt",
                {
                    "plan": plan.name,
                    "cron": five,
                    "timezone": tz,
                    "command": cmd.replace("%", "\\%"),
                },
            )
        }
    if kind == "systemd":
        on_calendar, notes = cron_to_oncalendar(cron, tz)
        exec_start = " ".join(
            _systemd_quote(x)
            for x in [
                *exe.split(" "),
                "--workspace",
                ws,
                *(["--store", store_url] if store_url else []),
                "nightly",
                "--plan",
                str(plan_abs),
                "--no-progress",
            ]
        )
        values = {
            "plan": plan.name,
            "unit": unit,
            "cwd": _systemd_quote(str(cwd)),
            "exec_start": exec_start,
            "cron": cron,
            "timezone": tz,
            "on_calendar": on_calendar,
            "notes": "".join(f"# note: {n}\n" for n in notes),
        }
        return {
            f"{unit}.service": _fill("nightly-systemd-service.txt", values),
            f"{unit}.timer": _fill("nightly-systemd-timer.txt", values),
        }
    lines, note = cron_to_utc(cron, tz)
    try:
        rel = str(plan_abs.relative_to(cwd))
    except ValueError:
        rel = str(plan_abs)
    schedule = "".join(f'    - cron: "{line}"\n' for line in lines)
    return {
        f"{unit}.yml": _fill(
            "nightly-workflow.yml",
            {
                "plan": plan.name,
                "plan_path": rel,
                "cron": cron,
                "timezone": tz,
                "note": note,
                "schedule": schedule.rstrip("\n"),
            },
        )
    }
