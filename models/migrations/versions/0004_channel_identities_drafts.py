"""channel identities, drafts; channel-qualified addresses instead of Telegram ids

A person (users) gets one identity per chat channel; the Telegram id moves there. Evidence
files, ledger recipients, the cluster's group and posted boards name a channel address
("telegram:<id>"). Existing rows are converted in place, nothing is dropped before it was
copied, and the ledger's keys are rewritten so a reminder already sent is not sent again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:40:00
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The last part of a ledger key that named a Telegram chat by its bare id.
_BARE_RECIPIENT = re.compile(r"^(.*\|)(-?\d+)$")


def _telegram(column: str) -> str:
    # Portable: || and CAST(… AS VARCHAR) mean the same on SQLite and PostgreSQL.
    return f"'telegram:' || CAST({column} AS VARCHAR)"


def upgrade() -> None:
    op.create_table(
        "identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("reachable", sa.Boolean(), nullable=False),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_identities_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identities")),
        sa.UniqueConstraint(
            "channel", "external_id", name=op.f("uq_identities_channel_external_id")
        ),
    )
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.create_index("ix_identities_user_id", ["user_id"], unique=False)
    op.create_table(
        "drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_drafts_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drafts")),
        sa.UniqueConstraint("user_id", "kind", name=op.f("uq_drafts_user_id_kind")),
    )

    # Every Telegram account becomes the person's Telegram identity.
    op.execute(
        "INSERT INTO identities (user_id, channel, external_id, reachable, created_at, "
        "last_seen_at) SELECT id, 'telegram', CAST(telegram_id AS VARCHAR), reachable, "
        "created_at, updated_at FROM users"
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint("uq_users_telegram_id", type_="unique")
        batch_op.drop_column("telegram_id")
        batch_op.drop_column("reachable")

    with op.batch_alter_table("clusters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("group_address", sa.String(length=128), nullable=True))
    op.execute(
        f"UPDATE clusters SET group_address = {_telegram('group_chat_id')} "
        "WHERE group_chat_id IS NOT NULL"
    )
    with op.batch_alter_table("clusters", schema=None) as batch_op:
        batch_op.drop_column("group_chat_id")

    with op.batch_alter_table("evidence_files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("file_ref", sa.String(length=1024), nullable=True))
        batch_op.add_column(sa.Column("file_unique_id", sa.String(length=128), nullable=True))
    op.execute(
        "UPDATE evidence_files SET file_ref = 'telegram:' || telegram_file_id, "
        "file_unique_id = telegram_file_unique_id"
    )
    with op.batch_alter_table("evidence_files", schema=None) as batch_op:
        batch_op.alter_column("file_ref", existing_type=sa.String(length=1024), nullable=False)
        batch_op.alter_column(
            "file_unique_id", existing_type=sa.String(length=128), nullable=False
        )
        batch_op.drop_column("telegram_file_id")
        batch_op.drop_column("telegram_file_unique_id")

    with op.batch_alter_table("reminder_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recipient", sa.String(length=128), nullable=True))
    op.execute(f"UPDATE reminder_log SET recipient = {_telegram('recipient_chat_id')}")
    # Keys named a person by their bare Telegram id ("before:3|12|4|555123"); a group by
    # "group:<cluster>", which stays. Rewritten row by row: the ledger is small and the
    # rule is easier to read in Python than in two SQL dialects.
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, dedup_key FROM reminder_log")).all()
    for row_id, key in rows:
        found = _BARE_RECIPIENT.match(key)
        if found:
            bind.execute(
                sa.text("UPDATE reminder_log SET dedup_key = :key WHERE id = :id"),
                {"key": f"{found.group(1)}telegram:{found.group(2)}", "id": row_id},
            )
    with op.batch_alter_table("reminder_log", schema=None) as batch_op:
        batch_op.alter_column("recipient", existing_type=sa.String(length=128), nullable=False)
        batch_op.drop_column("recipient_chat_id")

    with op.batch_alter_table("leaderboard_posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.String(length=128), nullable=True))
    op.execute(
        f"UPDATE leaderboard_posts SET address = {_telegram('chat_id')} WHERE chat_id IS NOT NULL"
    )
    with op.batch_alter_table("leaderboard_posts", schema=None) as batch_op:
        batch_op.drop_column("chat_id")


def downgrade() -> None:
    # Forward only: a person may now have identities on channels a Telegram id cannot hold.
    raise NotImplementedError("0004 is forward-only")
