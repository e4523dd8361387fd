"""/bophieu through the neutral core: the chair opens, six units vote through their officers
(buttons here, numbers on a button-less channel), the unit's other officer is told it voted
— never what —, and the result reaches the chair when the last unit has voted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from handlers import delivery
from handlers.core import Core, handle
from handlers.io import Incoming, Text
from models.db import create_engine, session_factory
from models.tables import ClusterYear
from services import yearend
from services.access import resolve_actor
from services.addresses import Address
from services.cluster_file import load_cluster_file
from services.clusters import import_cluster
from services.onboarding import Person
from services.rehearsal import seat
from tests.conftest import EXAMPLES, NOW
from tests.handlers.conftest import Clock, RecordingChannel

LATER = NOW + timedelta(days=240)
UNITS = ["STC-QNAM", "STC-QNGAI", "STC-BDINH", "STC-PYEN", "STC-KHOA", "STC-NTHUAN"]


def person(unit: str, n: int = 1) -> Address:
    return Address("console", f"{unit.lower()}-{n}")


@dataclass
class World:
    core: Core
    channel: RecordingChannel

    async def say(self, who: Address, text: str = "", button: str | None = None) -> str:
        before = len(self.channel.sent)
        await handle(self.core, Incoming(who, who, True, "Cán bộ", text=text, button=button))
        new = [m.body for a, m in self.channel.sent[before:] if a == who and isinstance(m, Text)]
        return new[-1] if new else ""

    def buttons(self, who: Address) -> list[str]:
        last = [m for a, m in self.channel.sent if a == who and isinstance(m, Text)][-1]
        return [c.data for row in last.choices for c in row]

    def texts_to(self, who: Address) -> list[str]:
        return [m.body for a, m in self.channel.sent if a == who and isinstance(m, Text)]


@pytest.fixture
async def world(db_url: str, tmp_path: Path) -> AsyncIterator[World]:
    engine = create_engine(db_url)
    async with session_factory(engine)() as session:
        await import_cluster(session, load_cluster_file(EXAMPLES / "cum6-stc-2024.toml"), now=NOW)
        for unit in UNITS:
            await seat(session, Person(person(unit), f"Cán bộ {unit}", None), "CUM6-STC", unit, NOW)
        await seat(
            session, Person(person("STC-PYEN", 2), "Cán bộ 2", None), "CUM6-STC", "STC-PYEN", NOW
        )
        chair = await resolve_actor(session, person("STC-QNAM"), frozenset())
        assert chair.seat is not None
        await yearend.close_year(
            session, chair, cluster_id=chair.seat.cluster_id, year=2024, now=LATER
        )
        year = await session.scalar(select(ClusterYear).where(ClusterYear.year == 2024))
        assert year is not None
        year.settings = {**year.settings, "ballot": {"candidates": "all", "threshold": "0.5"}}
        await session.commit()
    channel = RecordingChannel()
    core = Core(sessions=session_factory(engine), storage_dir=tmp_path, clock=Clock(LATER))
    core.channels.add(channel)
    try:
        yield World(core, channel)
    finally:
        await engine.dispose()


async def test_six_units_vote_and_the_chair_gets_the_result(world: World) -> None:
    chair = person("STC-QNAM")
    opened = await world.say(chair, "/bophieu mo dandau")
    assert "Đã mở bỏ phiếu: 6 đơn vị được đề cử, 6 đơn vị bỏ phiếu" in opened
    assert any("Bỏ phiếu kín" in t for t in world.texts_to(person("STC-PYEN", 2)))  # told

    votes = {"STC-QNAM": "STC-QNGAI", "STC-QNGAI": "STC-QNAM", "STC-BDINH": "STC-QNAM",
             "STC-PYEN": "STC-QNAM", "STC-KHOA": "STC-QNGAI", "STC-NTHUAN": "STC-QNAM"}  # fmt: skip
    for unit, choice in votes.items():
        who = person(unit)
        screen = await world.say(who, "/bophieu")
        assert "Chọn tối đa 1 đơn vị" in screen
        labels = [c.label for c in world.channel.labels()]
        assert len([x for x in labels if x.startswith("☐")]) == 6 and "☐ Quảng Nam" in labels
        name = {"STC-QNAM": "Quảng Nam", "STC-QNGAI": "Quảng Ngãi"}[choice]
        [toggle] = [
            data
            for data, label in (
                (c.data, c.label)
                for _, m in world.channel.sent[-1:]
                if isinstance(m, Text)
                for row in m.choices
                for c in row
            )
            if data.startswith("bv:") and name in label
        ]
        picked = await world.say(who, button=toggle)
        assert f"Đang chọn: <b>{name}</b>" in picked
        [send] = [b for b in world.buttons(who) if b.startswith("bvok:")]
        cast = await world.say(who, button=send)
        assert "Đã ghi nhận phiếu của đơn vị" in cast

    result = world.texts_to(chair)[-1]
    assert "Kết quả bỏ phiếu kín" in result and "6/6 đơn vị đã bỏ phiếu" in result
    assert "1. Quảng Nam: 4 phiếu (66,7%) ✅" in result
    assert "2. Quảng Ngãi: 2 phiếu (33,3%) —" in result
    # Phú Yên's other officer heard that the unit voted, and nothing of its choice.
    told = [t for t in world.texts_to(person("STC-PYEN", 2)) if "đã bỏ phiếu kín" in t]
    assert len(told) == 1 and "Quảng Nam" not in told[0]


async def test_a_unit_votes_once_and_nobody_sees_a_running_count(world: World) -> None:
    chair, pyen, pyen2 = person("STC-QNAM"), person("STC-PYEN"), person("STC-PYEN", 2)
    await world.say(chair, "/bophieu mo")
    await world.say(pyen, "/bophieu STC-QNAM")
    [send] = [b for b in world.buttons(pyen) if b.startswith("bvok:")]
    await world.say(pyen, button=send)

    again = await world.say(pyen2, "/bophieu STC-QNGAI")
    assert "Đơn vị bạn đã bỏ phiếu" in again and "1/6" in again
    assert [b for b in world.buttons(pyen2)] == []  # nothing to press
    stale = await world.say(pyen2, button=send)  # the first officer's button, pressed again
    assert stale.startswith("❌") or "đã cũ" in stale
    chair_view = await world.say(chair, "/bophieu")
    assert "phiếu (" not in chair_view  # no tally while open, for the chair either
    closed = await world.say(chair, "/bophieu dong")
    assert closed == "" or "Kết quả" in closed
    assert "1. Quảng Nam: 1 phiếu" in world.texts_to(chair)[-1]


async def test_a_unit_that_has_not_voted_is_reminded_and_its_button_opens_the_ballot(
    world: World,
) -> None:
    chair, pyen = person("STC-QNAM"), person("STC-PYEN")
    await world.say(chair, "/bophieu mo dandau 48")
    await world.say(chair, "/bophieu STC-QNGAI")
    [send] = [b for b in world.buttons(chair) if b.startswith("bvok:")]
    await world.say(chair, button=send)
    before = len(world.channel.sent)

    tick = await delivery.run_tick(world.core, LATER + timedelta(hours=24, minutes=1))

    reminded = [(a, m) for a, m in world.channel.sent[before:] if isinstance(m, Text)]
    assert tick.sent == 6 and len(reminded) == 6  # 5 units, Phú Yên's two officers
    assert chair not in {a for a, _ in reminded}  # its unit has voted
    [(_, to_pyen)] = [(a, m) for a, m in reminded if a == pyen]
    assert "Đơn vị <b>Phú Yên</b> chưa bỏ phiếu" in to_pyen.body
    assert "Phiếu đóng lúc" in to_pyen.body and "Quảng Ngãi" not in to_pyen.body
    [button] = [c.data for row in to_pyen.choices for c in row]

    screen = await world.say(pyen, button=button)

    assert "Chọn tối đa 1 đơn vị" in screen
    # A second tick sends nothing again; after the close the old button is refused.
    assert (await delivery.run_tick(world.core, LATER + timedelta(hours=24, minutes=2))).sent == 0
    await world.say(chair, "/bophieu dong")
    assert "không có cuộc bỏ phiếu nào đang mở" in await world.say(pyen, button=button)
