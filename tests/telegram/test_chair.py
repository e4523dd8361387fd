"""Leaderboard, summary, review and explanation, export, year close and hand-over through
the real Application: happy paths, refusals for officers and strangers, and bad input."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from bot.telegram.app import ThiduaApp
from handlers.chair import send_period_summary
from handlers.leaderboard import send_board
from models.db import create_engine, session_factory
from models.tables import (
    Cluster,
    ClusterYear,
    Explanation,
    LeaderboardPost,
    Period,
    Review,
    YearResult,
    YearStatus,
)
from services.addresses import Address
from tests.chair_data import BDINH_ID, CHAIR_ID, KHOA_ID, PYEN_ID, VICE_ID, cum6_reports
from tests.conftest import NOW
from tests.telegram.conftest import ADMIN_ID, Clock
from tests.telegram.harness import RecordingRequest, button, message

GROUP = -1001234
STRANGER = 9090


@dataclass
class FileRecorder(RecordingRequest):
    """Also keeps the files the bot uploads (photos, documents), to read them back."""

    files: list[tuple[str, str, bytes]] = field(default_factory=list)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: Any = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        if request_data is not None:
            for filename, content, _mime in request_data.multipart_data.values():
                data = content if isinstance(content, bytes) else content.read()
                self.files.append((url.rsplit("/", 1)[-1], filename or "", data))
        return await super().do_request(url, method, request_data)


@pytest.fixture
def recorder() -> FileRecorder:
    return FileRecorder()


@pytest.fixture
async def reported(seeded: str) -> str:
    """Cụm 6 with officers in five units and their Q1/Q2 reports (tests/chair_data.py)."""
    engine = create_engine(seeded)
    async with session_factory(engine)() as session:
        await cum6_reports(session)
    await engine.dispose()
    return seeded


async def rows(url: str, model: type) -> int:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        found = int(await session.scalar(select(func.count()).select_from(model)) or 0)
    await engine.dispose()
    return found


async def say(app: ThiduaApp, user: int, text: str, *, chat: int | None = None) -> None:
    await app.process_update(message(app, user, text, chat_id=chat))


async def press(app: ThiduaApp, user: int, data: str) -> None:
    await app.process_update(button(app, user, data))


def last(recorder: RecordingRequest, chat: int) -> str:
    return recorder.texts_to(chat)[-1]


async def link_group(app: ThiduaApp, recorder: RecordingRequest) -> None:
    await say(app, CHAIR_ID, "/linkgroup", chat=GROUP)
    assert "đã được gắn" in last(recorder, GROUP)
    recorder.clear()


# ---------------------------------------------------------------- leaderboard


async def test_an_officer_sees_the_board_in_private_as_a_table_and_a_chart(
    app: ThiduaApp, recorder: FileRecorder, reported: str
) -> None:
    await say(app, PYEN_ID, "/bxh")

    text = last(recorder, PYEN_ID)
    assert "Bảng xếp hạng năm 2024" in text and "<pre>" in text
    assert "Quảng Nam" in text and "11,00" in text and "theo điểm <b>thẩm định</b>" in text
    [photo] = recorder.sent("sendPhoto")
    assert "Biểu đồ điểm năm 2024" in photo.params["caption"]
    assert recorder.files[-1][2].startswith(b"\x89PNG")
    assert await rows(reported, LeaderboardPost) == 0  # a private view is not a post


async def test_the_board_posted_in_the_group_is_kept_and_the_next_shows_movement(
    app: ThiduaApp, recorder: FileRecorder, reported: str
) -> None:
    await link_group(app, recorder)

    await say(app, STRANGER, "/bxh", chat=GROUP)  # anyone in the cluster's group may ask
    assert "Chưa có bảng xếp hạng nào được đăng" in last(recorder, GROUP)
    await say(app, STRANGER, "/bxh", chat=GROUP)

    assert await rows(reported, LeaderboardPost) == 2
    second = last(recorder, GROUP)
    assert "±: thay đổi thứ hạng so với bảng đăng ngày 10/05/2024" in second
    assert " =" in second


async def test_the_board_in_an_unlinked_group_says_how_to_link_it(
    app: ThiduaApp, recorder: RecordingRequest, reported: str
) -> None:
    await say(app, PYEN_ID, "/bxh", chat=GROUP)

    assert "chưa được gắn với Cụm nào" in last(recorder, GROUP)


async def test_a_stranger_and_an_admin_without_a_cluster_code_are_told_what_to_do(
    app: ThiduaApp, recorder: FileRecorder, reported: str
) -> None:
    await say(app, STRANGER, "/bxh")
    await say(app, ADMIN_ID, "/bxh")
    await say(app, ADMIN_ID, "/bxh KHOI-TW-TNINH")

    assert "chưa thuộc đơn vị nào" in last(recorder, STRANGER)
    admin = recorder.texts_to(ADMIN_ID)
    assert "hãy ghi mã Cụm" in admin[0]
    assert "Khối thi đua các cơ quan Trung ương tỉnh Tây Ninh" in admin[1]


async def test_the_scheduled_post_and_the_period_summary_can_be_sent_by_a_job(
    app: ThiduaApp, recorder: FileRecorder, reported: str
) -> None:
    core = app.bot_data
    async with core.session_factory()() as session:
        cluster = await session.scalar(select(Cluster).where(Cluster.code == "CUM6-STC"))
        assert cluster is not None
        q1 = await session.scalar(
            select(Period).where(Period.cluster_id == cluster.id, Period.code == "Q1")
        )
        assert q1 is not None
        await send_board(core, session, cluster.id, Address("telegram", str(GROUP)), NOW)
        await send_period_summary(
            core, session, cluster.id, q1.id, Address("telegram", str(CHAIR_ID)), NOW
        )

    assert "Bảng xếp hạng năm 2024" in recorder.texts_to(GROUP)[0]
    assert len(recorder.sent("sendPhoto")) == 1
    assert await rows(reported, LeaderboardPost) == 1
    summary = last(recorder, CHAIR_ID)
    assert "Tổng hợp Quý 1/2024" in summary and "Đã quá hạn" in summary


# ---------------------------------------------------------------- summary


async def test_the_chair_gets_a_summary_and_an_officer_a_refusal(
    app: ThiduaApp, recorder: RecordingRequest, reported: str
) -> None:
    await say(app, CHAIR_ID, "/tonghop")
    await say(app, CHAIR_ID, "/tonghop Q9")
    await say(app, BDINH_ID, "/tonghop")

    summary, wrong = recorder.texts_to(CHAIR_ID)
    assert "Tổng hợp Quý 2/2024" in summary
    assert "🟡 Quảng Nam 3/34" in summary and "⬜ Ninh Thuận 0/34" in summary
    assert "Chờ thẩm định</b>: 11 báo cáo" in summary  # Q2's: Bình Định's Q1 report aside
    assert "<code>/xuat Q2</code>" in summary
    assert "Không có kỳ <code>Q9</code>" in wrong and "Q1, Q2, Q3, Q4" in wrong
    assert "không có quyền xem tổng hợp" in last(recorder, BDINH_ID)


# ---------------------------------------------------------------- export


async def test_the_export_is_sent_as_a_workbook_that_reads_back(
    app: ThiduaApp, recorder: FileRecorder, reported: str
) -> None:
    await say(app, VICE_ID, "/xuat")

    [sent] = recorder.sent("sendDocument")
    assert "Bảng điểm CUM6-STC — lũy kế năm 2024, 6 đơn vị" in sent.params["caption"]
    method, filename, data = recorder.files[-1]
    assert (method, filename) == ("sendDocument", "bang-diem-CUM6-STC-2024.xlsx")
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames[0] == "Tổng hợp" and len(book.sheetnames) == 7
    assert book["Tổng hợp"]["C7"].value.startswith("Sở Tài chính tỉnh Quảng Nam")


@pytest.mark.parametrize(
    ("user", "text", "expected"),
    [
        (BDINH_ID, "/xuat", "không có quyền xuất bảng điểm"),
        (STRANGER, "/xuat", "chưa thuộc đơn vị nào"),
        (CHAIR_ID, "/xuat Q7", "Không có kỳ <code>Q7</code>"),
        (CHAIR_ID, "/xuat 2019", "không có năm thi đua 2019"),
    ],
)
async def test_a_wrong_export_gets_a_clear_message_and_no_file(
    app: ThiduaApp, recorder: FileRecorder, reported: str, user: int, text: str, expected: str
) -> None:
    await say(app, user, text)

    assert expected in last(recorder, user)
    assert recorder.sent("sendDocument") == []


# ---------------------------------------------------------------- review and explanation


async def test_the_guided_review_adjusts_a_score_tells_the_unit_and_takes_its_explanation(
    app: ThiduaApp, recorder: RecordingRequest, reported: str
) -> None:
    await say(app, CHAIR_ID, "/thamdinh")
    assert "tvu:STC-QNGAI" in recorder.buttons()
    assert "tvu:STC-QNAM" in recorder.buttons()
    await press(app, CHAIR_ID, "tvu:STC-QNGAI")
    assert "3 tiêu chí đã báo cáo, 3 chờ thẩm định" in last(recorder, CHAIR_ID)
    assert "tvc:2.3" in recorder.buttons()
    await press(app, CHAIR_ID, "tvc:2.3")
    detail = last(recorder, CHAIR_ID)
    assert "Tham mưu 3 cơ chế" in detail and "<b>2,5</b>/3" in detail
    assert recorder.buttons()[:2] == ["tvk", "tva"]

    await press(app, CHAIR_ID, "tva")
    await say(app, CHAIR_ID, "5")
    assert "vượt điểm chuẩn 3" in last(recorder, CHAIR_ID)
    await say(app, CHAIR_ID, "một rưỡi")
    assert "không phải là số" in last(recorder, CHAIR_ID)
    await say(app, CHAIR_ID, "1,5")
    assert "lý do điều chỉnh" in last(recorder, CHAIR_ID)
    await say(app, CHAIR_ID, "Thiếu văn bản tham mưu")
    assert "Tự chấm: 2,5 → Thẩm định: <b>1,5</b>" in last(recorder, CHAIR_ID)
    assert await rows(reported, Review) == 0  # nothing before the confirm button
    await press(app, CHAIR_ID, "tvok")

    assert await rows(reported, Review) == 1
    chair_texts = recorder.texts_to(CHAIR_ID)
    assert any("Đã điều chỉnh 2.3 của Quảng Ngãi: 2,5 → <b>1,5</b>" in t for t in chair_texts)
    assert "2 chờ thẩm định" in last(recorder, CHAIR_ID)  # back at the unit's list
    notice = last(recorder, VICE_ID)
    assert "Cụm trưởng đã <b>điều chỉnh</b>" in notice and "Thiếu văn bản tham mưu" in notice
    assert "/giaitrinh 2.3" in notice

    await say(app, VICE_ID, "/giaitrinh 2.3 Đã bổ sung 2 văn bản tham mưu")
    assert "Đã gửi giải trình về tiêu chí 2.3" in last(recorder, VICE_ID)
    told = [t for t in recorder.texts_to(CHAIR_ID) if "giải trình về tiêu chí" in t]
    assert told and "«Đã bổ sung 2 văn bản tham mưu»" in told[-1]
    assert "/thamdinh STC-QNGAI 2.3" in told[-1]
    assert await rows(reported, Explanation) == 1


async def test_the_one_line_review_keeps_or_adjusts_and_refuses_bad_input(
    app: ThiduaApp, recorder: RecordingRequest, reported: str
) -> None:
    await say(app, CHAIR_ID, "/thamdinh STC-PYEN 1.1.3 =")
    assert "Đã xác nhận 1.1.3 của Phú Yên: 2 điểm" in last(recorder, CHAIR_ID)
    assert "đã <b>xác nhận</b>" in last(recorder, PYEN_ID)

    for text, expected in [
        ("/thamdinh STC-NOPE 1.1.3 1 x", "không có đơn vị mã <code>STC-NOPE</code>"),
        ("/thamdinh STC-PYEN 9.9 1 x", "không có tiêu chí <code>9.9</code>"),
        ("/thamdinh STC-PYEN 1.1.3 7 x", "vượt điểm chuẩn 4"),
        ("/thamdinh STC-PYEN 1.1.3 bảy x", "không phải là số"),
        ("/thamdinh STC-PYEN 1.1.3 1", "cần ghi lý do"),
        ("/thamdinh STC-QNAM 1.1.3 =", "Không tự thẩm định"),
    ]:
        await say(app, CHAIR_ID, text)
        assert expected in last(recorder, CHAIR_ID), text
    assert await rows(reported, Review) == 1


@pytest.mark.parametrize(
    ("user", "expected"),
    [(BDINH_ID, "không có quyền thẩm định điểm"), (STRANGER, "chưa thuộc đơn vị nào")],
)
async def test_officers_and_strangers_cannot_review(
    app: ThiduaApp, recorder: RecordingRequest, reported: str, user: int, expected: str
) -> None:
    await say(app, user, "/thamdinh")
    await say(app, user, "/thamdinh STC-PYEN 1.1.3 =")

    assert all(expected in text for text in recorder.texts_to(user))
    assert await rows(reported, Review) == 0


async def test_an_explanation_without_text_or_review_is_refused(
    app: ThiduaApp, recorder: RecordingRequest, reported: str
) -> None:
    await say(app, KHOA_ID, "/giaitrinh")
    await say(app, KHOA_ID, "/giaitrinh 1.2.2 xin xem lại")

    usage, unreviewed = recorder.texts_to(KHOA_ID)
    assert "Cách dùng: <code>/giaitrinh MÃ nội dung</code>" in usage
    assert "chưa được thẩm định" in unreviewed


# ---------------------------------------------------------------- the year's close and hand-over


async def test_closing_the_year_posts_the_final_results_to_the_group(
    app: ThiduaApp, recorder: FileRecorder, reported: str
) -> None:
    await link_group(app, recorder)
    await say(app, BDINH_ID, "/ketthucnam")
    assert "không có quyền kết thúc năm thi đua" in last(recorder, BDINH_ID)

    await say(app, CHAIR_ID, "/ketthucnam")
    preview = last(recorder, CHAIR_ID)
    assert "Kết thúc năm thi đua 2024" in preview and "12 báo cáo chưa thẩm định" in preview
    [confirm, cancel] = recorder.buttons()
    assert cancel == "yx" and confirm.startswith("yc:")
    await press(app, CHAIR_ID, confirm)

    assert "Đã kết thúc năm thi đua 2024" in recorder.texts_to(CHAIR_ID)[-2]
    final = last(recorder, GROUP)
    assert "Kết quả thi đua năm 2024 (chính thức)" in final and "KHT" in final
    assert len(recorder.sent("sendPhoto")) == 2  # the chair's chat and the group
    assert await rows(reported, YearResult) == 6
    await say(app, CHAIR_ID, "/ketthucnam")
    assert "đã kết thúc rồi" in last(recorder, CHAIR_ID)


async def test_the_chair_hands_over_with_buttons_after_closing(
    app: ThiduaApp, recorder: FileRecorder, reported: str, clock: Clock
) -> None:
    await link_group(app, recorder)
    await say(app, CHAIR_ID, "/bangiao")
    assert "chưa kết thúc" in last(recorder, CHAIR_ID)
    await say(app, VICE_ID, "/bangiao")
    assert "không có quyền bàn giao Cụm trưởng" in last(recorder, VICE_ID)
    await say(app, CHAIR_ID, "/ketthucnam")
    await press(app, CHAIR_ID, recorder.buttons()[0])
    clock.now = NOW + timedelta(days=200)

    await say(app, CHAIR_ID, "/bangiao")
    assert "Bàn giao năm 2024 → 2025" in last(recorder, CHAIR_ID)
    choices = recorder.buttons()
    assert choices[-1] == "hox" and all(c.startswith("hoc:") for c in choices[:-1])
    await press(app, CHAIR_ID, choices[-2])  # the last unit by code: STC-QNGAI
    assert "Cụm trưởng năm 2025: <b>Sở Tài chính tỉnh Quảng Ngãi</b>" in last(recorder, CHAIR_ID)
    vice = next(b for b in recorder.buttons() if b.startswith("hov:") and not b.endswith(":0"))
    await press(app, CHAIR_ID, vice)
    assert "Xác nhận?" in last(recorder, CHAIR_ID)
    await press(app, CHAIR_ID, recorder.buttons()[0])

    done = last(recorder, CHAIR_ID)
    assert "Đã mở năm thi đua 2025" in done
    assert "6 đơn vị thành viên, 54 nhóm và tiêu chí được sao chép, 4 kỳ" in done
    assert "Năm thi đua 2025" in last(recorder, GROUP)
    engine = create_engine(reported)
    async with session_factory(engine)() as session:
        new = await session.scalar(select(ClusterYear).where(ClusterYear.year == 2025))
    await engine.dispose()
    assert new is not None and new.status is YearStatus.OPEN
    # Quảng Ngãi now chairs: it may hand over next year, Quảng Nam may not.
    await say(app, CHAIR_ID, "/bangiao")
    assert "không có quyền bàn giao" in last(recorder, CHAIR_ID)


async def test_help_lists_the_chairs_commands_only_to_the_chair(
    app: ThiduaApp, recorder: RecordingRequest, reported: str
) -> None:
    await say(app, CHAIR_ID, "/help")
    await say(app, BDINH_ID, "/help")

    chair, officer = last(recorder, CHAIR_ID), last(recorder, BDINH_ID)
    for command in ("/bxh", "/tonghop", "/thamdinh", "/xuat", "/ketthucnam", "/bangiao"):
        assert command in chair
    assert "/bxh" in officer and "/giaitrinh" in officer
    assert "/thamdinh" not in officer and "/xuat" not in officer
