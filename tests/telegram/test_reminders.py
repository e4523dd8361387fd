"""Reminders through the real Application: the clock moved across Cụm 6's Q2 deadline, who
gets which message exactly once (also after a restart and with a second process on the same
database), the weekend shift, blocked users, Telegram's 429 and time-outs, and the chair's
/nhacnho and everyone's /hanchot. Time is injected: nothing here sleeps."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.settings import Settings
from bot.telegram import app as telegram_app
from bot.telegram.app import ThiduaApp, build_application
from bot.telegram.limits import Limiter
from handlers import delivery
from handlers.core import Core
from handlers.i18n import Html
from handlers.io import Text
from models.db import create_engine, session_factory
from models.tables import Identity, ReminderLog
from services import reminders
from services.addresses import Address
from services.uow import Session
from tests.telegram.conftest import ADMIN_ID, Clock, InviteMaker
from tests.telegram.harness import FlakyRequest, RecordingRequest, button, message

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
CHAIR, VICE, BDINH, BDINH2, PYEN = 6001, 6002, 6003, 6004, 6005
OFFICERS = (CHAIR, VICE, BDINH, BDINH2, PYEN)
GROUP = -100_777
OTHER = "host-b:4242:cafe"  # another process's name on its claims


def local(y: int, m: int, d: int, hh: int = 8, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=HCM)


@pytest.fixture
def recorder() -> FlakyRequest:
    """Every test here may make Telegram refuse some chats."""
    return FlakyRequest()


class FakeTime:
    """The sender's monotonic clock and sleep: sleeping moves time, instantly."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        self.slept += max(seconds, 0.0)
        await asyncio.sleep(0)  # let the other workers run: a yield, not a wait


@dataclass
class Digests:
    """Stand-ins for the leaderboard and chair features' senders (their texts are theirs)."""

    boards: list[tuple[int, int]] = field(default_factory=list)
    summaries: list[tuple[int, int, int]] = field(default_factory=list)

    async def board(
        self,
        core: Core,
        session: Session,
        cluster_id: int,
        to: Address,
        now: datetime,
        since: datetime | None = None,
    ) -> None:
        self.boards.append((cluster_id, int(to.id)))
        await core.channels.send(to, Text(Html("BOARD")), batch=True)

    async def summary(
        self,
        core: Core,
        session: Session,
        cluster_id: int,
        period_id: int,
        to: Address,
        now: datetime,
    ) -> None:
        self.summaries.append((cluster_id, period_id, int(to.id)))
        await core.channels.send(to, Text(Html("SUMMARY")), batch=True)


def wire(app: ThiduaApp, time: FakeTime, digests: Digests | None = None) -> None:
    rt = delivery.runtime(app.bot_data)
    rt.monotonic, rt.sleep = time.monotonic, time.sleep
    # The limiter's window (the batch's slots, a 429's hold) on the same clock.
    limiter = app.bot.rate_limiter
    assert isinstance(limiter, Limiter)
    limiter.now, limiter.sleep = time.monotonic, time.sleep
    if digests is not None:
        rt.board_sender, rt.summary_sender = digests.board, digests.summary


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def digests() -> Digests:
    return Digests()


@pytest.fixture
async def cum6(
    app: ThiduaApp,
    recorder: FlakyRequest,
    invite: InviteMaker,
    fake_time: FakeTime,
    digests: Digests,
) -> None:
    """Officers of four Cụm 6 units (two in Bình Định) joined, the group linked by the chair."""
    wire(app, fake_time, digests)
    units = {CHAIR: "STC-QNAM", VICE: "STC-QNGAI", BDINH: "STC-BDINH", BDINH2: "STC-BDINH"}
    units[PYEN] = "STC-PYEN"
    for user, unit in units.items():
        await app.process_update(message(app, user, f"/start {await invite(unit)}"))
    await app.process_update(message(app, CHAIR, "/linkgroup", chat_id=GROUP))
    recorder.clear()


async def tick(app: ThiduaApp, clock: Clock, when: datetime) -> delivery.BatchResult:
    clock.now = when
    return await delivery.run_tick(app.bot_data)


