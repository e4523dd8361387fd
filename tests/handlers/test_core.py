"""The conversation core on its own: guided dialogues are rows, so a restart or another
worker takes the next step; buttons are routed by their data, stale ones say so."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from handlers.core import Call, answer, handle
from handlers.io import Attachment
from models.db import create_engine, session_factory
from models.tables import Draft, EvidenceFile, Report
from services.addresses import Address
from services.onboarding import Person
from services.rehearsal import seat
from tests.conftest import NOW
from tests.handlers.conftest import Clock, Opener, RecordingChannel, pressed, said


async def count(url: str, table: type[Report] | type[Draft] | type[EvidenceFile]) -> int:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        found = await session.scalar(select(func.count()).select_from(table))
    await engine.dispose()
    return int(found or 0)


async def newest_report(url: str) -> Report:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        report = await session.scalar(select(Report).order_by(Report.id.desc()).limit(1))
    await engine.dispose()
    assert report is not None
    return report


PDF = Attachment(
    "document", "console:/tmp/q2.pdf", "u-q2", "Báo cáo Q2.pdf", "application/pdf", 900
)


async def test_a_guided_report_started_before_a_restart_is_finished_after_it(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    async with open_core() as core:
        await handle(core, said("/baocao"))
        assert "rg:1" in channel.choices()
        await handle(core, pressed("rg:1"))
        await handle(core, pressed("rc:1.1.1"))
        await handle(core, said("105,5"))
        assert "bắt buộc có minh chứng" in channel.last()
    assert await count(seeded, Draft) == 1  # the step is in the database, not in the process

    async with open_core() as restarted:
        await handle(restarted, said("", attachments=(PDF,)))
        assert "Báo cáo Q2.pdf" in channel.last()
        await handle(restarted, pressed("re:done"))
        await handle(restarted, said("Số liệu KBNN"))
        assert "Xác nhận báo cáo" in channel.last()
        assert await count(seeded, Report) == 0  # nothing stored before confirming
        await handle(restarted, pressed("rk:ok"))

    assert "Đã lưu báo cáo tiêu chí <b>1.1.1</b>" in channel.last()
    report = await newest_report(seeded)
    assert report.value == Decimal("105.5") and report.note == "Số liệu KBNN"
    assert await count(seeded, EvidenceFile) == 1
    assert await count(seeded, Draft) == 0  # the dialogue ended with the report


async def test_two_workers_take_turns_in_one_guided_flow(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    async with open_core() as one, open_core() as two:
        steps = [
            said("/report"),
            pressed("rg:2"),
            pressed("rc:2.1"),
            pressed("rv:có"),
            pressed("re:done"),
            said("Đã ban hành kế hoạch"),
            pressed("rk:ok"),
        ]
        for n, step in enumerate(steps):
            await handle(one if n % 2 == 0 else two, step)
    assert "Đã lưu báo cáo tiêu chí <b>2.1</b>" in channel.last()
    report = await newest_report(seeded)
    assert report.value == Decimal(1) and report.note == "Đã ban hành kế hoạch"


async def test_a_stale_or_forged_button_says_so_and_changes_nothing(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    async with open_core() as core:
        for data in ("rk:ok", "rv:có", "re:done", "zz:1", "hoc:1", "tvk", "pg:q:Q9:x", "rr:"):
            before = len(channel.sent)
            await handle(core, pressed(data))
            assert len(channel.sent) == before + 1, data  # every press gets an answer
            answer = channel.last()
            assert (
                "Nút này đã cũ" in answer
                or "Phiên thẩm định đã kết thúc" in answer
                or (
                    "Cụm trưởng" in answer  # hoc: is the chair's button: refused for an officer
                )
            ), (data, answer)
        # A flow at the value step: a confirm button from an older screen does not save.
        await handle(core, said("/baocao"))
        await handle(core, pressed("rg:2"))
        await handle(core, pressed("rc:2.1"))
        await handle(core, pressed("rk:ok"))
        assert "Nút này đã cũ" in channel.last()
    assert await count(seeded, Report) == 0


async def test_other_buttons_work_while_a_flow_is_open_and_the_flow_goes_on(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    async with open_core() as core:
        await handle(core, said("/baocao"))
        await handle(core, pressed("rg:2"))
        await handle(core, pressed("rc:2.1"))
        await handle(core, pressed("pg:y::0"))  # /tiendo's "whole year", pressed meanwhile
        assert "Tiến độ" in channel.last()
        await handle(core, pressed("rv:không"))
        assert "re:done" in channel.choices()


async def test_an_abandoned_flow_expires_and_saves_nothing(
    open_core: Opener, channel: RecordingChannel, clock: Clock, seeded: str
) -> None:
    async with open_core() as core:
        await handle(core, said("/baocao"))
        await handle(core, pressed("rg:1"))
        await handle(core, pressed("rc:1.1.2"))
        clock.now += timedelta(minutes=31)
        await handle(core, said("có"))
        assert "Gõ /help" in channel.last()  # no open step: a pointer to /help
    assert await count(seeded, Report) == 0


async def test_cancel_ends_the_flow_and_a_file_without_a_flow_gets_an_answer(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    async with open_core() as core:
        await handle(core, said("/baocao"))
        await handle(core, said("/cancel"))
        assert "Đã hủy. Không có gì được lưu." in channel.last()
        assert await count(seeded, Draft) == 0
        await handle(core, said("", attachments=(PDF,)))
        assert "Gõ /help" in channel.last()
    assert await count(seeded, Report) == 0


async def test_what_the_bot_cannot_read_gets_an_answer_saying_what_it_can(
    open_core: Opener, channel: RecordingChannel
) -> None:
    async with open_core() as core:
        await handle(core, replace(said(""), unsupported=True))

    assert "chỉ đọc được tin nhắn chữ và ảnh" in channel.last()


async def test_an_unexpected_failure_is_told_to_the_person_not_swallowed(
    open_core: Opener, channel: RecordingChannel, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(call: Call) -> None:
        raise RuntimeError("a bug")

    async with open_core() as core:
        core.router.commands["help"] = broken
        await answer(core, said("/help"))

    assert "Có lỗi xảy ra" in channel.last()
    assert "a bug" in caplog.text


async def test_an_update_delivered_twice_is_handled_once(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    again = replace(said("/baocao 1.2.2 có"), update_id="telegram:42:1001")
    async with open_core() as core:
        await handle(core, again)
        replies = len(channel.sent)
        await handle(core, again)  # a webhook retry, on the same worker
    async with open_core() as other:
        await handle(other, again)  # or on another one

    assert len(channel.sent) == replies == 1
    assert await count(seeded, Report) == 1


async def test_the_same_update_on_two_workers_at_once_is_stored_once(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    same = replace(said("/baocao 1.2.2 có"), update_id="telegram:42:2002")
    async with open_core() as one, open_core() as two:
        await asyncio.gather(handle(one, same), handle(two, same))

    assert await count(seeded, Report) == 1
    assert len(channel.sent) == 1


async def test_update_ids_are_per_channel_and_bot(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    async with open_core() as core:
        await handle(core, replace(said("/baocao 1.2.2 có"), update_id="telegram:42:7"))
        await handle(core, replace(said("/baocao 1.1.3 2"), update_id="telegram:43:7"))
        await handle(core, replace(said("/baocao 1.3.1 có"), update_id="zalo:42:7"))

    assert await count(seeded, Report) == 3


async def test_control_characters_never_reach_the_database(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    async with open_core() as core:
        await handle(core, said("/baocao 1.1.3 2 ghi\x00 chú\x1b[31m đủ"))

    assert "Đã lưu báo cáo tiêu chí <b>1.1.3</b>" in channel.last()
    assert (await newest_report(seeded)).note == "ghi chú[31m đủ"


async def test_a_refusal_quotes_at_most_a_short_stretch_of_what_was_typed(
    open_core: Opener, channel: RecordingChannel
) -> None:
    async with open_core() as core:
        await handle(core, said("/baocao 1.1.3 " + "9" * 5000))

    assert channel.last().startswith("❌") and "9" * 60 not in channel.last()
    assert "…" in channel.last() and len(channel.last()) < 400


async def test_button_data_of_the_wrong_shape_is_out_of_date_not_an_error(
    open_core: Opener, channel: RecordingChannel
) -> None:
    forged = ["rb:done", "rx:vi:có", "rc", "pg:y:N:-1", "yc:1", "hoc:1:2:x", "tvp:abc", "zz:1", ""]
    async with open_core() as core:
        for data in forged:
            await handle(core, pressed(data))

    answers = channel.texts()
    assert len(answers) == len(forged)
    assert all("Nút này đã cũ" in a for a in answers), answers


async def test_the_internal_error_text_is_in_the_persons_language(
    open_core: Opener, channel: RecordingChannel
) -> None:
    async def broken(call: Call) -> None:
        raise RuntimeError("a bug")

    async with open_core() as core:
        await handle(core, said("/lang en"))
        core.router.commands["help"] = broken
        await answer(core, said("/help"))

    assert channel.last().startswith("⚠️ Something went wrong")


async def test_the_chairs_buttons_naming_no_cluster_say_so_and_change_nothing(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    chair = Address("console", "chair-qnam")
    engine = create_engine(seeded)
    async with session_factory(engine)() as session:
        await seat(session, Person(chair, "Cụm trưởng", None), "CUM6-STC", "STC-QNAM", NOW)
    await engine.dispose()
    async with open_core() as core:
        # The numbers swapped or made up: no such cluster (the fuzz test found yc:2024:1).
        for data in ("yc:2024:1", "hoc:2024:2025:1", "hov:99:2025:1:2", "hok:2024:1:1:0"):
            before = len(channel.sent)
            await handle(core, pressed(data, by=chair))
            assert len(channel.sent) == before + 1, data
            assert "Nút này đã cũ" in channel.last(chair), (data, channel.last(chair))
    assert await count(seeded, Report) == 0
