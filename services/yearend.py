"""The year's close (final ranking and ratings, kept as published) and the hand-over of the
chair to next year's chair and vice-chair, with next year opened from this year's table."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import (
    Cluster,
    ClusterYear,
    Criterion,
    Membership,
    Period,
    Role,
    Unit,
    UnitTarget,
    YearResult,
    YearStatus,
)
from services import audit
from services.access import Actor, Permission
from services.addresses import Address, stored
from services.calendar import plan_periods
from services.errors import InvalidInput
from services.leaderboard import resolve_cluster, working_year
from services.standings import Board, boards

# A successor chain longer than this is a data error (a cycle), not a real merger history.
_MAX_CHAIN = 10


@dataclass(frozen=True)
class ClosePreview:
    board: Board
    unreviewed: int  # reports whose newest version has no review: they will not count


@dataclass(frozen=True)
class Closed:
    board: Board
    group: Address | None


async def _cluster(session: AsyncSession, cluster_id: int) -> Cluster:
    """The cluster a button names; a number that is no cluster is a forged or foreign button."""
    cluster = await session.get(Cluster, cluster_id)
    if cluster is None:
        raise InvalidInput("error.stale_button")
    return cluster


async def _open_year(session: AsyncSession, cluster: Cluster) -> ClusterYear:
    year = await working_year(session, cluster, None)
    if year.status is YearStatus.CLOSED:
        raise InvalidInput("error.year_already_closed", year=year.year)
    return year


async def close_preview(
    session: AsyncSession, actor: Actor, *, cluster_code: str | None, now: datetime
) -> ClosePreview:
    """What closing the working year would publish, before the chair confirms."""
    cluster = await resolve_cluster(session, actor, cluster_code)
    actor.require(Permission.CLOSE_YEAR, cluster.id)
    year = await _open_year(session, cluster)
    board = (await boards(session, year.year, [cluster.id], now))[cluster.id]
    return ClosePreview(board, sum(s.unreviewed for s in board.standings))


async def close_year(
    session: AsyncSession, actor: Actor, *, cluster_id: int, year: int, now: datetime
) -> Closed:
    """Close the year: final verified ranking and ratings stored, the year read-only."""
    cluster = await _cluster(session, cluster_id)
    actor.require(Permission.CLOSE_YEAR, cluster.id)
    cluster_year = await _open_year(session, cluster)
    if cluster_year.year != year:
        raise InvalidInput("error.close_stale", year=year)
    board = (await boards(session, year, [cluster.id], now))[cluster.id]
    for standing in board.standings:
        session.add(
            YearResult(
                cluster_id=cluster.id,
                year=year,
                unit_id=standing.member.unit_id,
                proposed_total=standing.proposed,
                verified_total=standing.verified,
                rank=standing.rank,
                rating=standing.rating,
                created_at=now,
            )
        )
    cluster_year.status = YearStatus.CLOSED
    cluster_year.closed_at = now
    cluster_year.updated_at = now
    audit.record(
        session,
        now=now,
        actor=actor.audit_name,
        action="year.close",
        entity="cluster_year",
        entity_id=cluster_year.id,
        cluster_id=cluster.id,
        year=year,
        results=[
            {
                "unit": s.member.code,
                "rank": s.rank,
                "verified": str(s.verified),
                "proposed": str(s.proposed),
                "rating": s.rating,
            }
            for s in board.standings
        ],
        unreviewed=sum(s.unreviewed for s in board.standings),
    )
    await session.commit()
    return Closed(replace(board, closed=True), stored(cluster.group_address))


@dataclass(frozen=True)
class Candidate:
    unit_id: int
    code: str
    name: str
    short_name: str
    replaces: str | None  # the unit it succeeds, when it joins in a merged unit's place


@dataclass(frozen=True)
class HandoverPlan:
    cluster_id: int
    cluster_code: str
    cluster_name: str
    cluster_kind: str
    language: str
    from_year: int
    to_year: int
    candidates: list[Candidate]
    chair: str | None  # this year's chair (short name)
    vice_chair: str | None
    dropped: list[str]  # units that end before next year and have no successor
    # Every merger: (the unit that leaves, the unit that takes its place), also when the
    # successor is already a member (Ninh Thuận → Khánh Hòa) or takes in several units.
    mergers: list[tuple[str, str]] = field(default_factory=list)

    def candidate(self, unit_id: int) -> Candidate:
        for c in self.candidates:
            if c.unit_id == unit_id:
                return c
        raise InvalidInput("error.handover_not_candidate")


@dataclass(frozen=True)
class HandedOver:
    plan: HandoverPlan
    chair: Candidate
    vice_chair: Candidate | None
    criteria: int
    periods: int
    group: Address | None


async def _successor_in(session: AsyncSession, unit: Unit, first_day: date) -> Unit | None:
    current: Unit | None = unit
    for _ in range(_MAX_CHAIN):
        if current is None or current.successor_id is None:
            return None
        current = await session.get(Unit, current.successor_id)
        if current is not None and (current.valid_to is None or current.valid_to >= first_day):
            return current
    return None


async def _plan(session: AsyncSession, cluster: Cluster) -> HandoverPlan:
    year = await working_year(session, cluster, None)
    if year.status is not YearStatus.CLOSED:
        raise InvalidInput("error.handover_year_open", year=year.year)
    to_year = year.year + 1
    exists = await session.scalar(
        select(ClusterYear.id).where(
            ClusterYear.cluster_id == cluster.id, ClusterYear.year == to_year
        )
    )
    if exists is not None:
        raise InvalidInput("error.next_year_exists", year=to_year)
    first_day = date(to_year, 1, 1)
    rows = (
        await session.execute(
            select(Membership.role, Unit)
            .join(Unit, Unit.id == Membership.unit_id)
            .where(Membership.cluster_id == cluster.id, Membership.year == year.year)
            .order_by(Unit.code)
        )
    ).all()
    candidates: dict[int, Candidate] = {}
    dropped: list[str] = []
    mergers: list[tuple[str, str]] = []
    chair = vice = None
    for role, unit in rows:
        if role is Role.CHAIR:
            chair = unit.short_name
        elif role is Role.VICE_CHAIR:
            vice = unit.short_name
        if unit.valid_to is None or unit.valid_to >= first_day:
            candidates.setdefault(
                unit.id, Candidate(unit.id, unit.code, unit.name, unit.short_name, None)
            )
            continue
        # The unit ends before next year (a merger): its successor takes its place.
        successor = await _successor_in(session, unit, first_day)
        if successor is None:
            dropped.append(unit.short_name)
            continue
        mergers.append((unit.short_name, successor.short_name))
        candidates.setdefault(
            successor.id,
            Candidate(
                successor.id, successor.code, successor.name, successor.short_name, unit.short_name
            ),
        )
    return HandoverPlan(
        cluster_id=cluster.id,
        cluster_code=cluster.code,
        cluster_name=cluster.name,
        cluster_kind=cluster.kind.value,
        language=cluster.language,
        from_year=year.year,
        to_year=to_year,
        candidates=sorted(candidates.values(), key=lambda c: c.code),
        chair=chair,
        vice_chair=vice,
        dropped=dropped,
        mergers=mergers,
    )


async def handover_plan(
    session: AsyncSession,
    actor: Actor,
    *,
    cluster_code: str | None = None,
    cluster_id: int | None = None,
) -> HandoverPlan:
    """Who can chair next year: this year's members still in existence, and successors."""
    if cluster_id is not None:
        cluster = await _cluster(session, cluster_id)
    else:
        cluster = await resolve_cluster(session, actor, cluster_code)
    actor.require(Permission.HANDOVER, cluster.id)
    return await _plan(session, cluster)