def per_chat(recorder: RecordingRequest) -> Counter[int]:
    return Counter(int(c.params["chat_id"]) for c in recorder.sent())


async def ledger(url: str) -> list[ReminderLog]:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        rows = list(await session.scalars(select(ReminderLog).order_by(ReminderLog.id)))
    await engine.dispose()
    return rows


@asynccontextmanager
async def another_process(
    url: str, recorder: RecordingRequest, clock: Clock, tmp_path: Path, time: FakeTime
) -> AsyncIterator[ThiduaApp]:
    """A second bot process on the same database (its own engine, pool and Telegram)."""
    settings = Settings.model_validate(
        {
            "database": {"url": url},
            "telegram": {"token": "123456:TEST", "bot_username": "thidua_test_bot"},
            "app": {"admins": [ADMIN_ID], "storage_dir": str(tmp_path / "storage2")},
        }
    )
    other = build_application(settings, request=recorder, clock=clock)
    await other.initialize()
    assert other.post_init is not None
    await other.post_init(other)
    await other.start()
    wire(other, time, Digests())
    try:
        yield other
    finally:
        await other.stop()
        assert other.post_shutdown is not None
        await other.post_shutdown(other)
        await other.shutdown()


async def test_across_the_q2_deadline_each_person_gets_each_message_once(
    app: ThiduaApp, recorder: FlakyRequest, clock: Clock, cum6: None, digests: Digests
) -> None:
    await tick(app, clock, local(2024, 6, 28, 8))  # 7 days before Friday 05/07 17:00
    assert per_chat(recorder) == {chat: 1 for chat in (*OFFICERS, GROUP)}
    [bdinh] = recorder.texts_to(BDINH)
    assert "Nhắc hạn báo cáo" in bdinh and "Quý 2/2024" in bdinh and "còn 7 ngày" in bdinh
    assert "17:00 05/07/2024" in bdinh and "Bình Định" in bdinh
    [group] = recorder.texts_to(GROUP)
    assert "<b>6/6</b>" in group and "Bình Định: còn thiếu" in group
    assert "Cán bộ" not in group  # units, never people, in the group

    await tick(app, clock, local(2024, 6, 28, 11))  # every minute of the day: nothing new
    await tick(app, clock, local(2024, 6, 29, 9))  # Saturday
    assert sum(per_chat(recorder).values()) == 6

    # Bình Định reports one criterion; the next reminder lists one fewer.
    await app.process_update(message(app, BDINH, "/baocao Q2 1.2.2 có"))
    recorder.clear()
    await tick(app, clock, local(2024, 7, 2, 8))
    [again] = recorder.texts_to(BDINH)
    assert "còn 3 ngày" in again and "1.2.2" not in again
    assert per_chat(recorder) == {chat: 1 for chat in (*OFFICERS, GROUP)}

    recorder.clear()
    await tick(app, clock, local(2024, 7, 8, 8, 5))  # the Monday after the deadline
    texts = {chat: recorder.texts_to(chat) for chat in (*OFFICERS, GROUP)}
    assert any("Báo cáo đã quá hạn" in t and "đã quá hạn 3 ngày" in t for t in texts[BDINH])
    assert any("Đơn vị chậm báo cáo" in t for t in texts[CHAIR])
    assert any("Đơn vị chậm báo cáo" in t for t in texts[VICE])
    assert "SUMMARY" in texts[CHAIR] and "SUMMARY" not in texts[VICE]
    assert texts[GROUP] == ["BOARD"]  # Monday's leaderboard; no group nagging after the deadline
    # The mid-year review (services/midyear) goes to both on this first working day too.
    assert any("Sơ kết 6 tháng" in t for t in texts[CHAIR])
    assert any("Sơ kết 6 tháng" in t for t in texts[VICE])
    assert per_chat(recorder) == {CHAIR: 4, VICE: 3, BDINH: 1, BDINH2: 1, PYEN: 1, GROUP: 1}
    assert digests.summaries and digests.boards == [(digests.boards[0][0], GROUP)]

    before = len(recorder.sent())
    await tick(app, clock, local(2024, 7, 8, 16))
    assert len(recorder.sent()) == before


