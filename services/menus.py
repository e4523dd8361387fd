"""Numbered choices on channels without buttons (Zalo, the console): the choices last shown
in a chat, so that typing "2" presses the second one. A row per chat, in the database, so
the worker that takes the answer need not be the one that asked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Menu
from services.addresses import Address

# As long as a guided dialogue waits (services.drafts.TTL): an answer after that is stale.
TTL = timedelta(minutes=30)


async def remember(
    session: AsyncSession, chat: Address, options: Sequence[str], now: datetime
) -> None:
    """The chat's choices are now these (an empty list forgets them). The caller commits:
    it is part of the update (or the batch item) that showed them."""
    key = str(chat)
    row = await session.get(Menu, key)
    if not options:
        if row is not None:
            await session.delete(row)
        return
    if row is None:
        session.add(Menu(chat=key, options=list(options), expires_at=now + TTL))
    else:
        row.options, row.expires_at = list(options), now + TTL


async def pressed(session: AsyncSession, chat: Address, typed: str, now: datetime) -> str | None:
    """The data of the choice a typed number names in this chat, if it names one."""
    text = typed.strip().rstrip(".)")
    if not text.isdigit() or len(text) > 3:
        return None
    row = await session.get(Menu, str(chat))
    if row is None or row.expires_at <= now:
        return None
    number = int(text)
    return row.options[number - 1] if 1 <= number <= len(row.options) else None


async def purge(session: AsyncSession, now: datetime) -> int:
    result = await session.execute(delete(Menu).where(Menu.expires_at <= now))
    await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


__all__ = ["TTL", "pressed", "purge", "remember"]
