"""Reporting periods and deadlines, computed from a cluster year's rules, and where a period
stands at a given moment: the one place that decides open, late, locked and "current"."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from models.tables import Cadence

_MONTHS_PER_PERIOD = {
    Cadence.MONTHLY: 1,
    Cadence.QUARTERLY: 3,
    Cadence.HALF_YEARLY: 6,
    Cadence.YEARLY: 12,
}
# Codes officers can type: T01…T12 (tháng), Q1…Q4 (quý), H1/H2 (half), N (năm).
_PREFIX = {Cadence.MONTHLY: "T", Cadence.QUARTERLY: "Q", Cadence.HALF_YEARLY: "H"}


class PeriodState(enum.StrEnum):
    FUTURE = "future"  # not started: nothing to report yet
    OPEN = "open"  # started, deadline not passed
    LATE = "late"  # deadline passed: accepted and marked late
    LOCKED = "locked"  # past the cluster's lock: refused


@dataclass(frozen=True)
class PeriodPlan:
    code: str
    starts_on: date
    ends_on: date
    deadline: datetime  # aware


def _month_end(year: int, month: int) -> date:
    first_next = date(year + month // 12, month % 12 + 1, 1)
    return first_next - timedelta(days=1)


def period_code(cadence: Cadence, index: int) -> str:
    if cadence is Cadence.YEARLY:
        return "N"
    if cadence is Cadence.MONTHLY:
        return f"T{index:02d}"
    return f"{_PREFIX[cadence]}{index}"


def plan_periods(
    year: int, cadence: Cadence, deadline_day: int, deadline_time: str, tz: ZoneInfo
) -> list[PeriodPlan]:
    """The year's periods; each deadline is `deadline_day` of the month after it ends."""
    step = _MONTHS_PER_PERIOD[cadence]
    at = time.fromisoformat(deadline_time)
    plans = []
    for index, first_month in enumerate(range(1, 13, step), start=1):
        last_month = first_month + step - 1
        ends_on = _month_end(year, last_month)
        after = ends_on + timedelta(days=1)
        deadline = datetime.combine(after.replace(day=deadline_day), at, tzinfo=tz)
        plans.append(
            PeriodPlan(
                code=period_code(cadence, index),
                starts_on=date(year, first_month, 1),
                ends_on=ends_on,
                deadline=deadline,
            )
        )
    return plans


def lock_at(deadline: datetime, late_lock_days: int) -> datetime | None:
    """When late reports stop being accepted; None when the year never locks (0 days)."""
    return deadline + timedelta(days=late_lock_days) if late_lock_days else None


def period_state(
    *, starts_on: date, deadline: datetime, late_lock_days: int, now: datetime, tz: ZoneInfo
) -> PeriodState:
    """Not started, open, late (accepted, marked late) or locked (refused) at `now`."""
    # A period starts on a local calendar day; its deadline is an instant.
    if now.astimezone(tz).date() < starts_on:
        return PeriodState.FUTURE
    if now <= deadline:
        return PeriodState.OPEN
    lock = lock_at(deadline, late_lock_days)
    if lock is not None and now > lock:
        return PeriodState.LOCKED
    return PeriodState.LATE


def exists_during(
    valid_from: date | None, valid_to: date | None, starts_on: date, ends_on: date
) -> bool:
    """Whether a unit existed on any day of a period: the one rule for "a member unit of the
    period" (reminders, /hanchot, /tonghop). `valid_to` is the unit's last day; a unit
    merged away before the period began, or created after it ended, is no member of it."""
    return (valid_from is None or valid_from <= ends_on) and (
        valid_to is None or valid_to >= starts_on
    )


def current_index(states: Sequence[PeriodState]) -> int:
    """Which of a year's periods (in start order) people are reporting for now: the earliest
    open one (early April is still Q1 until its deadline); else the latest started one; else
    the first. `states` must not be empty."""
    for index, state in enumerate(states):
        if state is PeriodState.OPEN:
            return index
    started = [index for index, state in enumerate(states) if state is not PeriodState.FUTURE]
    return started[-1] if started else 0
