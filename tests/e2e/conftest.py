"""Fixtures of the e2e tier: one emulator per run, a fresh database per module and backend.

Bots in one run share the emulator; each module uses its own bot token, so their updates
and messages never mix.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from models.db import create_engine
from tests.conftest import IN_CI, PG_ADMIN_URL
from tests.e2e.harness import Emulator, need_node


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    node = need_node()
    emu = Emulator(node, tmp_path_factory.mktemp("emulator") / "emulator.log")
    yield emu
    emu.stop()


async def _pg_admin(statement: str) -> None:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def e2e_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty database for one module's bot: the bot and the CLI migrate it themselves."""
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("e2e-sqlite")
        yield f"sqlite+aiosqlite:///{folder / 'thidua.db'}"
        return
    name = f"thidua_e2e_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if IN_CI:
            raise RuntimeError(f"PostgreSQL is required in CI: {exc}") from exc
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A `postgres_only` test has no SQLite case: deselected there, not skipped (in CI
    nothing is skipped)."""
    keep, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("e2e_db_url") if callspec is not None else None
        if item.get_closest_marker("postgres_only") and backend == "sqlite":
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
