"""SQLite through aiosqlite with one hand-off to its thread per statement.

SQLAlchemy's aiosqlite adapter makes four trips to aiosqlite's worker thread for every
statement: open a cursor, execute, fetch the rows, close the cursor. Each trip is a queue
put, a thread wake-up and a wake-up of the event loop, about 40 µs on this machine, and a
one-line report is four statements: a third of its whole cost (bench_update_path: 445 →
640 reports/s with this cursor). Here the four steps run in the thread as one job, and the
cursor hands SQLAlchemy what it reads afterwards: the rows, the description, the row count
and the last row id, all taken after the rows were fetched (SQLite counts the rows of an
INSERT … RETURNING only then).

Everything else is SQLAlchemy's own adapter: the connection, commits and rollbacks, the
error mapping (an exception raised in the job reaches `execute` and is handled as before)
and the server-side cursors. It reaches into aiosqlite for two things, `Connection._execute`
(queue a function for its thread) and `Connection._conn` (the sqlite3 connection, only
inside that thread); the pin in pyproject.toml keeps to the versions that have them, and
tests/services/test_sqlite_driver.py runs it.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)


class _Outcome:
    """What SQLAlchemy reads of a DB-API cursor after a statement ran."""

    __slots__ = ("arraysize", "description", "lastrowid", "rowcount")

    def __init__(self) -> None:
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    def took(self, cursor: sqlite3.Cursor) -> None:
        self.description = cursor.description
        self.rowcount = cursor.rowcount
        self.lastrowid = cursor.lastrowid


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement is one job in aiosqlite's thread."""

    __slots__ = ()

    def __init__(self, adapt_connection: Any) -> None:
        # Not the parent's: it opens an aiosqlite cursor in the thread (a trip of its own).
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = _Outcome()  # type: ignore[assignment]
        self._soft_closed_memoized = {}  # type: ignore[assignment]
        self._rows = collections.deque()

    def _job(self, run: Any) -> Any:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        outcome: _Outcome = self._cursor  # type: ignore[assignment]

        def job() -> Any:
            cursor = connection._conn.cursor()
            try:
                rows = run(cursor)
                outcome.took(cursor)
                return rows
            finally:
                cursor.close()

        return connection._execute(job)  # type: ignore[no-untyped-call]

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        def run(cursor: sqlite3.Cursor) -> list[Any] | None:
            if parameters is None:
                cursor.execute(operation)
            else:
                cursor.execute(operation, parameters)
            return cursor.fetchall() if cursor.description else None

        async with self._adapt_connection._execute_mutex:
            rows = await self._job(run)
        if rows is not None:
            self._rows = collections.deque(rows)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        async with self._adapt_connection._execute_mutex:
            await self._job(lambda cursor: cursor.executemany(operation, seq_of_parameters))

    async def _async_soft_close(self) -> None:
        return  # the sqlite3 cursor was closed in its job; the rows are kept

    def close(self) -> None:
        self._rows.clear()


class _Connection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite DB-API adapter, handing out connections with that cursor
    (passed to `create_async_engine` as `module`)."""

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        return _Connection(self, adapted._connection)


def dbapi() -> OneTripDBAPI:
    return OneTripDBAPI(aiosqlite, sqlite3)
