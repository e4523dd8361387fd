"""The unit-of-work factory type the adapters hold: one session per update or job run."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

SessionFactory = async_sessionmaker[AsyncSession]

# Re-exported so adapters can annotate a session without importing SQLAlchemy themselves.
Session = AsyncSession
