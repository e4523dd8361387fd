"""processed updates: each platform update handled once, within a two-day window

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 12:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "processed_updates",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("seen_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_processed_updates")),
    )
    op.create_index(
        op.f("ix_processed_updates_seen_at"), "processed_updates", ["seen_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_processed_updates_seen_at"), table_name="processed_updates")
    op.drop_table("processed_updates")
