"""Unit tests for services/calendar.py: reporting periods, their codes and deadlines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from models.tables import Cadence
from services.calendar import period_code, plan_periods

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
SEVEN_HOURS = timedelta(hours=7)


def test_quarterly_2024_has_four_quarters_due_on_the_5th_at_17h() -> None:
    plans = plan_periods(2024, Cadence.QUARTERLY, 5, "17:00", HCM)

    assert [p.code for p in plans] == ["Q1", "Q2", "Q3", "Q4"]
    assert [p.starts_on for p in plans] == [
        date(2024, 1, 1),
        date(2024, 4, 1),
        date(2024, 7, 1),
        date(2024, 10, 1),
    ]
    assert [p.ends_on for p in plans] == [
        date(2024, 3, 31),
        date(2024, 6, 30),
        date(2024, 9, 30),
        date(2024, 12, 31),
    ]
    assert [p.deadline for p in plans] == [
        datetime(2024, 4, 5, 17, 0, tzinfo=HCM),
        datetime(2024, 7, 5, 17, 0, tzinfo=HCM),
        datetime(2024, 10, 5, 17, 0, tzinfo=HCM),
        datetime(2025, 1, 5, 17, 0, tzinfo=HCM),
    ]


def test_deadlines_are_aware_and_in_the_cluster_time_zone() -> None:
    plans = plan_periods(2024, Cadence.QUARTERLY, 5, "17:00", HCM)

    for plan in plans:
        assert plan.deadline.tzinfo is HCM
        assert plan.deadline.utcoffset() == SEVEN_HOURS
    # 17:00 in Hồ Chí Minh City is 10:00 UTC.
    assert plans[0].deadline.astimezone(UTC) == datetime(2024, 4, 5, 10, 0, tzinfo=UTC)
    assert plans[-1].deadline.astimezone(UTC) == datetime(2025, 1, 5, 10, 0, tzinfo=UTC)


def test_monthly_has_twelve_months_and_february_2024_ends_on_the_29th() -> None:
    plans = plan_periods(2024, Cadence.MONTHLY, 5, "17:00", HCM)

    assert [p.code for p in plans] == [f"T{m:02d}" for m in range(1, 13)]
    assert plans[0].code == "T01"
    assert plans[-1].code == "T12"
    assert plans[1].starts_on == date(2024, 2, 1)
    assert plans[1].ends_on == date(2024, 2, 29)
    assert plans[1].deadline == datetime(2024, 3, 5, 17, 0, tzinfo=HCM)
    assert plans[-1].ends_on == date(2024, 12, 31)
    assert plans[-1].deadline == datetime(2025, 1, 5, 17, 0, tzinfo=HCM)
    # Periods tile the year: each starts the day after the previous one ends.
    for before, after in pairwise(plans):
        assert after.starts_on == before.ends_on + timedelta(days=1)


def test_february_has_28_days_in_a_common_year() -> None:
    plans = plan_periods(2023, Cadence.MONTHLY, 5, "17:00", HCM)

    assert plans[1].ends_on == date(2023, 2, 28)


def test_half_yearly_has_h1_and_h2() -> None:
    plans = plan_periods(2024, Cadence.HALF_YEARLY, 5, "17:00", HCM)

    assert [(p.code, p.starts_on, p.ends_on) for p in plans] == [
        ("H1", date(2024, 1, 1), date(2024, 6, 30)),
        ("H2", date(2024, 7, 1), date(2024, 12, 31)),
    ]
    assert [p.deadline for p in plans] == [
        datetime(2024, 7, 5, 17, 0, tzinfo=HCM),
        datetime(2025, 1, 5, 17, 0, tzinfo=HCM),
    ]


def test_yearly_has_one_period_n_due_in_january_of_the_next_year() -> None:
    (plan,) = plan_periods(2024, Cadence.YEARLY, 10, "17:00", HCM)

    assert plan.code == "N"
    assert (plan.starts_on, plan.ends_on) == (date(2024, 1, 1), date(2024, 12, 31))
    assert plan.deadline == datetime(2025, 1, 10, 17, 0, tzinfo=HCM)


def test_deadline_day_and_time_are_honoured() -> None:
    plans = plan_periods(2024, Cadence.MONTHLY, 7, "16:30", HCM)

    assert plans[0].deadline == datetime(2024, 2, 7, 16, 30, tzinfo=HCM)
    assert {(p.deadline.day, p.deadline.hour, p.deadline.minute) for p in plans} == {(7, 16, 30)}


def test_another_time_zone_changes_the_offset_not_the_wall_clock() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")

    (plan,) = plan_periods(2024, Cadence.YEARLY, 5, "08:00", tokyo)

    assert plan.deadline == datetime(2025, 1, 5, 8, 0, tzinfo=tokyo)
    assert (plan.deadline.hour, plan.deadline.minute) == (8, 0)
    assert plan.deadline.utcoffset() == timedelta(hours=9)


@pytest.mark.parametrize(
    ("cadence", "index", "code"),
    [
        (Cadence.MONTHLY, 1, "T01"),
        (Cadence.MONTHLY, 12, "T12"),
        (Cadence.QUARTERLY, 3, "Q3"),
        (Cadence.HALF_YEARLY, 2, "H2"),
        (Cadence.YEARLY, 1, "N"),
    ],
)
def test_period_code(cadence: Cadence, index: int, code: str) -> None:
    assert period_code(cadence, index) == code
