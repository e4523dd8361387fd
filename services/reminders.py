"""Scheduled reminders and digests: what falls due when and for whom, and the ledger that lets
each one go out once, across restarts and across several bot processes on one database.

The schedule is data: the cluster year's `settings["reminders"]` and `settings["leaderboard"]`
(from the cluster file) and the periods' deadlines. Given `now`, `plan` lists every message
that is due and not yet in the ledger (`reminder_log`). A message is claimed by inserting its
dedup key (rule|period|unit|recipient) just before it is sent; the unique index makes a second
claim fail, so two processes, or one restarted, never send it twice. A claim that is never
finished (the process died mid-send) stays `claimed` and is not retried: at most once.

A message falls due at its time and stays due until the end of that working day; one whose
day ended while the bot was down is recorded as `skipped` (with a log line) and never sent.
"""

from __future__ import annotations

import enum
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import (
    Cluster,
    ClusterYear,
    Criterion,
    CriterionKind,
    Identity,
    Membership,
    Officer,
    Period,
    ReminderLog,
    Report,
    Role,
    Unit,
    User,
    YearStatus,
)
from services import audit, calendar, workdays
from services.access import Actor, Permission
from services.addresses import Address
from services.calendar import PeriodState
from services.cluster_file import WEEKDAYS, LeaderboardRule, ReminderRule, year_settings
from services.clusters import current_year
from services.contacts import Contact, officer_contacts
from services.errors import InvalidInput, NotFound, PermissionDenied
from services.workdays import OFFICE_HOURS, WorkingHours

log = logging.getLogger(__name__)

# A message whose day ended while the bot was down is recorded as skipped if it fell due
# within this time (long enough for Tết); older ones are simply history.
LOOKBACK = timedelta(days=14)
_NOT_COUNTED = (CriterionKind.GROUP, CriterionKind.BONUS, CriterionKind.PENALTY)
_CHUNK = 500


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


