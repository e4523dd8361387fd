"""Unit tests for the one period-state rule in services/calendar.py: not started, open, late,
locked, and which period is the current one."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.calendar import PeriodState, current_index, lock_at, period_state

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
Q1_DEADLINE = datetime(2024, 4, 5, 17, 0, tzinfo=HCM)

FUTURE, OPEN, LATE, LOCKED = (
    PeriodState.FUTURE,
    PeriodState.OPEN,
    PeriodState.LATE,
    PeriodState.LOCKED,
)


def q1(now: datetime, late_lock_days: int = 0) -> PeriodState:
    return period_state(
        starts_on=date(2024, 1, 1),
        deadline=Q1_DEADLINE,
        late_lock_days=late_lock_days,
        now=now,
        tz=HCM,
    )


def test_a_period_starts_on_its_first_local_day_not_at_utc_midnight() -> None:
    # 17:00 UTC on 31/12 is already midnight on 1/1 in Hồ Chí Minh City.
    assert q1(datetime(2023, 12, 31, 16, 59, tzinfo=UTC)) is FUTURE  # 23:59 local
    assert q1(datetime(2023, 12, 31, 17, 0, tzinfo=UTC)) is OPEN  # 00:00 local


def test_the_deadline_minute_itself_is_still_open_and_the_next_is_late() -> None:
    assert q1(Q1_DEADLINE) is OPEN
    assert q1(Q1_DEADLINE + timedelta(seconds=1)) is LATE


def test_without_a_lock_a_period_stays_late_forever() -> None:
    assert q1(Q1_DEADLINE + timedelta(days=400)) is LATE
    assert lock_at(Q1_DEADLINE, 0) is None


def test_a_lock_refuses_reports_once_its_days_have_passed() -> None:
    assert lock_at(Q1_DEADLINE, 10) == Q1_DEADLINE + timedelta(days=10)
    assert q1(Q1_DEADLINE + timedelta(days=10), late_lock_days=10) is LATE
    assert q1(Q1_DEADLINE + timedelta(days=10, seconds=1), late_lock_days=10) is LOCKED


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([LATE, OPEN, OPEN, FUTURE], 1),  # early April: Q1 late, Q2 open → Q2
        ([OPEN, OPEN, FUTURE, FUTURE], 0),  # 2 April: Q1 still before its deadline
        ([LATE, LATE, FUTURE, FUTURE], 1),  # between periods: the latest started one
        ([LOCKED, LATE, LOCKED, LATE], 3),  # year over: the last one
        ([FUTURE, FUTURE], 0),  # nothing started yet: the first
    ],
)
def test_the_current_period_is_the_earliest_open_else_the_latest_started(
    states: list[PeriodState], expected: int
) -> None:
    assert current_index(states) == expected
