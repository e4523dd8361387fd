"""The ledger (`reminder_log`) that lets each message go out once, across restarts and
across several bot processes on one database."""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import (
    ReminderLog,
)
from services.reminders.messages import Due

# A message whose day ended while the bot was down is recorded as skipped if it fell due


# A message whose day ended while the bot was down is recorded as skipped if it fell due
log = logging.getLogger(__name__)
_CHUNK = 500


class Status(enum.StrEnum):
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"
    SKIPPED = "skipped"


async def existing_keys(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    """The keys already in the ledger, whatever their status."""
    found: set[str] = set()
    for i in range(0, len(keys), _CHUNK):
        chunk = list(keys[i : i + _CHUNK])
        found.update(
            await session.scalars(
                select(ReminderLog.dedup_key).where(ReminderLog.dedup_key.in_(chunk))
            )
        )
    return found


async def new_only(session: AsyncSession, items: Sequence[Due]) -> list[Due]:
    """The messages not yet in the ledger, each once, in order."""
    known = await existing_keys(session, [d.key for d in items])
    out = []
    for item in items:
        if item.key not in known:
            known.add(item.key)
            out.append(item)
    return out


async def claim(
    session: AsyncSession,
    item: Due,
    now: datetime,
    *,
    status: Status = Status.CLAIMED,
    detail: str | None = None,
) -> bool:
    """Take a message for sending (its own short transaction). False: it is already taken,
    by this process earlier or by another one; do not send it."""
    session.add(
        ReminderLog(
            cluster_id=item.cluster_id,
            dedup_key=item.key,
            rule=item.rule[:40],
            period_id=item.period.id if item.period else None,
            unit_id=item.unit_id,
            recipient=str(item.address),
            status=status.value,
            due_at=item.due_at,
            claimed_at=now,
            sent_at=None,
            detail=detail,
        )
    )
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        return False
    return True


async def finish(
    session: AsyncSession, key: str, status: Status, now: datetime, detail: str | None = None
) -> None:
    """Record how a claimed message ended: sent, failed or blocked."""
    await session.execute(
        update(ReminderLog)
        .where(ReminderLog.dedup_key == key)
        .values(
            status=status.value,
            sent_at=now if status is Status.SENT else None,
            detail=detail[:500] if detail else None,
        )
    )
    await session.commit()


async def record_skipped(session: AsyncSession, items: Sequence[Due], now: datetime) -> int:
    """Mark messages whose working day ended unsent as skipped, so they are never sent late."""
    count = 0
    for item in items:
        local = item.until.astimezone(ZoneInfo(item.timezone))
        detail = f"its working day ended at {local:%H:%M %d/%m/%Y} before it could be sent"
        if await claim(session, item, now, status=Status.SKIPPED, detail=detail):
            count += 1
            log.info("reminder %s to %s skipped: %s", item.key, item.address, detail)
    return count
