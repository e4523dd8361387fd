"""The chair's and officers' reminder commands: "remind now" (/nhacnho) and the coming
deadlines (/hanchot)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import (
    Cluster,
    ClusterYear,
    Period,
)
from services import audit, calendar
from services.access import Actor, Permission
from services.calendar import PeriodState
from services.cluster_file import year_settings
from services.clusters import current_year
from services.errors import InvalidInput, NotFound, PermissionDenied, chair_term
from services.reminders.audience import Reader, Where, to_group, to_units
from services.reminders.ledger import new_only
from services.reminders.messages import Due, Gap, PeriodRef, period_ref
from services.reminders.schedule import Kind, ReminderRules, Slot, period_slots

# A message whose day ended while the bot was down is recorded as skipped if it fell due


# A message whose day ended while the bot was down is recorded as skipped if it fell due
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
        raise InvalidInput(
            "error.period_locked",
            period=period.code,
            days=year.late_lock_days,
            chair=chair_term(cluster.kind.value),
        )
    reader = Reader(session)
    gaps = tuple((await reader.gaps(period, cluster.id)).values())
    today = now.astimezone(tz).date()
    deadline_day = period.deadline.astimezone(tz).date()
    members = len(await reader.period_members(period, cluster.id))
    where = Where(cluster, tz, members)
    until = datetime.combine(today + timedelta(days=1), time(0), tzinfo=tz)
    rule = f"nudge:{today.isoformat()}"
    left = (deadline_day - today).days
    items = await to_units(reader, where, Slot(rule, Kind.NUDGE, now, until, left), period, gaps)
    if gaps:
        group_slot = Slot(rule, Kind.NUDGE_GROUP, now, until, left)
        items += to_group(where, group_slot, period=period, gaps=gaps)
    unreached = []
    for gap in gaps:
        if not await reader.officers(cluster.id, gap.unit_id):
            unreached.append(gap.unit_name)
    fresh = await new_only(session, items, now)
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
    reader = Reader(session)
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
