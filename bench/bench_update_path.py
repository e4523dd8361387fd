"""The update path: report updates through the real Application (bot.telegram.app.build_application,
every handler, one unit of work per update on a SQLite file), next to a bare echo
Application in the same run: the framework's own floor.

    .venv/bin/python -m bench.bench_update_path [--quick]

Each update goes through `Application.process_update` (routing, the conversation handler,
use_case, the service, the reply) with a request that answers at once, so the figures are
the bot's own cost per update, without the network. PTB's AIORateLimiter is switched off in
both applications: it holds replies to Telegram's 30 messages/s by design and would
measure only itself (see docs/performance.md).

A second floor is the database's own: one SQLite WAL commit of 3 reads and 2 inserts on
the same disk, with the engine's pragmas (synchronous left at FULL: each commit waits for
the disk), through the standard library, with no thread in between. A one-line report
commits once, so its latency cannot go below that. The statement count of a one-line
report is printed next to its budget (`sql_budget`), and `rules_loads` says how many times
the year's rules were read from the database during the timed run (0: from memory).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from bench._botkit import (
    NOW,
    TOKEN,
    RecordingRequest,
    emit,
    percentile,
    progress,
    seed,
    text_update,
)
from bench.goals import REPORT_STATEMENTS
from bot.settings import Settings
from bot.telegram.app import ThiduaApp, build_application
from services.reporting import rules_loads as reporting_rules_loads

BENCH = "update_path"
OFFICER = 4242
SQL_BUDGET = REPORT_STATEMENTS  # all the statements of a one-line report (issue 13)
_statements = [0]


@event.listens_for(Engine, "before_cursor_execute")
def _count(*_: Any) -> None:
    _statements[0] += 1


async def _timed(
    app: Application[Any, Any, Any, Any, Any, Any], updates: list[dict[str, Any]]
) -> tuple[float, list[float]]:
    """Total seconds and per-update milliseconds of processing `updates` one after another."""
    latencies = []
    began = time.perf_counter()
    for data in updates:
        update = Update.de_json(data, app.bot)
        start = time.perf_counter()
        await app.process_update(update)
        latencies.append((time.perf_counter() - start) * 1000)
    return time.perf_counter() - began, latencies


def _report(case: str, total: float, latencies: list[float], note: str) -> None:
    emit(BENCH, case, "updates_per_s", len(latencies) / total, "1/s", note)
    emit(BENCH, case, "p50", percentile(latencies, 0.50), "ms", note)
    emit(BENCH, case, "p99", percentile(latencies, 0.99), "ms", note)
    progress(
        f"  {case}: {len(latencies) / total:,.0f}/s, p50 {percentile(latencies, 0.5):.2f} ms, "
        f"p99 {percentile(latencies, 0.99):.2f} ms"
    )


async def _run_app(
    app: Application[Any, Any, Any, Any, Any, Any],
    work: Callable[[], Awaitable[None]],
) -> None:
    # Application.run_polling's order, without the updater: initialize, post_init, start.
    await app.initialize()
    if app.post_init is not None:
        await app.post_init(app)
    await app.start()
    try:
        await work()
    finally:
        await app.stop()
        await app.shutdown()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)


async def echo_floor(n: int) -> None:
    """A bare Application: one handler that answers the text back."""

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(update.effective_message.text or "")

    request = RecordingRequest()
    app = ApplicationBuilder().token(TOKEN).request(request).get_updates_request(request).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))

    async def work() -> None:
        await _timed(app, [text_update(OFFICER, "/warm") for _ in range(50)])
        updates = [text_update(OFFICER, f"/baocao 1.1.3 {80 + i % 20}") for i in range(n)]
        total, latencies = await _timed(app, updates)
        assert request.sent >= n
        _report("echo_application", total, latencies, "bare PTB Application: the floor")

    await _run_app(app, work)


def commit_floor(n: int, folder: Path) -> None:
    """One SQLite WAL commit with 3 reads and 2 inserts, on the bench's disk."""
    db = sqlite3.connect(folder / "floor.db", isolation_level=None)
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=30000"):
        db.execute(f"PRAGMA {pragma}")
    db.execute("CREATE TABLE person (id INTEGER PRIMARY KEY, name TEXT)")
    db.execute("CREATE TABLE entry (id INTEGER PRIMARY KEY, person INTEGER, value REAL)")
    db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY)")
    db.executemany("INSERT INTO person (id, name) VALUES (?, ?)", [(i, "x") for i in range(100)])
    latencies = []
    for i in range(max(200, n)):
        start = time.perf_counter()
        db.execute("BEGIN")
        db.execute("SELECT name FROM person WHERE id = ?", (i % 100,)).fetchall()
        db.execute("SELECT count(*) FROM entry WHERE person = ?", (i % 100,)).fetchall()
        db.execute("SELECT 1 FROM seen WHERE key = ?", (str(i),)).fetchall()
        db.execute("INSERT INTO entry (person, value) VALUES (?, ?)", (i % 100, i))
        db.execute("INSERT INTO seen (key) VALUES (?)", (str(i),))
        db.execute("COMMIT")
        latencies.append((time.perf_counter() - start) * 1000)
    db.close()
    note = "3 reads + 2 inserts + commit, stdlib sqlite3, WAL, synchronous=FULL: the floor"
    emit(BENCH, "sqlite_commit", "p50", percentile(latencies, 0.50), "ms", note)
    emit(BENCH, "sqlite_commit", "p99", percentile(latencies, 0.99), "ms", note)
    progress(
        f"  sqlite_commit: p50 {percentile(latencies, 0.5):.2f} ms, "
        f"p99 {percentile(latencies, 0.99):.2f} ms"
    )


