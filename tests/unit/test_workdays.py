"""Working days in Viet Nam: weekends, public holidays (Tết included), the Saturdays worked
in exchange for a bridged day off, and office hours."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services import workdays
from services.workdays import WorkingHours


@pytest.mark.parametrize(
    "day",
    [
        date(2024, 2, 8),  # 29 Tết Giáp Thìn
        date(2024, 2, 10),  # mùng 1
        date(2024, 2, 14),  # mùng 5: the last day off
        date(2025, 1, 27),  # 28 Tết Ất Tỵ
        date(2025, 1, 29),  # mùng 1
        date(2025, 1, 31),  # mùng 3
        date(2024, 4, 18),  # Giỗ Tổ Hùng Vương
        date(2024, 4, 29),  # bridged day off, worked back on Saturday 04/05/2024
        date(2024, 4, 30),
        date(2024, 5, 1),
        date(2024, 9, 2),
        date(2024, 9, 3),  # the second National Day holiday since 2021
        date(2025, 5, 2),  # bridged day off, worked back on Saturday 26/04/2025
        date(2024, 1, 1),
    ],
)
def test_public_holidays_and_tet_are_not_working_days(day: date) -> None:
    assert not workdays.is_working_day(day)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2024, 5, 4), True),  # Saturday worked in exchange for 29/04
        (date(2025, 4, 26), True),  # Saturday worked in exchange for 02/05/2025
        (date(2024, 5, 5), False),  # an ordinary Sunday
        (date(2024, 5, 11), False),  # an ordinary Saturday
        (date(2024, 2, 7), True),  # the day before Tết 2024
        (date(2024, 2, 15), True),  # back at work after Tết 2024
        (date(2025, 2, 3), True),  # back at work after Tết 2025
        (date(2024, 5, 10), True),  # an ordinary Friday
    ],
)
def test_weekends_and_swapped_working_saturdays(day: date, working: bool) -> None:
    assert workdays.is_working_day(day) is working


def test_a_day_off_moves_to_the_previous_working_day() -> None:
    assert workdays.on_or_before(date(2024, 4, 7)) == date(2024, 4, 5)  # Sunday → Friday
    assert workdays.on_or_before(date(2024, 2, 12)) == date(2024, 2, 7)  # inside Tết
    assert workdays.on_or_before(date(2025, 1, 30)) == date(2025, 1, 24)  # 9 days off in 2025
    assert workdays.on_or_before(date(2024, 5, 1)) == date(2024, 4, 26)  # the 29/4 to 1/5 bridge
    assert workdays.on_or_before(date(2024, 5, 6)) == date(2024, 5, 6)  # already a working day


def test_counting_working_days_after_a_deadline_skips_tet_and_holidays() -> None:
    assert workdays.add_working_days(date(2024, 2, 7), 1) == date(2024, 2, 15)
    assert workdays.add_working_days(date(2024, 4, 5), 1) == date(2024, 4, 8)
    assert workdays.add_working_days(date(2024, 4, 26), 1) == date(2024, 5, 2)
    assert workdays.add_working_days(date(2024, 5, 3), 1) == date(2024, 5, 4)  # worked Saturday
    with pytest.raises(ValueError):
        workdays.add_working_days(date(2024, 5, 3), 0)


@given(st.dates(min_value=date(2023, 1, 1), max_value=date(2026, 12, 31)))
def test_the_previous_working_day_is_never_later_and_always_working(day: date) -> None:
    found = workdays.on_or_before(day)
    assert found <= day and workdays.is_working_day(found)
    assert all(
        not workdays.is_working_day(found + timedelta(days=i))
        for i in range(1, (day - found).days + 1)
    )


@given(st.dates(min_value=date(2023, 1, 1), max_value=date(2026, 11, 30)), st.integers(1, 10))
def test_adding_n_working_days_passes_exactly_n_of_them(day: date, n: int) -> None:
    found = workdays.add_working_days(day, n)
    between = [day + timedelta(days=i) for i in range(1, (found - day).days + 1)]
    assert sum(1 for d in between if workdays.is_working_day(d)) == n
    assert workdays.is_working_day(found)


def test_reminder_times_are_moved_into_office_hours() -> None:
    hours = WorkingHours()
    assert hours.clamp(time(6, 0)) == time(7, 30)
    assert hours.clamp(time(8, 0)) == time(8, 0)
    assert hours.clamp(time(16, 45)) == time(16, 30)  # half an hour is left to send it
    assert hours.clamp(time(21, 0)) == time(16, 30)
    with pytest.raises(ValueError):
        WorkingHours(start=time(8, 0), end=time(8, 10))


def test_a_weekly_post_is_keyed_by_its_iso_week() -> None:
    assert workdays.iso_week(date(2024, 5, 10)) == "2024-W19"
    assert workdays.iso_week(date(2024, 12, 30)) == "2025-W01"