class Status(enum.StrEnum):
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ReminderRules:
    """`[years.reminders]` of the cluster file (defaults: cluster_file.ReminderRule), typed
    for the scheduler."""

    before_days: tuple[int, ...]  # ascending, each once
    at: time
    overdue_days: int
    escalate_after_days: int

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

    @classmethod
    def of(cls, rule: LeaderboardRule) -> BoardRule:
        return cls(
            enabled=rule.enabled,
            weekday=WEEKDAYS.index(rule.weekday),
            at=time.fromisoformat(rule.at),
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


# ------------------------------------------------------------------ what a message carries


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
    members: int = 0  # member units of the period's year, for "4 of 6 units"
    subject: str | None = None  # UNREACHABLE: who blocked the bot
    subject_unit: str | None = None

    @property
    def to_group(self) -> bool:
        return self.kind in (Kind.GROUP_MISSING, Kind.NUDGE_GROUP, Kind.LEADERBOARD)


def dedup_key(rule: str, period_id: int | None, unit_id: int | None, recipient: str) -> str:
    """rule|period|unit|recipient: the identity of a message in the ledger."""
    return f"{rule}|{period_id if period_id is not None else '-'}|{unit_id or '-'}|{recipient}"


def group_recipient(cluster_id: int) -> str:
    # The cluster's group, whatever its chat id: a re-linked group does not get it twice.
    return f"group:{cluster_id}"


@dataclass
class Plan:
    due: list[Due] = field(default_factory=list)
    expired: list[Due] = field(default_factory=list)


# ------------------------------------------------------------------ reading the database


def period_ref(period: Period) -> PeriodRef:
    return PeriodRef(
        id=period.id,
        code=period.code,
        year=period.year,
        starts_on=period.starts_on,
        ends_on=period.ends_on,
        deadline=period.deadline,
    )


class _Reader:
    """Cached reads for one planning run: gaps per period, officers per unit, roles."""

    def __init__(self, session: AsyncSession) -> None:
        self.s = session
        self._criteria: dict[tuple[int, int], list[Criterion]] = {}
        self._members: dict[tuple[int, int], dict[int, tuple[Unit, Role]]] = {}
        self._gaps: dict[int, dict[int, Gap]] = {}
        self._officers: dict[int, dict[int, list[Contact]]] = {}

    async def criteria(self, cluster_id: int, year: int) -> list[Criterion]:
        key = (cluster_id, year)
        if key not in self._criteria:
            self._criteria[key] = list(
                await self.s.scalars(
                    select(Criterion)
                    .where(
                        Criterion.cluster_id == cluster_id,
                        Criterion.year == year,
                        Criterion.active.is_(True),
                        Criterion.kind.not_in(_NOT_COUNTED),
                    )
                    .order_by(Criterion.position)
                )
            )
        return self._criteria[key]

    async def members(self, cluster_id: int, year: int) -> dict[int, tuple[Unit, Role]]:
        key = (cluster_id, year)
        if key not in self._members:
            rows = await self.s.execute(
                select(Unit, Membership.role)
                .join(Membership, Membership.unit_id == Unit.id)
                .where(Membership.cluster_id == cluster_id, Membership.year == year)
                .order_by(Unit.short_name)
            )
            self._members[key] = {unit.id: (unit, role) for unit, role in rows}
        return self._members[key]

    async def units_in(self, cluster_id: int, year: int, roles: Iterable[Role]) -> list[int]:
        wanted = set(roles)
        members = await self.members(cluster_id, year)
        return [unit_id for unit_id, (_, role) in members.items() if role in wanted]

    async def gaps(self, period: PeriodRef, cluster_id: int) -> dict[int, Gap]:
        """Member units (existing during the period) with base criteria not reported."""
        if period.id in self._gaps:
            return self._gaps[period.id]
        criteria = await self.criteria(cluster_id, period.year)
        members = await self.members(cluster_id, period.year)
        reported: dict[int, set[int]] = defaultdict(set)
        rows = await self.s.execute(
            select(Report.unit_id, Report.criterion_id)
            .where(Report.period_id == period.id)
            .distinct()
        )
        for unit_id, criterion_id in rows:
            reported[unit_id].add(criterion_id)
        gaps = {}
        for unit_id, (unit, _) in members.items():
            if unit.valid_to is not None and unit.valid_to < period.starts_on:
                continue  # merged away before the period began
            if unit.valid_from is not None and unit.valid_from > period.ends_on:
                continue
            missing = tuple(
                CriterionRef(c.code, c.name) for c in criteria if c.id not in reported[unit_id]
            )
            if missing:
                gaps[unit_id] = Gap(unit_id, unit.short_name, len(criteria), missing)
        self._gaps[period.id] = gaps
        return gaps

    async def officers(self, cluster_id: int, unit_id: int) -> list[Contact]:
        """Active, reachable officers of a unit in the cluster."""
        if cluster_id not in self._officers:
            # One query per cluster, not per unit: a tick may plan for every unit at once.
            by_unit: dict[int, list[Contact]] = defaultdict(list)
            for contact in await officer_contacts(self.s, cluster_id):
                by_unit[contact.unit_id].append(contact)
            self._officers[cluster_id] = by_unit
        return list(self._officers[cluster_id].get(unit_id, []))


@dataclass(frozen=True)
class _Where:
    cluster: Cluster
    tz: ZoneInfo
    members: int


def _due(
    where: _Where,
    slot: Slot,
    *,
    address: Address,
    recipient: str,
    language: str | None,
    period: PeriodRef | None = None,
    unit_id: int | None = None,
    user_id: int | None = None,
    gaps: tuple[Gap, ...] = (),
) -> Due:
    cluster = where.cluster
    return Due(
        key=dedup_key(slot.rule, period.id if period else None, unit_id, recipient),
        rule=slot.rule,
        kind=slot.kind,
        cluster_id=cluster.id,
        cluster_name=cluster.name,
        cluster_kind=cluster.kind.value,
        timezone=cluster.timezone,
        address=address,
        language=language or cluster.language,
        due_at=slot.due_at,
        until=slot.until,
        days_left=slot.days_left,
        period=period,
        unit_id=unit_id,
        user_id=user_id,
        gaps=gaps,
        members=where.members,
    )


async def _to_units(
    reader: _Reader, where: _Where, slot: Slot, period: PeriodRef, gaps: Sequence[Gap]
) -> list[Due]:
    """One message to each reachable officer of each unit, about that unit's gap."""
    out = []
    for gap in gaps:
        for r in await reader.officers(where.cluster.id, gap.unit_id):
            out.append(
                _due(
                    where,
                    slot,
                    address=r.address,
                    recipient=str(r.address),
                    language=r.language,
                    period=period,
                    unit_id=gap.unit_id,
                    user_id=r.user_id,
                    gaps=(gap,),
                )
            )
    return out


async def _to_roles(
    reader: _Reader,
    where: _Where,
    slot: Slot,
    period: PeriodRef,
    roles: tuple[Role, ...],
    gaps: tuple[Gap, ...],
) -> list[Due]:
    out = []
    for unit_id in await reader.units_in(where.cluster.id, period.year, roles):
        for r in await reader.officers(where.cluster.id, unit_id):
            out.append(
                _due(
                    where,
                    slot,
                    address=r.address,
                    recipient=str(r.address),
                    language=r.language,
                    period=period,
                    unit_id=unit_id,
                    user_id=r.user_id,
                    gaps=gaps,
                )
            )
    return out


async def _messages(reader: _Reader, where: _Where, slot: Slot, period: PeriodRef) -> list[Due]:
    """Who gets a period's slot, and with what."""
    cluster = where.cluster
    if slot.kind is Kind.PERIOD_SUMMARY:
        return await _to_roles(reader, where, slot, period, (Role.CHAIR,), ())
    gaps = await reader.gaps(period, cluster.id)
    if not gaps:
        return []  # everyone has reported: nothing to chase
    ordered = tuple(gaps.values())
    if slot.kind in (Kind.BEFORE, Kind.OVERDUE):
        return await _to_units(reader, where, slot, period, ordered)
    if slot.kind is Kind.GROUP_MISSING:
        if cluster.group_address is None:
            return []
        return [
            _due(
                where,
                slot,
                address=Address.parse(cluster.group_address),
                recipient=group_recipient(cluster.id),
                language=cluster.language,
                period=period,
                gaps=ordered,
            )
        ]
    if slot.kind is Kind.ESCALATE:
        return await _to_roles(reader, where, slot, period, (Role.CHAIR, Role.VICE_CHAIR), ordered)
    raise AssertionError(f"not a period rule: {slot.kind}")


async def existing_keys(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    """The keys already in the ledger, whatever their status."""
    found: set[str] = set()
    for i in range(0, len(keys), _CHUNK):
        chunk = list(keys[i : i + _CHUNK])
        found.update(
            await session.scalars(
                select(ReminderLog.dedup_key).where(ReminderLog.dedup_key.in_(chunk))
            )
        )
    return found


async def new_only(session: AsyncSession, items: Sequence[Due]) -> list[Due]:
    """The messages not yet in the ledger, each once, in order."""
    known = await existing_keys(session, [d.key for d in items])
    out = []
    for item in items:
        if item.key not in known:
            known.add(item.key)
            out.append(item)
    return out


async def plan(
    session: AsyncSession,
    now: datetime,
    *,
    catch_up: bool = True,
    hours: WorkingHours = OFFICE_HOURS,
    lookback: timedelta = LOOKBACK,
) -> Plan:
    """Every scheduled message due at `now` and not yet in the ledger; with `catch_up`, also
    those whose working day ended unsent (to be recorded as skipped)."""
    reader = _Reader(session)
    found = Plan()
    clusters = {c.id: c for c in await session.scalars(select(Cluster))}
    rows = await session.execute(
        select(Period, ClusterYear)
        .join(
            ClusterYear,
            and_(ClusterYear.cluster_id == Period.cluster_id, ClusterYear.year == Period.year),
        )
        .where(ClusterYear.status == YearStatus.OPEN)
        .order_by(Period.cluster_id, Period.deadline)
    )
    for period_row, year in rows:
        cluster = clusters[period_row.cluster_id]
        tz = ZoneInfo(cluster.timezone)
        rules = ReminderRules.of(year_settings(year).reminders)
        slots = period_slots(
            rules,
            deadline=period_row.deadline,
            starts_on=period_row.starts_on,
            tz=tz,
            lock_at=calendar.lock_at(period_row.deadline, year.late_lock_days),
            hours=hours,
        )
        period = period_ref(period_row)
        for slot in slots:
            state = slot.state(now, lookback)
            if state is None or (state == "expired" and not catch_up):
                continue
            members = len(await reader.members(cluster.id, year.year))
            where = _Where(cluster, tz, members)
            target = found.due if state == "due" else found.expired
            target.extend(await _messages(reader, where, slot, period))
    for cluster in clusters.values():
        if cluster.group_address is None:
            continue
        year_row = await current_year(session, cluster.id)
        if year_row is None or year_row.status is not YearStatus.OPEN:
            continue
        tz = ZoneInfo(cluster.timezone)
        today = now.astimezone(tz).date()
        for slot in board_slots(
            BoardRule.of(year_settings(year_row).leaderboard), today, tz, hours
        ):
            state = slot.state(now, lookback)
            if state is None or (state == "expired" and not catch_up):
                continue
            if slot.due_at.date() < date(year_row.year, 1, 1):
                continue
            where = _Where(cluster, tz, 0)
            item = _due(
                where,
                slot,
                address=Address.parse(cluster.group_address),
                recipient=group_recipient(cluster.id),
                language=cluster.language,
            )
            (found.due if state == "due" else found.expired).append(item)
    found.due = await new_only(session, found.due)
    found.expired = await new_only(session, found.expired)
    return found


# ------------------------------------------------------------------ the ledger


async def claim(
    session: AsyncSession,
    item: Due,
    now: datetime,
    *,
    status: Status = Status.CLAIMED,
    detail: str | None = None,
) -> bool:
    """Take a message for sending (its own short transaction). False: it is already taken,
    by this process earlier or by another one; do not send it."""
    session.add(
        ReminderLog(
            cluster_id=item.cluster_id,
            dedup_key=item.key,
            rule=item.rule[:40],
            period_id=item.period.id if item.period else None,
            unit_id=item.unit_id,
            recipient=str(item.address),
            status=status.value,
            due_at=item.due_at,
            claimed_at=now,
            sent_at=None,
            detail=detail,
        )
    )
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        return False
    return True


async def finish(
    session: AsyncSession, key: str, status: Status, now: datetime, detail: str | None = None
) -> None:
    """Record how a claimed message ended: sent, failed or blocked."""
    await session.execute(
        update(ReminderLog)
        .where(ReminderLog.dedup_key == key)
        .values(
            status=status.value,
            sent_at=now if status is Status.SENT else None,
            detail=detail[:500] if detail else None,
        )
    )
    await session.commit()


async def record_skipped(session: AsyncSession, items: Sequence[Due], now: datetime) -> int:
    """Mark messages whose working day ended unsent as skipped, so they are never sent late."""
    count = 0
    for item in items:
        local = item.until.astimezone(ZoneInfo(item.timezone))
        detail = f"its working day ended at {local:%H:%M %d/%m/%Y} before it could be sent"
        if await claim(session, item, now, status=Status.SKIPPED, detail=detail):
            count += 1
            log.info("reminder %s to %s skipped: %s", item.key, item.address, detail)
    return count


async def mark_unreachable(session: AsyncSession, address: Address, now: datetime) -> list[Due]:
    """The person blocked the bot on this channel: stop reminding them there; when no channel
    reaches them any more, say so once to their cluster's chair (the vice-chair when the
    chair's unit has nobody else to tell)."""
    identity = await session.scalar(
        select(Identity).where(
            Identity.channel == address.channel, Identity.external_id == address.id
        )
    )
    if identity is None:
        return []
    user = await session.get_one(User, identity.user_id)
    if identity.reachable:
        identity.reachable = False
        audit.record(
            session,
            now=now,
            actor="system",
            action="user.unreachable",
            entity="user",
            entity_id=user.id,
            address=str(address),
        )
        await session.commit()
    still = await session.scalar(
        select(func.count())
        .select_from(Identity)
        .where(Identity.user_id == user.id, Identity.reachable.is_(True))
    )
    if still:
        return []  # another channel still reaches them: nobody needs to act
    seats = await session.execute(
        select(Officer, Unit, Cluster)
        .join(Unit, Unit.id == Officer.unit_id)
        .join(Cluster, Cluster.id == Officer.cluster_id)
        .where(Officer.user_id == user.id, Officer.active.is_(True))
    )
    reader = _Reader(session)
    notices = []
    for _officer, unit, cluster in seats:
        year = await current_year(session, cluster.id)
        if year is None:
            continue
        slot = Slot(f"unreachable:{user.id}", Kind.UNREACHABLE, now, now + timedelta(days=1))
        where = _Where(cluster, ZoneInfo(cluster.timezone), 0)
        for roles in ((Role.CHAIR,), (Role.VICE_CHAIR,)):
            told = [
                r
                for unit_id in await reader.units_in(cluster.id, year.year, roles)
                for r in await reader.officers(cluster.id, unit_id)
                if r.user_id != user.id
            ]
            for r in told:
                item = _due(
                    where,
                    slot,
                    address=r.address,
                    recipient=str(r.address),
                    language=r.language,
                    unit_id=unit.id,
                    user_id=r.user_id,
                )
                notices.append(replace(item, subject=user.full_name, subject_unit=unit.name))
            if told:
                break
    return await new_only(session, notices)


# ------------------------------------------------------------------ the chair's commands


async def _cluster_for(session: AsyncSession, actor: Actor, code: str | None) -> Cluster:
    if code:
        cluster = await session.scalar(
            select(Cluster).where(func.lower(Cluster.code) == code.lower())
        )
        if cluster is None:
            raise NotFound("error.cluster_not_found", code=code)
        return cluster
    if actor.seat is not None:
        return await session.get_one(Cluster, actor.seat.cluster_id)
    if actor.is_admin:
        raise InvalidInput("error.remind_which_cluster")
    raise PermissionDenied("error.not_registered")


async def _year_periods(
    session: AsyncSession, cluster: Cluster
) -> tuple[ClusterYear, list[PeriodRef]]:
    year = await current_year(session, cluster.id)
    if year is None:
        raise NotFound("error.no_year", cluster=cluster.code)
    rows = await session.scalars(
        select(Period)
        .where(Period.cluster_id == cluster.id, Period.year == year.year)
        .order_by(Period.starts_on)
    )
    periods = [period_ref(p) for p in rows]
    if not periods:
        raise NotFound("error.no_periods", cluster=cluster.code)
    return year, periods


def _current(
    periods: list[PeriodRef], year: ClusterYear, now: datetime, tz: ZoneInfo
) -> tuple[PeriodRef, PeriodState]:
    """The period people report for now (as /report picks it), with its state."""
    states = [p.state(year.late_lock_days, now, tz) for p in periods]
    index = calendar.current_index(states)
    return periods[index], states[index]


@dataclass(frozen=True)
class Nudge:
    cluster_name: str
    timezone: str
    period: PeriodRef
    state: PeriodState
    gaps: tuple[Gap, ...]
    items: list[Due]  # the messages to send now (already-sent ones left out)
    already: int  # messages this nudge would repeat from earlier today
    officers: int  # officers reached
    group: bool  # a message goes to the cluster's group
    unreached: tuple[str, ...]  # units missing reports with nobody the bot can remind


async def nudge(
    session: AsyncSession, actor: Actor, now: datetime, cluster_code: str | None = None
) -> Nudge:
    """The chair's "remind now": the current period's reminder to every unit still missing
    criteria, and to the group; never twice the same day to the same person."""
    cluster = await _cluster_for(session, actor, cluster_code)
    actor.require(Permission.REMIND, cluster.id)
    tz = ZoneInfo(cluster.timezone)
    year, periods = await _year_periods(session, cluster)
    period, state = _current(periods, year, now, tz)
    if state is PeriodState.FUTURE:
        raise InvalidInput("error.period_not_started", period=period.code)
    if state is PeriodState.LOCKED:
        raise InvalidInput("error.period_locked", period=period.code, days=year.late_lock_days)
    reader = _Reader(session)
    gaps = tuple((await reader.gaps(period, cluster.id)).values())
    today = now.astimezone(tz).date()
    deadline_day = period.deadline.astimezone(tz).date()
    members = len(await reader.members(cluster.id, year.year))
    where = _Where(cluster, tz, members)
    until = datetime.combine(today + timedelta(days=1), time(0), tzinfo=tz)
    rule = f"nudge:{today.isoformat()}"
    left = (deadline_day - today).days
    items = await _to_units(reader, where, Slot(rule, Kind.NUDGE, now, until, left), period, gaps)
    if gaps and cluster.group_address is not None:
        group_slot = Slot(rule, Kind.NUDGE_GROUP, now, until, left)
        items.append(
            _due(
                where,
                group_slot,
                address=Address.parse(cluster.group_address),
                recipient=group_recipient(cluster.id),
                language=cluster.language,
                period=period,
                gaps=gaps,
            )
        )
    unreached = []
    for gap in gaps:
        if not await reader.officers(cluster.id, gap.unit_id):
            unreached.append(gap.unit_name)
    fresh = await new_only(session, items)
    if fresh:
        audit.record(
            session,
            now=now,
            actor=actor.audit_name,
            action="reminders.nudge",
            entity="period",
            entity_id=period.id,
            cluster_id=cluster.id,
            period=period.code,
            units=len(gaps),
            messages=len(fresh),
        )
        await session.commit()
    return Nudge(
        cluster_name=cluster.name,
        timezone=cluster.timezone,
        period=period,
        state=state,
        gaps=gaps,
        items=fresh,
        already=len(items) - len(fresh),
        officers=sum(1 for d in fresh if d.kind is Kind.NUDGE),
        group=any(d.kind is Kind.NUDGE_GROUP for d in fresh),
        unreached=tuple(unreached),
    )


@dataclass(frozen=True)
class DeadlineLine:
    period: PeriodRef
    state: PeriodState
    next_reminder: datetime | None  # the next scheduled reminder before its deadline
    gap: Gap | None  # what the asking officer's unit still misses (None: nothing or no unit)
    late_units: int  # units still missing something (for the chair's eye)


@dataclass(frozen=True)
class Deadlines:
    cluster_name: str
    timezone: str
    year: int
    unit_name: str | None
    rules: ReminderRules
    lines: list[DeadlineLine]


async def deadlines(
    session: AsyncSession,
    actor: Actor,
    now: datetime,
    cluster_code: str | None = None,
    *,
    upcoming: int = 3,
) -> Deadlines:
    """The cluster's coming deadlines (and late periods still open to reports), with what the
    officer's own unit still misses and when the next reminder goes out."""
    cluster = await _cluster_for(session, actor, cluster_code)
    actor.require(Permission.VIEW_PROGRESS, cluster.id)
    tz = ZoneInfo(cluster.timezone)
    year, periods = await _year_periods(session, cluster)
    rules = ReminderRules.of(year_settings(year).reminders)
    seat = actor.seat if actor.seat and actor.seat.cluster_id == cluster.id else None
    reader = _Reader(session)
    lines = []
    future = 0
    for period in periods:
        state = period.state(year.late_lock_days, now, tz)
        if state is PeriodState.LOCKED:
            continue
        if state is PeriodState.FUTURE:
            if future >= upcoming:
                continue
            future += 1
        gaps = await reader.gaps(period, cluster.id) if state is not PeriodState.FUTURE else {}
        gap = gaps.get(seat.unit_id) if seat else None
        if state is PeriodState.LATE and not gaps:
            continue  # closed and complete: history, not a deadline
        if state is PeriodState.LATE and now - period.deadline > timedelta(days=62) and not gap:
            continue
        slots = period_slots(rules, deadline=period.deadline, starts_on=period.starts_on, tz=tz)
        coming = [s.due_at for s in slots if s.kind is Kind.BEFORE and s.due_at > now]
        lines.append(
            DeadlineLine(
                period=period,
                state=state,
                next_reminder=min(coming) if coming else None,
                gap=gap,
                late_units=len(gaps),
            )
        )
    return Deadlines(
        cluster_name=cluster.name,
        timezone=cluster.timezone,
        year=year.year,
        unit_name=seat.unit_name if seat else None,
        rules=rules,
        lines=lines,
    )