async def thidua(n: int, folder: Path) -> None:
    url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    await seed(url, OFFICER)
    settings = Settings.model_validate(
        {
            "database": {"url": url, "migrate_on_start": False},
            "telegram": {"token": TOKEN, "bot_username": "bench_bot"},
            "app": {"storage_dir": str(folder / "storage")},
        }
    )
    request = RecordingRequest()
    app: ThiduaApp = build_application(settings, request=request, clock=lambda: NOW)
    # See the module docstring: the production limiter caps sends at 30/s by design.
    app.bot._rate_limiter = None

    async def progress_views(case: str, note: str) -> None:
        views = [text_update(OFFICER, "/tiendo") for _ in range(max(10, n // 5))]
        statements_before = _statements[0]
        total, latencies = await _timed(app, views)
        _report(case, total, latencies, note)
        per_update = (_statements[0] - statements_before) / len(views)
        emit(BENCH, case, "sql_per_update", per_update, "count", "SQL statements")

    async def work() -> None:
        await _timed(app, [text_update(OFFICER, f"/baocao 1.1.3 {70 + i}") for i in range(20)])
        # The same sheet after 20 versions of the criterion and, below, after 20 + n: what
        # /tiendo costs must not grow with the versions a unit has sent. The first views
        # compile the sheet's statements, so a few go untimed (as the first reports do).
        await _timed(app, [text_update(OFFICER, "/tiendo") for _ in range(5)])
        await progress_views("progress_view_20_versions", "vs echo_application; 20 versions")
        reports = [text_update(OFFICER, f"/baocao 1.1.3 {80 + i % 20}") for i in range(n)]
        sent_before, statements_before = request.sent, _statements[0]
        loads_before = reporting_rules_loads()
        total, latencies = await _timed(app, reports)
        assert request.sent - sent_before == n, "every report must be answered"
        _report("report_one_line", total, latencies, "vs echo_application, sqlite_commit")
        per_update = (_statements[0] - statements_before) / n
        emit(BENCH, "report_one_line", "sql_per_update", per_update, "count", "SQL statements")
        emit(BENCH, "report_one_line", "sql_budget", SQL_BUDGET, "count", "at most, issue 13")
        progress(f"  report_one_line: {per_update:g} SQL statements (budget {SQL_BUDGET})")
        loads = reporting_rules_loads() - loads_before
        emit(BENCH, "report_one_line", "rules_loads", loads, "count", "0: rules from memory")

        await progress_views("progress_view", f"vs echo_application; {20 + n} versions")

        flow = []
        for _ in range(max(5, n // 20)):
            flow += [text_update(OFFICER, "/baocao"), text_update(OFFICER, "/cancel")]
        total, latencies = await _timed(app, flow)
        _report("guided_open_cancel", total, latencies, "vs echo_application")

    await _run_app(app, work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer updates (a smoke run)")
    parser.add_argument("-n", type=int, default=None, help="report updates (default 2000)")
    args = parser.parse_args()
    n = args.n or (200 if args.quick else 2000)
    progress(f"update path: {n} report updates, SQLite file, in-process Application")
    asyncio.run(echo_floor(n))
    with tempfile.TemporaryDirectory(prefix="thidua-bench-") as tmp:
        commit_floor(n, Path(tmp))
        asyncio.run(thidua(n, Path(tmp)))


if __name__ == "__main__":
    main()
