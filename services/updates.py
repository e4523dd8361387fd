"""Each platform update handled once. Telegram re-delivers an update after a time-out or a
webhook retry, Zalo may too: the first worker to see an update records its key (channel,
bot, the platform's id) in its own short transaction; any later delivery, in this process
or another, finds it and is dropped. The record is made before the update is handled, so
a crash in between loses that update rather than doing it twice (the platform considers
it delivered anyway once we answered)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import ProcessedUpdate

# Platforms re-deliver within minutes; two days also covers a webhook queue after an outage.
WINDOW = timedelta(days=2)


async def first_time(session: AsyncSession, key: str, now: datetime) -> bool:
    """Record the update; False when it was recorded before (a re-delivery)."""
    session.add(ProcessedUpdate(key=key[:160], seen_at=now))
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        return False
    return True


async def purge(session: AsyncSession, now: datetime) -> int:
    """Forget updates older than the window (housekeeping)."""
    result = await session.execute(
        delete(ProcessedUpdate).where(ProcessedUpdate.seen_at < now - WINDOW)
    )
    await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
