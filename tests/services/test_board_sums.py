"""A board sums its units in the database (services/standings.boards, one statement) and
must show exactly what scoring each unit's newest entries in Python shows
(standings.build_board over load_years, which the export, the summary and the mid-year
review use): totals to the cent, ranks and the ballot's tie-break, ratings at the very
edge of a floor, counts, movement. Checked on SQLite and PostgreSQL, on hostile data."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from models.tables import (
    Ballot,
    BallotCandidate,
    ClusterYear,
    Criterion,
    CriterionKind,
    LeaderboardPost,
    Membership,
    Period,
    Report,
    Review,
    Unit,
    User,
    YearStatus,
)
from services import standings
from services.standings import Board
from tests.conftest import NOW, statements_on
from tests.factories import officer, seed_examples

pytestmark = pytest.mark.asyncio

YEAR = 2024
EXTRA = (CriterionKind.BONUS, CriterionKind.PENALTY)


async def entry_by_entry(
    session: AsyncSession, cluster_ids: list[int] | None, since: Any = None
) -> dict[int, Board]:
    """The boards as Python scores them from the loaded entries."""
    data = await standings.load_years(session, YEAR, cluster_ids, detail=False)
    posts = await standings.last_posts(session, YEAR, cluster_ids, since)
    out = {}
    for cluster_id, year_data in data.items():
        post = posts.get(cluster_id)
        out[cluster_id] = standings.build_board(
            year_data, NOW, post.standings if post else None, post.posted_at if post else None
        )
    return out


def shown(found: dict[int, Board]) -> list[Any]:
    """Everything a board shows, the digits of each figure included (1.30 is not 1.3)."""
    return [
        (
            board,
            [(str(s.proposed), str(s.verified), s.rank, s.rating) for s in board.standings],
        )
        for board in found.values()
    ]


async def same_boards(
    session: AsyncSession, cluster_ids: list[int] | None, since: Any = None
) -> None:
    summed = await standings.boards(session, YEAR, cluster_ids, NOW, since=since)
    assert summed, cluster_ids
    assert shown(summed) == shown(await entry_by_entry(session, cluster_ids, since))


class World:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session
        self.rng = random.Random(13)

    async def load(self) -> World:
        await seed_examples(self.s)
        await officer(self.s, 501, "STC-BDINH")
        user_id = await self.s.scalar(select(User.id).order_by(User.id).limit(1))
        assert user_id is not None
        self.user = user_id
        self.years = list(await self.s.scalars(select(ClusterYear).where(ClusterYear.year == YEAR)))
        assert len(self.years) == 2
        return self

    async def members(self, cluster_id: int) -> list[int]:
        rows = await self.s.scalars(
            select(Membership.unit_id)
            .join(Unit, Unit.id == Membership.unit_id)
            .where(Membership.cluster_id == cluster_id, Membership.year == YEAR)
            .order_by(Unit.code)
        )
        return list(rows)

    async def leaves(self, cluster_id: int) -> list[Criterion]:
        rows = await self.s.scalars(
            select(Criterion)
            .where(
                Criterion.cluster_id == cluster_id,
                Criterion.year == YEAR,
                Criterion.kind != CriterionKind.GROUP,
            )
            .order_by(Criterion.position)
        )
        return list(rows)

    async def periods(self, cluster_id: int) -> list[Period]:
        rows = await self.s.scalars(
            select(Period)
            .where(Period.cluster_id == cluster_id, Period.year == YEAR)
            .order_by(Period.starts_on)
        )
        return list(rows)

    def report(
        self, unit: int, leaf: Criterion, period: Period, version: int, proposed: Decimal | None
    ) -> Report:
        row = Report(
            unit_id=unit,
            criterion_id=leaf.id,
            period_id=period.id,
            version=version,
            value=None,
            proposed_score=proposed,
            max_points=leaf.max_points,
            note=None,
            late=self.rng.random() < 0.2,
            reported_by=self.user,
            reported_at=NOW + timedelta(minutes=version),
        )
        self.s.add(row)
        return row

    def review(self, report: Report, score: Decimal, minutes: int = 0) -> None:
        self.s.add(
            Review(
                report_id=report.id,
                verified_score=score,
                reason=None,
                reviewer_id=self.user,
                reviewed_at=NOW + timedelta(days=1, minutes=minutes),
            )
        )

    def score(self, leaf: Criterion) -> Decimal:
        """A score of 4 decimals up to the maximum (penalties either sign, as typed)."""
        maximum = leaf.max_points or Decimal(1)
        amount = (maximum * Decimal(self.rng.randint(0, 10_000)) / 10_000).quantize(
            Decimal("0.0001")
        )
        return -amount if leaf.kind is CriterionKind.PENALTY and self.rng.random() < 0.7 else amount

    async def everyone_reports(self, cluster_id: int, skip: set[int]) -> None:
        """Random newest versions in random periods, corrections after a review, second
        reviews, reviews of a version since replaced; the units in `skip` report nothing."""
        periods = await self.periods(cluster_id)
        for unit in await self.members(cluster_id):
            if unit in skip:
                continue
            for leaf in await self.leaves(cluster_id):
                if self.rng.random() < 0.15:
                    continue  # not reported
                period = self.rng.choice(periods)
                versions = self.rng.choice((1, 1, 2, 3))
                rows = [
                    self.report(
                        unit,
                        leaf,
                        period,
                        version,
                        None if self.rng.random() < 0.03 else self.score(leaf),
                    )
                    for version in range(1, versions + 1)
                ]
                await self.s.flush()
                if self.rng.random() < 0.3 and len(rows) > 1:
                    self.review(rows[0], self.score(leaf))  # of a replaced version: history
                if self.rng.random() < 0.7:
                    self.review(rows[-1], self.score(leaf))
                    if self.rng.random() < 0.2:
                        self.review(rows[-1], self.score(leaf), minutes=5)
        await self.s.flush()

    async def scored_exactly(
        self,
        unit: int,
        cluster_id: int,
        scores: dict[str, Decimal],
        default: str,
        unreviewed: frozenset[str] = frozenset(),
    ) -> None:
        """Every leaf of `unit` reported and reviewed (but those in `unreviewed`): `scores`
        by code, else the leaf's maximum times `default` (0 for bonus and penalty)."""
        period = (await self.periods(cluster_id))[0]
        for leaf in await self.leaves(cluster_id):
            maximum = leaf.max_points or Decimal(0)
            share = Decimal(0) if leaf.kind in EXTRA else Decimal(default)
            score = scores.get(leaf.code, maximum * share)
            row = self.report(unit, leaf, period, 1, score)
            await self.s.flush()
            if leaf.code not in unreviewed:
                self.review(row, score)
        await self.s.flush()


