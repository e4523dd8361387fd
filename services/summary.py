"""The chair's summary of a period: who reported what, who is missing or late, completion
per criterion, reviews pending and the biggest movers. Short enough for a phone; the export
has the full detail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Cluster, ClusterYear, Explanation, Period
from services.access import Actor, Permission
from services.calendar import PeriodState, exists_during
from services.leaderboard import cluster_named_first, working_year
from services.reporting import PeriodView, find_period, period_views
from services.standings import (
    Board,
    Leaf,
    Member,
    YearData,
    build_board,
    last_posts,
    load_years,
    period_year,
)


@dataclass(frozen=True)
class UnitLine:
    member: Member
    reported: int  # base criteria reported in the period
    base_leaves: int
    late: int  # reports of the period sent after its deadline
    missing: list[str]  # codes of base criteria not reported in the period
    pending_reviews: int  # the period's reports waiting for review (see _pending)
    explanations: int  # answers to the current reviews, waiting for the chair

    @property
    def complete(self) -> bool:
        return self.reported >= self.base_leaves


@dataclass(frozen=True)
class CriterionLine:
    leaf: Leaf
    reported_units: int
    units: int


@dataclass(frozen=True)
class Summary:
    cluster_code: str
    cluster_name: str
    cluster_kind: str
    timezone: str
    year: int
    period: PeriodView
    units: list[UnitLine]
    criteria: list[CriterionLine]
    board: Board  # year to date, for the movers

    @property
    def deadline_passed(self) -> bool:
        return self.period.state in (PeriodState.LATE, PeriodState.LOCKED)

    @property
    def pending_reviews(self) -> int:
        return sum(u.pending_reviews for u in self.units)

    @property
    def explanations(self) -> int:
        return sum(u.explanations for u in self.units)

    @property
    def completion(self) -> tuple[int, int]:
        return sum(u.reported for u in self.units), sum(u.base_leaves for u in self.units)

    def movers(self, limit: int = 3) -> list[tuple[Member, int]]:
        """The units that moved most since the last posted board, biggest first."""
        moved = [
            (s.member, s.movement)
            for s in self.board.standings
            if s.movement is not None and s.movement != 0
        ]
        moved.sort(key=lambda item: (-abs(item[1]), -item[1], item[0].code))
        return moved[:limit]


async def year_periods(
    session: AsyncSession, cluster: Cluster, cluster_year: ClusterYear, now: datetime
) -> list[PeriodView]:
    """The cluster year's periods with their state at `now`."""
    rows = await session.scalars(
        select(Period).where(Period.cluster_id == cluster.id, Period.year == cluster_year.year)
    )
    return period_views(rows, cluster_year.late_lock_days, ZoneInfo(cluster.timezone), now)


async def _explanations(session: AsyncSession, review_ids: list[int]) -> dict[int, int]:
    if not review_ids:
        return {}
    rows = await session.execute(
        select(Explanation.review_id, func.count())
        .where(Explanation.review_id.in_(review_ids))
        .group_by(Explanation.review_id)
    )
    return {review_id: int(count) for review_id, count in rows}


def _pending(in_period: YearData, to_date: YearData, unit_id: int) -> int:
    """The unit's reports of the period that wait for review: its newest version of a
    criterion, sent in this period, without a review. A version of this period already
    replaced by a later period's is no longer the one to review (the newer one is)."""
    waiting = 0
    for leaf in in_period.leaves:
        here, newest = in_period.entry(unit_id, leaf.id), to_date.entry(unit_id, leaf.id)
        if here is not None and newest is not None and here.report_id == newest.report_id:
            waiting += newest.verified is None
    return waiting


async def _build(
    session: AsyncSession,
    cluster: Cluster,
    cluster_year: ClusterYear,
    period: PeriodView,
    now: datetime,
) -> Summary:
    year = cluster_year.year
    to_date: YearData = (await load_years(session, year, [cluster.id], detail=False))[cluster.id]
    in_period = await period_year(session, to_date, period.id)
    post = (await last_posts(session, year, [cluster.id])).get(cluster.id)
    board = build_board(
        to_date, now, post.standings if post else None, post.posted_at if post else None
    )
    current_reviews = [e.review_id for e in to_date.entries.values() if e.review_id is not None]
    answered = await _explanations(session, current_reviews)
    base = [leaf for leaf in in_period.leaves if leaf.base]
    # A unit merged away before the period (or created after it) owes it nothing.
    members = [
        m
        for m in in_period.members
        if exists_during(m.valid_from, m.valid_to, period.starts_on, period.ends_on)
    ]
    units = []
    for member in members:
        entries = [in_period.entry(member.unit_id, leaf.id) for leaf in in_period.leaves]
        reported = [leaf for leaf in base if in_period.entry(member.unit_id, leaf.id)]
        ytd = [to_date.entry(member.unit_id, leaf.id) for leaf in to_date.leaves]
        units.append(
            UnitLine(
                member=member,
                reported=len(reported),
                base_leaves=len(base),
                late=sum(1 for e in entries if e is not None and e.late),
                missing=[leaf.code for leaf in base if leaf not in reported],
                pending_reviews=_pending(in_period, to_date, member.unit_id),
                explanations=sum(
                    answered.get(e.review_id, 0)
                    for e in ytd
                    if e is not None and e.review_id is not None
                ),
            )
        )
    criteria = [
        CriterionLine(
            leaf=leaf,
            reported_units=sum(
                1 for m in members if in_period.entry(m.unit_id, leaf.id) is not None
            ),
            units=len(members),
        )
        for leaf in base
    ]
    return Summary(
        cluster_code=cluster.code,
        cluster_name=cluster.name,
        cluster_kind=cluster.kind.value,
        timezone=cluster.timezone,
        year=year,
        period=period,
        units=units,
        criteria=criteria,
        board=board,
    )


async def summary(
    session: AsyncSession, actor: Actor, *, words: list[str], now: datetime
) -> Summary:
    """/summary [CLUSTER] [PERIOD]: the chair's view of a period (default: the current one)."""
    cluster, rest = await cluster_named_first(session, actor, words)
    actor.require(Permission.VIEW_SUMMARY, cluster.id)
    cluster_year = await working_year(session, cluster, None)
    periods = await year_periods(session, cluster, cluster_year, now)
    period = find_period(periods, rest[0] if rest else None, cluster.code)
    return await _build(session, cluster, cluster_year, period, now)


async def period_summary(
    session: AsyncSession, cluster_id: int, period_id: int, now: datetime
) -> Summary:
    """The summary of one period, for a scheduled job (no rights to check)."""
    cluster = await session.get_one(Cluster, cluster_id)
    period = await session.get_one(Period, period_id)
    cluster_year = await working_year(session, cluster, period.year)
    periods = await year_periods(session, cluster, cluster_year, now)
    view = next(p for p in periods if p.id == period.id)
    return await _build(session, cluster, cluster_year, view, now)
