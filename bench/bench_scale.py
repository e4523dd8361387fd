"""The leaderboard, the summary and the export on a nationwide-size database.

    .venv/bin/python -m bench.bench_scale [--quick] [--clusters N] [--no-postgres]

Generates 1,000 clusters x 8 units x 40 criteria x 12 monthly periods (3.84 million report
rows, 5 % of them corrected in a second version, and the last two months' newest reports
mostly reviewed) into a SQLite file and into a private PostgreSQL database, then times, on
each backend, next to a hand-written SQL aggregate of the same numbers:

- the standings of one cluster (what /bxh computes) and of every cluster at once;
- the summary of one cluster and period (/tonghop);
- the export of one cluster (/xuat: the standings, the extra lookups, and the workbook).

The service's totals are checked against the SQL's before anything is timed. Generation is
INSERT … SELECT on the server for the big tables (no COPY, no Python loop per report).
`--quick` uses 20 clusters. Results are JSON lines on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from models.db import create_engine, session_factory
from models.migrate import upgrade
from models.tables import (
    Cadence,
    Cluster,
    ClusterYear,
    Criterion,
    Membership,
    Period,
    Unit,
    User,
)
from services.calendar import plan_periods
from services.clusters import get_cluster
from services.export import build_export
from services.standings import boards
from services.summary import period_summary

BENCH = "scale"
YEAR = 2024
NOW = datetime(2025, 1, 20, 3, 0, tzinfo=UTC)
UNITS, GROUPS, PER_GROUP = 8, 5, 8  # 40 leaf criteria in 5 groups
PG_ADMIN_URL = os.environ.get(
    "THIDUA_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
T = TypeVar("T")


def emit(case: str, metric: str, value: float, unit: str, note: str = "") -> None:
    row = {"bench": BENCH, "case": case, "metric": metric, "value": round(value, 6)}
    print(json.dumps({**row, "unit": unit, "note": note}, ensure_ascii=False), flush=True)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- generating the data


def _kind(position: int) -> str:
    if position == GROUPS * PER_GROUP - 2:
        return "bonus"
    if position == GROUPS * PER_GROUP - 1:
        return "penalty"
    return ("quantitative", "yes_no", "count", "judged")[position % 4]


async def generate(engine: AsyncEngine, clusters: int) -> dict[str, int]:
    """Fill a migrated, empty database; returns the row counts."""
    now = NOW
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    plans = plan_periods(YEAR, Cadence.MONTHLY, 5, "17:00", tz)
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # A bulk load into a fresh private database: skip the per-row foreign-key
            # triggers (the ids are right by construction). Only generation does this.
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(
            insert(User),
            [
                {
                    "id": 1,
                    "telegram_id": 1,
                    "full_name": "Bench",
                    "reachable": True,
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
        await conn.execute(
            insert(Cluster),
            [
                {
                    "id": c,
                    "code": f"CUM-{c:04d}",
                    "name": f"Cụm thi đua số {c} — Sở Tài chính",
                    "kind": "cum",
                    "timezone": "Asia/Ho_Chi_Minh",
                    "language": "vi",
                    "created_at": now,
                    "updated_at": now,
                }
                for c in range(1, clusters + 1)
            ],
        )
        settings = {
            "rating": {
                "tie_rule": "shared",
                "levels": [
                    {"code": "excellent", "min_total": "90", "min_share": "0.85"},
                    {"code": "good", "min_total": "80", "min_share": "0.8"},
                    {"code": "completed", "min_total": "70", "min_share": "0.7"},
                ],
            }
        }
        await conn.execute(
            insert(ClusterYear),
            [
                {
                    "id": c,
                    "cluster_id": c,
                    "year": YEAR,
                    "status": "open",
                    "cadence": "monthly",
                    "deadline_day": 5,
                    "deadline_time": "17:00",
                    "late_lock_days": 0,
                    "settings": settings,
                    "created_at": now,
                    "updated_at": now,
                }
                for c in range(1, clusters + 1)
            ],
        )
        units: list[dict[str, Any]] = [
            {
                "id": (c - 1) * UNITS + u,
                "code": f"U{c:04d}-{u}",
                "name": f"Sở Tài chính tỉnh số {u} của Cụm {c}",
                "short_name": f"Đơn vị {u}, Cụm {c}",
                "created_at": now,
                "updated_at": now,
            }
            for c in range(1, clusters + 1)
            for u in range(1, UNITS + 1)
        ]
        await conn.execute(insert(Unit), units)
        await conn.execute(
            insert(Membership),
            [
                {
                    "cluster_id": c,
                    "unit_id": (c - 1) * UNITS + u,
                    "year": YEAR,
                    "role": {1: "chair", 2: "vice_chair"}.get(u, "member"),
                    "created_at": now,
                    "updated_at": now,
                }
                for c in range(1, clusters + 1)
                for u in range(1, UNITS + 1)
            ],
        )
        criteria: list[dict[str, Any]] = []
        per_cluster = GROUPS * (PER_GROUP + 1)
        for c in range(1, clusters + 1):
            base = (c - 1) * per_cluster
            position = 0
            for g in range(1, GROUPS + 1):
                group_id = base + position + 1
                criteria.append(_criterion(group_id, c, None, str(g), "group", position, now))
                position += 1
                for k in range(1, PER_GROUP + 1):
                    leaf = (g - 1) * PER_GROUP + k - 1
                    criteria.append(
                        _criterion(
                            base + position + 1, c, group_id, f"{g}.{k}", _kind(leaf), position, now
                        )
                    )
                    position += 1
        await conn.execute(insert(Criterion), criteria)
        await conn.execute(
            insert(Period),
            [
                {
                    "id": (c - 1) * len(plans) + i + 1,
                    "cluster_id": c,
                    "year": YEAR,
                    "code": p.code,
                    "starts_on": p.starts_on,
                    "ends_on": p.ends_on,
                    "deadline": p.deadline,
                    "created_at": now,
                    "updated_at": now,
                }
                for c in range(1, clusters + 1)
                for i, p in enumerate(plans)
            ],
        )
        # Every unit reports every leaf criterion every month (values are year-to-date).
        score = "ROUND(c.max_points * ((m.unit_id * 7 + c.id * 13 + p.id * 3) % 101) / 100.0, 2)"
        await conn.execute(
            text(
                "INSERT INTO reports (unit_id, criterion_id, period_id, version, value, "
                "proposed_score, max_points, note, late, reported_by, reported_at) "
                f"SELECT m.unit_id, c.id, p.id, 1, {score}, "
                f"CASE WHEN c.kind = 'penalty' THEN -{score} ELSE {score} END, "
                "c.max_points, NULL, ((m.unit_id + c.id + p.id) % 23 = 0), 1, p.deadline "
                "FROM memberships m "
                "JOIN criteria c ON c.cluster_id = m.cluster_id AND c.kind <> 'group' "
                "JOIN periods p ON p.cluster_id = m.cluster_id AND p.year = m.year"
            )
        )
        # 5 % of the reports corrected: a second version with another score.
        await conn.execute(
            text(
                "INSERT INTO reports (unit_id, criterion_id, period_id, version, value, "
                "proposed_score, max_points, note, late, reported_by, reported_at) "
                "SELECT unit_id, criterion_id, period_id, 2, value, "
                "ROUND(proposed_score / 2, 2), max_points, 'Điều chỉnh số liệu', late, 1, "
                "reported_at FROM reports WHERE id % 20 = 0"
            )
        )
        # The chair reviewed most reports of the last two months; a few were adjusted.
        await conn.execute(
            text(
                "INSERT INTO reviews (report_id, verified_score, reason, reviewer_id, "
                "reviewed_at) "
                "SELECT r.id, CASE WHEN r.id % 7 = 0 THEN ROUND(r.proposed_score / 2, 2) "
                "ELSE r.proposed_score END, "
                "CASE WHEN r.id % 7 = 0 THEN 'Thiếu minh chứng' ELSE NULL END, 1, r.reported_at "
                "FROM reports r JOIN periods p ON p.id = r.period_id "
                "WHERE p.code IN ('T11', 'T12') AND r.id % 3 <> 0"
            )
        )
    counts = {}
    async with engine.connect() as conn:
        for table in ("clusters", "units", "criteria", "periods", "reports", "reviews"):
            counts[table] = int(
                (await conn.execute(text(f"SELECT COUNT(*) FROM {table}"))).scalar_one()
            )
        if engine.dialect.name == "postgresql":
            await conn.execute(text("ANALYZE"))
            await conn.commit()
        else:
            await conn.execute(text("ANALYZE"))
    return counts


def _criterion(
    cid: int, cluster: int, parent: int | None, code: str, kind: str, position: int, now: datetime
) -> dict[str, Any]:
    leaf = kind != "group"
    return {
        "id": cid,
        "cluster_id": cluster,
        "year": YEAR,
        "parent_id": parent,
        "code": code,
        "name": f"Tiêu chí {code}: thực hiện nhiệm vụ được giao đúng tiến độ, chất lượng",
        "kind": kind,
        "max_points": Decimal("2.5")
        if leaf and kind not in ("bonus", "penalty")
        else (Decimal(5) if leaf else None),
        "points_each": Decimal(1) if kind in ("count", "bonus", "penalty") else None,
        "target": Decimal(100) if kind == "quantitative" else None,
        "measure_unit": "%" if kind == "quantitative" else None,
        "evidence_required": False,
        "scale_to_best": False,
        "position": position,
        "active": True,
        "created_at": now,
        "updated_at": now,
    }


# ---------------------------------------------------------------- the hand-written SQL


def totals_sql(one_cluster: bool) -> str:
    """Per unit: proposed and verified totals (penalties deducted, never below 0), criteria
    reported, reports unreviewed, and the rank by verified total: what the board shows."""
    where = "AND p.cluster_id = :cluster" if one_cluster else ""
    return f"""