async def test_the_summed_boards_show_what_the_entries_score(session: AsyncSession) -> None:
    w = await World(session).load()
    for year in w.years:
        members = await w.members(year.cluster_id)
        # The last member reports nothing; the first four are set by hand below.
        await w.everyone_reports(year.cluster_id, skip={*members[:4], members[-1]})
        leaves = await w.leaves(year.cluster_id)
        base = [leaf for leaf in leaves if leaf.kind not in EXTRA and leaf.max_points]
        levels = year.settings.get("rating", {}).get("levels") or [{"min_share": "0.85"}]
        top = Decimal(str(levels[0]["min_share"]))
        first = base[0]
        assert first.max_points is not None
        # Full marks but one criterion exactly at the top level's floor: still that level.
        await w.scored_exactly(
            members[0], year.cluster_id, {first.code: first.max_points * top}, "1"
        )
        # The same a ten-thousandth below the floor: one level down.
        below = first.max_points * top - Decimal("0.0001")
        await w.scored_exactly(members[1], year.cluster_id, {first.code: below}, "1")
        # Penalties beyond the whole total (never below 0), typed positive and negative.
        penalties = [leaf for leaf in leaves if leaf.kind is CriterionKind.PENALTY]
        heavy = {leaf.code: Decimal(500) * (-1) ** i for i, leaf in enumerate(penalties)}
        await w.scored_exactly(members[2], year.cluster_id, heavy, "0.0025")
        # Full marks, one criterion not yet verified: it counts 0 against every floor.
        await w.scored_exactly(
            members[3], year.cluster_id, {}, "1", unreviewed=frozenset({first.code})
        )
    # A retired criterion's reports stay in history and count no more.
    retired = (await w.leaves(w.years[0].cluster_id))[1]
    retired.active = False
    await session.commit()

    ids = [year.cluster_id for year in w.years]
    await same_boards(session, None)
    for cluster_id in ids:
        await same_boards(session, [cluster_id])
    boards = await standings.boards(session, YEAR, ids, NOW)
    ratings = {s.rating for board in boards.values() for s in board.standings}
    assert len(ratings) >= 3, ratings  # the data reaches several levels
    for year in w.years:
        members = await w.members(year.cluster_id)
        by_unit = {s.member.unit_id: s for s in boards[year.cluster_id].standings}
        at_floor, below_floor, crushed, unverified = (by_unit[u] for u in members[:4])
        assert at_floor.rating != below_floor.rating, year.cluster_id
        assert unverified.rating == "not_completed" and unverified.unreviewed == 1
        assert crushed.verified == crushed.proposed == Decimal("0.00")
        nothing = by_unit[members[-1]]
        assert (nothing.reported, nothing.unreviewed, nothing.verified) == (0, 0, Decimal("0.00"))


