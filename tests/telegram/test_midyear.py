"""/soket through the real Application (PTB's process_update): the vice-chair gets the
review as a message and an .xlsx document that reads back; an officer gets a refusal."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from bot.telegram.app import ThiduaApp
from models.db import create_engine, session_factory
from tests.chair_data import BDINH_ID, VICE_ID, cum6_reports
from tests.telegram.harness import message
from tests.telegram.test_chair import FileRecorder


@pytest.fixture
def recorder() -> FileRecorder:
    return FileRecorder()


@pytest.fixture
async def reported(seeded: str) -> str:
    engine = create_engine(seeded)
    async with session_factory(engine)() as session:
        await cum6_reports(session)
    await engine.dispose()
    return seeded


async def test_the_vice_chair_gets_the_review_and_its_workbook(
    app: ThiduaApp, recorder: FileRecorder, reported: str
) -> None:
    await app.process_update(message(app, VICE_ID, "/soket"))

    [text] = recorder.texts_to(VICE_ID)
    assert "Sơ kết 6 tháng đầu năm 2024" in text and "Ninh Thuận" in text
    [sent] = recorder.sent("sendDocument")
    assert "6 đơn vị" in sent.params["caption"]
    method, filename, data = recorder.files[-1]
    assert (method, filename) == ("sendDocument", "so-ket-CUM6-STC-2024.xlsx")
    book = load_workbook(io.BytesIO(data))
    codes = {str(r[1]) for r in book["Sơ kết"].iter_rows(min_row=6, values_only=True) if r[1]}
    assert codes == set(
        ["STC-QNAM", "STC-QNGAI", "STC-BDINH", "STC-PYEN", "STC-KHOA", "STC-NTHUAN"]
    )


async def test_an_officer_is_refused_and_gets_no_file(
    app: ThiduaApp, recorder: FileRecorder, reported: str
) -> None:
    await app.process_update(message(app, BDINH_ID, "/midyear"))

    assert "Cụm trưởng, Cụm phó và quản trị viên" in recorder.texts_to(BDINH_ID)[-1]
    assert recorder.sent("sendDocument") == []
