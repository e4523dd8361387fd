"""Issue 12, faults: the real `thidua run` behind a fault-injecting proxy (tests/e2e/faulty.py)
in front of the Bot API emulator, on a SQLite file and on PostgreSQL.

What "nothing lost" means here:

- a **report** is stored once, whatever happens to the reply: the service commits it before
  the confirmation is sent, and the update id is recorded so a re-delivery is not a second
  report;
- a **reply** Telegram did not take (429, 5xx, a reset, a time-out, an answer we cannot
  read) is sent again by our rate limiter (bot/telegram/limits.py: a 429 after the time
  asked, anything else after 0.5, 1, 2 s), so the person gets the confirmation once. When
  every attempt fails, one line says the reply was not delivered; the report stays stored
  and `/tiendo` shows it. A time-out Telegram *did* take may make the reply arrive twice:
  a second confirmation is better than silence, and a report is never doubled by it;
- a **reminder** is claimed in the ledger, then sent with the batch's own retries
  (handlers/delivery.py): a 429 pauses the batch for the time asked, a 5xx is retried after
  1, 2, 4 s; each reminder goes out once and the ledger says `sent`;
- each fault is logged once, where it is met (bot/telegram/request.py, one line naming the
  method and the cause), never as a traceback.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from models.db import create_engine, session_factory
from models.tables import ReminderLog, Report, Unit
from tests.conftest import EXAMPLES, IN_CI
from tests.e2e.harness import (
    BotProcess,
    Emulator,
    FaultyProxy,
    Person,
    bot_env,
    bot_token,
    prepare_cluster,
    seed_cluster,
    wait_for,
)

pytestmark = pytest.mark.e2e

# The bot's read timeout in these runs (FixingRequest): a `delay` fault holds a call longer.
READ_TIMEOUT_S = 2.0
HELD_S = 3.0
SAVED = "Đã lưu báo cáo tiêu chí 1.1"
FAULT_LINE = "Bot API fault"
# The reminder batch of tests/e2e/test_reminders.py: Cụm 6, "7 days before" at 08:00.
BEFORE = "2024-06-28T07:58:00+07:00"
AFTER = "2024-06-28T08:01:00+07:00"
QUIET_S = 1.5


@dataclass
class World:
    emulator: Emulator
    proxy: FaultyProxy
    token: str
    folder: Path
    env: dict[str, str]
    url: str
    bot: BotProcess
    invites: dict[str, str]

    def officer(self, user_id: int, unit: str, name: str) -> Person:
        person = Person(self.emulator, self.token, user_id, name)
        person.ask(f"/start {self.invites[unit]}", "Chào mừng")
        return person

    def log(self) -> str:
        return self.bot.log.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def world(
    emulator: Emulator, e2e_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("faults")
    proxy = FaultyProxy(emulator, folder / "proxy.log")
    token = bot_token("faults")
    env = bot_env(db_url=e2e_db_url, token=token, emulator=emulator, folder=folder)
    env.update(proxy.env())
    env["E2E_READ_TIMEOUT"] = str(READ_TIMEOUT_S)
    invites = prepare_cluster(env, folder, "FLT", cli=False)
    bot = BotProcess("faults", ["run"], env, folder)
    bot.start()
    try:
        bot.wait_polling()
        yield World(emulator, proxy, token, folder, env, e2e_db_url, bot, invites)
    finally:
        code = bot.stop()
        proxy.stop()
    assert code == 0, bot.log_tail()


async def _values(url: str, unit_code: str) -> list[Decimal]:
    """The values of every stored version of `unit_code`'s reports on 1.1, oldest first."""
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            rows = await session.execute(
                select(Report.value)
                .join(Unit, Unit.id == Report.unit_id)
                .where(Unit.code == unit_code)
                .order_by(Report.version)
            )
            return [Decimal(v) for (v,) in rows if v is not None]
    finally:
        await engine.dispose()