async def test_half_a_cent_rounds_up_as_the_decimals_do(session: AsyncSession) -> None:
    """Sums of 4-decimal scores that end on half a cent: SQLite adds REALs, so the board
    adds whole ten-thousandths instead (0.0025 + 0.0025 must show 0.01)."""
    w = await World(session).load()
    year = w.years[0]
    members = await w.members(year.cluster_id)
    await w.scored_exactly(members[0], year.cluster_id, {}, "0.0025")
    period = (await w.periods(year.cluster_id))[0]
    leaves = [leaf for leaf in await w.leaves(year.cluster_id) if leaf.kind not in EXTRA]
    for leaf, score in zip(leaves, ("0.1", "0.2", "0.0050", "1.2345"), strict=False):
        w.report(members[1], leaf, period, 1, Decimal(score))
    await session.commit()
    await same_boards(session, [year.cluster_id])
    board = (await standings.boards(session, YEAR, [year.cluster_id], NOW))[year.cluster_id]
    second = next(s for s in board.standings if s.member.unit_id == members[1])
    assert second.proposed == Decimal("1.54")  # 1.5395 half up, not 1.5394999…


async def test_ties_the_ballot_breaks_and_movement_since_a_post(session: AsyncSession) -> None:
    w = await World(session).load()
    year = next(y for y in w.years if y.settings["rating"]["tie_rule"] == "ballot")
    members = await w.members(year.cluster_id)
    for unit in members[:3]:  # three equal totals
        await w.scored_exactly(unit, year.cluster_id, {}, "0.9")
    year.status = YearStatus.CLOSED
    ballot = Ballot(
        cluster_id=year.cluster_id,
        year=YEAR,
        kind="leading",
        choices=1,
        threshold=Decimal("0.5"),
        self_vote=False,
        voters=len(members),
        status="closed",
        opened_by="test",
        opened_at=NOW,
        closes_at=NOW,
        closed_at=NOW,
    )
    session.add(ballot)
    await session.flush()
    for position, (unit, votes) in enumerate(zip(members[:3], (1, 4, 1), strict=True)):
        session.add(
            BallotCandidate(ballot_id=ballot.id, unit_id=unit, position=position, votes=votes)
        )
    for days, leader in ((3, members[2]), (1, members[0])):
        session.add(
            LeaderboardPost(
                cluster_id=year.cluster_id,
                year=YEAR,
                address=None,
                posted_at=NOW - timedelta(days=days),
                standings={str(leader): {"rank": 1, "verified": "1", "proposed": "1"}},
            )
        )
    await session.commit()

    await same_boards(session, None)
    await same_boards(session, [year.cluster_id], since=NOW - timedelta(days=2))
    board = (await standings.boards(session, YEAR, [year.cluster_id], NOW))[year.cluster_id]
    assert board.closed and board.tie_rule == "ballot"
    assert [(s.member.unit_id, s.rank) for s in board.standings[:3]] == [
        (members[1], 1),  # 4 votes
        (members[0], 2),  # 1 vote each: still shared
        (members[2], 2),
    ]
    assert board.previous_at == NOW - timedelta(days=1)
    assert board.standings[1].previous_rank == 1 and board.standings[0].previous_rank is None
    earlier = await standings.boards(
        session, YEAR, [year.cluster_id], NOW, since=NOW - timedelta(days=2)
    )
    assert earlier[year.cluster_id].previous_at == NOW - timedelta(days=3)


async def test_a_share_finer_than_the_sums_resolve_is_scored_entry_by_entry(
    session: AsyncSession,
) -> None:
    """The database compares shares to 5 decimals. A score a ten-thousandth above 85 % of
    its maximum meets a share of exactly score / maximum (7 decimals), which 5 decimals
    would miss: such a year is scored from its entries, and the unit is rated excellent."""
    w = await World(session).load()
    year = w.years[0]
    members = await w.members(year.cluster_id)
    leaves = await w.leaves(year.cluster_id)
    tick = Decimal("0.0001")
    first = next(
        leaf
        for leaf in leaves
        if leaf.kind not in EXTRA and leaf.max_points and (tick / leaf.max_points * 10**5) % 1
    )
    maximum = first.max_points
    assert maximum is not None
    score = maximum * Decimal("0.85") + tick
    share = (score / maximum).quantize(Decimal("0.0000001"), rounding=ROUND_DOWN)
    assert (share * 10**5) % 1 and score >= share * maximum
    settings = dict(year.settings)
    settings["rating"] = {
        **settings.get("rating", {}),
        "levels": [
            {"code": "excellent", "min_total": "50", "min_share": str(share)},
            {"code": "good", "min_total": "0", "min_share": "0"},
        ],
    }
    year.settings = settings
    await w.scored_exactly(members[0], year.cluster_id, {first.code: score}, "1")
    await session.commit()
    await same_boards(session, [year.cluster_id])
    await same_boards(session, None)
    board = (await standings.boards(session, YEAR, [year.cluster_id], NOW))[year.cluster_id]
    [unit] = [s for s in board.standings if s.member.unit_id == members[0]]
    assert unit.rating == "excellent"


async def test_a_board_is_one_statement(session: AsyncSession, engine: AsyncEngine) -> None:
    w = await World(session).load()
    await w.everyone_reports(w.years[0].cluster_id, skip=set())
    await session.commit()
    with statements_on(engine) as statements:
        for ids in ([w.years[0].cluster_id], None):
            statements.clear()
            found = await standings.boards(session, YEAR, ids, NOW, since=NOW)
            assert found and len(statements) == 1, statements
