"""Engine and session factory. One AsyncSession per update or job run, never shared."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; on SQLite with foreign keys enforced and WAL so readers never wait."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        kwargs.setdefault("connect_args", {"timeout": 30})
        if parsed.get_driver_name() == "aiosqlite":
            from models.sqlite_driver import dbapi  # one trip to the thread per statement

            kwargs.setdefault("module", dbapi())
        # Transactions are left to pysqlite's own rule: no BEGIN until the first INSERT,
        # UPDATE or DELETE, so a transaction takes the write lock with its first statement
        # and busy_timeout makes concurrent writers queue. Do not swap in SQLAlchemy's
        # "BEGIN on begin" recipe: a deferred transaction that reads first and writes later
        # gets SQLITE_BUSY at once when another writer went first (busy_timeout cannot help),
        # and BEGIN IMMEDIATE on every unit of work would serialise readers too.
        # tests/telegram/test_concurrency.py holds concurrent read-then-write to this.
        engine = create_async_engine(url, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            if parsed.database not in (None, "", ":memory:"):
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


@functools.cache
def insert_ignoring(table: Table, dialect_name: str) -> Any:
    """An INSERT into `table` that skips a row whose unique key is taken (ON CONFLICT DO
    NOTHING, the same words on SQLite and PostgreSQL), built once per dialect. Skipping
    rather than failing: on PostgreSQL a failed statement aborts the whole transaction, and
    a duplicate is the expected answer of a race, not an error."""
    # Each dialect's module is imported here, when first used: the PostgreSQL dialect costs
    # a SQLite bot ~2 MB and ~15 ms at start-up for nothing.
    if dialect_name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table).on_conflict_do_nothing()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after the service commits, with no
    # implicit lazy load (which async sessions cannot do).
    return async_sessionmaker(engine, expire_on_commit=False)


def unavailable(error: BaseException) -> bool:
    """The database could not be reached (restarting, down, the connection dropped), rather
    than a query being wrong: the next update gets a fresh connection (pool_pre_ping)."""
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        # asyncpg's SQLSTATE: connection exceptions (08…), and the server shutting down or
        # starting up (57P01-57P03) refuse a new connection without invalidating one.
        state = getattr(error.orig, "sqlstate", None)
        return isinstance(state, str) and state.startswith(("08", "57P01", "57P02", "57P03"))
    # A refused connection while PostgreSQL restarts surfaces unwrapped.
    return isinstance(error, OSError)