WITH newest AS (
  SELECT r.id, r.unit_id, r.criterion_id, r.proposed_score,
         ROW_NUMBER() OVER (PARTITION BY r.unit_id, r.criterion_id
                            ORDER BY p.starts_on DESC, r.version DESC) AS rn
  FROM reports r JOIN periods p ON p.id = r.period_id
  WHERE p.year = :year {where}
), cur AS (
  SELECT id, unit_id, criterion_id, proposed_score,
    (SELECT v.verified_score FROM reviews v WHERE v.report_id = newest.id
     ORDER BY v.reviewed_at DESC, v.id DESC LIMIT 1) AS verified_score
  FROM newest WHERE rn = 1
), per_unit AS (
  SELECT c.cluster_id, cur.unit_id,
    SUM(CASE WHEN c.kind = 'penalty' THEN -ABS(cur.proposed_score)
             ELSE cur.proposed_score END) AS proposed,
    SUM(CASE WHEN cur.verified_score IS NULL THEN 0
             WHEN c.kind = 'penalty' THEN -ABS(cur.verified_score)
             ELSE cur.verified_score END) AS verified,
    SUM(CASE WHEN c.kind IN ('bonus', 'penalty') THEN 0 ELSE 1 END) AS reported,
    SUM(CASE WHEN cur.verified_score IS NULL THEN 1 ELSE 0 END) AS unreviewed
  FROM cur
  JOIN criteria c ON c.id = cur.criterion_id AND c.active
  GROUP BY c.cluster_id, cur.unit_id
)
-- Rounded to cents before ranking: SQLite sums REALs, and 0.1 + 0.2 must tie with 0.3.
SELECT cluster_id, unit_id,
  CASE WHEN proposed < 0 THEN 0 ELSE ROUND(proposed, 2) END AS proposed,
  CASE WHEN verified < 0 THEN 0 ELSE ROUND(verified, 2) END AS verified,
  reported, unreviewed,
  RANK() OVER (PARTITION BY cluster_id
               ORDER BY CASE WHEN verified < 0 THEN 0 ELSE ROUND(verified, 2) END DESC) AS rank
