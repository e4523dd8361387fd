"""The append-only audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import AuditEntry


def record(
    session: AsyncSession,
    *,
    now: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: int | None = None,
    cluster_id: int | None = None,
    **details: Any,
) -> None:
    """Add an audit entry to the caller's unit of work (committed with the change)."""
    session.add(
        AuditEntry(
            at=now,
            actor=actor,
            cluster_id=cluster_id,
            action=action,
            entity=entity,
            entity_id=entity_id,
            details=details,
        )
    )
