"""models/sqlite_driver.py: a statement is one trip to aiosqlite's thread, and SQLAlchemy
reads from it what it read from its own adapter (rows, counts, ids, errors)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from models.db import create_engine
from models.sqlite_driver import OneTripDBAPI


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'trips.db'}")
    async with engine.begin() as conn:
        await conn.execute(
            text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER)")
        )
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The jobs queued for aiosqlite's thread, by the name of their function."""
    seen: list[str] = []
    queue = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(fn, "__name__", type(fn).__name__))
        return await queue(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return seen


async def test_the_engine_takes_the_one_trip_adapter(engine: AsyncEngine) -> None:
    assert isinstance(engine.dialect.dbapi, OneTripDBAPI)


async def test_each_statement_is_one_trip(engine: AsyncEngine, trips: list[str]) -> None:
    async with engine.begin() as conn:
        trips.clear()
        await conn.execute(text("INSERT INTO item (name, n) VALUES ('a', 1)"))
        rows = (await conn.execute(text("SELECT name, n FROM item"))).all()
        assert trips == ["job", "job"]

    assert [tuple(r) for r in rows] == [("a", 1)]


async def test_counts_ids_and_returned_rows_are_the_drivers(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        first = await conn.execute(text("INSERT INTO item (name, n) VALUES ('a', 1)"))
        assert first.lastrowid == 1 and first.rowcount == 1
        returned = await conn.execute(
            text("INSERT INTO item (name, n) VALUES ('b', 2), ('c', 3) RETURNING id, name")
        )
        assert [tuple(r) for r in returned] == [(2, "b"), (3, "c")]
        updated = await conn.execute(text("UPDATE item SET n = n + 1 WHERE n >= 2"))
        assert updated.rowcount == 2
        many = await conn.execute(
            text("INSERT INTO item (name, n) VALUES (:name, :n)"),
            [{"name": "d", "n": 4}, {"name": "e", "n": 5}],
        )
        assert many.rowcount == 2
        empty = await conn.execute(text("SELECT name FROM item WHERE n > 99"))
        assert empty.all() == []
        found = await conn.execute(text("SELECT name FROM item ORDER BY id"))
        names: list[str] = list(found.scalars())

    assert names == ["a", "b", "c", "d", "e"]


async def test_an_error_in_the_thread_is_sqlalchemys_and_changes_nothing(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO item (name, n) VALUES ('a', 1)"))
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO item (name, n) VALUES ('b', 2)"))
            await conn.execute(text("INSERT INTO item (name, n) VALUES ('a', 3)"))
    async with engine.connect() as conn:
        names: list[str] = list((await conn.execute(text("SELECT name FROM item"))).scalars())

    assert names == ["a"]