FROM per_unit
"""


SUMMARY_SQL = """
WITH newest AS (
  SELECT r.unit_id, r.criterion_id, r.late,
         ROW_NUMBER() OVER (PARTITION BY r.unit_id, r.criterion_id ORDER BY r.version DESC) AS rn
  FROM reports r WHERE r.period_id = :period
)
SELECT n.unit_id,
  SUM(CASE WHEN c.kind IN ('bonus', 'penalty') THEN 0 ELSE 1 END) AS reported,
  SUM(CASE WHEN n.late THEN 1 ELSE 0 END) AS late
FROM newest n JOIN criteria c ON c.id = n.criterion_id AND c.active
WHERE n.rn = 1
GROUP BY n.unit_id
"""


# ---------------------------------------------------------------- timing


async def timed(
    runs: int,
    service: Callable[[], Awaitable[T]],
    baseline: Callable[[], Awaitable[Any]],
    *,
    warm_up: bool = True,
) -> tuple[float, float, T]:
    """The median wall times of `runs` runs of the service and of its baseline (after one
    warm-up of each), and the service's last result. The two alternate run by run, so a
    machine that gets busier or quieter meanwhile weighs on both alike."""
    result: Any = await service() if warm_up else None
    if warm_up:
        await baseline()
    mine, theirs = [], []
    for _ in range(runs):
        began = time.perf_counter()
        result = await service()
        mine.append(time.perf_counter() - began)
        began = time.perf_counter()
        await baseline()
        theirs.append(time.perf_counter() - began)
    return statistics.median(mine), statistics.median(theirs), result


async def run_backend(name: str, url: str, clusters: int) -> None:
    engine = create_engine(url)
    try:
        began = time.perf_counter()
        await upgrade(engine)
        counts = await generate(engine, clusters)
        generated = time.perf_counter() - began
        progress(f"[{name}] generated {counts} in {generated:.1f} s")
        emit(f"{name}/generate", "wall_s", generated, "s", f"rows: {counts}")
        emit(f"{name}/generate", "reports", counts["reports"], "count")
        sessions = session_factory(engine)
        cluster_id = clusters // 2 or 1
        runs_one, runs_all = 15, (3 if clusters > 100 else 5)

        async def sql(query: str, **params: Any) -> list[Any]:
            async with engine.connect() as conn:
                return list((await conn.execute(text(query), params)).all())

        async def both(first: Awaitable[list[Any]], second: Awaitable[list[Any]]) -> list[Any]:
            return [*(await first), *(await second)]

        # Correctness first: the service's totals are the SQL's (this also warms the caches
        # for the all-clusters case, which is timed without a separate warm-up).
        async with sessions() as session:
            mine = await boards(session, YEAR, None, NOW)
        theirs = await sql(totals_sql(False), year=YEAR)
        worst = 0.0
        for cid, unit_id, proposed, verified, reported, unreviewed, rank in theirs:
            standing = next(s for s in mine[cid].standings if s.member.unit_id == unit_id)
            worst = max(
                worst,
                abs(float(standing.verified) - float(verified)),
                abs(float(standing.proposed) - float(proposed)),
            )
            assert standing.reported == reported and standing.unreviewed == unreviewed
            assert standing.rank == rank, (cid, unit_id, standing.rank, rank)
        assert worst < 0.011, worst
        progress(f"[{name}] service totals match the SQL ({len(theirs)} units, |Δ| ≤ {worst:.4f})")
        emit(f"{name}/check", "max_abs_diff", worst, "count", "service vs SQL, every unit")

        async def one_board() -> Any:
            async with sessions() as session:
                return await boards(session, YEAR, [cluster_id], NOW)

        async def all_boards() -> Any:
            async with sessions() as session:
                return await boards(session, YEAR, None, NOW)

        async def one_summary() -> Any:
            async with sessions() as session:
                period = (cluster_id - 1) * 12 + 12  # T12 of that cluster
                return await period_summary(session, cluster_id, period, NOW)

        async def one_export() -> Any:
            async with sessions() as session:
                cluster = await get_cluster(session, f"CUM-{cluster_id:04d}")
                return await build_export(session, cluster, year=YEAR, period_code=None, now=NOW)

        cases: list[
            tuple[str, int, Callable[[], Awaitable[Any]], Callable[[], Awaitable[Any]], str]
        ] = [
            (
                "leaderboard_one_cluster",
                runs_one,
                one_board,
                lambda: sql(totals_sql(True), year=YEAR, cluster=cluster_id),
                "per-unit totals and rank of one cluster",
            ),
            (
                "leaderboard_all_clusters",
                runs_all,
                all_boards,
                lambda: sql(totals_sql(False), year=YEAR),
                f"per-unit totals and rank of all {clusters} clusters",
            ),
            (
                "summary_one_period",
                runs_one,
                one_summary,
                lambda: both(
                    sql(SUMMARY_SQL, period=(cluster_id - 1) * 12 + 12),
                    sql(totals_sql(True), year=YEAR, cluster=cluster_id),
                ),
                "per-unit reported/late counts of the period, and the year's totals and ranks",
            ),
            (
                "export_one_cluster",
                runs_one,
                one_export,
                lambda: sql(totals_sql(True), year=YEAR, cluster=cluster_id),
                "per-unit totals and rank of one cluster (the file adds the detail)",
            ),
        ]
        for case, runs, service, baseline, what in cases:
            warm = case != "leaderboard_all_clusters"
            mine_s, sql_s, result = await timed(runs, service, baseline, warm_up=warm)
            extra = ""
            if case == "export_one_cluster":
                extra = f"; {len(result.content) / 1024:.0f} KiB workbook"
            progress(
                f"[{name}] {case}: service {mine_s * 1000:.1f} ms, SQL {sql_s * 1000:.1f} ms"
                f" (x{mine_s / sql_s:.1f}){extra}"
            )
            emit(f"{name}/{case}", "wall_s", mine_s, "s", f"service, median of {runs}")
            emit(f"{name}/{case}/sql_baseline", "wall_s", sql_s, "s", f"hand-written SQL: {what}")
            emit(f"{name}/{case}", "ratio_to_sql", mine_s / sql_s, "count", "service ÷ SQL")
    finally:
        await engine.dispose()


async def _pg_admin(statement: str) -> None:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def main(clusters: int, postgres: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        path = Path(folder) / "scale.db"
        await run_backend("sqlite", f"sqlite+aiosqlite:///{path}", clusters)
        emit("sqlite/file", "size_mb", path.stat().st_size / 1e6, "MB", "the generated database")
    if postgres:
        await on_postgres(lambda url: run_backend("postgresql", url, clusters))


async def on_postgres(run: Callable[[str], Awaitable[None]]) -> None:
    """`run` on a scratch PostgreSQL database (dropped after), or a "skipped" figure when
    the server is not reachable."""
    name = f"thidua_bench_{uuid.uuid4().hex[:10]}"
    try:
        await _pg_admin(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        progress(f"[postgresql] skipped: not reachable at {PG_ADMIN_URL}: {exc}")
        emit("postgresql", "skipped", 1, "count", f"PostgreSQL not reachable: {exc}"[:200])
        return
    try:
        await run(make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False))
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="20 clusters instead of 1,000")
    parser.add_argument("--clusters", type=int, help="how many clusters to generate")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    clusters = args.clusters or (20 if args.quick else 1000)
    began = time.perf_counter()
    asyncio.run(main(clusters, not args.no_postgres))
    emit("total", "wall_s", time.perf_counter() - began, "s", f"{clusters} clusters, both backends")


if __name__ == "__main__":
    cli()
