"""Reporting periods and deadlines, computed from a cluster year's rules."""

from __future__ import annotations

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
