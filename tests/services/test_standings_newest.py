"""The newest version of each unit's report, and the newest review of it, as the boards, the
summary and a unit's own sheet read them (services/standings.newest_entries): one
statement, the same answer whichever way it is found (a window over a board's rows, index
probes for one unit's sheet), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from models.tables import Cluster, Criterion, Period, Report, Review, Unit, User
from services import standings
from services.standings import Entry
from tests.conftest import NOW, statements_on
from tests.factories import officer, seed_examples

pytestmark = pytest.mark.asyncio

YEAR = 2024


class World:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def load(self) -> World:
        await seed_examples(self.s)
        await officer(self.s, 501, "STC-BDINH")
        cluster = await self.s.scalar(select(Cluster).where(Cluster.code == "CUM6-STC"))
        assert cluster is not None
        self.cluster = cluster
        unit_id = await self.s.scalar(select(Unit.id).where(Unit.code == "STC-BDINH"))
        other_id = await self.s.scalar(select(Unit.id).where(Unit.code == "STC-QNAM"))
        user_id = await self.s.scalar(select(User.id).order_by(User.id).limit(1))
        assert unit_id is not None and other_id is not None and user_id is not None
        self.unit, self.other, self.user = unit_id, other_id, user_id
        self.criteria = {
            c.code: c.id
            for c in await self.s.scalars(
                select(Criterion).where(Criterion.cluster_id == cluster.id, Criterion.year == YEAR)
            )
        }
        self.periods = {
            p.code: p
            for p in await self.s.scalars(
                select(Period).where(Period.cluster_id == cluster.id, Period.year == YEAR)
            )
        }
        return self

    async def report(self, unit: int, code: str, period: Period, version: int) -> int:
        row = Report(
            unit_id=unit,
            criterion_id=self.criteria[code],
            period_id=period.id,
            version=version,
            value=Decimal(version),
            # A score that names its version, so the test can tell which one was picked.
            proposed_score=Decimal(version) / Decimal(100),
            max_points=Decimal(2),
            note=f"{period.code} v{version}",
            late=False,
            reported_by=self.user,
            reported_at=NOW + timedelta(minutes=version),
        )
        self.s.add(row)
        await self.s.flush()
        return row.id

    async def review(self, report_id: int, score: str, minutes: int) -> int:
        row = Review(
            report_id=report_id,
            verified_score=Decimal(score),
            reason=f"review {score}",
            reviewer_id=self.user,
            reviewed_at=NOW + timedelta(days=1, minutes=minutes),
        )
        self.s.add(row)
        await self.s.flush()
        return row.id


def picked(entries: list[tuple[int, Entry]], unit: int) -> dict[int, tuple[str, int]]:
    return {e.criterion_id: (e.period_code, e.version) for _, e in entries if e.unit_id == unit}


async def test_the_latest_period_then_the_highest_version_however_many_there_are(
    session: AsyncSession,
) -> None:
    w = await World(session).load()
    q1, q2 = w.periods["Q1"], w.periods["Q2"]
    for version in range(1, 41):  # 40 corrections in Q1, then three versions in Q2
        await w.report(w.unit, "1.1.1", q1, version)
    for version in range(1, 4):
        await w.report(w.unit, "1.1.1", q2, version)
    await w.report(w.unit, "1.1.2", q1, 1)
    await w.report(w.other, "1.1.1", q1, 7)
    await session.commit()
    c111, c112 = w.criteria["1.1.1"], w.criteria["1.1.2"]

    sheet = await standings.newest_entries(session, [w.cluster.id], YEAR, unit_id=w.unit)
    assert picked(sheet, w.unit) == {c111: ("Q2", 3), c112: ("Q1", 1)}
    assert {e.unit_id for _, e in sheet} == {w.unit}
    [entry] = [e for _, e in sheet if e.criterion_id == c111]
    assert entry.proposed == Decimal("0.03") and entry.note == "Q2 v3"

    board = await standings.newest_entries(session, [w.cluster.id], YEAR, detail=False)
    assert picked(board, w.unit) == picked(sheet, w.unit)
    assert picked(board, w.other) == {c111: ("Q1", 7)}
    assert {cluster_id for cluster_id, _ in board} == {w.cluster.id}

    # One period: its own highest version, whatever later periods hold.
    in_q1 = await standings.newest_entries(session, [w.cluster.id], YEAR, q1.id, unit_id=w.unit)
    assert picked(in_q1, w.unit) == {c111: ("Q1", 40), c112: ("Q1", 1)}
    board_q1 = await standings.newest_entries(session, [w.cluster.id], YEAR, q1.id)
    assert picked(board_q1, w.unit) == picked(in_q1, w.unit)
    assert await standings.newest_entries(session, [w.cluster.id], YEAR, w.periods["Q3"].id) == []


async def test_only_the_newest_review_of_the_newest_version_counts(
    session: AsyncSession,
) -> None:
    w = await World(session).load()
    q1, q2 = w.periods["Q1"], w.periods["Q2"]
    old = await w.report(w.unit, "1.1.1", q1, 1)
    await w.review(old, "1.5", 0)  # of a version since replaced: history only
    newest = await w.report(w.unit, "1.1.1", q2, 1)
    await w.review(newest, "0.5", 0)
    await w.review(newest, "0.7", 10)
    tied = await w.review(newest, "0.9", 10)  # the same instant: the later row wins
    once = await w.report(w.unit, "1.1.2", q1, 1)
    unreviewed = await w.report(w.unit, "1.1.2", q1, 2)
    await w.review(once, "1.0", 0)
    await session.commit()

    for unit_id in (w.unit, None):
        entries = await standings.newest_entries(session, [w.cluster.id], YEAR, unit_id=unit_id)
        by_criterion = {e.criterion_id: e for _, e in entries if e.unit_id == w.unit}
        first = by_criterion[w.criteria["1.1.1"]]
        assert (first.report_id, first.review_id) == (newest, tied), unit_id
        assert first.verified == Decimal("0.9") and first.reason == "review 0.9"
        second = by_criterion[w.criteria["1.1.2"]]
        assert second.report_id == unreviewed and second.review_id is None
        assert second.verified is None and second.reason is None


async def test_two_periods_starting_the_same_day_the_later_row_counts(
    session: AsyncSession,
) -> None:
    """A cadence changed on re-import keeps the old period that has reports beside the new
    one starting the same day: the newer period row is the current one, whatever the
    versions, and both ways of finding the newest agree."""
    w = await World(session).load()
    q2 = w.periods["Q2"]
    monthly = Period(
        cluster_id=w.cluster.id,
        year=YEAR,
        code="T4",
        starts_on=date(YEAR, 4, 1),
        ends_on=date(YEAR, 4, 30),
        deadline=q2.deadline,
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(monthly)
    await session.flush()
    assert monthly.starts_on == q2.starts_on and monthly.id > q2.id
    for version in range(1, 6):
        await w.report(w.unit, "1.1.1", q2, version)
    await w.report(w.unit, "1.1.1", monthly, 1)
    await session.commit()

    sheet = await standings.newest_entries(session, [w.cluster.id], YEAR, unit_id=w.unit)
    board = await standings.newest_entries(session, [w.cluster.id], YEAR)
    assert picked(sheet, w.unit) == picked(board, w.unit) == {w.criteria["1.1.1"]: ("T4", 1)}


async def test_a_unit_sheet_and_a_board_are_one_statement_each(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    w = await World(session).load()
    for version in range(1, 4):
        reported = await w.report(w.unit, "1.1.1", w.periods["Q1"], version)
    await w.review(reported, "1.0", 0)
    await session.commit()
    with statements_on(engine) as statements:
        q1 = w.periods["Q1"].id
        for period_id, unit_id in ((None, w.unit), (None, None), (q1, None), (q1, w.unit)):
            statements.clear()
            entries = await standings.newest_entries(
                session, [w.cluster.id], YEAR, period_id, unit_id=unit_id
            )
            assert entries and len(statements) == 1, (period_id, unit_id, statements)


async def test_a_period_beside_the_year_reads_only_that_period(session: AsyncSession) -> None:
    """summary's period_year: the same entries as loading the period on its own."""
    w = await World(session).load()
    q1, q2 = w.periods["Q1"], w.periods["Q2"]
    await w.report(w.unit, "1.1.1", q1, 1)
    await w.report(w.unit, "1.1.1", q1, 2)
    await w.report(w.unit, "1.1.1", q2, 1)
    await w.report(w.other, "1.1.2", q1, 1)
    await session.commit()
    year = (await standings.load_years(session, YEAR, [w.cluster.id], detail=False))[w.cluster.id]
    alone = (
        await standings.load_years(session, YEAR, [w.cluster.id], period_id=q1.id, detail=False)
    )[w.cluster.id]
    beside = await standings.period_year(session, year, q1.id)
    assert beside.entries == alone.entries and len(beside.entries) == 2
    assert beside.members == alone.members and beside.leaves == alone.leaves
    # The year's own entries are untouched: it still counts Q2's version.
    assert year.entries[(w.unit, w.criteria["1.1.1"])].period_code == "Q2"
