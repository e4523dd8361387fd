"""Each platform update handled once. Telegram re-delivers an update after a time-out or a
webhook retry, Zalo may too. An update's key (channel, bot, the platform's id) is looked up
in the same query as the actor (services.access.resolve_update): a re-delivery, in this
process or another, finds it and is dropped.

The key is written in the same transaction as the update's first change (`record`): the
report and the key that says it was taken are committed together or not at all, so a crash
in between loses nothing and does nothing twice. Two workers handling one update at once
both get past the lookup; the second to commit finds the key taken (`Redelivered`) and its
changes are rolled back. (An update that changes nothing records its key when its unit of
work ends: such a pair may both answer, never both store.)"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, delete
from sqlalchemy.event import listen
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from models.db import insert_ignoring
from models.tables import ProcessedUpdate

_KEYS = cast(Table, ProcessedUpdate.__table__)

# Platforms re-deliver within minutes; two days also covers a webhook queue after an outage.
WINDOW = timedelta(days=2)
# The column's size: a longer key (never seen) is cut the same way on lookup and insert.
KEY_LIMIT = 160

_PENDING = "thidua.update_key"


class Redelivered(Exception):
    """Another worker took this update first: this one's changes are rolled back."""


def key_of(update_id: str) -> str:
    return update_id[:KEY_LIMIT]


def record(session: AsyncSession, key: str, now: datetime) -> None:
    """Write the update's key with the session's next commit (the first one that succeeds);
    that commit raises `Redelivered` if another worker wrote it first."""
    session.info[_PENDING] = (key_of(key), now)


def _insert_key(session: Session) -> None:
    pending: tuple[str, datetime] | None = session.info.get(_PENDING)
    if pending is None:
        return
    key, now = pending
    connection = session.connection()
    result = connection.execute(
        insert_ignoring(_KEYS, connection.dialect.name), {"key": key, "seen_at": now}
    )
    if result.rowcount == 0:
        raise Redelivered(key)


def _recorded(session: Session) -> None:
    session.info.pop(_PENDING, None)


listen(Session, "before_commit", _insert_key)
listen(Session, "after_commit", _recorded)


async def first_time(session: AsyncSession, key: str, now: datetime) -> bool:
    """Record the update in its own transaction; False when it was recorded before (a
    re-delivery)."""
    session.add(ProcessedUpdate(key=key_of(key), seen_at=now))
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
