"""Migrations run forward on both databases and produce exactly the models' schema."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import JSON, Date, bindparam, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import TypeEngine

from models.db import create_engine, session_factory
from models.migrate import at_head, current_revision, head_revision, script_head, upgrade
from models.tables import (
    Base,
    Cluster,
    EvidenceFile,
    Identity,
    LeaderboardPost,
    ReminderLog,
    User,
)
from models.types import UTCDateTime
from tests.conftest import IN_CI, NOW, PG_ADMIN_URL, _pg_admin


async def test_a_migrated_database_is_at_the_head_revision(engine: AsyncEngine) -> None:
    assert await current_revision(engine) == head_revision()


async def test_the_migrated_schema_matches_the_models_exactly(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
            )
        )
    assert diff == []


async def test_upgrading_an_up_to_date_database_changes_nothing(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        before = await conn.run_sync(lambda sync: sorted(inspect(sync).get_table_names()))
    await upgrade(engine)
    async with engine.connect() as conn:
        after = await conn.run_sync(lambda sync: sorted(inspect(sync).get_table_names()))
    assert before == after
    assert "reports" in after and "audit_log" in after


async def test_an_empty_database_is_migrated_from_nothing(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    try:
        assert await current_revision(engine) is None
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, never migrated database, once per backend (dropped at the end)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        return
    name = f"thidua_test_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if IN_CI:
            raise RuntimeError(f"PostgreSQL is required in CI: {exc}") from exc
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_the_scripts_head_is_read_as_alembic_reads_it() -> None:
    # Start-up trusts this head to skip Alembic: it must be Alembic's own.
    assert script_head() is not None
    assert script_head() == head_revision()


async def test_the_start_up_check_says_at_head_only_at_the_head(blank_db_url: str) -> None:
    engine = create_engine(blank_db_url)
    try:
        assert not await at_head(engine)  # never migrated: no alembic_version table
        await upgrade(engine, "0003")
        assert not await at_head(engine)
        await upgrade(engine)  # behind: the check says so, and Alembic migrates
        assert await current_revision(engine) == head_revision()
        assert await at_head(engine)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '0007'"))
        assert not await at_head(engine)
    finally:
        await engine.dispose()


# Rows as revision 0003 stored them: Telegram ids as bare integers.
OLD_ROWS = [
    "INSERT INTO clusters (id, code, name, kind, timezone, language, group_chat_id, "
    "created_at, updated_at) VALUES (1, 'CUM6-STC', 'Cụm 6', 'cum', 'Asia/Ho_Chi_Minh', 'vi', "
    "-100123, :at, :at)",
    "INSERT INTO units (id, code, name, short_name, created_at, updated_at) "
    "VALUES (1, 'STC-BDINH', 'Sở Tài chính tỉnh Bình Định', 'Bình Định', :at, :at)",
    "INSERT INTO users (id, telegram_id, full_name, username, language, reachable, "
    "created_at, updated_at) VALUES (1, 555, 'Nguyễn Văn An', NULL, 'vi', :no, :at, :later)",
    "INSERT INTO criteria (id, cluster_id, year, parent_id, code, name, kind, "
    "evidence_required, scale_to_best, position, active, created_at, updated_at) "
    "VALUES (1, 1, 2024, NULL, '2.1', 'Ban hành kế hoạch', 'yes_no', :no, :no, 1, :yes, "
    ":at, :at)",
    "INSERT INTO periods (id, cluster_id, year, code, starts_on, ends_on, deadline, "
    "created_at, updated_at) VALUES (1, 1, 2024, 'Q2', :starts, :ends, :at, :at, :at)",
    "INSERT INTO reports (id, unit_id, criterion_id, period_id, version, late, reported_by, "
    "reported_at) VALUES (1, 1, 1, 1, 1, :no, 1, :at)",
    "INSERT INTO evidence_files (id, report_id, telegram_file_id, telegram_file_unique_id, "
    "file_name, mime_type, size, stored_path, created_at) VALUES (1, 1, 'BQACAgUAAxkBAAIB', "
    "'AgADxQ', 'ke-hoach.pdf', 'application/pdf', 120000, NULL, :at)",
    "INSERT INTO reminder_log (id, cluster_id, dedup_key, rule, period_id, unit_id, "
    "recipient_chat_id, status, due_at, claimed_at) VALUES (1, 1, 'before:3|1|1|555', "
    "'before:3', 1, 1, 555, 'sent', :at, :at)",
    "INSERT INTO reminder_log (id, cluster_id, dedup_key, rule, period_id, unit_id, "
    "recipient_chat_id, status, due_at, claimed_at) VALUES (2, 1, 'group_missing|1|-|group:1', "
    "'group_missing:3', 1, NULL, -100123, 'sent', :at, :at)",
    "INSERT INTO leaderboard_posts (id, cluster_id, year, chat_id, posted_at, standings) "
    "VALUES (1, 1, 2024, -100123, :at, :standings)",
]


async def test_data_of_revision_0003_is_converted_to_channel_addresses(blank_db_url: str) -> None:
    engine = create_engine(blank_db_url)
    try:
        await upgrade(engine, "0003")
        assert await current_revision(engine) == "0003"
        values: dict[str, object] = {
            "at": NOW,
            "later": NOW + timedelta(days=1),
            "starts": date(2024, 4, 1),
            "ends": date(2024, 6, 30),
            "yes": True,
            "no": False,
            "standings": {"1": {"rank": 1, "verified": "10", "proposed": "10"}},
        }
        # Typed so each driver gets what it expects (SQLite: UTC text; PostgreSQL: timestamptz).
        types: dict[str, TypeEngine[Any]] = {
            "at": UTCDateTime(),
            "later": UTCDateTime(),
            "starts": Date(),
            "ends": Date(),
            "standings": JSON(),
        }
        async with engine.begin() as conn:
            for statement in OLD_ROWS:
                sql = text(statement)
                used = {name: value for name, value in values.items() if f":{name}" in statement}
                sql = sql.bindparams(
                    *(bindparam(name, type_=types[name]) for name in used if name in types)
                )
                await conn.execute(sql, used)

        await upgrade(engine)

        assert await current_revision(engine) == head_revision()
        async with session_factory(engine)() as session:
            [identity] = list(await session.scalars(select(Identity)))
            assert (identity.user_id, identity.channel, identity.external_id) == (
                1,
                "telegram",
                "555",
            )
            assert identity.reachable is False
            assert identity.created_at == NOW and identity.last_seen_at == NOW + timedelta(days=1)
            user = await session.get_one(User, 1)
            assert user.full_name == "Nguyễn Văn An" and user.language == "vi"
            cluster = await session.get_one(Cluster, 1)
            assert cluster.group_address == "telegram:-100123"
            evidence = await session.get_one(EvidenceFile, 1)
            assert evidence.file_ref == "telegram:BQACAgUAAxkBAAIB"
            assert evidence.file_unique_id == "AgADxQ"
            ledger = {
                row.id: (row.dedup_key, row.recipient)
                for row in await session.scalars(select(ReminderLog))
            }
            assert ledger == {
                1: ("before:3|1|1|telegram:555", "telegram:555"),
                2: ("group_missing|1|-|group:1", "telegram:-100123"),
            }
            post = await session.get_one(LeaderboardPost, 1)
            assert post.address == "telegram:-100123"
            assert post.standings == values["standings"]
    finally:
        await engine.dispose()