def values(world: World, unit_code: str) -> list[Decimal]:
    return asyncio.run(_values(world.url, unit_code))


def fault_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if FAULT_LINE in line]


def no_traceback(log: str) -> None:
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 :][:6000]


def settled(proxy: FaultyProxy) -> None:
    """Every rule injected was used up."""
    wait_for("every injected fault to be met", lambda: not proxy.pending())


# ------------------------------------------------------------------------------ replies

REPLY_FAULTS: list[tuple[str, dict[str, object]]] = [
    ("500", {}),
    ("502", {}),
    ("429", {"retry_after": 1}),
    ("reset", {}),
    ("delay", {"delay": HELD_S}),
    ("text", {}),
    ("no_ok", {}),
    ("500", {"count": 2}),  # twice in a row: the third attempt gets through
]


def test_replies_survive_every_fault_and_each_report_is_stored_once(world: World) -> None:
    officer = world.officer(12001, "FLT-A", "Phan Văn Lỗi")
    before = len(world.proxy.injected())

    sent: list[Decimal] = []
    for index, (kind, extra) in enumerate(REPLY_FAULTS):
        rule = {"count": 1, **extra}
        world.proxy.inject("sendMessage", kind, **rule)
        value = Decimal(60 + index)
        officer.ask(f"/baocao 1.1 {value}", SAVED)
        sent.append(value)
        assert not world.proxy.pending(), f"the {kind} fault was not met"
    # The next message is answered normally, with nothing injected.
    progress = officer.ask("/tiendo", "Tiến độ")
    time.sleep(QUIET_S)
    extra_replies = [r.plain for r in officer.fetch() if SAVED in r.plain]

    injected = world.proxy.injected("sendMessage")[before:]
    assert [i["kind"] for i in injected] == [k for k, _ in REPLY_FAULTS] + ["500"]
    assert values(world, "FLT-A") == sent  # each report once, in order: nothing lost
    assert extra_replies == []  # and no confirmation twice
    assert progress.plain
    log = world.log()
    for fault in injected:  # each fault met once in the log, with its cause
        if fault["kind"] in ("500", "502", "text", "no_ok"):
            assert log.count(str(fault["cause"])) == 1, (fault, fault_lines(log))
    assert world.bot.alive()


def test_a_reply_that_never_gets_through_is_logged_once_and_the_report_kept(
    world: World,
) -> None:
    officer = world.officer(12002, "FLT-B", "Trần Thị Mất")
    # More 500s in a row than the limiter tries (1 + 3): this reply is given up.
    world.proxy.inject("sendMessage", "500", count=4, chat_id=12002)

    officer.say("/baocao 1.1 77")
    settled(world.proxy)
    wait_for("the give-up line", lambda: "not delivered" in world.log())
    progress = officer.ask("/tiendo", "Tiến độ")

    assert values(world, "FLT-B") == [Decimal(77)]
    gave_up = [line for line in world.log().splitlines() if "not delivered" in line]
    assert len(gave_up) == 1, gave_up
    assert "12002" in gave_up[0] and "injected 500" in gave_up[0]
    assert "1.1" in progress.plain
    no_traceback(world.log())


def test_polling_survives_get_updates_faults(world: World) -> None:
    officer = world.officer(12003, "FLT-C", "Lê Văn Kéo")
    kinds = ["500", "502", "reset", "text", "no_ok", "429"]
    for kind in kinds:
        world.proxy.inject("getUpdates", kind, count=1, retry_after=1)
    settled(world.proxy)

    who = officer.ask("/whoami", "Đơn vị")
    officer.ask("/baocao 1.1 88", SAVED)

    assert "FLT-C" in who.plain or "E2E C" in who.plain
    assert values(world, "FLT-C") == [Decimal(88)]
    assert world.bot.alive()


