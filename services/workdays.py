"""Working days and working hours in Viet Nam: weekends, public holidays (Tết included) and the
Saturdays worked in exchange for a bridged day off, from `holidays.VN`.

Pure: no database, no clock. Reminders are moved to the previous working day and into working
hours, because a message on a Sunday or during Tết reaches nobody at the office.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from zoneinfo import ZoneInfo

# A reminder needs some time in the day in which it may still go out (see `send_window`).
MIN_WINDOW = timedelta(minutes=30)
# Working days are at most this far apart, even around Tết (9 days off in 2025).
_MAX_GAP = 30


# The calendar the installed `holidays` gives for the years around now, computed once by
# scripts/vn_calendar.py: loading the library for Viet Nam loads every country's calendar
# (~11 MB that the bot would keep from its first reminder tick on). Used only when it was
# computed by the version installed; any other year, or another version, asks the library.
CALENDAR_FILE = Path(__file__).with_name("vn_calendar.json")


@cache
def _computed() -> dict[int, tuple[frozenset[date], frozenset[date]]]:
    try:
        data = json.loads(CALENDAR_FILE.read_text(encoding="utf-8"))
        if data["holidays"] != version("holidays"):
            return {}
    except (OSError, ValueError, KeyError, PackageNotFoundError):
        return {}  # not there or not readable: the library answers every year

    def days(values: list[str]) -> frozenset[date]:
        return frozenset(date.fromisoformat(v) for v in values)

    return {int(y): (days(v["off"]), days(v["worked"])) for y, v in data["years"].items()}


def from_library(year: int) -> tuple[frozenset[date], frozenset[date]]:
    """The holidays of a year and the weekend days worked instead of a bridged day off.

    A swap can be declared under the neighbouring year (29/12/2018 worked for 05/01/2019), so
    the years either side are read too."""
    import holidays  # see CALENDAR_FILE: only for a year it does not hold

    calendar = holidays.country_holidays("VN", years=range(year - 1, year + 2))
    days = frozenset(d for d in calendar if d.year == year)
    worked = frozenset(d for d in getattr(calendar, "weekend_workdays", ()) if d.year == year)
    return days, worked


@cache
def _year(year: int) -> tuple[frozenset[date], frozenset[date]]:
    found = _computed().get(year)
    return found if found is not None else from_library(year)


def is_working_day(day: date) -> bool:
    """Monday to Friday, not a public holiday; or a Saturday/Sunday worked in exchange."""
    off, worked = _year(day.year)
    if day in off:
        return False
    return day.weekday() < 5 or day in worked


def on_or_before(day: date) -> date:
    """This day if it is a working day, else the working day before it."""
    for _ in range(_MAX_GAP):
        if is_working_day(day):
            return day
        day -= timedelta(days=1)
    raise ValueError(f"no working day within {_MAX_GAP} days before {day}")


def on_or_after(day: date) -> date:
    """This day if it is a working day, else the next one."""
    for _ in range(_MAX_GAP):
        if is_working_day(day):
            return day
        day += timedelta(days=1)
    raise ValueError(f"no working day within {_MAX_GAP} days after {day}")


def add_working_days(day: date, count: int) -> date:
    """The `count`-th working day after `day` (count ≥ 1); `day` itself does not count."""
    if count < 1:
        raise ValueError("count must be at least 1")
    for _ in range(count):
        day = on_or_after(day + timedelta(days=1))
    return day


@dataclass(frozen=True)
class WorkingHours:
    """Office hours, local to the cluster (07:30 to 17:00 in Vietnamese public agencies)."""

    start: time = time(7, 30)
    end: time = time(17, 0)

    def __post_init__(self) -> None:
        if _minutes(self.end) - _minutes(self.start) < MIN_WINDOW.total_seconds() / 60:
            raise ValueError("working hours must last at least 30 minutes")

    def clamp(self, at: time) -> time:
        """A time of day moved into working hours, leaving at least 30 minutes before the
        end so a reminder always has a window to go out in."""
        latest = _time(_minutes(self.end) - int(MIN_WINDOW.total_seconds() // 60))
        if at < self.start:
            return self.start
        return min(at, latest)

    def send_window(self, day: date, at: time, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """When a reminder for `day` at `at` falls due, and until when it is still useful:
        the end of that day's working hours. `day` must already be a working day."""
        start = datetime.combine(day, self.clamp(at), tzinfo=tz)
        end = datetime.combine(day, self.end, tzinfo=tz)
        return start, end


def _minutes(value: time) -> int:
    return value.hour * 60 + value.minute


def _time(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


OFFICE_HOURS = WorkingHours()


def iso_week(day: date) -> str:
    """e.g. 2024-W19: the key of a weekly post."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"
