"""Channels without buttons (Zalo, the console): the core numbers the choices, remembers them
for the chat in the database, and a typed number presses one — on any worker."""

from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import select

from handlers.core import handle
from handlers.io import Text
from models.db import create_engine, session_factory
from models.tables import Menu, Report
from tests.handlers.conftest import OFFICER, Opener, RecordingChannel, said


def numbers(body: str) -> dict[str, str]:
    """ "[2] 1.1.2 …" lines of a message: number → label."""
    return dict(re.findall(r"^\[(\d+)\] (.+)$", body, flags=re.MULTILINE))


def number_of(body: str, label_start: str) -> str:
    found = [
        n
        for n, label in numbers(body).items()
        if label.removeprefix("⬜ ").removeprefix("✅ ").startswith(label_start)
    ]
    assert len(found) == 1, (label_start, numbers(body))
    return found[0]


async def stored_menu(url: str) -> list[str] | None:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        row = await session.get(Menu, str(OFFICER))
    await engine.dispose()
    return None if row is None else list(row.options)


async def test_choices_become_numbered_lines_and_a_typed_number_presses_one(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    channel.buttons = False
    async with open_core() as core:
        await handle(core, said("/baocao"))
        first = channel.sent[-1][1]
        assert isinstance(first, Text) and first.choices == ()  # nothing left for buttons
        body = channel.last()
        assert "<i>Trả lời bằng số thứ tự, từ 1 đến" in body
        menu = await stored_menu(seeded)
        assert menu is not None and menu[0] == "rg:1" and len(menu) == len(numbers(body))

        await handle(core, said("1"))  # group 1
    # Another worker (its own engine) takes the next number: the menu is a row.
    async with open_core() as other:
        await handle(other, said(number_of(channel.last(), "1.1.1 ")))
        assert "1.1.1" in channel.last()
        # The value prompt has no choices: the old menu is forgotten, "2" is a value.
        assert await stored_menu(seeded) is None
        await handle(other, said("2"))
        assert "bắt buộc có minh chứng" in channel.last()


async def test_a_number_no_choice_names_is_an_answer_not_a_press(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    channel.buttons = False
    async with open_core() as core:
        await handle(core, said("/baocao"))
        shown = len(numbers(channel.last()))
        menu = await stored_menu(seeded)
        await handle(core, said(str(shown + 5)))
        # Not a choice: the step refuses it, and a refusal changes nothing, the menu included.
        assert "Bước này chưa cần nội dung đó" in channel.last()
        assert await stored_menu(seeded) == menu
        await handle(core, said("1"))
        assert "1.1.1" in channel.last()  # group 1's criteria: the old numbers still work


async def test_a_boolean_criterion_answered_by_numbers_end_to_end(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    channel.buttons = False
    async with open_core() as core:
        await handle(core, said("/report"))
        await handle(core, said(number_of(channel.last(), "2. ")))  # group 2
        await handle(core, said(number_of(channel.last(), "2.1 ")))
        await handle(core, said(number_of(channel.last(), "Có")))
        await handle(core, said("1"))  # the evidence step's only choice: go on without a file
        await handle(core, said("Đã ban hành kế hoạch"))
        assert "Xác nhận báo cáo" in channel.last()
        await handle(core, said("1"))  # send

    engine = create_engine(seeded)
    async with session_factory(engine)() as session:
        report = await session.scalar(select(Report).order_by(Report.id.desc()).limit(1))
    await engine.dispose()
    assert report is not None and report.value == Decimal(1)
    assert report.note == "Đã ban hành kế hoạch"
