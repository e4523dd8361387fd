"""/bienban and /totrinh through the neutral core: the chair gets each document as a Word
file, an officer a refusal that names who may, an open year a pointer to /ketthucnam."""

from __future__ import annotations

import io

import pytest
from docx import Document as open_docx

from handlers.io import Document, Incoming, Text
from models.db import create_engine, session_factory
from services.addresses import Address
from services.onboarding import Person
from services.rehearsal import seat
from tests.chair_data import close_cum6, cum6_reports
from tests.conftest import NOW
from tests.handlers.conftest import OFFICER, Opener, RecordingChannel, handle

CHAIR = Address("console", "chair-qnam")


def by(sender: Address, text: str) -> Incoming:
    return Incoming(sender=sender, chat=sender, private=True, full_name="Cán bộ", text=text)


async def prepare(url: str, *, close: bool) -> None:
    """Cụm 6's reports, the chair seated on the console channel, and the year closed."""
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        actors = await cum6_reports(session)
        await seat(
            session, Person(CHAIR, "Cụm trưởng Quảng Nam", None), "CUM6-STC", "STC-QNAM", NOW
        )
        if close:
            await close_cum6(session, actors)
    await engine.dispose()


def documents_to(channel: RecordingChannel, to: Address) -> list[Document]:
    return [m for a, m in channel.sent if a == to and isinstance(m, Document)]


def texts_to(channel: RecordingChannel, to: Address) -> list[str]:
    return [m.body for a, m in channel.sent if a == to and isinstance(m, Text)]


async def test_the_chair_gets_the_minutes_and_the_proposal_as_word_files(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    await prepare(seeded, close=True)
    async with open_core() as core:
        await handle(core, by(CHAIR, "/bienban"))
        await handle(core, by(CHAIR, "/totrinh 2024"))

    minutes, proposal = documents_to(channel, CHAIR)
    assert minutes.filename == "bien-ban-binh-xet-CUM6-STC-2024.docx"
    assert "Biên bản họp bình xét thi đua năm 2024" in minutes.caption
    text = [p.text for p in open_docx(io.BytesIO(minutes.content)).paragraphs]
    assert "BIÊN BẢN" in text and "HỌP BÌNH XÉT THI ĐUA NĂM 2024" in text
    assert proposal.filename == "to-trinh-khen-thuong-CUM6-STC-2024.docx"
    assert "Tờ trình đề nghị khen thưởng năm 2024" in proposal.caption
    assert "Khánh Hòa" in proposal.caption
    assert "TỜ TRÌNH" in [p.text for p in open_docx(io.BytesIO(proposal.content)).paragraphs]


@pytest.mark.parametrize(
    ("who", "text", "expected"),
    [
        (OFFICER, "/bienban", "không có quyền lập biên bản và tờ trình cuối năm"),
        (OFFICER, "/proposal", "Quyền này dành cho Cụm trưởng, Cụm phó và quản trị viên"),
        (CHAIR, "/bienban 20245", "Cách dùng: <code>/bienban</code>"),
        (CHAIR, "/bienban Q2", "Không có đơn vị Q2 trong kết quả năm 2024"),
        (CHAIR, "/totrinh 2024 STC-PYEN STC-XX", "Không có đơn vị STC-XX"),
    ],
)
async def test_an_officer_or_bad_input_gets_a_message_and_no_file(
    open_core: Opener,
    channel: RecordingChannel,
    seeded: str,
    who: Address,
    text: str,
    expected: str,
) -> None:
    await prepare(seeded, close=True)
    async with open_core() as core:
        await handle(core, by(who, text))

    assert expected in texts_to(channel, who)[-1]
    assert documents_to(channel, who) == []


async def test_an_open_year_points_to_closing_it_first(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    await prepare(seeded, close=False)
    async with open_core() as core:
        await handle(core, by(CHAIR, "/totrinh"))

    assert "Năm thi đua 2024 chưa kết thúc" in texts_to(channel, CHAIR)[-1]
    assert "/ketthucnam" in texts_to(channel, CHAIR)[-1]
    assert documents_to(channel, CHAIR) == []


async def test_the_chair_names_the_units_the_meeting_chose_instead(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    await prepare(seeded, close=True)
    async with open_core() as core:
        await handle(core, by(CHAIR, "/totrinh 2024 STC-PYEN stc-bdinh"))

    [proposal] = documents_to(channel, CHAIR)
    assert "Phú Yên, Bình Định" in proposal.caption and "Khánh Hòa" not in proposal.caption
    words = "\n".join(p.text for p in open_docx(io.BytesIO(proposal.content)).paragraphs)
    words += "\n".join(
        c.text
        for t in open_docx(io.BytesIO(proposal.content)).tables
        for r in t.rows
        for c in r.cells
    )
    assert "Phú Yên" in words and "Khánh Hòa" not in words
