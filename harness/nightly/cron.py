"""Crontab expressions: parsing and checking (5 fields, or 6 with seconds first, as tests use),
the APScheduler trigger, and conversions for systemd (OnCalendar=) and GitHub Actions (UTC)."""

from __future__ import annotations

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any
from zoneinfo import ZoneInfo

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_FIELDS = [
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
]


def cron_fields(expr: str) -> list[str]:
    """The fields of a crontab expression (macros expanded; 5 fields, or 6 with seconds first),
    each checked; ValueError naming the bad field."""
    text = _MACROS.get(expr.strip().lower(), expr.strip())
    parts = text.split()
    if len(parts) not in (5, 6):
        raise ValueError(
            f"cron {expr!r}: expected 5 fields (minute hour day month weekday), got {len(parts)}"
        )
    specs = _FIELDS if len(parts) == 6 else _FIELDS[1:]
    for (name, lo, hi), part in zip(specs, parts, strict=True):
        cron_values(part, lo, hi, name)
    return parts


def cron_values(part: str, lo: int, hi: int, name: str = "field") -> set[int]:
    """The values one crontab field selects (names: jan..dec, sun..sat; day of week 7 = 0)."""
    names = _MONTHS if name == "month" else _DAYS if name == "day of week" else None
    out: set[int] = set()

    def value(tok: str) -> int:
        t = tok.strip().lower()
        if names and t[:3] in names and len(t) >= 3:
            return names.index(t[:3]) + (1 if name == "month" else 0)
        if not t.isdigit():
            raise ValueError(f"cron {name} {part!r}: {tok!r} is not a number")
        v = int(t)
        if not lo <= v <= hi:
            raise ValueError(f"cron {name} {part!r}: {v} is outside {lo}-{hi}")
        return v

    for item in part.split(","):
        rng, slash, step_s = item.partition("/")
        step = 1
        if slash:
            if not step_s.isdigit() or int(step_s) < 1:
                raise ValueError(f"cron {name} {part!r}: bad step {step_s!r}")
            step = int(step_s)
        if rng in ("*", "?"):
            a, b = lo, hi
        elif "-" in rng:
            x, _, y = rng.partition("-")
            a, b = value(x), value(y)
            if a > b:
                raise ValueError(f"cron {name} {part!r}: range {rng!r} runs backwards")
        else:
            a = value(rng)
            b = hi if slash else a
        out.update(range(a, b + 1, step))
    if name == "day of week" and 7 in out:
        out.discard(7)
        out.add(0)
    return out


def _cron_dow_names(part: str) -> str:
    """A crontab day-of-week field as APScheduler 3 reads it: names, since its numbers start at
    Monday = 0 while crontab's start at Sunday = 0."""
    if part.strip() in ("*", "?"):
        return "*"
    days = cron_values(part, 0, 7, "day of week")
    return ",".join(_DAYS[d] for d in sorted(days, key=lambda d: (d - 1) % 7))


def make_trigger(cron: str, tz: str | ZoneInfo) -> Any:
    """An APScheduler CronTrigger for a crontab expression read in `tz` (5 fields via
    `CronTrigger.from_crontab`; 6 fields = seconds first, used by tests)."""
    from apscheduler.triggers.cron import CronTrigger

    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    parts = cron_fields(cron)
    if len(parts) == 5:
        return CronTrigger.from_crontab(" ".join([*parts[:4], _cron_dow_names(parts[4])]), timezone=zone)
    sec, minute, hour, day, month, dow = parts
    return CronTrigger(
        second=sec,
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_cron_dow_names(dow),
        timezone=zone,
    )


def _compact(values: set[int], lo: int, hi: int, width: int = 0) -> str:
    if values == set(range(lo, hi + 1)):
        return "*"
    return ",".join(str(v).zfill(width) for v in sorted(values))


def cron_to_oncalendar(cron: str, tz: str) -> tuple[str, list[str]]:
    """A systemd OnCalendar= expression for a 5-field crontab in `tz`, and notes on differences."""
    m, h, dom, mon, dow = cron_fields(cron)[-5:]
    notes = []
    days = cron_values(dow, 0, 7, "day of week")
    dom_v = cron_values(dom, 1, 31, "day of month")
    if dow.strip() not in ("*", "?") and dom.strip() not in ("*", "?"):
        notes.append("cron runs when the day of month OR the weekday matches; systemd needs both")
    weekday = (
        ""
        if dow.strip() in ("*", "?")
        else ",".join(_DAYS[d].capitalize() for d in sorted(days, key=lambda d: (d - 1) % 7)) + " "
    )
    date_part = f"*-{_compact(cron_values(mon, 1, 12, 'month'), 1, 12, 2)}-{_compact(dom_v, 1, 31, 2)}"
    time_part = f"{_compact(cron_values(h, 0, 23, 'hour'), 0, 23, 2)}:{_compact(cron_values(m, 0, 59, 'minute'), 0, 59, 2)}:00"
    return f"{weekday}{date_part} {time_part} {tz}", notes


def cron_to_utc(cron: str, tz: str, year: int | None = None) -> tuple[list[str], str]:
    """GitHub Actions reads schedules in UTC: the UTC crontab line(s) for `cron` in `tz` (one per UTC
    offset the zone uses in `year`), and a note. When the shift cannot be expressed (a fractional
    offset, or a shift across midnight with a restricted day), the cron is returned unchanged."""
    parts = cron_fields(cron)[-5:]
    zone = ZoneInfo(tz)
    year = year or datetime.now(dt_timezone.utc).year
    offsets: list[int] = []
    for month in (1, 7):
        delta = datetime(year, month, 1, 12, tzinfo=zone).utcoffset() or timedelta(0)
        mins = int(delta.total_seconds() // 60)
        if mins not in offsets:
            offsets.append(mins)
    if offsets == [0]:
        return [" ".join(parts)], f"{tz} is UTC"
    m, h, dom, mon, dow = parts
    hours = cron_values(h, 0, 23, "hour")
    restricted = any(x.strip() not in ("*", "?") for x in (dom, mon, dow))
    lines = []
    for off in offsets:
        if off % 60:
            return [" ".join(parts)], f"{tz} has a UTC offset of {off} minutes: the schedule is read as UTC"
        shifted = {hh - off // 60 for hh in hours}
        if restricted and any(not 0 <= s <= 23 for s in shifted):
            return [
                " ".join(parts)
            ], f"shifting {cron!r} from {tz} to UTC crosses midnight: the schedule is read as UTC"
        line = " ".join([m, _compact({s % 24 for s in shifted}, 0, 23), dom, mon, dow])
        if line not in lines:
            lines.append(line)
    zones = " and ".join(f"UTC{o // 60:+d}" for o in offsets)
    note = f"{cron} in {tz} ({zones}) is scheduled at each UTC offset: the first to fire runs the pass, the second repeats nothing"
    return lines, note