async def test_a_reminder_button_opens_the_report_flow_at_that_criterion(
    app: ThiduaApp, recorder: FlakyRequest, clock: Clock, cum6: None
) -> None:
    await tick(app, clock, local(2024, 7, 4, 8))
    [sent] = [c for c in recorder.sent() if int(c.params["chat_id"]) == PYEN]
    rows = sent.params["reply_markup"]["inline_keyboard"]
    data = [b["callback_data"] for row in rows for b in row]
    assert data[0] == "rr:Q2:1.1.1" and data[-1] == "rnow" and len(data) == 7
    await app.process_update(button(app, PYEN, data[0]))
    assert "1.1.1" in recorder.texts_to(PYEN)[-1]


async def test_a_second_process_and_a_restart_never_send_a_reminder_twice(
    app: ThiduaApp,
    recorder: FlakyRequest,
    clock: Clock,
    cum6: None,
    seeded: str,
    tmp_path: Path,
    fake_time: FakeTime,
) -> None:
    other_recorder = RecordingRequest()
    async with another_process(seeded, other_recorder, clock, tmp_path, fake_time) as other:
        clock.now = local(2024, 7, 4, 8, 1)
        results = await asyncio.gather(
            delivery.run_tick(app.bot_data), delivery.run_tick(other.bot_data)
        )
    both = per_chat(recorder) + per_chat(other_recorder)
    assert both == {chat: 1 for chat in (*OFFICERS, GROUP)}
    assert sum(r.sent for r in results) == 6

    restarted_recorder = RecordingRequest()
    async with another_process(seeded, restarted_recorder, clock, tmp_path, fake_time) as restarted:
        result = await delivery.run_tick(restarted.bot_data)
    assert restarted_recorder.sent() == [] and result.sent == 0
    sent = [r for r in await ledger(seeded) if r.status == "sent"]
    assert sorted(r.recipient for r in sent) == sorted(f"telegram:{c}" for c in (*OFFICERS, GROUP))