def test_each_fault_is_logged_once_with_its_cause_and_no_traceback(world: World) -> None:
    """Runs after the tests above (module order): their faults, counted in the log."""
    injected = world.proxy.injected()
    assert injected, "the tests above injected nothing"
    log = world.log()
    lines = fault_lines(log)

    assert len(lines) == len(injected), "\n".join(lines)
    for fault in injected:
        assert any(fault["method"] in line for line in lines), fault
        if fault["kind"] in ("500", "502", "429", "text", "no_ok"):
            assert sum(str(fault["cause"]) in line for line in lines) == 1, fault
    kinds = {
        "reset": ("reset", "disconnected"),
        "delay": ("timed out",),
        "429": ("answered 429",),
        "text": ("not json",),
        "no_ok": ("no 'ok'",),
    }
    for kind, words in kinds.items():
        expected = sum(1 for i in injected if i["kind"] == kind)
        found = sum(1 for line in lines if any(w in line.lower() for w in words))
        assert found == expected, (kind, words, expected, lines)
    no_traceback(log)


# ------------------------------------------------------------------------------ reminders


async def _ledger(url: str) -> list[tuple[str, str, str]]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            rows = await session.execute(
                select(ReminderLog.recipient, ReminderLog.rule, ReminderLog.status).where(
                    ReminderLog.rule == "before:7"
                )
            )
            return sorted((r, rule, s) for r, rule, s in rows)
    finally:
        await engine.dispose()


def test_a_reminder_batch_under_429s_and_5xx_sends_each_reminder_once(
    emulator: Emulator, e2e_db_url: str, tmp_path: Path
) -> None:
    proxy = FaultyProxy(emulator, tmp_path / "proxy.log")
    try:
        token = bot_token("fault-batch")
        env = bot_env(db_url=e2e_db_url, token=token, emulator=emulator, folder=tmp_path)
        env.update(proxy.env())
        invites = seed_cluster(e2e_db_url, EXAMPLES / "cum6-stc-2024.toml", "CUM6-STC")
        units = sorted(invites)
        officers = [
            Person(emulator, token, 13000 + n, f"Cán bộ {n}") for n in range(2 * len(units))
        ]
        early = BotProcess("batch-before", ["run"], {**env, "E2E_CLOCK": BEFORE}, tmp_path)
        early.start()
        try:
            early.wait_polling()
            for n, officer in enumerate(officers):
                officer.ask(f"/start {invites[units[n % len(units)]]}", "Chào mừng")
        finally:
            assert early.stop() == 0, early.log_tail()

        # Faults in the batch's first calls: three 429s, then 500, 502, 500.
        proxy.inject("sendMessage", "429", count=3, retry_after=2)
        proxy.inject("sendMessage", "500", count=1)
        proxy.inject("sendMessage", "502", count=1)
        proxy.inject("sendMessage", "500", count=1)
        late = BotProcess("batch-after", ["run"], {**env, "E2E_CLOCK": AFTER}, tmp_path)
        late.start()
        try:
            reminders = [o.expect("Nhắc hạn báo cáo", timeout=60) for o in officers]
            late.wait_until("the summary line", lambda: "reminders:" in late.log.read_text())
            time.sleep(QUIET_S)
            again = [r.plain for o in officers for r in o.fetch() if "Nhắc hạn" in r.plain]
        finally:
            assert late.stop() == 0, late.log_tail()
        injected = proxy.injected("sendMessage")
        calls = late.calls("sendMessage")
    finally:
        proxy.stop()

    assert [i["kind"] for i in injected] == ["429"] * 3 + ["500", "502", "500"]
    assert len(reminders) == len(officers) and again == []  # once each, none twice
    ledger = asyncio.run(_ledger(e2e_db_url))
    assert [(r, s) for r, _, s in ledger] == sorted(
        (f"telegram:{o.user_id}", "sent") for o in officers
    )
    # The 429s paused the batch: after each, no batch message went out before the time
    # asked had passed (a lower bound the batch guarantees, not a speed).
    for fault in (i for i in injected if i["kind"] == "429"):
        after = [c["at"] for c in calls if c["at"] > fault["at"] + 0.1]
        assert not after or min(after) >= fault["at"] + 2 - 0.2, (fault, after[:3])
    log = late.log.read_text(encoding="utf-8")
    assert len(fault_lines(log)) == len(injected), fault_lines(log)
    for fault in injected:
        if fault["kind"] != "429":
            assert log.count(str(fault["cause"])) == 1, fault
    summary = next(line for line in log.splitlines() if "reminders:" in line)
    assert f"{len(officers)} sent" in summary and "0 failed" in summary, summary
    no_traceback(log)


