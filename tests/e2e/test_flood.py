"""A flood: 100 officers of 100 units report in the same second to the real `thidua run`
(long polling) through the Bot API emulator, on a SQLite file and on PostgreSQL.

Asserted: every report is stored exactly once and every officer got its confirmation.
Measured and printed, never asserted (the house rule: speed is measured in bench/): the
reply latency, from an officer's POST to the emulator until the bot sends that officer's
confirmation (its sendMessage call, as FixingRequest logs it).
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest

from bot.telegram.limits import OVERALL_PER_SECOND
from tests.e2e.harness import (
    TZ,
    BotProcess,
    Emulator,
    Person,
    bot_env,
    bot_token,
    cluster_toml,
    plain,
    seed_cluster,
)

pytestmark = pytest.mark.e2e

CODE = "FLOOD"
OFFICERS = 100
FIRST_ID = 8001
SAVED = "Đã lưu báo cáo tiêu chí 1.1"


def flood_toml(year: int) -> str:
    """The quiet e2e cluster with 100 member units: each officer reports for a unit of
    their own, so no two reports compete for one unit's next version number."""
    extra = "".join(
        f'[[units]]\ncode = "{CODE}-U{n:03d}"\nname = "Sở Tài chính tỉnh Flood {n:03d}"\n'
        f'short_name = "Tỉnh {n:03d}"\n\n'
        for n in range(5, OFFICERS + 1)
    )
    return cluster_toml(CODE, year).replace("[[years]]", extra + "[[years]]", 1)


def unit_of(index: int) -> str:
    return f"{CODE}-{'ABCD'[index]}" if index < 4 else f"{CODE}-U{index + 1:03d}"


async def _join_all(url: str, invites: dict[str, str]) -> None:
    """Each officer joins their unit with its invitation (what /start <token> does)."""
    from models.db import create_engine, session_factory
    from services.addresses import Address
    from services.onboarding import Person as Joining
    from services.onboarding import join

    now = datetime.now(TZ)
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            for index in range(OFFICERS):
                person = Joining(
                    address=Address("telegram", str(FIRST_ID + index)),
                    full_name=f"Cán bộ {index + 1:03d}",
                    username=None,
                )
                await join(session, person, invites[unit_of(index)], now)
    finally:
        await engine.dispose()


async def _stored(url: str) -> Counter[str]:
    """Unit code → number of report versions stored on criterion 1.1."""
    from sqlalchemy import select

    from models.db import create_engine, session_factory
    from models.tables import Criterion, Report, Unit

    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            rows = await session.execute(
                select(Unit.code)
                .join(Report, Report.unit_id == Unit.id)
                .join(Criterion, Criterion.id == Report.criterion_id)
                .where(Criterion.code == "1.1")
            )
            return Counter(code for (code,) in rows)
    finally:
        await engine.dispose()


@dataclass
class Flood:
    emulator: Emulator
    token: str
    url: str
    bot: BotProcess
    officers: list[Person]


@pytest.fixture(scope="module")
def flood(
    emulator: Emulator, e2e_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flood]:
    folder = tmp_path_factory.mktemp("flood")
    token = bot_token("flood")
    env = bot_env(db_url=e2e_db_url, token=token, emulator=emulator, folder=folder)
    path = folder / "flood.toml"
    path.write_text(flood_toml(datetime.now(TZ).year), encoding="utf-8")
    invites = seed_cluster(e2e_db_url, path, CODE)
    asyncio.run(_join_all(e2e_db_url, invites))
    officers = [
        Person(emulator, token, FIRST_ID + i, f"Cán bộ {i + 1:03d}") for i in range(OFFICERS)
    ]
    bot = BotProcess("flood", ["run"], env, folder)
    bot.start()
    try:
        bot.wait_polling()
        yield Flood(emulator, token, e2e_db_url, bot, officers)
    finally:
        code = bot.stop()
    assert code == 0, bot.log_tail()


async def _send_all(emulator: Emulator, token: str, officers: list[Person]) -> dict[int, float]:
    """Every officer's one-line report, all at once; officer id → when it was posted."""
    posted: dict[int, float] = {}
    start = asyncio.Event()

    async def send(http: httpx.AsyncClient, officer: Person, value: int) -> None:
        body: dict[str, Any] = {**officer.message(f"/baocao 1.1 {value}")["message"]}
        body.pop("message_id")
        body["botToken"] = token
        await start.wait()
        posted[officer.user_id] = time.time()
        answer = await http.post("/sendCommand", json=body)
        answer.raise_for_status()

    limits = httpx.Limits(max_connections=OFFICERS, max_keepalive_connections=OFFICERS)
    async with httpx.AsyncClient(base_url=emulator.url, limits=limits, timeout=30) as http:
        sends = [
            asyncio.create_task(send(http, officer, 50 + index % 50))
            for index, officer in enumerate(officers)
        ]
        await asyncio.sleep(0)  # every task waits at the start line
        start.set()
        await asyncio.gather(*sends)
    return posted


def _percentile(values: list[float], share: float) -> float:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[round(share * 100) - 1]


def test_a_hundred_officers_reporting_in_the_same_second_are_each_stored_once_and_answered(
    flood: Flood,
) -> None:
    posted = asyncio.run(_send_all(flood.emulator, flood.token, flood.officers))

    def confirmations() -> dict[int, float]:
        found: dict[int, float] = {}
        for call in flood.bot.calls("sendMessage"):
            chat = int(call["params"]["chat_id"])
            if SAVED in plain(str(call["params"].get("text", ""))) and chat in posted:
                found.setdefault(chat, float(call["at"]))
        return found if len(found) == OFFICERS else {}

    sent = flood.bot.wait_until("a confirmation to every officer", confirmations, timeout=120)

    # Each officer sees exactly one confirmation, in their own chat, through the emulator.
    for officer in flood.officers:
        officer.expect(SAVED)
        officer.fetch()
        assert sum(SAVED in r.plain for r in officer.seen) == 1, officer.user_id
    # And in the database: one version of 1.1 per unit, nothing twice, nobody missing.
    stored = asyncio.run(_stored(flood.url))
    assert stored == Counter({unit_of(i): 1 for i in range(OFFICERS)})
    assert "database is locked" not in flood.bot.log_tail(10_000)

    latencies = sorted(sent[chat] - posted[chat] for chat in posted)
    # The limiter's share alone (bot/telegram/limits.py): the 99th reply goes with the
    # fourth group of 30, each group a second (and a round trip) after the one before.
    floor = (math.ceil(0.99 * OFFICERS) - 1) // OVERALL_PER_SECOND
    spread = max(posted.values()) - min(posted.values())
    backend = "sqlite" if flood.url.startswith("sqlite") else "postgresql"
    print(
        f"\nflood [{backend}]: {OFFICERS} reports posted within {spread * 1000:.0f} ms; "
        f"reply latency p50 {_percentile(latencies, 0.50) * 1000:.0f} ms, "
        f"p99 {_percentile(latencies, 0.99) * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms; stored once each: {sum(stored.values())}; "
        f"floor of the 99th at 30 in any second: {floor} s and 4 round trips"
    )
