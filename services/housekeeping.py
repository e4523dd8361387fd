"""Rows that only matter for a while: expired drafts and numbered menus, and processed
update ids past their window. Removed hourly by the reminders' tick; none of them is ever
read once expired, so this only keeps the tables small."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services import drafts, menus, updates


async def tidy(session: AsyncSession, now: datetime) -> dict[str, int]:
    return {
        "drafts": await drafts.purge(session, now),
        "menus": await menus.purge(session, now),
        "updates": await updates.purge(session, now),
    }
