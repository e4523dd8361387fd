"""When a reminder falls due: the cluster year's rules as typed data, and the slots they
give for a period's deadline and for the weekly board (working days, working hours)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services import workdays
from services.cluster_file import WEEKDAYS, LeaderboardRule, ReminderRule
from services.workdays import OFFICE_HOURS, WorkingHours

# A message whose day ended while the bot was down is recorded as skipped if it fell due


# A message whose day ended while the bot was down is recorded as skipped if it fell due
# within this time (long enough for Tết); older ones are simply history.
LOOKBACK = timedelta(days=14)
# The cluster file's bound on every day count of `[years.reminders]` (cluster_file.ReminderRule).
MAX_DAYS = 60


def _stretch(days: int) -> timedelta:
    """A bound on the calendar time `days` working days can take, or a move to the working
    day before or after: at most 7 in 5 days are weekends, plus the longest run of public
    holidays (Tết, with its bridged days) and a day either way for the time zone."""
    return timedelta(days=2 * days + 16)


class Kind(enum.StrEnum):
    BEFORE = "before"  # to each officer of a unit still missing criteria, before the deadline
    GROUP_MISSING = "group_missing"  # to the cluster's group: the units still missing
    OVERDUE = "overdue"  # to each officer of a late unit, on working days after the deadline
    ESCALATE = "escalate"  # to the chair's and vice-chair's officers: who is late on what
    PERIOD_SUMMARY = "period_summary"  # to the chair's officers once the period has closed
    LEADERBOARD = "leaderboard"  # the weekly board in the group
    NUDGE = "nudge"  # the chair's /remind, to each officer of a unit still missing
    NUDGE_GROUP = "nudge_group"  # the chair's /remind, in the group
    UNREACHABLE = "unreachable"  # to the chair: an officer blocked the bot
    BALLOT = "ballot"  # to each officer of a unit that has not voted, before the ballot closes
    MIDYEAR = "midyear"  # the mid-year review to the chair's officers (services/midyear.py)


@dataclass(frozen=True)
class ReminderRules:
    """`[years.reminders]` of the cluster file (defaults: cluster_file.ReminderRule), typed
    for the scheduler."""

    before_days: tuple[int, ...]  # ascending, each once
    at: time
    overdue_days: int
    escalate_after_days: int

    def span(self) -> tuple[timedelta, timedelta]:
        """How long before and after a period's deadline its slots can lie: every slot of
        `period_slots` starts at or after deadline - before and ends by deadline + after.
        The planner skips a period whose span misses the moment without working its slots
        out (a tick over every cluster meets thousands of such periods)."""
        before = max(self.before_days, default=0)
        after = max(self.overdue_days, self.escalate_after_days, 1)  # the summary: 1 day
        return _stretch(before), _stretch(after)

    @classmethod
    def of(cls, rule: ReminderRule) -> ReminderRules:
        return cls(
            before_days=tuple(sorted(set(rule.before_days))),
            at=time.fromisoformat(rule.at),
            overdue_days=rule.overdue_days,
            escalate_after_days=rule.escalate_after_days,
        )


@dataclass(frozen=True)
class BoardRule:
    """`[years.leaderboard]` of the cluster file (defaults: cluster_file.LeaderboardRule)."""

    enabled: bool
    weekday: int  # 0 = Monday
    at: time
    without_group: str = "zalo"  # cluster_file.LeaderboardRule.without_group

    @classmethod
    def of(cls, rule: LeaderboardRule) -> BoardRule:
        return cls(
            enabled=rule.enabled,
            weekday=WEEKDAYS.index(rule.weekday),
            at=time.fromisoformat(rule.at),
            without_group=rule.without_group,
        )


@dataclass(frozen=True)
class Slot:
    """One scheduled send of a rule: when it falls due and until when it is still useful."""

    rule: str
    kind: Kind
    due_at: datetime
    until: datetime
    days_left: int = 0  # calendar days from the send day to the deadline day; < 0 after it

    def state(self, now: datetime, lookback: timedelta = LOOKBACK) -> str | None:
        """ "due" inside its window, "expired" if its window ended recently, else None."""
        if self.due_at <= now < self.until:
            return "due"
        if self.until <= now < self.until + lookback:
            return "expired"
        return None


def period_slots(
    rules: ReminderRules,
    *,
    deadline: datetime,
    starts_on: date,
    tz: ZoneInfo,
    lock_at: datetime | None = None,
    hours: WorkingHours = OFFICE_HOURS,
) -> list[Slot]:
    """Every scheduled send for one period's deadline, on working days in working hours."""
    deadline_day = deadline.astimezone(tz).date()
    slots: list[Slot] = []
    used: set[date] = set()
    # Nearest first: when two offsets land on the same working day (a weekend or a holiday
    # in between), that day gets one reminder, the more urgent one.
    for offset in sorted(rules.before_days):
        day = workdays.on_or_before(deadline_day - timedelta(days=offset))
        if day in used or day < starts_on:
            continue
        start, end = hours.send_window(day, rules.at, tz)
        end = min(end, deadline)
        if start >= end:
            continue
        used.add(day)
        left = (deadline_day - day).days
        slots.append(Slot(f"before:{offset}", Kind.BEFORE, start, end, left))
        slots.append(Slot(f"group_missing:{offset}", Kind.GROUP_MISSING, start, end, left))
    for n in range(1, rules.overdue_days + 1):
        day = workdays.add_working_days(deadline_day, n)
        start, end = hours.send_window(day, rules.at, tz)
        if lock_at is not None:
            if start >= lock_at:
                break  # the period is locked: a report would be refused anyway
            end = min(end, lock_at)
        if start > deadline:
            slots.append(Slot(f"overdue:{n}", Kind.OVERDUE, start, end, (deadline_day - day).days))
    after = [("period_summary", Kind.PERIOD_SUMMARY, 1)]
    if rules.escalate_after_days > 0:
        after.insert(0, ("escalate", Kind.ESCALATE, rules.escalate_after_days))
    for rule, kind, n in after:
        day = workdays.add_working_days(deadline_day, n)
        start, end = hours.send_window(day, rules.at, tz)
        if start > deadline:
            slots.append(Slot(rule, kind, start, end, (deadline_day - day).days))
    return slots


def board_slots(
    rule: BoardRule, today: date, tz: ZoneInfo, hours: WorkingHours = OFFICE_HOURS
) -> list[Slot]:
    """The weekly leaderboard posts around `today` (last, this and next ISO week), each on its
    weekday or the working day before it, keyed by the week it belongs to."""
    if not rule.enabled:
        return []
    monday = today - timedelta(days=today.weekday())
    slots = []
    for weeks in (-1, 0, 1):
        nominal = monday + timedelta(weeks=weeks, days=rule.weekday)
        day = workdays.on_or_before(nominal)
        start, end = hours.send_window(day, rule.at, tz)
        slots.append(
            Slot(f"leaderboard:{workdays.iso_week(nominal)}", Kind.LEADERBOARD, start, end)
        )
    return slots
