"""Reminders on a real database: who is due what at a given clock, the ledger that lets each
message out once (across restarts and concurrent claims), skipping what the bot missed, the
chair's nudge and the deadlines view."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from models.db import session_factory
from models.tables import AuditEntry, Cluster, ClusterYear, Identity, ReminderLog
from services import onboarding, reminders
from services.access import Actor
from services.addresses import Address
from services.calendar import PeriodState
from services.cluster_file import load_cluster_file
from services.clusters import import_cluster
from services.errors import InvalidInput, PermissionDenied
from services.reminders import Due, Kind, Status
from tests.conftest import EXAMPLES, NOW, statements_on
from tests.factories import officer, report_everything, seed_examples, tg

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
CHAIR, VICE, BDINH, BDINH2, PYEN = 3201, 3202, 3203, 3204, 3205
TN_CHAIR = 3301
GROUP = -100_555
NOT_CHASED = {"STC-BDINH", "STC-PYEN", "STC-QNAM", "STC-QNGAI"}
OWNER, DEAD, OTHER = "host-a:101:aaaa", "host-a:102:dead", "host-b:201:bbbb"


def local(y: int, m: int, d: int, hh: int = 8, mm: int = 30) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=HCM)


@pytest.fixture
async def cum6(session: AsyncSession) -> dict[str, Actor]:
    """Cụm 6 with officers in four units (two in Bình Định) and its group linked; the
    other two members (Khánh Hòa, Ninh Thuận) have nobody in the bot."""
    await seed_examples(session)
    actors = {
        "chair": await officer(session, CHAIR, "STC-QNAM"),
        "vice": await officer(session, VICE, "STC-QNGAI"),
        "bdinh": await officer(session, BDINH, "STC-BDINH"),
        "bdinh2": await officer(session, BDINH2, "STC-BDINH"),
        "pyen": await officer(session, PYEN, "STC-PYEN"),
    }
    await onboarding.link_group(
        session, actors["chair"], chat=tg(GROUP), cluster_code=None, now=local(2024, 5, 10)
    )
    return actors


def sent_to(items: list[Due]) -> set[tuple[str, Address]]:
    return {(d.rule, d.address) for d in items}


async def send_all(session: AsyncSession, items: list[Due], now: datetime) -> int:
    """What the sender does, minus Telegram: claim each, then mark it sent."""
    sent = 0
    for item in items:
        if await reminders.claim(session, item, now, owner=OWNER):
            await reminders.finish(session, item.key, Status.SENT, now, owner=OWNER)
            sent += 1
    return sent


async def test_seven_days_before_every_officer_of_a_missing_unit_and_the_group(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    plan = await reminders.plan(session, local(2024, 6, 28))
    assert sent_to(plan.due) == {
        ("before:7", tg(CHAIR)),
        ("before:7", tg(VICE)),
        ("before:7", tg(BDINH)),
        ("before:7", tg(BDINH2)),
        ("before:7", tg(PYEN)),
        ("group_missing:7", tg(GROUP)),
    }
    [group] = [d for d in plan.due if d.kind is Kind.GROUP_MISSING]
    # The group hears of units, not people: all six members are missing everything.
    assert [g.unit_name for g in group.gaps] == sorted(g.unit_name for g in group.gaps)
    assert len(group.gaps) == 6 and group.members == 6
    [bdinh] = [d for d in plan.due if d.address == tg(BDINH)]
    assert bdinh.gaps[0].unit_name == "Bình Định" and bdinh.period is not None
    assert bdinh.period.code == "Q2" and bdinh.days_left == 7 and bdinh.language == "vi"
    assert len(bdinh.gaps[0].missing) == bdinh.gaps[0].total > 0


async def test_a_unit_that_reported_every_base_criterion_is_not_chased(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    await report_everything(session, "STC-PYEN", "Q2")  # bonus and penalty never count
    codes = await report_everything(session, "STC-BDINH", "Q2", leave_out=("1.1.1",))
    plan = await reminders.plan(session, local(2024, 7, 2))
    chats = {d.address for d in plan.due if d.kind is Kind.BEFORE}
    assert tg(PYEN) not in chats and {tg(BDINH), tg(BDINH2)} <= chats
    [bdinh] = [d for d in plan.due if d.address == tg(BDINH)]
    assert [c.code for c in bdinh.gaps[0].missing] == ["1.1.1"]
    assert bdinh.gaps[0].total == len(codes) + 1
    [group] = [d for d in plan.due if d.kind is Kind.GROUP_MISSING]
    assert "Phú Yên" not in {g.unit_name for g in group.gaps}


async def test_nothing_is_due_outside_the_schedule(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    assert (await reminders.plan(session, local(2024, 6, 28, 7, 59))).due == []
    assert (await reminders.plan(session, local(2024, 7, 3, 9))).due == []  # between offsets
    assert (await reminders.plan(session, local(2024, 6, 29, 9))).due == []  # Saturday


async def test_each_message_is_claimed_once_and_a_restart_sends_nothing_new(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    now = local(2024, 7, 4)
    first = await reminders.plan(session, now)
    assert await send_all(session, first.due, now) == len(first.due) == 6
    again = await reminders.plan(session, now)  # the same process, or one just restarted
    assert again.due == []
    assert not await reminders.claim(session, first.due[0], now, owner=OWNER)
    later = now + reminders.LEASE * 10  # finished rows never come back, however late
    assert not await reminders.claim(session, first.due[0], later, owner="someone-else")
    assert (await reminders.plan(session, later)).due == []
    rows = list(await session.scalars(select(ReminderLog)))
    assert len(rows) == 6 and {r.status for r in rows} == {"sent"}
    assert {r.rule for r in rows} == {"before:1", "group_missing:1"}


async def test_concurrent_claims_from_separate_connections_let_exactly_one_through(
    engine: AsyncEngine, session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    now = local(2024, 7, 4)
    plan = await reminders.plan(session, now)
    factory = session_factory(engine)

    async def claim_all() -> int:
        won = 0
        async with factory() as own:
            for item in plan.due:
                won += await reminders.claim(own, item, now, owner=OWNER)
        return won

    results = await asyncio.gather(*(claim_all() for _ in range(4)))
    assert sum(results) == len(plan.due)
    count = len(list(await session.scalars(select(ReminderLog.dedup_key))))
    assert count == len(plan.due)


async def claim_each(session: AsyncSession, items: list[Due], now: datetime, owner: str) -> int:
    return sum([await reminders.claim(session, item, now, owner=owner) for item in items])


async def row(session: AsyncSession, key: str) -> ReminderLog:
    session.expunge_all()  # read what the database holds, not what this session remembers
    found = await session.scalar(select(ReminderLog).where(ReminderLog.dedup_key == key))
    assert found is not None
    return found


async def test_a_claim_whose_owner_died_is_taken_over_after_its_lease_not_before(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    now = local(2024, 7, 4)
    due = (await reminders.plan(session, now)).due
    assert await claim_each(session, due, now, DEAD) == len(due) == 6  # then it dies

    almost = now + reminders.LEASE - timedelta(seconds=1)
    assert (await reminders.plan(session, almost)).due == []  # still held by its owner
    assert await claim_each(session, due, almost, OWNER) == 0

    lapsed = now + reminders.LEASE
    again = (await reminders.plan(session, lapsed)).due
    assert [d.key for d in again] == [d.key for d in due]  # offered again, in order
    assert await claim_each(session, again, lapsed, OWNER) == 6
    taken = await row(session, due[0].key)
    assert (taken.status, taken.owner) == ("claimed", OWNER)
    assert taken.claimed_at == lapsed and taken.lease_until == lapsed + reminders.LEASE
    assert (await reminders.plan(session, lapsed)).due == []  # held again, by the new owner

    # The dead owner's late word changes nothing: the claim is no longer its own.
    assert not await reminders.finish(session, due[0].key, Status.SENT, lapsed, owner=DEAD)
    assert not await reminders.renew(session, due[0].key, DEAD, lapsed)
    assert (await row(session, due[0].key)).status == "claimed"
    for item in again:
        assert await reminders.finish(session, item.key, Status.SENT, lapsed, owner=OWNER)
    finished = await row(session, due[0].key)
    assert (finished.status, finished.owner, finished.sent_at) == ("sent", OWNER, lapsed)
    assert (await reminders.plan(session, now + reminders.LEASE * 5)).due == []


async def test_a_renewed_lease_keeps_the_claim_past_its_first_term(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    now = local(2024, 7, 4)
    [first, *_] = (await reminders.plan(session, now)).due
    assert await reminders.claim(session, first, now, owner=OWNER)
    assert await reminders.renew(session, first.key, OWNER, now + timedelta(seconds=90))
    at_old_end = now + reminders.LEASE + timedelta(seconds=1)
    assert first.key not in {d.key for d in (await reminders.plan(session, at_old_end)).due}
    assert not await reminders.claim(session, first, at_old_end, owner=OTHER)
    assert (await row(session, first.key)).owner == OWNER


async def test_two_processes_racing_for_a_lapsed_claim_exactly_one_wins_each(
    engine: AsyncEngine, session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    now = local(2024, 7, 4)
    due = (await reminders.plan(session, now)).due
    assert await claim_each(session, due, now, DEAD) == 6
    lapsed = now + reminders.LEASE + timedelta(seconds=5)
    offered = (await reminders.plan(session, lapsed)).due
    assert len(offered) == 6
    factory = session_factory(engine)

    async def racer(owner: str) -> set[str]:
        won = set()
        async with factory() as own:
            for item in offered:
                if await reminders.claim(own, item, lapsed, owner=owner):
                    won.add(item.key)
        return won

    owners = [f"racer-{n}:{n}:0000" for n in range(4)]
    results = await asyncio.gather(*(racer(o) for o in owners))
    assert sum(len(r) for r in results) == 6  # each lapsed claim taken over once
    assert set().union(*results) == {d.key for d in due}
    for owner, won in zip(owners, results, strict=True):
        for key in won:
            assert (await row(session, key)).owner == owner

    # Many at once for one message: one wins, whichever it is.
    [item, *_] = offered
    later = lapsed + reminders.LEASE
    wins = await asyncio.gather(*(racer_one(factory, item, later, o) for o in owners * 2))
    assert sum(wins) == 1


async def racer_one(
    factory: async_sessionmaker[AsyncSession], item: Due, now: datetime, owner: str
) -> bool:
    async with factory() as own:
        return await reminders.claim(own, item, now, owner=owner)


async def test_a_claim_from_before_leases_counts_as_leased_from_its_claim(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    """Revision 0007 leaves old rows' owner and lease empty: a `claimed` one is held for
    LEASE from its claimed_at (a previous-version process may still be sending it), then
    retried while still due."""
    now = local(2024, 7, 4)
    due = (await reminders.plan(session, now)).due
    assert await claim_each(session, due, now, DEAD) == 6
    await session.execute(update(ReminderLog).values(owner=None, lease_until=None))
    await session.commit()
    assert (await reminders.plan(session, now + timedelta(minutes=1))).due == []
    lapsed = now + reminders.LEASE
    assert len((await reminders.plan(session, lapsed)).due) == 6
    assert await claim_each(session, due, lapsed, OWNER) == 6


async def test_a_lapsed_claim_whose_day_ended_is_skipped_never_sent_late(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    afternoon = local(2024, 7, 2, 16, 50)
    due = (await reminders.plan(session, afternoon)).due
    assert {d.rule for d in due} == {"before:3", "group_missing:3"}
    assert await claim_each(session, due, afternoon, DEAD) == len(due)  # then it dies

    evening = local(2024, 7, 2, 17, 5)  # the lease has passed, and so has the working day
    plan = await reminders.plan(session, evening)
    assert plan.due == []
    assert {d.key for d in due} <= {d.key for d in plan.expired}
    stale = [d for d in plan.expired if d.key in {x.key for x in due}]
    assert await reminders.record_skipped(session, stale, evening, owner=OWNER) == len(due)
    skipped = await row(session, due[0].key)
    assert (skipped.status, skipped.owner, skipped.sent_at) == ("skipped", OWNER, None)
    assert skipped.detail and "17:00 02/07/2024" in skipped.detail
    assert not {d.key for d in due} & {
        d.key for d in (await reminders.plan(session, evening)).expired
    }


async def test_skipping_thousands_at_once_marks_only_what_nobody_holds(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    """After a long stop the look-back finds thousands of expired messages: they are marked
    in a few statements (more than one chunk here), each once, and a message already sent
    or still held elsewhere keeps its row; a lapsed claim is taken over."""
    next_morning = local(2024, 7, 3, 9)
    [first, *_] = (await reminders.plan(session, next_morning)).expired
    many = [replace(first, key=f"{first.key}#{i}") for i in range(1_200)]
    sent, held, lapsed = many[0], many[1], many[2]
    assert await reminders.claim(session, sent, next_morning, owner=OTHER)
    assert await reminders.finish(session, sent.key, Status.SENT, next_morning, owner=OTHER)
    assert await reminders.claim(session, held, next_morning, owner=OTHER)
    assert await reminders.claim(session, lapsed, next_morning - reminders.LEASE, owner=DEAD)

    marked = await reminders.record_skipped(session, [*many, *many[:50]], next_morning, owner=OWNER)

    assert marked == len(many) - 2  # all but the sent one and the one held
    assert (await row(session, sent.key)).status == "sent"
    assert ((await row(session, held.key)).status, (await row(session, held.key)).owner) == (
        "claimed",
        OTHER,
    )
    taken = await row(session, lapsed.key)
    assert (taken.status, taken.owner, taken.lease_until) == ("skipped", OWNER, None)
    rows = list(await session.scalars(select(ReminderLog).where(ReminderLog.owner == OWNER)))
    assert len(rows) == len(many) - 2 and {r.status for r in rows} == {"skipped"}
    assert all(r.detail and "17:00 02/07/2024" in r.detail for r in rows)
    assert await reminders.record_skipped(session, many, next_morning, owner=OWNER) == 0


async def test_a_message_is_due_until_the_end_of_its_working_day_then_skipped(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    late_same_day = await reminders.plan(session, local(2024, 7, 2, 16, 50))
    assert {d.rule for d in late_same_day.due} == {"before:3", "group_missing:3"}

    next_morning = await reminders.plan(session, local(2024, 7, 3, 9))
    assert next_morning.due == []
    assert {d.rule for d in next_morning.expired} >= {"before:3", "group_missing:3"}
    skipped = await reminders.record_skipped(
        session, next_morning.expired, local(2024, 7, 3, 9), owner=OWNER
    )
    assert skipped == len(next_morning.expired)
    rows = list(await session.scalars(select(ReminderLog)))
    assert {r.status for r in rows} == {"skipped"}
    assert all(r.sent_at is None and r.detail for r in rows)
    assert (await reminders.plan(session, local(2024, 7, 3, 9))).expired == []


async def test_planning_reads_the_same_few_statements_for_one_cluster_or_many(
    engine: AsyncEngine, session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    """A tick plans for every cluster of the database: its reads must not grow with them
    (a nationwide database has 1,000). Four more copies of Cụm 6, each with an officer,
    add messages to the plan but no statement."""
    monday = local(2024, 7, 8)  # after Friday's deadline: overdue, escalation, summary, board
    statements: list[str] = []

    async def planned() -> tuple[int, int]:
        with statements_on(engine) as seen:
            found = await reminders.plan(session, monday)
        statements[:] = seen
        return len(found.due), len(seen)

    due_one, reads_one = await planned()
    spec = load_cluster_file(EXAMPLES / "cum6-stc-2024.toml")
    for n in range(4):
        code = f"CUM6-COPY{n}"
        copy = spec.model_copy(update={"cluster": spec.cluster.model_copy(update={"code": code})})
        await import_cluster(session, copy, now=NOW)
        await officer(session, 3400 + n, "STC-QNAM", cluster=code)
    due_many, reads_many = await planned()

    assert due_many > due_one
    assert reads_many == reads_one, statements


async def test_after_the_deadline_overdue_escalation_and_summary_go_to_the_right_people(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    await report_everything(session, "STC-QNAM", "Q2")
    plan = await reminders.plan(session, local(2024, 7, 8))  # Monday after Friday's deadline
    got = sent_to(plan.due)
    assert {c for r, c in got if r == "overdue:1"} == {tg(VICE), tg(BDINH), tg(BDINH2), tg(PYEN)}
    assert {c for r, c in got if r == "escalate"} == {tg(CHAIR), tg(VICE)}
    assert {c for r, c in got if r == "period_summary"} == {tg(CHAIR)}
    [escalation] = [d for d in plan.due if d.kind is Kind.ESCALATE and d.address == tg(CHAIR)]
    assert "Quảng Nam" not in {g.unit_name for g in escalation.gaps}
    assert len(escalation.gaps) == 5 and escalation.days_left == -3
    # Monday is also the weekly leaderboard in the linked group.
    assert ("leaderboard:2024-W28", tg(GROUP)) in got


async def test_after_the_last_overdue_day_nobody_is_chased(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    plan = await reminders.plan(session, local(2024, 7, 11))
    assert not [d for d in plan.due if d.kind in (Kind.BEFORE, Kind.OVERDUE)]


async def test_an_unreachable_officer_is_skipped_and_the_chair_is_told_once(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    now = local(2024, 7, 2)
    notices = await reminders.mark_unreachable(session, tg(BDINH), now)
    assert [(d.kind, d.address, d.subject_unit) for d in notices] == [
        (Kind.UNREACHABLE, tg(CHAIR), "Sở Tài chính tỉnh Bình Định")
    ]
    assert await send_all(session, notices, now) == 1
    assert await reminders.mark_unreachable(session, tg(BDINH), now) == []
    identity = await session.scalar(
        select(Identity).where(Identity.channel == "telegram", Identity.external_id == str(BDINH))
    )
    assert identity is not None and identity.reachable is False
    chats = {d.address for d in (await reminders.plan(session, now)).due}
    assert tg(BDINH) not in chats and tg(BDINH2) in chats
    actions = list(await session.scalars(select(AuditEntry.action)))
    assert actions.count("user.unreachable") == 1


async def test_when_the_chairs_own_officer_blocks_the_bot_the_vice_chair_is_told(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    notices = await reminders.mark_unreachable(session, tg(CHAIR), local(2024, 7, 2))
    assert [d.address for d in notices] == [tg(VICE)]


async def test_the_chairs_nudge_reaches_missing_units_once_a_day(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    await report_everything(session, "STC-PYEN", "Q2")
    now = local(2024, 6, 3, 10)
    nudge = await reminders.nudge(session, cum6["chair"], now)
    assert nudge.period.code == "Q2" and nudge.state is PeriodState.OPEN
    assert sent_to(nudge.items) == {
        ("nudge:2024-06-03", tg(chat)) for chat in (CHAIR, VICE, BDINH, BDINH2, GROUP)
    }
    assert nudge.officers == 4 and nudge.group and nudge.already == 0
    assert set(nudge.unreached) == {"Khánh Hòa", "Ninh Thuận"}
    await send_all(session, nudge.items, now)

    again = await reminders.nudge(session, cum6["vice"], local(2024, 6, 3, 15))
    assert again.items == [] and again.already == 5
    tomorrow = await reminders.nudge(session, cum6["chair"], local(2024, 6, 4, 9))
    assert len(tomorrow.items) == 5
    assert (
        len([a for a in await session.scalars(select(AuditEntry.action)) if a == "reminders.nudge"])
        == 2
    )


async def test_only_the_chair_vice_chair_and_admins_may_nudge(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    with pytest.raises(PermissionDenied) as refused:
        await reminders.nudge(session, cum6["bdinh"], local(2024, 6, 3))
    assert refused.value.key == "error.forbidden"
    admin = Actor(address=tg(1), user_id=None, language=None, is_admin=True, seat=None)
    with pytest.raises(InvalidInput):
        await reminders.nudge(session, admin, local(2024, 6, 3))
    assert (await reminders.nudge(session, admin, local(2024, 6, 3), "cum6-stc")).items


async def test_deadlines_show_the_coming_ones_and_what_the_unit_still_misses(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    await report_everything(session, "STC-BDINH", "Q1")
    await report_everything(session, "STC-BDINH", "Q2", leave_out=("1.1.1", "1.1.2"))
    view = await reminders.deadlines(session, cum6["bdinh"], local(2024, 5, 10, 10))
    assert view.unit_name == "Sở Tài chính tỉnh Bình Định" and view.year == 2024
    by_code = {line.period.code: line for line in view.lines}
    assert list(by_code) == ["Q1", "Q2", "Q3", "Q4"]  # Q1 is late for others, still open
    assert by_code["Q1"].state is PeriodState.LATE and by_code["Q1"].gap is None
    assert by_code["Q1"].late_units == 5
    q2 = by_code["Q2"]
    assert q2.state is PeriodState.OPEN and q2.gap is not None
    assert [c.code for c in q2.gap.missing] == ["1.1.1", "1.1.2"]
    assert q2.next_reminder == datetime(2024, 6, 28, 8, 0, tzinfo=HCM)
    assert by_code["Q3"].next_reminder == datetime(2024, 9, 27, 8, 0, tzinfo=HCM)


async def test_tay_ninh_reminds_on_the_saturday_worked_for_the_april_holidays(
    session: AsyncSession,
) -> None:
    await seed_examples(session)
    await officer(session, TN_CHAIR, "TN-CTHUE", "KHOI-TW-TNINH")
    saturday = datetime(2024, 5, 4, 7, 45, tzinfo=HCM)
    assert date(2024, 5, 4).weekday() == 5
    plan = await reminders.plan(session, saturday)
    assert sent_to(plan.due) == {("before:3", tg(TN_CHAIR))}
    [item] = plan.due
    assert item.period is not None and item.period.code == "T04"


async def test_a_closed_year_is_never_chased(session: AsyncSession, cum6: dict[str, Actor]) -> None:
    from models.tables import ClusterYear, YearStatus

    await session.execute(update(ClusterYear).values(status=YearStatus.CLOSED))
    await session.commit()
    assert (await reminders.plan(session, local(2024, 6, 28))).due == []


async def test_without_a_group_the_weekly_board_goes_to_each_officer_privately(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    await session.execute(update(Cluster).values(group_address=None))
    await _without_group("officers", session)

    plan = await reminders.plan(session, local(2024, 7, 8))  # Monday 08:30
    boards = [
        d for d in plan.due if d.kind is Kind.LEADERBOARD and d.cluster_name.startswith("Cụm")
    ]

    assert {d.address for d in boards} == {tg(CHAIR), tg(VICE), tg(BDINH), tg(BDINH2), tg(PYEN)}
    assert len({d.key for d in boards}) == 5 and not any(d.to_group for d in boards)
    assert await send_all(session, boards, local(2024, 7, 8)) == 5
    again = await reminders.plan(session, local(2024, 7, 8, 9))
    assert not [d for d in again.due if d.kind is Kind.LEADERBOARD and d.address == tg(PYEN)]


async def test_a_cluster_may_send_no_board_when_it_has_no_group(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    await session.execute(update(Cluster).values(group_address=None))
    await _without_group("nobody", session)

    plan = await reminders.plan(session, local(2024, 7, 8))

    assert not [d for d in plan.due if d.kind is Kind.LEADERBOARD]


async def test_by_default_only_officers_on_zalo_get_the_board_when_there_is_no_group(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    await session.execute(update(Cluster).values(group_address=None))
    zalo = Address("zalo", "z-pyen")
    await session.execute(
        update(Identity)
        .where(Identity.external_id == str(PYEN))
        .values(channel="zalo", external_id="z-pyen")
    )
    await session.commit()

    plan = await reminders.plan(session, local(2024, 7, 8))

    boards = [d for d in plan.due if d.kind is Kind.LEADERBOARD]
    assert [d.address for d in boards] == [zalo]


async def _without_group(value: str, session: AsyncSession) -> None:
    for row in await session.scalars(select(ClusterYear)):
        board = {**row.settings.get("leaderboard", {}), "without_group": value}
        row.settings = {**row.settings, "leaderboard": board}
    await session.commit()
