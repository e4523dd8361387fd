"""Run Alembic migrations from inside the application (`thidua db upgrade`, start-up).

Start-up only needs to know that the database is at the head revision, which is one query
of `alembic_version` against the head read from the scripts' own `revision` and
`down_revision` lines. Alembic itself (with Mako and its dialect modules: ~10 MB and
~0.15 s) is imported only when there is something to migrate, or the scripts are not in the
plain form that can be read without running them.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
_UNSET = object()
# `revision: str = "0008"` and `down_revision: str | None = "0007"`, as Alembic writes them.
_ASSIGNMENT = re.compile(r"^(revision|down_revision)\b[^=\n]*=(.*)$", re.MULTILINE)


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@cache
def script_head() -> str | None:
    """The one head revision of the scripts in migrations/versions, read without importing
    them; None when that cannot be said for sure (no scripts, several heads, a revision
    that is not a plain string literal), and then only Alembic decides."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        found: dict[str, object] = {}
        for name, value in _ASSIGNMENT.findall(path.read_text(encoding="utf-8")):
            try:
                found[name] = ast.literal_eval(value.strip())
            except (ValueError, SyntaxError):
                return None  # e.g. a tuple over several lines: Alembic reads it
        revision, down = found.get("revision"), found.get("down_revision", _UNSET)
        if not isinstance(revision, str) or down is _UNSET:
            return None
        revisions.add(revision)
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list) and all(isinstance(d, str) for d in down):
            parents.update(down)
        elif down is not None:
            return None
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


async def at_head(engine: AsyncEngine) -> bool:
    """The database is at the scripts' head revision (one query; False when unsure)."""
    head = script_head()
    if head is None:
        return False
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    except DBAPIError:
        return False  # never migrated (no table): Alembic creates it
    return [row[0] for row in rows] == [head]


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema up to `revision` (forward only; history is never dropped)."""
    if revision == "head" and await at_head(engine):
        return
    from alembic import command  # see the module's docstring: only when migrating

    config = alembic_config()

    def _upgrade(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # SQLite rebuilds a table to alter it (copy, drop, rename): with foreign keys on,
            # dropping a table that other rows point at fails. The pragma only takes effect
            # outside a transaction, so it is set before the migration's own, and the keys
            # are checked once it is done.
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await conn.commit()
        try:
            async with conn.begin():
                await conn.run_sync(_upgrade)
                if sqlite:
                    broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                    if broken:
                        raise RuntimeError(f"migration left broken foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                await conn.commit()


async def current_revision(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
