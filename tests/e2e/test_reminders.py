"""A reminder goes out when the bot's clock passes its time, once, even with two workers.

The example cluster (Cụm 6, 2024) reminds units 7 days before the Q2 deadline of Friday
05/07/2024 17:00, at 08:00: on Friday 28/06/2024 at 08:00 (a working day). The processes run
on a clock that starts at a chosen instant and then advances in real time (E2E_CLOCK, see
tests/e2e/run_bot.py): reminders only go out on working days in office hours, so the real
clock would make this test depend on the hour CI runs at.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from models.db import create_engine, session_factory
from models.tables import ReminderLog
from tests.conftest import EXAMPLES
from tests.e2e.harness import (
    BotProcess,
    Emulator,
    Person,
    bot_env,
    bot_token,
    free_port,
    seed_cluster,
)

pytestmark = pytest.mark.e2e

BEFORE = "2024-06-28T07:58:00+07:00"  # two minutes before the 08:00 reminder
AFTER = "2024-06-28T08:01:00+07:00"
SECRET = "reminders-secret"
# Nothing can be polled for "no second message": this long after the first one, none came.
QUIET_S = 1.5


async def _ledger(url: str, chat_id: int) -> list[tuple[str, str]]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            rows = await session.execute(
                select(ReminderLog.rule, ReminderLog.status).where(
                    ReminderLog.recipient == f"telegram:{chat_id}"
                )
            )
            return [(rule, status) for rule, status in rows]
    finally:
        await engine.dispose()


def _healthy(http: httpx.Client) -> bool:
    try:
        return http.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False


def test_a_reminder_goes_out_once_when_the_clock_passes_its_time(
    emulator: Emulator, e2e_db_url: str, tmp_path: Path
) -> None:
    token = bot_token("reminders")
    env = bot_env(db_url=e2e_db_url, token=token, emulator=emulator, folder=tmp_path)
    invite = seed_cluster(e2e_db_url, EXAMPLES / "cum6-stc-2024.toml", "CUM6-STC")
    officer = Person(emulator, token, 4001, "Phan Văn Bình")

    # Before its time: the officer joins; the start-up tick finds nothing due.
    early = BotProcess("before", ["run"], {**env, "E2E_CLOCK": BEFORE}, tmp_path)
    early.start()
    try:
        early.wait_polling()
        officer.ask(f"/start {invite['STC-BDINH']}", "Chào mừng")
        time.sleep(QUIET_S)
        assert officer.fetch() == []
    finally:
        assert early.stop() == 0, early.log_tail()

    # After its time, two workers on the same database: exactly one reminder.
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    workers = []
    for index, port in enumerate(ports):
        worker_env = {
            **env,
            "E2E_CLOCK": AFTER,
            "THIDUA_DATABASE__MIGRATE_ON_START": "false",
            "THIDUA_TELEGRAM__WEBHOOK_SECRET": SECRET,
        }
        args = ["run", "--webhook", "--port", str(port)]
        args += ["--webhook-url", "https://thidua.example.test/telegram"]
        workers.append(BotProcess(f"after{index}", args, worker_env, tmp_path))
    for worker in workers:
        worker.start()
    try:
        reminder = officer.expect("Nhắc hạn báo cáo", timeout=15)
        time.sleep(QUIET_S)
        later = officer.fetch()
        # Pressing the reminder's button opens the report flow, on whichever worker.
        with httpx.Client(base_url=urls[1], timeout=10.0) as http:
            assert _healthy(http)
            button = reminder.buttons()[-1]
            answer = http.post(
                "/telegram",
                json=officer.callback(button, reminder),
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            )
            assert answer.status_code == 200
        flow = officer.expect_button("rx")
    finally:
        codes = [w.stop() for w in workers]
    assert codes == [0, 0], [w.log_tail() for w in workers]

    assert "CUM6-STC" in reminder.plain or "Cụm thi đua số 6" in reminder.plain
    assert "05/07/2024" in reminder.plain
    assert later == []
    assert flow.buttons()
    ledger = asyncio.run(_ledger(e2e_db_url, 4001))
    assert ledger == [("before:7", "sent")]
