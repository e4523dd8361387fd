"""numbered menus for channels without buttons; the channel a person chose for reminders;
codes that link a second channel's account to a person

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "menus",
        sa.Column("chat", sa.String(length=120), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("expires_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chat", name=op.f("pk_menus")),
    )
    op.create_table(
        "link_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_link_codes_user_id_users")
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_link_codes")),
    )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("channel", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("channel")
    op.drop_table("link_codes")
    op.drop_table("menus")