# ------------------------------------------------------------------------------ PostgreSQL


def _pg_restart_command() -> list[str]:
    tool = shutil.which("pg_ctlcluster")
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if tool is None or not versions:
        problem = "pg_ctlcluster is not available: cannot restart PostgreSQL"
        if IN_CI:
            pytest.fail(problem)
        pytest.skip(problem)
    return [tool, "--skip-systemctl-redirect", versions[-1], "main", "restart"]


@pytest.mark.postgres_only
def test_postgresql_restarted_while_officers_report_loses_nothing(world: World) -> None:
    assert make_url(world.url).get_backend_name() == "postgresql"
    restart = _pg_restart_command()
    officers = [world.officer(12010 + n, "FLT-D", f"Đỗ Văn {n}") for n in range(3)]
    already = len(values(world, "FLT-D"))
    answers: dict[int, list[str]] = {o.user_id: [] for o in officers}
    sent: dict[int, list[Decimal]] = {o.user_id: [] for o in officers}
    stop = threading.Event()
    errors: list[BaseException] = []

    def report(officer: Person, base: int) -> None:
        """Report, wait for the answer (stored, or an error), again, until told to stop."""
        n = 0
        try:
            while not stop.is_set() and n < 40:
                value = Decimal(base) + Decimal(n) / 100  # distinct, and a plausible %
                officer.say(f"/baocao 1.1 {str(value).replace('.', ',')}")
                sent[officer.user_id].append(value)
                got = officer._next(
                    "a confirmation or an error",
                    lambda r: SAVED in r.plain or "Có lỗi xảy ra" in r.plain,
                    timeout=60,
                )
                answers[officer.user_id].append(got.plain)
                n += 1
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [
        threading.Thread(target=report, args=(o, 1 + 30 * k), daemon=True)
        for k, o in enumerate(officers)
    ]
    for thread in threads:
        thread.start()
    wait_for("a few reports before the restart", lambda: sum(map(len, answers.values())) >= 6)
    done = subprocess.run(restart, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    at_restart = sum(map(len, answers.values()))
    wait_for(
        "a few reports after the restart",
        lambda: sum(map(len, answers.values())) >= at_restart + 6,
        timeout=60,
    )
    stop.set()
    for thread in threads:
        thread.join(timeout=90)
    assert not errors, errors

    # After the restart: a report is stored.
    last = officers[0].ask("/baocao 1.1 99", SAVED)
    assert last.plain

    stored = values(world, "FLT-D")[already:]
    confirmed: list[Decimal] = []
    refused: list[Decimal] = []
    for officer in officers:
        pairs = zip(sent[officer.user_id], answers[officer.user_id], strict=True)
        for value, answer in pairs:
            (confirmed if SAVED in answer else refused).append(value)
    # Nothing accepted is lost, nothing is stored twice, and what was in flight at the
    # restart is either stored or was answered with an error: never silence (each report
    # got one answer, or `_next` above would have timed out).
    assert sorted(set(stored)) == sorted(stored)
    assert set(confirmed) | {Decimal(99)} <= set(stored)
    assert set(stored) <= set(confirmed) | set(refused) | {Decimal(99)}
    assert refused or confirmed
    no_traceback(world.log())
    assert world.bot.alive()
