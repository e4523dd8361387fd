"""Every scheduled message due at a moment and not yet in the ledger, and the one-off notice
to the chair when an officer can no longer be reached."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import (
    Cluster,
    ClusterYear,
    Identity,
    Officer,
    Period,
    Role,
    Unit,
    User,
    YearStatus,
)
from services import audit, calendar
from services.addresses import Address
from services.cluster_file import year_settings
from services.clusters import current_year, current_years
from services.reminders.audience import (
    Reader,
    Where,
    to_contact,
    to_group,
    to_officers,
    to_roles,
    to_units,
)
from services.reminders.ledger import new_only
from services.reminders.messages import Due, PeriodRef, period_ref
from services.reminders.schedule import (
    LOOKBACK,
    MAX_DAYS,
    BoardRule,
    Kind,
    ReminderRules,
    Slot,
    board_slots,
    period_slots,
)
from services.workdays import OFFICE_HOURS, WorkingHours


@dataclass
class Plan:
    due: list[Due] = field(default_factory=list)
    expired: list[Due] = field(default_factory=list)


async def _messages(reader: Reader, where: Where, slot: Slot, period: PeriodRef) -> list[Due]:
    """Who gets a period's slot, and with what."""
    cluster = where.cluster
    if slot.kind is Kind.PERIOD_SUMMARY:
        return await to_roles(reader, where, slot, period, (Role.CHAIR,), ())
    gaps = await reader.gaps(period, cluster.id)
    if not gaps:
        return []  # everyone has reported: nothing to chase
    ordered = tuple(gaps.values())
    if slot.kind in (Kind.BEFORE, Kind.OVERDUE):
        return await to_units(reader, where, slot, period, ordered)
    if slot.kind is Kind.GROUP_MISSING:
        return to_group(where, slot, period=period, gaps=ordered)
    if slot.kind is Kind.ESCALATE:
        return await to_roles(reader, where, slot, period, (Role.CHAIR, Role.VICE_CHAIR), ordered)
    raise AssertionError(f"not a period rule: {slot.kind}")


# The latest any period's slot can end after its deadline, whatever the rules say.
_AFTER_DEADLINE = ReminderRules(
    before_days=(), at=time(8), overdue_days=MAX_DAYS, escalate_after_days=MAX_DAYS
).span()[1]


async def plan(
    session: AsyncSession,
    now: datetime,
    *,
    catch_up: bool = True,
    hours: WorkingHours = OFFICE_HOURS,
    lookback: timedelta = LOOKBACK,
) -> Plan:
    """Every scheduled message due at `now` and not yet in the ledger (or whose claim has
    lapsed); with `catch_up`, also those whose working day ended unsent (to be recorded as
    skipped).

    Set-based, for a tick over every cluster of a nationwide database: the open periods
    that can still have a slot, their slots worked out in memory, then one prefetch of what
    the slots that fall due (or expired) need, then the messages."""
    reader = Reader(session)
    found = Plan()
    clusters = {c.id: c for c in await session.scalars(select(Cluster))}
    rows = await session.execute(
        select(Period, ClusterYear)
        .join(
            ClusterYear,
            and_(ClusterYear.cluster_id == Period.cluster_id, ClusterYear.year == Period.year),
        )
        .where(
            ClusterYear.status == YearStatus.OPEN,
            # A slot is sent on or after the period's first day (tomorrow's, east of UTC)…
            Period.starts_on <= (now + timedelta(days=1)).date(),
            # … and ends within _AFTER_DEADLINE of its deadline.
            Period.deadline >= now - lookback - _AFTER_DEADLINE,
        )
        .order_by(Period.cluster_id, Period.deadline)
    )
    rules_of: dict[int, ReminderRules] = {}
    work: list[tuple[Cluster, ZoneInfo, Slot, PeriodRef, str]] = []
    for period_row, year in rows:
        cluster = clusters[period_row.cluster_id]
        tz = ZoneInfo(cluster.timezone)
        if year.id not in rules_of:
            rules_of[year.id] = ReminderRules.of(year_settings(year).reminders)
        rules = rules_of[year.id]
        before, after = rules.span()
        if not period_row.deadline - before <= now < period_row.deadline + after + lookback:
            continue  # no slot of this period is due or recently expired
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
            work.append((cluster, tz, slot, period, state))
    await reader.prefetch([(cluster.id, period) for cluster, _, _, period, _ in work])
    for cluster, tz, slot, period, state in work:
        where = Where(cluster, tz, len(await reader.period_members(period, cluster.id)))
        target = found.due if state == "due" else found.expired
        target.extend(await _messages(reader, where, slot, period))
    for cluster_id, year_row in (await current_years(session, list(clusters))).items():
        cluster = clusters[cluster_id]
        if year_row.status is not YearStatus.OPEN:
            continue
        rule = BoardRule.of(year_settings(year_row).leaderboard)
        if cluster.group_address is None and rule.without_group == "nobody":
            continue
        tz = ZoneInfo(cluster.timezone)
        today = now.astimezone(tz).date()
        for slot in board_slots(rule, today, tz, hours):
            state = slot.state(now, lookback)
            if state is None or (state == "expired" and not catch_up):
                continue
            if slot.due_at.date() < date(year_row.year, 1, 1):
                continue
            where = Where(cluster, tz, 0)
            items = await _board_items(reader, where, slot, year_row.year, rule.without_group)
            (found.due if state == "due" else found.expired).extend(items)
    # Not in the ledger, or claimed by a process whose lease has lapsed (it died): due ones
    # are retried, those whose day ended are recorded as skipped.
    found.due = await new_only(session, found.due, now)
    found.expired = await new_only(session, found.expired, now)
    return found


async def _board_items(
    reader: Reader, where: Where, slot: Slot, year: int, without_group: str
) -> list[Due]:
    """The weekly board: to the cluster's group, or, when it has none, privately to the
    year's reachable officers — those reached on Zalo ("zalo") or all ("officers")."""
    cluster = where.cluster
    if cluster.group_address is not None:
        return to_group(where, slot)
    units = await reader.units_in(cluster.id, year, tuple(Role))
    return await to_officers(
        reader,
        where,
        slot,
        units,
        keep=lambda r: without_group != "zalo" or r.address.channel == "zalo",
    )


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
    reader = Reader(session)
    notices = []
    for _officer, unit, cluster in seats:
        year = await current_year(session, cluster.id)
        if year is None:
            continue
        slot = Slot(f"unreachable:{user.id}", Kind.UNREACHABLE, now, now + timedelta(days=1))
        where = Where(cluster, ZoneInfo(cluster.timezone), 0)
        for roles in ((Role.CHAIR,), (Role.VICE_CHAIR,)):
            told = [
                r
                for unit_id in await reader.units_in(cluster.id, year.year, roles)
                for r in await reader.officers(cluster.id, unit_id)
                if r.user_id != user.id
            ]
            for r in told:
                # Keyed by the unit of the person who blocked the bot: told once per seat.
                item = to_contact(where, slot, r, unit_id=unit.id)
                notices.append(replace(item, subject=user.full_name, subject_unit=unit.name))
            if told:
                break
    return await new_only(session, notices, now)
