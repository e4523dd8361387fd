"""Shared fixtures: real databases (a SQLite file, and PostgreSQL when reachable).

Each backend is migrated once per session; every test then gets a clean database: a fresh
copy of the migrated SQLite file, or the PostgreSQL test database with its tables truncated.
Outside CI a missing PostgreSQL skips its cases; in CI (CI=true) it is an error.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from models.db import create_engine, session_factory
from models.migrate import upgrade
from models.tables import Base

PG_ADMIN_URL = os.environ.get(
    "THIDUA_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOW = datetime(2024, 5, 10, 3, 0, tzinfo=UTC)  # 10:00 on 10/05/2024 in Hà Nội


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


async def _pg_admin(statement: str) -> None:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A private PostgreSQL database for this test run, migrated once, dropped at the end."""
    name = f"thidua_test_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if IN_CI:
            raise RuntimeError(f"PostgreSQL is required in CI: {exc}") from exc
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_migrate(url))
    yield url
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _truncate(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A clean, migrated database URL, once per backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "thidua.db"
        shutil.copy(template, path)
        yield f"sqlite+aiosqlite:///{path}"
    else:
        url: str = request.getfixturevalue("pg_database")
        asyncio.run(_truncate(url))
        yield url


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with session_factory(engine)() as session:
        yield session


@contextmanager
def statements_on(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements `engine` runs inside the block, in order (clear the list to count
    a part of it)."""
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))  # before_cursor_execute(conn, cursor, statement, …)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