async def hand_over(
    session: AsyncSession,
    actor: Actor,
    *,
    cluster_id: int,
    to_year: int,
    chair_unit_id: int,
    vice_unit_id: int | None,
    now: datetime,
) -> HandedOver:
    """Open next year with its chair and vice-chair, members, periods and criteria tree."""
    cluster = await _cluster(session, cluster_id)
    actor.require(Permission.HANDOVER, cluster.id)
    plan = await _plan(session, cluster)
    if plan.to_year != to_year:
        raise InvalidInput("error.handover_stale", year=to_year)
    chair = plan.candidate(chair_unit_id)
    vice = plan.candidate(vice_unit_id) if vice_unit_id else None
    if vice is not None and vice.unit_id == chair.unit_id:
        raise InvalidInput("error.handover_same_unit")
    old = await working_year(session, cluster, plan.from_year)
    new = ClusterYear(
        cluster_id=cluster.id,
        year=to_year,
        status=YearStatus.OPEN,
        cadence=old.cadence,
        deadline_day=old.deadline_day,
        deadline_time=old.deadline_time,
        late_lock_days=old.late_lock_days,
        settings=copy.deepcopy(old.settings),
        closed_at=None,
        created_at=now,
        updated_at=now,
    )
    session.add(new)
    decision = (
        f"Bàn giao qua Thi Đua Bot ngày {now.astimezone(ZoneInfo(cluster.timezone)):%d/%m/%Y}"
    )
    for candidate in plan.candidates:
        role = Role.MEMBER
        if candidate.unit_id == chair.unit_id:
            role = Role.CHAIR
        elif vice is not None and candidate.unit_id == vice.unit_id:
            role = Role.VICE_CHAIR
        session.add(
            Membership(
                cluster_id=cluster.id,
                unit_id=candidate.unit_id,
                year=to_year,
                role=role,
                decision=decision,
                created_at=now,
                updated_at=now,
            )
        )
    plans = plan_periods(
        to_year, old.cadence, old.deadline_day, old.deadline_time, ZoneInfo(cluster.timezone)
    )
    for p in plans:
        session.add(
            Period(
                cluster_id=cluster.id,
                year=to_year,
                code=p.code,
                starts_on=p.starts_on,
                ends_on=p.ends_on,
                deadline=p.deadline,
                created_at=now,
                updated_at=now,
            )
        )
    copied = await _copy_criteria(
        session, cluster.id, plan.from_year, to_year, {c.unit_id for c in plan.candidates}, now
    )
    audit.record(
        session,
        now=now,
        actor=actor.audit_name,
        action="year.handover",
        entity="cluster_year",
        entity_id=None,
        cluster_id=cluster.id,
        from_year=plan.from_year,
        to_year=to_year,
        chair=chair.code,
        vice_chair=vice.code if vice else None,
        previous_chair=plan.chair,
        previous_vice_chair=plan.vice_chair,
        members=[c.code for c in plan.candidates],
        dropped=plan.dropped,
        criteria=copied,
        periods=len(plans),
    )
    await session.commit()
    return HandedOver(plan, chair, vice, copied, len(plans), stored(cluster.group_address))


