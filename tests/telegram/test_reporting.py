"""The reporting flows through the real Application: guided and one-line, every kind,
corrections, evidence, /progress and /history, and bad input answered in the user's language."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.telegram.app import ThiduaApp
from models.db import create_engine, session_factory
from models.tables import EvidenceFile, Report
from tests.telegram.conftest import Clock, InviteMaker
from tests.telegram.harness import (
    FILE_CONTENT,
    RecordingRequest,
    button,
    document,
    message,
    photo,
)

OFFICER = 4001


async def stored_reports(url: str) -> list[Report]:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        rows = list(await session.scalars(select(Report).order_by(Report.id)))
    await engine.dispose()
    return rows


async def evidence_rows(url: str) -> list[EvidenceFile]:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        rows = list(await session.scalars(select(EvidenceFile)))
    await engine.dispose()
    return rows


@pytest.fixture
async def joined(app: ThiduaApp, recorder: RecordingRequest, invite: InviteMaker) -> None:
    await app.process_update(message(app, OFFICER, f"/start {await invite('STC-BDINH')}"))
    recorder.clear()


async def say(app: ThiduaApp, text: str) -> None:
    await app.process_update(message(app, OFFICER, text))


async def press(app: ThiduaApp, data: str) -> None:
    await app.process_update(button(app, OFFICER, data))


def last(recorder: RecordingRequest) -> str:
    return recorder.texts_to(OFFICER)[-1]


async def test_a_guided_quantitative_report_with_evidence_and_a_note(
    app: ThiduaApp, recorder: RecordingRequest, joined: None, seeded: str
) -> None:
    await say(app, "/baocao")
    assert "Chọn nhóm tiêu chí" in last(recorder) and "Quý 2/2024" in last(recorder)
    assert "rg:1" in recorder.buttons()

    await press(app, "rg:1")
    assert "rc:1.1.1" in recorder.buttons()
    await press(app, "rc:1.1.1")
    assert "chỉ tiêu của đơn vị: <b>105</b>" in last(recorder)

    await say(app, "105,5")
    assert "bắt buộc có minh chứng" in last(recorder)
    await press(app, "re:done")  # no file yet: refused, still waiting for one
    assert "bắt buộc có minh chứng" in last(recorder)
    await app.process_update(document(app, OFFICER, "Báo cáo quý 2.pdf"))
    assert "Đã nhận <b>Báo cáo quý 2.pdf</b>" in last(recorder)
    await press(app, "re:done")
    assert "Ghi chú" in last(recorder)
    await say(app, "Số liệu của KBNN tỉnh")

    confirm = last(recorder)
    assert "Xác nhận báo cáo" in confirm
    assert "105,5/105 %" in confirm and "<b>8</b>/8" in confirm
    assert await stored_reports(seeded) == []  # nothing stored before confirming

    await press(app, "rk:ok")

    assert "Đã lưu báo cáo tiêu chí <b>1.1.1</b>" in last(recorder)
    [report] = await stored_reports(seeded)
    assert report.value == Decimal("105.5") and report.proposed_score == Decimal(8)
    assert report.note == "Số liệu của KBNN tỉnh"
    [file] = await evidence_rows(seeded)
    assert file.file_name == "Báo cáo quý 2.pdf"
    assert file.stored_path is not None
    assert await asyncio.to_thread(Path(file.stored_path).read_bytes) == FILE_CONTENT


async def test_a_yes_no_report_by_buttons_and_cancelling_saves_nothing(
    app: ThiduaApp, recorder: RecordingRequest, joined: None, seeded: str
) -> None:
    await say(app, "/report")
    await press(app, "rg:2")
    await press(app, "rc:2.1")
    assert recorder.buttons() == ["rv:có", "rv:không"]
    await press(app, "rv:có")
    await press(app, "re:done")
    await say(app, "/cancel")

    assert last(recorder) == "Đã hủy. Không có gì được lưu."
    assert await stored_reports(seeded) == []

    await say(app, "/report")
    await press(app, "rg:2")
    await press(app, "rc:2.1")
    await press(app, "rv:có")
    await press(app, "re:done")
    await press(app, "rn:skip")
    await press(app, "rk:ok")
    [report] = await stored_reports(seeded)
    assert report.value == Decimal(1) and report.proposed_score == Decimal(4)


async def test_a_wrong_value_in_the_flow_is_explained_and_can_be_retyped(
    app: ThiduaApp, recorder: RecordingRequest, joined: None, seeded: str
) -> None:
    await say(app, "/baocao")
    await press(app, "rg:1")
    await press(app, "rc:1.3.2")

    await say(app, "một trăm")
    assert "«một trăm» không phải là số" in last(recorder)
    await say(app, "-3")
    assert "không được âm" in last(recorder)
    await say(app, "95")
    assert "Điểm tự chấm dự kiến: <b>3,8</b>/4" in last(recorder)
    assert await stored_reports(seeded) == []


async def test_the_one_line_form_reports_and_a_repeat_is_a_new_version(
    app: ThiduaApp, recorder: RecordingRequest, joined: None, seeded: str, clock: Clock
) -> None:
    await say(app, "/baocao 1.3.2 80 số liệu tạm tính")
    assert "tự chấm <b>3,2</b>/4 (lần 1)" in last(recorder)
    await say(app, "/report 1.3.2 95,5")
    assert "(lần 2)" in last(recorder)

    first, second = await stored_reports(seeded)
    assert (first.version, first.value, first.note) == (1, Decimal(80), "số liệu tạm tính")
    assert (second.version, second.value) == (2, Decimal("95.5"))

    await say(app, "/lichsu 1.3.2")
    history = last(recorder)
    assert history.index("Lần 2") < history.index("Lần 1")
    assert "số liệu tạm tính" in history


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/baocao 2.1", "Cách dùng"),
        ("/baocao 9.9 1", "không có tiêu chí <code>9.9</code>"),
        ("/baocao 1 1", "là nhóm tiêu chí"),
        ("/baocao 2.3 2", "cần ghi giải trình"),
        ("/baocao 2.3 7 vượt", "vượt điểm chuẩn"),
        ("/baocao 1.1.1 105", "bắt buộc có minh chứng"),
        ("/baocao 1.3.2 1.000.000", "quá lớn"),
        ("/baocao 2.1 chắc", "hãy trả lời <code>có</code> hoặc <code>không</code>"),
    ],
)
async def test_bad_one_line_reports_get_a_clear_message_and_store_nothing(
    app: ThiduaApp,
    recorder: RecordingRequest,
    joined: None,
    seeded: str,
    text: str,
    expected: str,
) -> None:
    await say(app, text)

    assert expected in last(recorder)
    assert last(recorder).startswith("❌")
    assert await stored_reports(seeded) == []


async def test_a_file_with_a_report_caption_is_the_evidence(
    app: ThiduaApp, recorder: RecordingRequest, joined: None, seeded: str
) -> None:
    await app.process_update(
        document(app, OFFICER, "Danh sách gương điển hình.pdf", caption="/baocao 5.3 3")
    )

    assert "tự chấm <b>3</b>/5" in last(recorder)
    [file] = await evidence_rows(seeded)
    assert file.file_name == "Danh sách gương điển hình.pdf"


async def test_a_file_over_the_limit_is_refused_before_download(
    app: ThiduaApp, recorder: RecordingRequest, joined: None, seeded: str
) -> None:
    big = 25 * 1024 * 1024
    await app.process_update(document(app, OFFICER, "scan.pdf", size=big, caption="/baocao 5.3 3"))

    assert "quá lớn; tối đa 20 MB" in last(recorder)
    assert recorder.downloads == []
    assert await stored_reports(seeded) == []


async def test_a_late_report_is_accepted_and_says_so(
    app: ThiduaApp, recorder: RecordingRequest, joined: None, seeded: str, clock: Clock
) -> None:
    clock.now = clock.now.replace(month=7, day=6)  # after the Q2 deadline (05/07 17:00)

    await say(app, "/baocao Q2 2.1 có")

    assert "Quý 2/2024" in last(recorder) and "nộp muộn" in last(recorder)
    [report] = await stored_reports(seeded)
    assert report.late


async def test_progress_shows_each_criterion_and_the_totals(
    app: ThiduaApp, recorder: RecordingRequest, joined: None
) -> None:
    await say(app, "/baocao 2.1 có")
    await say(app, "/baocao 1.3.2 50")

    await say(app, "/tiendo")

    page = last(recorder)
    assert "Tiến độ — Sở Tài chính tỉnh Bình Định" in page
    assert "Đã báo cáo 2/" in page and "Tự chấm <b>6</b>/100" in page
    assert "✅ <b>2.1</b>" in page or "Trang 1/" in page
    assert "Còn thiếu" in page
    assert any(b.startswith("pg:") for b in recorder.buttons())

    await press(app, "pg:y:Q2:1")
    assert "Cả năm 2024" in last(recorder) and "Trang 2/" in last(recorder)


async def test_an_english_speaker_reports_in_english(
    app: ThiduaApp, recorder: RecordingRequest, joined: None
) -> None:
    await say(app, "/lang en")

    await say(app, "/report 2.1 yes")
    assert "Saved: criterion <b>2.1</b>" in last(recorder)
    await say(app, "/report 1.3.2 1,234.5")
    assert "too large" in last(recorder)


async def test_a_stranger_is_told_how_to_join_instead_of_reporting(
    app: ThiduaApp, recorder: RecordingRequest, seeded: str
) -> None:
    await app.process_update(message(app, 4999, "/baocao 2.1 có"))

    assert "chưa thuộc đơn vị nào" in recorder.texts_to(4999)[-1]
    assert await stored_reports(seeded) == []


async def test_reports_are_private(
    app: ThiduaApp, recorder: RecordingRequest, joined: None
) -> None:
    await app.process_update(message(app, OFFICER, "/baocao 2.1 có", chat_id=-100_1))

    assert "tin nhắn riêng" in recorder.texts_to(-100_1)[-1]


@pytest.mark.parametrize(
    ("group", "code", "value", "note", "with_file", "proposed"),
    [
        ("5", "5.3", "4", None, True, Decimal(4)),  # count, evidence required
        ("5", "5.4", "2,5", "Chủ trì hội thi của Cụm", False, Decimal("2.5")),  # judged
        ("7", "7.3", "1", None, False, Decimal(1)),  # bonus
        ("8", "8.1", "3", None, False, Decimal(-3)),  # penalty
    ],
)
async def test_the_guided_flow_handles_every_kind(
    app: ThiduaApp,
    recorder: RecordingRequest,
    joined: None,
    seeded: str,
    group: str,
    code: str,
    value: str,
    note: str | None,
    with_file: bool,
    proposed: Decimal,
) -> None:
    await say(app, "/baocao")
    await press(app, f"rg:{group}")
    await press(app, f"rc:{code}")
    await say(app, value)
    if with_file:
        await app.process_update(document(app, OFFICER, "minh-chung.pdf"))
    await press(app, "re:done")
    if note is None:
        await press(app, "rn:skip")
    else:
        await press(app, "rn:skip")  # a judged item needs its justification
        assert "cần ghi giải trình" in last(recorder)
        await say(app, note)
    await press(app, "rk:ok")

    [report] = await stored_reports(seeded)
    assert report.proposed_score == proposed
    assert report.note == note


@pytest.mark.parametrize(
    ("line", "proposed"),
    [
        ("/baocao 1.3.2 95,5", Decimal("3.82")),  # quantitative, Vietnamese decimal comma
        ("/report 1.3.3 có", Decimal(3)),  # yes/no
        ("/baocao 5.4 2 chủ trì hội thi", Decimal(2)),  # judged with its justification
        ("/baocao 7.3 3", Decimal(3)),  # bonus, capped at 3
        ("/baocao 8.2 1", Decimal(-2)),  # penalty: 2 points each
    ],
)
async def test_the_one_line_form_handles_every_kind(
    app: ThiduaApp,
    recorder: RecordingRequest,
    joined: None,
    seeded: str,
    line: str,
    proposed: Decimal,
) -> None:
    await say(app, line)

    assert last(recorder).startswith("✅")
    [report] = await stored_reports(seeded)
    assert report.proposed_score == proposed


async def test_a_photo_is_accepted_as_evidence_in_the_guided_flow(
    app: ThiduaApp, recorder: RecordingRequest, joined: None, seeded: str
) -> None:
    await say(app, "/baocao")
    await press(app, "rg:5")
    await press(app, "rc:5.1")
    await press(app, "rv:có")
    await app.process_update(photo(app, OFFICER))
    await press(app, "re:done")
    await press(app, "rn:skip")
    await press(app, "rk:ok")

    [file] = await evidence_rows(seeded)
    assert file.mime_type == "image/jpeg" and file.file_name.endswith(".jpg")
