"""The secret ballot on a real database: one vote per unit (also at the same instant),
no running tally, and nothing in the database that tells who chose whom."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from docx import Document
from openpyxl import load_workbook
from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from handlers.i18n import texts
from models.db import session_factory
from models.tables import (
    Ballot,
    BallotCandidate,
    BallotVoter,
    Cluster,
    ClusterYear,
    Unit,
    YearResult,
)
from services import ballot, documents, export, leaderboard, reminders, scheduled, yearend
from services.access import Actor, resolve_actor
from services.errors import InvalidInput
from tests.conftest import NOW
from tests.factories import officer, seed_examples, tg

CLOSED_AT = NOW + timedelta(days=240)  # early January of the next year
FORMS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")
UNITS = ["STC-QNAM", "STC-QNGAI", "STC-BDINH", "STC-PYEN", "STC-KHOA", "STC-NTHUAN"]


@pytest.fixture
async def closed(session: AsyncSession) -> dict[str, Actor]:
    """Cụm 6 with an officer in every unit, its 2024 closed; every unit a candidate."""
    await seed_examples(session)
    actors = {unit: await officer(session, 6100 + i, unit) for i, unit in enumerate(UNITS)}
    chair = actors["STC-QNAM"]
    assert chair.seat is not None
    await yearend.close_year(
        session, chair, cluster_id=chair.seat.cluster_id, year=2024, now=CLOSED_AT
    )
    year = await session.scalar(
        select(ClusterYear).where(
            ClusterYear.year == 2024, ClusterYear.cluster_id == chair.seat.cluster_id
        )
    )
    assert year is not None
    year.settings = {
        **year.settings,
        "ballot": {"candidates": "all", "choices": 2, "threshold": "0.5"},
    }
    await session.commit()
    return {u: await resolve_actor(session, tg(6100 + i), frozenset()) for i, u in enumerate(UNITS)}


def ids(view: ballot.BallotView, *codes: str) -> list[int]:
    by_code = {c.code: c.id for c in view.candidates}
    return [by_code[c] for c in codes]


async def test_each_unit_votes_once_and_the_count_comes_only_at_the_close(
    session: AsyncSession, closed: dict[str, Actor]
) -> None:
    chair = closed["STC-QNAM"]
    opened = await ballot.open_ballot(session, chair, CLOSED_AT, kind="leading")
    assert len(opened.candidates) == 6 and opened.choices == 2 and opened.voters == 6
    row = await session.get_one(Ballot, opened.id)
    with pytest.raises(InvalidInput) as running:
        await ballot.result(session, row)
    assert running.value.key == "error.ballot_still_open"

    plan = {
        "STC-QNAM": ("STC-QNGAI", "STC-BDINH"),
        "STC-QNGAI": ("STC-QNAM",),
        "STC-BDINH": ("STC-QNAM", "STC-QNGAI"),
        "STC-PYEN": ("STC-QNAM", "STC-QNGAI"),
        "STC-KHOA": ("STC-QNAM",),
    }
    for step, (unit, choice) in enumerate(plan.items()):
        done = await ballot.cast(
            session,
            closed[unit],
            opened.id,
            ids(opened, *choice),
            CLOSED_AT + timedelta(minutes=step),
        )
        assert done.result is None and done.ballot.unit_voted
    with pytest.raises(InvalidInput) as again:
        await ballot.cast(
            session, closed["STC-KHOA"], opened.id, ids(opened, "STC-PYEN"), CLOSED_AT
        )
    assert again.value.key == "error.ballot_already_voted"

    last = await ballot.cast(
        session,
        closed["STC-NTHUAN"],
        opened.id,
        ids(opened, "STC-QNAM"),
        CLOSED_AT + timedelta(hours=1),
    )

    assert last.result is not None  # every unit voted: closed at once
    tallies = {t.candidate.code: (t.votes, t.reached) for t in last.result.tallies}
    assert tallies["STC-QNAM"] == (5, True)  # 5/6 ≥ 50 %
    assert tallies["STC-QNGAI"] == (3, True)  # 3/6 = 50 %
    assert tallies["STC-BDINH"] == (1, False)
    assert [t.candidate.code for t in last.result.chosen] == ["STC-QNAM", "STC-QNGAI"]
    assert last.result.tallies[0].share == Decimal(5) / Decimal(6)


@pytest.mark.parametrize(
    ("unit", "choice", "key"),
    [
        ("STC-PYEN", ("STC-PYEN",), "error.ballot_self"),
        ("STC-PYEN", ("STC-QNAM", "STC-QNGAI", "STC-BDINH"), "error.ballot_choices"),
        ("STC-PYEN", (), "error.ballot_choices"),
    ],
)
async def test_a_wrong_vote_is_refused_and_counts_nothing(
    session: AsyncSession, closed: dict[str, Actor], unit: str, choice: tuple[str, ...], key: str
) -> None:
    opened = await ballot.open_ballot(session, closed["STC-QNAM"], CLOSED_AT)

    with pytest.raises(InvalidInput) as refused:
        await ballot.cast(session, closed[unit], opened.id, ids(opened, *choice), CLOSED_AT)

    assert refused.value.key == key
    assert list(await session.scalars(select(BallotVoter))) == []
    assert {c.votes for c in await session.scalars(select(BallotCandidate))} == {0}


async def test_two_officers_of_one_unit_voting_at_the_same_instant_count_once(
    engine: AsyncEngine, session: AsyncSession, closed: dict[str, Actor]
) -> None:
    second = await officer(session, 6200, "STC-PYEN")  # Phú Yên's second officer
    opened = await ballot.open_ballot(session, closed["STC-QNAM"], CLOSED_AT)
    sessions = session_factory(engine)

    async def vote(actor: Actor, choice: str) -> str:
        async with sessions() as own:
            try:
                await ballot.cast(own, actor, opened.id, ids(opened, choice), CLOSED_AT)
            except InvalidInput as err:
                return err.key
            return "ok"

    outcomes = await asyncio.gather(vote(closed["STC-PYEN"], "STC-QNAM"), vote(second, "STC-QNGAI"))

    assert sorted(outcomes) == ["error.ballot_already_voted", "ok"]
    assert sum(c.votes for c in await session.scalars(select(BallotCandidate))) == 1
    assert len(list(await session.scalars(select(BallotVoter)))) == 1


async def test_nothing_in_the_database_tells_who_voted_for_whom(
    engine: AsyncEngine, session: AsyncSession, closed: dict[str, Actor]
) -> None:
    opened = await ballot.open_ballot(session, closed["STC-QNAM"], CLOSED_AT)
    vote_times = []
    for step, (unit, choice) in enumerate([("STC-PYEN", "STC-QNAM"), ("STC-KHOA", "STC-BDINH")]):
        at = CLOSED_AT + timedelta(minutes=7 + step, seconds=13)
        vote_times.append(at)
        await ballot.cast(session, closed[unit], opened.id, ids(opened, choice), at)

    # Every value of every table, after the votes.
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: inspect(c).get_table_names())
        dump = {
            n: (await conn.execute(text(f'SELECT * FROM "{n}"'))).mappings().all() for n in names
        }

    # No row of any table carries a moment a vote was cast (to the second, in any form).
    def moments(value: object) -> bool:
        if isinstance(value, datetime):
            return any(
                abs(value.replace(tzinfo=t.tzinfo) - t) < timedelta(seconds=1) for t in vote_times
            )
        shown = str(value)
        return any(t.strftime(form) in shown for t in vote_times for form in FORMS)

    carrying = [
        (table, dict(row))
        for table, rows in dump.items()
        for row in rows
        if any(moments(v) for v in row.values())
    ]
    assert carrying == []
    # Who voted is a list of units alone; the tallies are counts alone.
    assert {tuple(sorted(str(k) for k in r)) for r in dump["ballot_voters"]} == {
        ("ballot_id", "unit_id")
    }
    assert set(dump["ballot_candidates"][0]) == {"id", "ballot_id", "unit_id", "position", "votes"}
    # And nothing else was written about the votes: no audit entry, no draft.
    assert not [r for r in dump["audit_log"] if "vote" in str(r["action"])]
    assert dump["drafts"] == []


async def test_with_tie_rule_ballot_equal_totals_follow_the_ballot_everywhere(
    session: AsyncSession, closed: dict[str, Actor]
) -> None:
    year = await session.scalar(select(ClusterYear).where(ClusterYear.year == 2024))
    assert year is not None
    rating = {**year.settings.get("rating", {}), "tie_rule": "ballot"}
    year.settings = {**year.settings, "rating": rating}
    await session.commit()
    # Nothing was reported: all six units tie at 0, all share rank 1 before the ballot.
    results = {r.unit_id: r.rank for r in await session.scalars(select(YearResult))}
    assert set(results.values()) == {1}
    opened = await ballot.open_ballot(session, closed["STC-QNAM"], CLOSED_AT)
    plan = {"STC-QNAM": ("STC-QNGAI", "STC-BDINH"), "STC-QNGAI": ("STC-BDINH",),
            "STC-BDINH": ("STC-QNGAI",), "STC-PYEN": ("STC-QNGAI",), "STC-KHOA": ("STC-BDINH",),
            "STC-NTHUAN": ("STC-PYEN",)}  # fmt: skip
    for unit, choice in plan.items():
        await ballot.cast(session, closed[unit], opened.id, ids(opened, *choice), CLOSED_AT)
    # QNGAI 3 votes, BDINH 3, PYEN 1, the rest 0: still ties where the votes are equal.
    expected = {"STC-QNGAI": 1, "STC-BDINH": 1, "STC-PYEN": 3, "STC-QNAM": 4, "STC-KHOA": 4,
                "STC-NTHUAN": 4}  # fmt: skip

    codes = {u.id: u.code for u in await session.scalars(select(Unit))}
    session.expire_all()
    stored = {codes[r.unit_id]: r.rank for r in await session.scalars(select(YearResult))}
    chair = closed["STC-QNAM"]
    assert chair.seat is not None
    board = await leaderboard.cluster_board(session, chair.seat.cluster_id, CLOSED_AT, 2024)
    on_board = {s.member.code: s.rank for s in board.standings}
    cluster = await session.get_one(Cluster, chair.seat.cluster_id)
    made = await export.build_export(session, cluster, year=2024, period_code=None, now=CLOSED_AT)
    sheet = load_workbook(io.BytesIO(made.content)).worksheets[0]
    in_export = {
        str(row[1]): row[0]
        for row in sheet.iter_rows(values_only=True)
        if isinstance(row[0], int) and isinstance(row[1], str) and row[1].startswith("STC-")
    }

    assert stored == expected
    assert on_board == expected
    assert in_export == expected


async def test_the_minutes_print_the_ballots_figures(
    session: AsyncSession, closed: dict[str, Actor]
) -> None:
    opened = await ballot.open_ballot(session, closed["STC-QNAM"], CLOSED_AT)
    for unit in UNITS:
        choice = "STC-QNGAI" if unit != "STC-QNGAI" else "STC-QNAM"
        await ballot.cast(session, closed[unit], opened.id, ids(opened, choice), CLOSED_AT)
    chair = closed["STC-QNAM"]
    assert chair.seat is not None
    cluster = await session.get_one(Cluster, chair.seat.cluster_id)

    made = await documents.build_document(
        session, cluster, documents.DocumentKind.MINUTES, texts("vi"), year=2024
    )

    doc = Document(io.BytesIO(made.content))
    words = "\n".join(p.text for p in doc.paragraphs)
    words += "\n".join(c.text for t in doc.tables for r in t.rows for c in r.cells)
    assert "Số phiếu phát ra: 6; số phiếu thu về: 6; số phiếu hợp lệ: 6" in words
    assert "Quảng Ngãi" in words


async def _ballot_plan(session: AsyncSession, at: datetime) -> list[reminders.Due]:
    found = await scheduled.plan(session, at)
    return [d for d in found.due if d.kind is reminders.Kind.BALLOT]


async def test_units_that_have_not_voted_are_reminded_once_before_the_close(
    session: AsyncSession, closed: dict[str, Actor]
) -> None:
    opened = await ballot.open_ballot(session, closed["STC-QNAM"], CLOSED_AT, hours=48)
    for unit in ("STC-QNAM", "STC-KHOA"):
        await ballot.cast(session, closed[unit], opened.id, ids(opened, "STC-QNGAI"), CLOSED_AT)
    names = {u.code: u.short_name for u in await session.scalars(select(Unit))}

    assert await _ballot_plan(session, CLOSED_AT + timedelta(hours=23)) == []  # not yet due
    day_before = CLOSED_AT + timedelta(hours=24, minutes=1)
    due = await _ballot_plan(session, day_before)

    waiting = [u for u in UNITS if u not in ("STC-QNAM", "STC-KHOA")]
    assert sorted(str(d.address) for d in due) == sorted(
        str(tg(6100 + UNITS.index(u))) for u in waiting
    )
    assert sorted(d.subject_unit or "" for d in due) == sorted(names[u] for u in waiting)
    assert {d.ballot for d in due} == {
        reminders.BallotRef(opened.id, "leading", 2024, opened.closes_at)
    }
    for item in due:  # sent: never planned again, by this process or another
        assert await reminders.claim(session, item, day_before, owner="test")
        await reminders.finish(session, item.key, reminders.Status.SENT, day_before, owner="test")
    assert await _ballot_plan(session, day_before + timedelta(minutes=5)) == []

    # Phú Yên votes; two hours before the close only the three still waiting are reminded.
    await ballot.cast(session, closed["STC-PYEN"], opened.id, ids(opened, "STC-QNAM"), CLOSED_AT)
    late = await _ballot_plan(session, opened.closes_at - timedelta(hours=1, minutes=59))
    assert len(late) == 3 and names["STC-PYEN"] not in {d.subject_unit for d in late}
    assert len({d.key for d in late} | {d.key for d in due}) == 7  # a new message each time
    # Closed: nobody is reminded any more.
    await ballot.close_by_chair(session, closed["STC-QNAM"], CLOSED_AT + timedelta(hours=47))
    assert await _ballot_plan(session, opened.closes_at - timedelta(minutes=30)) == []


async def test_a_reminder_time_before_the_ballot_opened_is_dropped(
    session: AsyncSession, closed: dict[str, Actor]
) -> None:
    opened = await ballot.open_ballot(session, closed["STC-QNAM"], CLOSED_AT, hours=3)

    due = await _ballot_plan(session, CLOSED_AT + timedelta(hours=1, minutes=1))

    assert len(due) == 6 and {d.rule for d in due} == {f"ballot{opened.id}-2h"}