async def _copy_criteria(
    session: AsyncSession,
    cluster_id: int,
    from_year: int,
    to_year: int,
    unit_ids: set[int],
    now: datetime,
) -> int:
    """Copy the active criteria tree (parents remapped) and the continuing units' targets,
    so the cluster edits next year's table instead of retyping it."""
    rows = list(
        await session.scalars(
            select(Criterion)
            .where(
                Criterion.cluster_id == cluster_id,
                Criterion.year == from_year,
                Criterion.active.is_(True),
            )
            .order_by(Criterion.position)
        )
    )
    new_ids: dict[int, int] = {}
    for old in rows:
        fresh = Criterion(
            cluster_id=cluster_id,
            year=to_year,
            parent_id=new_ids.get(old.parent_id) if old.parent_id is not None else None,
            code=old.code,
            name=old.name,
            kind=old.kind,
            max_points=old.max_points,
            points_each=old.points_each,
            target=old.target,
            measure_unit=old.measure_unit,
            evidence_required=old.evidence_required,
            scale_to_best=old.scale_to_best,
            position=old.position,
            active=True,
            created_at=now,
            updated_at=now,
        )
        session.add(fresh)
        await session.flush()  # children need its id
        new_ids[old.id] = fresh.id
    targets = await session.execute(
        select(UnitTarget.criterion_id, UnitTarget.unit_id, UnitTarget.target).where(
            UnitTarget.criterion_id.in_(list(new_ids))
        )
    )
    for criterion_id, unit_id, target in targets:
        if unit_id in unit_ids:
            session.add(
                UnitTarget(criterion_id=new_ids[criterion_id], unit_id=unit_id, target=target)
            )
    return len(rows)
