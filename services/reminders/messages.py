"""What a reminder carries: the units' gaps, the period, and one `Due` message with its
ledger key (rule|period|unit|recipient)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from models.tables import (
    Period,
)
from services import calendar
from services.addresses import Address
from services.calendar import PeriodState
from services.reminders.schedule import Kind


@dataclass(frozen=True)
class CriterionRef:
    code: str
    name: str


@dataclass(frozen=True)
class Gap:
    """A unit and the criteria it has not reported for a period."""

    unit_id: int
    unit_name: str
    total: int  # criteria to report
    missing: tuple[CriterionRef, ...]


@dataclass(frozen=True)
class PeriodRef:
    id: int
    code: str
    year: int
    starts_on: date
    ends_on: date
    deadline: datetime

    def state(self, late_lock_days: int, now: datetime, tz: ZoneInfo) -> PeriodState:
        """Where the period stands at `now`: the rule reporting applies (services.calendar)."""
        return calendar.period_state(
            starts_on=self.starts_on,
            deadline=self.deadline,
            late_lock_days=late_lock_days,
            now=now,
            tz=tz,
        )


@dataclass(frozen=True)
class BallotRef:
    """The open ballot a reminder is about (Kind.BALLOT)."""

    id: int
    kind: str  # services.ballot.KINDS
    year: int
    closes_at: datetime


@dataclass(frozen=True)
class Due:
    """One message to send: to whom, why, and what it says (rendered by the channel)."""

    key: str
    rule: str
    kind: Kind
    cluster_id: int
    cluster_name: str
    cluster_kind: str
    timezone: str
    address: Address  # the person's identity, or the cluster's group
    language: str
    due_at: datetime
    until: datetime
    days_left: int = 0
    period: PeriodRef | None = None
    unit_id: int | None = None
    user_id: int | None = None
    gaps: tuple[Gap, ...] = ()
    members: int = 0  # member units existing during the period, for "4 of 6 units"
    subject: str | None = None  # UNREACHABLE: who blocked the bot
    subject_unit: str | None = None
    ballot: BallotRef | None = None  # BALLOT: the ballot the unit has not voted in

    @property
    def to_group(self) -> bool:
        # The weekly board goes to each officer privately when the cluster has no group.
        group_kind = self.kind in (Kind.GROUP_MISSING, Kind.NUDGE_GROUP, Kind.LEADERBOARD)
        return group_kind and self.user_id is None


def dedup_key(rule: str, period_id: int | None, unit_id: int | None, recipient: str) -> str:
    """rule|period|unit|recipient: the identity of a message in the ledger."""
    return f"{rule}|{period_id if period_id is not None else '-'}|{unit_id or '-'}|{recipient}"


def group_recipient(cluster_id: int) -> str:
    # The cluster's group, whatever its chat id: a re-linked group does not get it twice.
    return f"group:{cluster_id}"


def period_ref(period: Period) -> PeriodRef:
    return PeriodRef(
        id=period.id,
        code=period.code,
        year=period.year,
        starts_on=period.starts_on,
        ends_on=period.ends_on,
        deadline=period.deadline,
    )
