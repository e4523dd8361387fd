"""Migrations run forward on both databases and produce exactly the models' schema."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from models.db import create_engine
from models.migrate import current_revision, head_revision, upgrade
from models.tables import Base


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
