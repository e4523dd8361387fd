"""The mid-year review (/soket) and its scheduled send on the `scale` database.

    .venv/bin/python -m bench.bench_midyear [--quick] [--clusters N] [--no-postgres]

Generates the database of bench_scale (1,000 clusters x 8 units x 40 criteria x 12 monthly
periods, 3.84 million reports) and times, on SQLite and PostgreSQL, each next to what it
stands on, measured in the same run:

- the review of one cluster (services.midyear.build) next to that cluster's board
  (standings.boards), which it extends with the detail, the targets and the projection;
- its workbook next to the scoring workbook of the same cluster (services.export);
- the scheduled send's planning at every tick (services.midyear.scheduled) next to the
  reminders' own planning of the same minute (services.reminders.plan), on a quiet minute
  and on the minute the review falls due in every cluster at once (08/07/2024 08:05).

`--quick` uses 20 clusters. JSON lines on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.bench_scale import NOW, YEAR, generate, on_postgres, timed
from models.db import create_engine, session_factory
from models.migrate import upgrade
from models.tables import Cluster, ClusterYear
from services import midyear, reminders
from services.export import build_export
from services.standings import boards

BENCH = "midyear"
HCM = ZoneInfo("Asia/Ho_Chi_Minh")
QUIET = datetime(2024, 10, 15, 8, 5, tzinfo=HCM)
SEND = datetime(2024, 7, 8, 8, 5, tzinfo=HCM)  # the Monday after T06's 05/07 deadline


def emit(case: str, metric: str, value: float, unit: str, note: str = "") -> None:
    row = {"bench": BENCH, "case": case, "metric": metric, "value": round(value, 6)}
    print(json.dumps({**row, "unit": unit, "note": note}, ensure_ascii=False), flush=True)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def run_backend(name: str, url: str, clusters: int) -> None:
    engine = create_engine(url)
    try:
        began = time.perf_counter()
        await upgrade(engine)
        counts = await generate(engine, clusters)
        progress(f"[{name}] generated {counts} in {time.perf_counter() - began:.1f} s")
        sessions = session_factory(engine)
        cluster_id = clusters // 2 or 1

        async def review() -> midyear.Review:
            async with sessions() as session:
                cluster = await session.get_one(Cluster, cluster_id)
                year = await session.get_one(ClusterYear, cluster_id)  # one year per cluster
                return await midyear.build(session, cluster, year, NOW)

        async def board() -> Any:
            async with sessions() as session:
                return await boards(session, YEAR, [cluster_id], NOW)

        made = await review()
        assert len(made.units) == 8 and len(made.units[0].lines) == 40

        async def workbook() -> bytes:
            return midyear.workbook(made)

        async def export() -> Any:
            async with sessions() as session:
                cluster = await session.get_one(Cluster, cluster_id)
                return await build_export(session, cluster, year=YEAR, period_code=None, now=NOW)

        def planned(at: datetime) -> Callable[[], Awaitable[Any]]:
            async def run() -> Any:
                async with sessions() as session:
                    return await midyear.scheduled(session, at)

            return run

        def reminders_at(at: datetime) -> Callable[[], Awaitable[Any]]:
            async def run() -> Any:
                async with sessions() as session:
                    return await reminders.plan(session, at)

            return run

        cases: list[tuple[str, Callable[[], Awaitable[Any]], Callable[[], Awaitable[Any]], str]] = [
            ("review_one_cluster", review, board, "the board of the same cluster"),
            ("workbook_one_cluster", workbook, export, "the scoring workbook of the same cluster"),
            ("schedule_quiet_minute", planned(QUIET), reminders_at(QUIET), "reminders.plan"),
            ("schedule_send_minute", planned(SEND), reminders_at(SEND), "reminders.plan"),
        ]
        for case, mine, floor, what in cases:
            runs = 3 if case.startswith("schedule") and clusters > 100 else 7
            # Alternated run by run (bench_scale.timed): load weighs on both alike.
            mine_s, floor_s, _ = await timed(runs, mine, floor)
            progress(
                f"[{name}] {case}: {mine_s * 1000:.1f} ms, {what} {floor_s * 1000:.1f} ms"
                f" (x{mine_s / floor_s:.2f})"
            )
            emit(f"{name}/{case}", "wall_s", mine_s, "s", f"median of {runs}")
            emit(f"{name}/{case}/floor", "wall_s", floor_s, "s", what)
            emit(f"{name}/{case}", "ratio_to_floor", mine_s / floor_s, "count", f"÷ {what}")
        emit(f"{name}/workbook_one_cluster", "size_kib", len(await workbook()) / 1024, "KiB")
    finally:
        await engine.dispose()


async def main(clusters: int, postgres: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-midyear-") as folder:
        await run_backend("sqlite", f"sqlite+aiosqlite:///{Path(folder) / 'm.db'}", clusters)
    if postgres:
        await on_postgres(lambda url: run_backend("postgresql", url, clusters))


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="20 clusters instead of 1,000")
    parser.add_argument("--clusters", type=int, help="how many clusters to generate")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    clusters = args.clusters or (20 if args.quick else 1000)
    began = time.perf_counter()
    asyncio.run(main(clusters, not args.no_postgres))
    emit("total", "wall_s", time.perf_counter() - began, "s", f"{clusters} clusters")


if __name__ == "__main__":
    cli()
