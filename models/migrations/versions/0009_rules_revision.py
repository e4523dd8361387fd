"""the rules' revision: cluster_years.revision, a stamp renewed by every change of a year's
rules (the year row, its criteria, unit targets, periods), read with the actor so every
process's cache of the rules sees an import at once

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 15:00:00

Rows already there get a random stamp each (the server default 0 only fills the column for
the moment of the ALTER): a stamp is compared for equality only, never ordered.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cluster_years") as batch:
        batch.add_column(sa.Column("revision", sa.BigInteger(), server_default="0", nullable=False))
    years = sa.table("cluster_years", sa.column("id", sa.Integer), sa.column("revision"))
    bind = op.get_bind()
    for (year_id,) in bind.execute(sa.select(years.c.id)).all():
        bind.execute(
            years.update().where(years.c.id == year_id).values(revision=secrets.randbits(62))
        )


def downgrade() -> None:
    with op.batch_alter_table("cluster_years") as batch:
        batch.drop_column("revision")
