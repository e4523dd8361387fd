"""Guided dialogues in progress, kept as rows: a restart, or the next update landing on
another webhook worker, takes the next step where the last one left off.

A draft is keyed by person and kind ("report", "review"); it expires after a quiet
while, and an expired draft is as good as none (nothing was ever saved from it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Draft

# A flow left alone this long is forgotten (PTB's conversation_timeout did the same).
TTL = timedelta(minutes=30)


@dataclass(frozen=True)
class Open:
    kind: str
    step: str
    data: dict[str, Any]


async def current(session: AsyncSession, user_id: int, now: datetime) -> Open | None:
    """The person's most recently touched dialogue that has not expired."""
    row = await session.scalar(
        select(Draft)
        .where(Draft.user_id == user_id, Draft.expires_at > now)
        .order_by(Draft.updated_at.desc(), Draft.id.desc())
        .limit(1)
    )
    return Open(row.kind, row.step, dict(row.data)) if row else None


async def get(session: AsyncSession, user_id: int, kind: str, now: datetime) -> Open | None:
    """The person's dialogue of this kind, unless it expired."""
    row = await session.scalar(
        select(Draft).where(Draft.user_id == user_id, Draft.kind == kind, Draft.expires_at > now)
    )
    return Open(row.kind, row.step, dict(row.data)) if row else None


async def save(
    session: AsyncSession,
    user_id: int,
    kind: str,
    step: str,
    data: dict[str, Any],
    now: datetime,
) -> None:
    """Write the dialogue's new step (one row per person and kind) and commit."""
    row = await session.scalar(select(Draft).where(Draft.user_id == user_id, Draft.kind == kind))
    if row is None:
        session.add(
            Draft(
                user_id=user_id,
                kind=kind,
                step=step,
                data=data,
                updated_at=now,
                expires_at=now + TTL,
            )
        )
    else:
        row.step, row.data, row.updated_at, row.expires_at = step, data, now, now + TTL
    await session.commit()


async def drop(session: AsyncSession, user_id: int, kind: str | None = None) -> bool:
    """End a dialogue (every dialogue of the person without a kind); True if one was open."""
    query = delete(Draft).where(Draft.user_id == user_id)
    if kind is not None:
        query = query.where(Draft.kind == kind)
    result = await session.execute(query)
    await session.commit()
    return bool(getattr(result, "rowcount", 0))


async def purge(session: AsyncSession, now: datetime) -> int:
    """Delete expired drafts (housekeeping; an expired draft is never read anyway)."""
    result = await session.execute(delete(Draft).where(Draft.expires_at <= now))
    await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
