"""Updates of different people at once, one person's in order (bot/telegram/updates.py): the
processor alone, then the real Application fed through its update queue as polling and the
webhook server feed it. Every wait is on an event; nothing is timed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from telegram import Chat, Message, Update, User
from telegram.ext import TypeHandler
from telegram.request import RequestData

from bot.settings import Settings
from bot.telegram.app import ThiduaApp, build_application
from bot.telegram.updates import PerPersonUpdates, person_key
from models.db import create_engine
from tests.telegram.conftest import Clock
from tests.telegram.harness import RecordingRequest, Sent, message, settle

AN, BINH, CUONG = 3101, 3102, 3103
WHEN = datetime(2024, 5, 10, 3, 0, tzinfo=UTC)


def update_from(user_id: int, update_id: int = 1) -> Update:
    chat = Chat(user_id, Chat.PRIVATE)
    user = User(user_id, "Cán bộ", False)
    return Update(update_id, message=Message(update_id, WHEN, chat, from_user=user, text="x"))


async def until(what: str, changed: asyncio.Condition, check: Callable[[], bool]) -> None:
    """Wait for `check`, re-checked whenever `changed` is notified (the timeout only guards
    against hanging; it measures nothing)."""
    try:
        async with asyncio.timeout(20), changed:
            await changed.wait_for(check)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


async def yield_a_while() -> None:
    """Let every ready task run for a few turns of the loop: for "this does not happen"."""
    for _ in range(20):
        await asyncio.sleep(0)


@dataclass
class Journal:
    """What the fake updates did, and the gates they wait at."""

    log: list[str] = field(default_factory=list)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def note(self, line: str) -> None:
        self.log.append(line)
        async with self.changed:
            self.changed.notify_all()

    def gate(self, name: str) -> asyncio.Event:
        return self.gates.setdefault(name, asyncio.Event())

    async def step(self, name: str, *, fail: bool = False) -> None:
        await self.note(f"{name} start")
        if name in self.gates:
            await self.gates[name].wait()
        if fail:
            raise RuntimeError(f"{name} failed")
        await self.note(f"{name} end")


# ------------------------------------------------------------------ the processor alone


def test_the_key_is_the_person_else_the_chat() -> None:
    post = Update(7, channel_post=Message(1, WHEN, Chat(-1001, Chat.CHANNEL), text="x"))

    assert person_key(update_from(AN)) == ("user", AN)
    assert person_key(post) == ("chat", -1001)
    assert person_key(object()) == ("other",)


async def test_one_persons_updates_wait_for_each_other_while_another_person_runs() -> None:
    journal = Journal()
    processor = PerPersonUpdates(4)
    first = journal.gate("an-1")

    # As PTB's fetcher does: each hand-off awaited in turn, in the order fetched.
    await processor.process_update(update_from(AN, 1), journal.step("an-1"))
    await processor.process_update(update_from(AN, 2), journal.step("an-2"))
    await processor.process_update(update_from(BINH, 3), journal.step("binh-1"))
    await until("Bình's update done", journal.changed, lambda: "binh-1 end" in journal.log)

    # Bình ran to the end while An's first update is still held; An's second waits for it.
    assert journal.log == ["an-1 start", "binh-1 start", "binh-1 end"]
    assert (processor.running, processor.waiting) == (1, 1)

    first.set()
    await processor.join()

    assert journal.log[3:] == ["an-1 end", "an-2 start", "an-2 end"]
    assert (processor.running, processor.waiting) == (0, 0)


async def test_many_updates_of_one_person_run_in_the_order_they_came() -> None:
    journal = Journal()
    processor = PerPersonUpdates(8)
    journal.gate("0")  # the first one holds the lane while the rest queue up

    for n in range(50):
        await processor.process_update(update_from(AN, n), journal.step(str(n)))
    journal.gate("0").set()
    await processor.join()

    assert journal.log == [f"{n} {what}" for n in range(50) for what in ("start", "end")]


async def test_no_more_people_run_at_once_than_the_limit_the_next_one_waits_its_turn() -> None:
    journal = Journal()
    processor = PerPersonUpdates(2)
    an, binh = journal.gate("an"), journal.gate("binh")
    await processor.process_update(update_from(AN), journal.step("an"))
    await processor.process_update(update_from(BINH), journal.step("binh"))

    third = asyncio.create_task(processor.process_update(update_from(CUONG), journal.step("cuong")))
    await yield_a_while()

    # Two lanes are busy: the hand-off itself waits, so PTB takes nothing more off its queue.
    assert not third.done()
    assert "cuong start" not in journal.log

    binh.set()
    await third
    await until("Cường's update done", journal.changed, lambda: "cuong end" in journal.log)
    an.set()
    await processor.join()
    assert set(journal.log) == {
        f"{p} {w}" for p in ("an", "binh", "cuong") for w in ("start", "end")
    }


async def test_updates_waiting_in_lanes_are_bounded_too() -> None:
    journal = Journal()
    processor = PerPersonUpdates(4, max_waiting=1)
    gate = journal.gate("an-1")
    await processor.process_update(update_from(AN, 1), journal.step("an-1"))
    await processor.process_update(update_from(AN, 2), journal.step("an-2"))

    third = asyncio.create_task(processor.process_update(update_from(AN, 3), journal.step("an-3")))
    await yield_a_while()

    assert not third.done()  # an-2 waits already: no room for an-3 until an-2 starts

    gate.set()
    await third
    await processor.join()
    assert journal.log == [f"an-{n} {w}" for n in (1, 2, 3) for w in ("start", "end")]


async def test_a_failing_update_does_not_stop_the_persons_next_ones() -> None:
    journal = Journal()
    processor = PerPersonUpdates(4)

    await processor.process_update(update_from(AN, 1), journal.step("an-1", fail=True))
    await processor.process_update(update_from(AN, 2), journal.step("an-2"))
    await processor.join()

    assert journal.log == ["an-1 start", "an-2 start", "an-2 end"]


# ------------------------------------------------------------------ the real Application


@dataclass
class GatedRequest(RecordingRequest):
    """A RecordingRequest whose sends to chosen chats wait at a gate until it opens."""

    gates: dict[int, asyncio.Event] = field(default_factory=dict)
    held: list[Sent] = field(default_factory=list)  # sends waiting at a gate now
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1]
        params: dict[str, Any] = dict(request_data.parameters) if request_data else {}
        gate = self.gates.get(int(params.get("chat_id", 0))) if name.startswith("send") else None
        if gate is not None:
            sent = Sent(name, params)
            self.held.append(sent)
            await self._notify()
            await gate.wait()
            self.held.remove(sent)
        answer = await super().do_request(
            url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
        )
        await self._notify()
        return answer


@pytest.fixture
def gated() -> GatedRequest:
    return GatedRequest()


@pytest.fixture
async def running(
    seeded: str, gated: GatedRequest, clock: Clock, tmp_path: Path
) -> AsyncIterator[ThiduaApp]:
    """The production Application, started (its update fetcher runs), on the gated request;
    a test may stop it itself."""
    settings = Settings.model_validate(
        {
            "database": {"url": seeded},
            "telegram": {"token": "123456:TEST", "bot_username": "thidua_test_bot"},
            "app": {"storage_dir": str(tmp_path / "storage")},
        }
    )
    application = build_application(settings, request=gated, clock=clock)
    await application.initialize()
    assert application.post_init is not None
    await application.post_init(application)
    await application.start()
    yield application
    for gate in gated.gates.values():
        gate.set()  # a failed test must not leave stop waiting for a held reply
    if application.running:
        await application.stop()
    assert application.post_shutdown is not None
    await application.post_shutdown(application)
    await application.shutdown()


async def test_the_application_answers_another_person_while_one_persons_reply_is_held(
    running: ThiduaApp, gated: GatedRequest
) -> None:
    app = running
    gate = gated.gates[AN] = asyncio.Event()
    started: list[tuple[int, str]] = []

    async def note(update: Update, _context: Any) -> None:
        assert update.effective_user is not None and update.effective_message is not None
        started.append((update.effective_user.id, update.effective_message.text or ""))

    # Before the bot's own handler (group 0): when each update's handling begins.
    app.add_handler(TypeHandler(Update, note), group=-1)

    await app.update_queue.put(message(app, AN, "/help"))
    await app.update_queue.put(message(app, AN, "/whoami"))
    await app.update_queue.put(message(app, BINH, "/whoami"))
    await until("the reply to Bình", gated.changed, lambda: bool(gated.texts_to(BINH)))

    # Bình was answered while An's first reply is held; An's second update has not even
    # begun (PTB's own concurrent mode would have started it before Bình's).
    assert started == [(AN, "/help"), (BINH, "/whoami")]
    assert [int(s.params["chat_id"]) for s in gated.held] == [AN]
    assert "Telegram ID" not in gated.held[0].text  # /help's answer, not /whoami's
    assert f"{BINH}</code>" in gated.texts_to(BINH)[0]

    gate.set()
    await settle(app)

    [help_text, whoami] = gated.texts_to(AN)
    assert "link mời" in help_text and "Telegram ID" not in help_text
    assert f"{AN}</code>" in whoami


async def test_stop_waits_for_the_updates_still_running(
    running: ThiduaApp, gated: GatedRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = running
    processor = app.update_processor
    assert isinstance(processor, PerPersonUpdates)
    joining = asyncio.Event()
    join = processor.join

    async def noted_join() -> None:
        joining.set()
        await join()

    monkeypatch.setattr(processor, "join", noted_join)
    gate = gated.gates[AN] = asyncio.Event()
    await app.update_queue.put(message(app, AN, "/whoami"))
    await app.update_queue.put(message(app, AN, "/help"))
    await until("An's first reply at the gate", gated.changed, lambda: bool(gated.held))

    stopping = asyncio.create_task(app.stop())
    waiting = asyncio.create_task(joining.wait())
    async with asyncio.timeout(20):  # a guard against hanging only
        done, _ = await asyncio.wait({stopping, waiting}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    await yield_a_while()

    # PTB's part of stop is over and ours waits for the lanes: not done while a reply is held.
    assert stopping not in done and not stopping.done()
    assert [int(s.params["chat_id"]) for s in gated.held] == [AN]

    gate.set()
    await stopping
    [whoami, help_text] = gated.texts_to(AN)
    assert f"{AN}</code>" in whoami
    assert "link mời" in help_text and "Telegram ID" not in help_text


# ------------------------------------------------------------------ SQLite under concurrency


async def test_concurrent_units_of_work_that_read_then_write_never_find_sqlite_locked(
    tmp_path: Path,
) -> None:
    """What people handled at once do to a SQLite file: each unit of work reads, then writes,
    then commits, interleaved with the others. The engine's transactions must queue for the
    write lock (busy_timeout), never fail with "database is locked"."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'locks.db'}", pool_size=40)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, k INT, n INT)"))

    async def unit_of_work(k: int) -> None:
        async with engine.connect() as conn:
            for _ in range(3):
                n = await conn.scalar(text("SELECT count(*) FROM t WHERE k = :k"), {"k": k})
                await asyncio.sleep(0)  # the others read meanwhile
                await conn.execute(text("INSERT INTO t (k, n) VALUES (:k, :n)"), {"k": k, "n": n})
                await conn.commit()

    try:
        await asyncio.gather(*(unit_of_work(k) for k in range(40)))
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM t")) == 120
    finally:
        await engine.dispose()