async def test_late_in_the_day_a_missed_reminder_goes_out_next_day_it_is_skipped(
    app: ThiduaApp,
    recorder: FlakyRequest,
    clock: Clock,
    cum6: None,
    seeded: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await tick(app, clock, local(2024, 6, 28, 16, 40))  # the bot was down since morning
    assert per_chat(recorder) == {chat: 1 for chat in (*OFFICERS, GROUP)}
    recorder.clear()

    caplog.set_level(logging.INFO, logger="services.reminders")
    result = await tick(app, clock, local(2024, 7, 3, 9))  # down on 02/07, back the day after
    # 02/07's reminders, and Monday 01/07's leaderboard: their working days are over.
    assert recorder.sent() == [] and result.skipped == 7
    assert "skipped" in caplog.text
    rows = await ledger(seeded)
    assert Counter(r.status for r in rows) == {"sent": 6, "skipped": 9}
    assert {r.rule for r in rows if r.status == "skipped"} == {
        "before:3",
        "group_missing:3",
        "leaderboard:2024-W25",  # Mondays 17/06 and 24/06, found missed at the 28/06 start
        "leaderboard:2024-W26",
        "leaderboard:2024-W27",
    }


async def test_a_sunday_deadline_is_reminded_on_friday_not_on_the_weekend(
    app: ThiduaApp, recorder: FlakyRequest, clock: Clock, cum6: None
) -> None:
    clock.now = local(2025, 1, 4, 8, 30)  # Saturday: Q4 is due Sunday 05/01
    assert (await delivery.run_tick(app.bot_data, catch_up=False)).planned == 0
    await tick(app, clock, local(2025, 1, 3, 8, 30))  # Friday: "1 day before", two days early
    assert per_chat(recorder) == {chat: 1 for chat in (*OFFICERS, GROUP)}
    assert "Quý 4/2024" in recorder.texts_to(PYEN)[0] and "còn 2 ngày" in recorder.texts_to(PYEN)[0]


async def test_an_officer_who_blocked_the_bot_is_marked_and_the_chair_told_once(
    app: ThiduaApp, recorder: FlakyRequest, clock: Clock, cum6: None, seeded: str
) -> None:
    recorder.blocked.add(BDINH)
    result = await tick(app, clock, local(2024, 6, 28, 8))
    assert result.blocked == 1 and len(recorder.refused) == 1
    [notice] = [t for t in recorder.texts_to(CHAIR) if "đã chặn bot" in t]
    assert "Nguyễn Văn An" in notice and "Bình Định" in notice
    assert recorder.texts_to(BDINH2)  # the unit's other officer still hears
    engine = create_engine(seeded)
    async with session_factory(engine)() as session:
        user = await session.scalar(
            select(Identity).where(
                Identity.channel == "telegram", Identity.external_id == str(BDINH)
            )
        )
    await engine.dispose()
    assert user is not None and user.reachable is False

    recorder.clear()
    await tick(app, clock, local(2024, 7, 2, 8))
    assert len(recorder.refused) == 1  # not tried again
    assert not [t for t in recorder.texts_to(CHAIR) if "đã chặn bot" in t]
    statuses = Counter((r.rule, r.status) for r in await ledger(seeded))
    assert statuses[("before:7", "blocked")] == 1 and statuses[("unreachable:3", "sent")] == 1

    # Writing to the bot again means they unblocked it: reminders reach them again.
    recorder.blocked.discard(BDINH)
    await app.process_update(message(app, BDINH, "/help"))
    async with session_factory(engine)() as session:
        back = await session.scalar(
            select(Identity).where(
                Identity.channel == "telegram", Identity.external_id == str(BDINH)
            )
        )
    await engine.dispose()
    assert back is not None and back.reachable is True


async def test_429_and_time_outs_are_retried_without_sleeping_and_sent_once(
    app: ThiduaApp,
    recorder: FlakyRequest,
    clock: Clock,
    cum6: None,
    fake_time: FakeTime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # PTB 22 warns when it builds a RetryAfter unless durations are timedeltas already.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    recorder.throttled[PYEN] = 2
    recorder.timeouts[VICE] = 2
    result = await tick(app, clock, local(2024, 6, 28, 8))
    assert per_chat(recorder) == {chat: 1 for chat in (*OFFICERS, GROUP)}
    assert result.retry_after == 2 and result.network_retries == 2 and result.sent == 6
    assert fake_time.slept >= 2 * recorder.retry_after  # Telegram's wait, on the fake clock


async def test_a_message_to_a_group_that_became_a_supergroup_follows_it(
    app: ThiduaApp, recorder: FlakyRequest, clock: Clock, cum6: None, seeded: str
) -> None:
    from models.tables import Cluster

    recorder.migrated[GROUP] = -1_009_999
    await tick(app, clock, local(2024, 6, 28, 8))
    assert len(recorder.texts_to(-1_009_999)) == 1
    engine = create_engine(seeded)
    async with session_factory(engine)() as session:
        linked = await session.scalar(
            select(Cluster.group_address).where(Cluster.code == "CUM6-STC")
        )
    await engine.dispose()
    assert linked == "telegram:-1009999"


async def test_the_chairs_nhacnho_reaches_missing_units_once_a_day(
    app: ThiduaApp, recorder: FlakyRequest, clock: Clock, cum6: None
) -> None:
    clock.now = local(2024, 6, 3, 10)
    await app.process_update(message(app, CHAIR, "/nhacnho"))
    await delivery.settle(app.bot_data)
    [reply] = [t for t in recorder.texts_to(CHAIR) if "Đang gửi nhắc" in t]
    assert "Quý 2/2024" in reply and "5 công chức" in reply and "6 đơn vị" in reply
    assert "nhóm của Cụm" in reply and "Khánh Hòa, Ninh Thuận" in reply
    assert per_chat(recorder) == {CHAIR: 2, VICE: 1, BDINH: 1, BDINH2: 1, PYEN: 1, GROUP: 1}
    assert any("Nhắc báo cáo" in t for t in recorder.texts_to(BDINH))

    recorder.clear()
    clock.now = local(2024, 6, 3, 15)
    await app.process_update(message(app, VICE, "/remind"))
    await delivery.settle(app.bot_data)
    assert per_chat(recorder) == {VICE: 1}
    assert "Hôm nay đã nhắc" in recorder.texts_to(VICE)[0]


async def test_an_officer_may_not_nudge_but_sees_the_deadlines(
    app: ThiduaApp, recorder: FlakyRequest, clock: Clock, cum6: None
) -> None:
    await app.process_update(message(app, BDINH, "/nhacnho"))
    assert "không có quyền nhắc việc" in recorder.texts_to(BDINH)[-1]

    await app.process_update(message(app, BDINH, "/baocao Q2 1.2.2 có"))
    await app.process_update(message(app, BDINH, "/hanchot"))
    shown = recorder.texts_to(BDINH)[-1]
    assert "Hạn báo cáo — Cụm thi đua số 6" in shown and "Bình Định" in shown
    assert "Quý 2/2024</b>: hạn <b>17:00 05/07/2024" in shown
    assert "Đơn vị còn thiếu" in shown and "Lần nhắc tới: 08:00 28/06/2024" in shown
    assert "Quý 3/2024: hạn 17:00 05/10/2024" in shown
    assert "7, 3, 1 ngày" in shown


async def test_the_tick_is_one_job_with_a_fixed_id_and_runs_on_its_own_only_in_real_time(
    app: ThiduaApp, recorder: FlakyRequest, clock: Clock, cum6: None
) -> None:
    job_queue = app.job_queue
    assert job_queue is not None
    assert [j.name for j in job_queue.get_jobs_by_name(telegram_app.JOB_ID)] == [
        telegram_app.JOB_ID
    ]
    assert job_queue.scheduler.get_job(telegram_app.JOB_ID) is not None
    telegram_app.schedule(app)  # registering again (a re-run set-up) replaces, never doubles
    assert len(job_queue.get_jobs_by_name(telegram_app.JOB_ID)) == 1

    clock.now = local(2024, 6, 28, 8)
    delivery.tick(app.bot_data)  # an injected clock: the tick leaves time to the test
    await delivery.settle(app.bot_data)
    assert recorder.sent() == []

    delivery.runtime(app.bot_data).autotick = True
    delivery.tick(app.bot_data)
    await delivery.settle(app.bot_data)
    assert per_chat(recorder) == {chat: 1 for chat in (*OFFICERS, GROUP)}


async def test_the_real_leaderboard_and_summary_senders_are_wired(
    app: ThiduaApp, recorder: FlakyRequest, clock: Clock, cum6: None, seeded: str
) -> None:
    rt = delivery.runtime(app.bot_data)
    rt.board_sender = rt.summary_sender = None
    await tick(app, clock, local(2024, 7, 8, 8, 5))
    statuses = {
        r.rule: r.status
        for r in await ledger(seeded)
        if r.unit_id is None or r.rule == "period_summary"
    }
    assert statuses["leaderboard:2024-W28"] == "sent"
    assert statuses["period_summary"] == "sent"
    assert len(recorder.texts_to(CHAIR)) >= 3


async def test_what_is_due_goes_out_as_soon_as_the_bot_starts(
    app: ThiduaApp,
    clock: Clock,
    cum6: None,
    seeded: str,
    tmp_path: Path,
    fake_time: FakeTime,
) -> None:
    settings = Settings.model_validate(
        {
            "database": {"url": seeded},
            "telegram": {"token": "123456:TEST", "bot_username": "thidua_test_bot"},
            "app": {"storage_dir": str(tmp_path / "storage3")},
        }
    )
    sent = RecordingRequest()
    clock.now = local(2024, 6, 28, 9, 30)  # the bot was down at 08:00
    started = build_application(settings, request=sent, clock=clock)
    await started.initialize()
    assert started.post_init is not None
    await started.post_init(started)
    wire(started, fake_time, Digests())
    delivery.runtime(
        started.bot_data
    ).autotick = True  # let the JobQueue drive it, as in production
    await started.start()
    try:
        for _ in range(200):  # yields to the scheduler, no waiting: it runs at start-up
            await asyncio.sleep(0)
            if delivery.runtime(started.bot_data).tasks:
                break
        await delivery.settle(started.bot_data)
    finally:
        await started.stop()
        assert started.post_shutdown is not None
        await started.post_shutdown(started)
        await started.shutdown()
    assert per_chat(sent) == {chat: 1 for chat in (*OFFICERS, GROUP)}


def clock_follows_sleep(app: ThiduaApp, clock: Clock, fake_time: FakeTime) -> list[datetime]:
    """The bot's clock moves with the sender's (fake) sleeps, so a long pause uses up the
    claim's lease; returns the times slept to."""
    rt = delivery.runtime(app.bot_data)
    woke: list[datetime] = []

    async def sleep(seconds: float) -> None:
        clock.now += timedelta(seconds=max(seconds, 0.0))
        woke.append(clock.now)
        await fake_time.sleep(seconds)

    rt.sleep = sleep  # the batch's pauses are waited there (the limiter holds none)
    return woke


async def test_a_long_rate_limit_pause_renews_the_claim_and_the_message_goes_out_once(
    app: ThiduaApp,
    recorder: FlakyRequest,
    clock: Clock,
    cum6: None,
    seeded: str,
    fake_time: FakeTime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    clock_follows_sleep(app, clock, fake_time)
    start = local(2024, 6, 28, 8)
    recorder.retry_after = 50
    recorder.throttled[PYEN] = 3  # 150 s of waiting: longer than one lease
    result = await tick(app, clock, start)
    assert per_chat(recorder) == {chat: 1 for chat in (*OFFICERS, GROUP)}
    assert result.sent == 6 and result.taken == 0
    [row] = [r for r in await ledger(seeded) if r.recipient == f"telegram:{PYEN}"]
    assert row.status == "sent" and row.owner == delivery.runtime(app.bot_data).owner
    assert row.lease_until is not None and row.lease_until > row.claimed_at + reminders.LEASE


async def test_a_claim_that_lapsed_and_was_taken_over_is_not_sent_by_its_first_owner(
    app: ThiduaApp,
    recorder: FlakyRequest,
    clock: Clock,
    cum6: None,
    seeded: str,
    fake_time: FakeTime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A process frozen past its lease (here: a 429 pause longer than it) finds its claim
    taken over by another and leaves the message to it."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    start = local(2024, 6, 28, 8)
    rt = delivery.runtime(app.bot_data)
    engine = create_engine(seeded)
    taken: list[bool] = []
    ticked: list[bool] = []

    async def sleep(seconds: float) -> None:
        clock.now += timedelta(seconds=max(seconds, 0.0))
        # The other process's tick, as soon as it is offered the claim: once, whoever
        # sleeps first (every worker the 429 holds waits it out here, at once).
        if not ticked:
            ticked.append(True)
            async with session_factory(engine)() as session:
                due = await reminders.plan(session, clock.now, catch_up=False)
                for item in due.due:
                    if item.address == Address("telegram", str(PYEN)):
                        taken.append(await reminders.claim(session, item, clock.now, owner=OTHER))
        await fake_time.sleep(seconds)

    rt.sleep = sleep
    recorder.retry_after = 130
    recorder.throttled[PYEN] = 1
    try:
        result = await tick(app, clock, start)
    finally:
        await engine.dispose()
    assert taken.count(True) == 1  # concurrent sleepers may race for it: one wins
    assert PYEN not in per_chat(recorder)  # the other process sends it, not this one
    assert result.taken == 1 and result.sent == 5
    [row] = [r for r in await ledger(seeded) if r.recipient == f"telegram:{PYEN}"]
    assert (row.status, row.owner) == ("claimed", OTHER)
