"""reminder leases: a claim carries its owner and until when it is held, so a claim whose
process died is retried once its lease has passed

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 09:00:00

Rows already in the ledger are left as they are (both columns NULL). A `claimed` row from
before this revision (its process died before finishing it, or a process of the previous
version is still sending it during a rolling restart) counts as leased until its
`claimed_at` + the lease (2 minutes), the rule the ledger applies to a NULL lease: it is
retried only while its message is still due that working day, skipped if that day has
ended, and left alone if it is older than the planner's look-back (14 days).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reminder_log") as batch:
        batch.add_column(sa.Column("owner", sa.String(length=100), nullable=True))
        batch.add_column(
            sa.Column("lease_until", models.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("reminder_log") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("owner")
