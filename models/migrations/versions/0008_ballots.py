"""secret ballots: ballots, candidates with their tallies, and who has voted (apart)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 13:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ballots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("choices", sa.Integer(), nullable=False),
        sa.Column("threshold", models.types.Points(), nullable=False),
        sa.Column("self_vote", sa.Boolean(), nullable=False),
        sa.Column("voters", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("opened_by", sa.String(length=120), nullable=False),
        sa.Column("opened_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closes_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_ballots_cluster_id_clusters")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ballots")),
    )
    op.create_table(
        "ballot_candidates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ballot_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ballot_id"], ["ballots.id"], name=op.f("fk_ballot_candidates_ballot_id_ballots")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_ballot_candidates_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ballot_candidates")),
        sa.UniqueConstraint(
            "ballot_id", "unit_id", name=op.f("uq_ballot_candidates_ballot_id_unit_id")
        ),
    )
    op.create_table(
        "ballot_voters",
        sa.Column("ballot_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ballot_id"], ["ballots.id"], name=op.f("fk_ballot_voters_ballot_id_ballots")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_ballot_voters_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("ballot_id", "unit_id", name=op.f("pk_ballot_voters")),
    )


def downgrade() -> None:
    op.drop_table("ballot_voters")
    op.drop_table("ballot_candidates")
    op.drop_table("ballots")
