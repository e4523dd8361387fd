"""/soket through the neutral core: the chair gets the review as a message and a workbook
that reads back with every unit and the board's figures; an officer gets a refusal; the
scheduled send reaches the chair on the first working day after the H1 deadline, once."""

from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from handlers import delivery
from handlers.io import Document, Incoming, Text
from models.db import create_engine, session_factory
from services import standings
from services.addresses import Address
from services.onboarding import Person
from services.rehearsal import seat
from tests.chair_data import PDF_EVIDENCE, cum6_reports, report
from tests.conftest import NOW
from tests.handlers.conftest import OFFICER, Clock, Opener, RecordingChannel, handle

CHAIR = Address("console", "chair-qnam")
HCM = ZoneInfo("Asia/Ho_Chi_Minh")
HEAD = "Sơ kết 6 tháng đầu năm 2024"


def by(sender: Address, text: str, *, private: bool = True) -> Incoming:
    chat = sender if private else Address("console", "group-cum6")
    return Incoming(sender=sender, chat=chat, private=private, full_name="Cán bộ", text=text)


async def prepare(url: str) -> None:
    """Cụm 6's reports (tests/chair_data.py), Khánh Hòa behind on 1.1.1, and the chair
    seated on the console channel."""
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        actors = await cum6_reports(session)
        await report(session, actors["KHOA"], "1.1.1", "50", evidence=[PDF_EVIDENCE])
        await seat(
            session, Person(CHAIR, "Cụm trưởng Quảng Nam", None), "CUM6-STC", "STC-QNAM", NOW
        )
    await engine.dispose()


def documents_to(channel: RecordingChannel, to: Address) -> list[Document]:
    return [m for a, m in channel.sent if a == to and isinstance(m, Document)]


def reviews_to(channel: RecordingChannel, to: Address) -> list[str]:
    return [m.body for a, m in channel.sent if a == to and isinstance(m, Text) and HEAD in m.body]


async def board(url: str) -> standings.Board:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        found = await standings.boards(session, 2024, None, NOW)
    await engine.dispose()
    [cum6] = [b for b in found.values() if b.cluster_code == "CUM6-STC"]
    return cum6


async def test_the_chair_gets_the_review_and_a_workbook_with_every_unit(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    await prepare(seeded)
    async with open_core() as core:
        await handle(core, by(CHAIR, "/soket"))

    [text] = reviews_to(channel, CHAIR)
    assert "Chưa hết hạn báo cáo (17:00 05/07/2024)" in text
    assert "Số liệu lũy kế đến 30/06/2024 (kỳ Q1, Q2)" in text
    for name in ("Quảng Nam", "Quảng Ngãi", "Bình Định", "Phú Yên", "Khánh Hòa", "Ninh Thuận"):
        assert f". {name}</b>" in text
    assert "1.1.1 (50/55)" in text  # Khánh Hòa: 50 against 110 * 6/12
    assert "dự kiến cuối năm <b>7,27</b>" in text
    assert "Tiêu chí tỷ lệ (không lũy kế): 1.1.3, 1.3.2, 1.4.2, 1.5.1, 3.1.2" in text

    [sent] = documents_to(channel, CHAIR)
    assert sent.filename == "so-ket-CUM6-STC-2024.xlsx"
    assert "6 đơn vị" in sent.caption
    book = load_workbook(io.BytesIO(sent.content))
    assert book.sheetnames == ["Sơ kết", "Chi tiết"]
    units = [row for row in book["Sơ kết"].iter_rows(min_row=6, values_only=True) if row[1]]
    expected = await board(seeded)
    assert [(r[0], r[1], r[3], r[4]) for r in units] == [
        (s.rank, s.member.code, float(s.proposed), float(s.verified)) for s in expected.standings
    ]
    khoa = next(r for r in units if r[1] == "STC-KHOA")
    assert khoa[5] == 7.27 and khoa[6] == "Không hoàn thành nhiệm vụ"
    detail = list(book["Chi tiết"].iter_rows(min_row=6, values_only=True))
    assert {r[0] for r in detail} == {s.member.code for s in expected.standings}
    [row] = [r for r in detail if r[0] == "STC-KHOA" and r[2] == "1.1.1"]
    # target, share at the cut-off, value, share reached, period, score, source, projection
    assert row[5:8] + row[9:14] == (110, 55, 50, "Q2", 3.64, "Tự chấm", 100, 7.27)
    assert row[8] == pytest.approx(50 / 110)
    assert row[14] == "Có"


async def test_an_officer_is_refused_and_a_group_is_sent_to_private(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    await prepare(seeded)
    async with open_core() as core:
        await handle(core, by(OFFICER, "/soket"))
        await handle(core, by(CHAIR, "/midyear", private=False))
        await handle(core, by(CHAIR, "/soket Q2"))

    assert "Quyền này dành cho Cụm trưởng, Cụm phó và quản trị viên" in channel.last(OFFICER)
    group = Address("console", "group-cum6")
    assert "tin nhắn riêng" in channel.last(group)
    assert "Cách dùng: <code>/soket</code>" in channel.last(CHAIR)
    assert documents_to(channel, OFFICER) == documents_to(channel, CHAIR) == []


async def test_the_chair_gets_it_on_its_own_on_the_first_working_day_once(
    open_core: Opener, channel: RecordingChannel, clock: Clock, seeded: str
) -> None:
    await prepare(seeded)
    async with open_core() as core:
        clock.now = datetime(2024, 7, 5, 18, 0, tzinfo=HCM)  # Friday, after the deadline
        await delivery.run_tick(core)
        assert reviews_to(channel, CHAIR) == []
        clock.now = datetime(2024, 7, 8, 8, 5, tzinfo=HCM)  # Monday, the reminders' hour
        await delivery.run_tick(core)
        await delivery.run_tick(core)
        clock.now = datetime(2024, 7, 8, 10, 0, tzinfo=HCM)
        await delivery.run_tick(core)

    [text] = reviews_to(channel, CHAIR)
    assert "Chưa hết hạn" not in text
    [sent] = documents_to(channel, CHAIR)
    assert sent.filename == "so-ket-CUM6-STC-2024.xlsx"
    # The officer of a member unit gets its own reminders, never the review.
    assert reviews_to(channel, OFFICER) == [] and documents_to(channel, OFFICER) == []
