"""The one-line report's path through the core: one read (who, their seat and year, whether
the update was handled before), then one write (the report, its audit entry and the
update's key, committed together), the year's rules from memory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from handlers.core import Call, handle
from models.db import create_engine, session_factory
from models.tables import AuditEntry, ProcessedUpdate, Report
from tests.handlers.conftest import Opener, RecordingChannel, said

# Issue 13: all the statements of a one-line report, the update's key included.
SQL_BUDGET = 6


@contextmanager
def statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(" ".join(str(args[2]).split()))

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", count)


async def rows(url: str, table: type[Any]) -> int:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        found = await session.scalar(select(func.count()).select_from(table))
    await engine.dispose()
    return int(found or 0)


async def submitted(url: str) -> int:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        found = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "report.submit")
        )
    await engine.dispose()
    return int(found or 0)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_one_line_report_is_one_read_then_one_write_within_the_budget(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    async with open_core() as core:
        # The first report of the process reads the year's rules; the next ones do not.
        await handle(core, replace(said("/baocao 1.1.3 90"), update_id="telegram:42:1"))
        with statements() as seen:
            await handle(core, replace(said("/baocao 1.1.3 95"), update_id="telegram:42:2"))

    assert "Đã lưu báo cáo tiêu chí <b>1.1.3</b>" in channel.last()
    assert "(lần 2)" in channel.last()
    assert len(seen) <= SQL_BUDGET, seen
    reads = [s for s in seen if s.startswith("SELECT")]
    writes = [s.split()[2] for s in seen if s.startswith("INSERT")]
    assert len(reads) == 1 and seen[0] == reads[0], seen
    assert sorted(writes) == ["audit_log", "processed_updates", "reports"], seen
    assert len(seen) == len(reads) + len(writes), seen  # no UPDATE, no DELETE


async def test_a_refused_update_delivered_again_is_not_answered_twice(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    wrong = replace(said("/baocao 1.1.3 abc"), update_id="telegram:42:3003")
    async with open_core() as core:
        await handle(core, wrong)
    async with open_core() as other:
        await handle(other, wrong)

    assert len(channel.sent) == 1 and channel.last().startswith("❌")
    assert await rows(seeded, ProcessedUpdate) == 1
    assert await rows(seeded, Report) == 0 and await submitted(seeded) == 0


async def test_an_update_that_failed_before_it_stored_anything_is_taken_again(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    update = replace(said("/baocao 1.1.3 95"), update_id="telegram:42:4004")
    async with open_core() as core:
        working = core.router.commands["baocao"]

        async def broken(call: Call) -> None:
            raise RuntimeError("the database went away")

        core.router.commands["baocao"] = broken
        with pytest.raises(RuntimeError):
            await handle(core, update)
        core.router.commands["baocao"] = working
        await handle(core, update)  # the platform delivers it again: nothing was lost
        await handle(core, update)  # and once it is stored, never twice

    assert await rows(seeded, Report) == 1
    assert await submitted(seeded) == 1
    assert await rows(seeded, ProcessedUpdate) == 1
    assert len(channel.sent) == 1 and "Đã lưu báo cáo" in channel.last()
