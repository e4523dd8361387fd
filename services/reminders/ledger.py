"""The ledger (`reminder_log`) that lets each message go out once, across restarts and
across several bot processes on one database.

A claim is a row with status `claimed`, an owner (the process, unique per run) and a lease
(until when that owner holds it). While the lease runs nobody else may send the message;
once it has passed, the claim is offered again and the first process to win a conditional
UPDATE takes it over. A process that crashed therefore loses nothing: what it had claimed
and not finished goes out again after at most `LEASE`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import secrets
import socket
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, CursorResult, Table, and_, not_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.db import insert_ignoring
from models.tables import ReminderLog
from services.reminders.messages import Due

log = logging.getLogger(__name__)
_CHUNK = 500
_SKIP_CHUNK = 250  # rows built and written between two turns of the event loop

# How long a claim is held. Long enough for one message with its retries (the sender renews
# the lease before an attempt when less than `RENEW_BELOW` is left, so a long 429 pause
# never lets the claim lapse while its owner is alive), short enough that a crashed
# process's claims go out again within minutes of their time. Not a setting: the ledger's
# guarantee depends on it, and on the processes' clocks agreeing to within seconds (NTP).
LEASE = timedelta(minutes=2)
# A send attempt starts with at least this much lease left: far above one request's
# time-out (Zalo 15 s, Telegram's a few seconds), so a claim never lapses mid-send.
RENEW_BELOW = timedelta(minutes=1)


class Status(enum.StrEnum):
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"
    SKIPPED = "skipped"


def new_owner() -> str:
    """This run's name in the ledger: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


def _lapsed(now: datetime) -> ColumnElement[bool]:
    """A claim nobody holds any more: its lease has passed. A row claimed before revision
    0007 has no lease; it counts as leased for `LEASE` from its claim, like any other, so a
    process of the previous version still sending it (a rolling restart) is not doubled."""
    return and_(
        ReminderLog.status == Status.CLAIMED.value,
        or_(
            and_(ReminderLog.lease_until.is_not(None), ReminderLog.lease_until <= now),
            and_(ReminderLog.lease_until.is_(None), ReminderLog.claimed_at <= now - LEASE),
        ),
    )


def _rows(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


async def held_keys(session: AsyncSession, keys: Sequence[str], now: datetime) -> set[str]:
    """The keys the ledger holds at `now`: finished (sent, failed, blocked, skipped), or
    claimed under a lease still running. A lapsed claim is not held: it is to be retried."""
    found: set[str] = set()
    for i in range(0, len(keys), _CHUNK):
        chunk = list(keys[i : i + _CHUNK])
        found.update(
            await session.scalars(
                select(ReminderLog.dedup_key).where(
                    ReminderLog.dedup_key.in_(chunk), not_(_lapsed(now))
                )
            )
        )
    return found


async def new_only(session: AsyncSession, items: Sequence[Due], now: datetime) -> list[Due]:
    """The messages not yet in the ledger, or whose claim has lapsed, each once, in order."""
    known = await held_keys(session, [d.key for d in items], now)
    out = []
    for item in items:
        if item.key not in known:
            known.add(item.key)
            out.append(item)
    return out


def _entry(
    item: Due, now: datetime, owner: str, status: Status, detail: str | None
) -> dict[str, Any]:
    """The ledger row of `item` as first written: claimed under a lease, or finished."""
    return {
        "cluster_id": item.cluster_id,
        "dedup_key": item.key,
        "rule": item.rule[:40],
        "period_id": item.period.id if item.period else None,
        "unit_id": item.unit_id,
        "recipient": str(item.address),
        "status": status.value,
        "due_at": item.due_at,
        "claimed_at": now,
        "sent_at": None,
        "detail": detail,
        "owner": owner,
        "lease_until": now + LEASE if status is Status.CLAIMED else None,
    }


async def claim(
    session: AsyncSession,
    item: Due,
    now: datetime,
    *,
    owner: str,
    status: Status = Status.CLAIMED,
    detail: str | None = None,
) -> bool:
    """Take a message for sending (its own short transactions), held until now + `LEASE`;
    or, with another `status`, record it finished at once (skipped). False: someone holds
    it or it is finished; do not send it.

    First an INSERT (the unique key lets one process through); if the key is there, a
    conditional UPDATE takes over a lapsed claim — on PostgreSQL a concurrent UPDATE waits
    for the row and re-checks the condition, on SQLite writers take turns, so on both
    exactly one process sees a row count of 1."""
    session.add(ReminderLog(**_entry(item, now, owner, status, detail)))
    try:
        await session.commit()
        return True
    except IntegrityError:
        await session.rollback()
    return await _take_over(session, item.key, now, owner, status, detail)


async def _take_over(
    session: AsyncSession,
    key: str,
    now: datetime,
    owner: str,
    status: Status,
    detail: str | None,
) -> bool:
    """The key is in the ledger already: take it if its claim has lapsed (committed)."""
    # Most keys found here are held (another process's live claim, or finished): a read
    # tells, so only a lapsed claim costs a write.
    previous = (
        await session.execute(
            select(ReminderLog.owner).where(ReminderLog.dedup_key == key, _lapsed(now))
        )
    ).first()
    if previous is None:
        await session.rollback()
        return False
    result = await session.execute(
        update(ReminderLog)
        .where(ReminderLog.dedup_key == key, _lapsed(now))
        .values(
            status=status.value,
            owner=owner,
            lease_until=now + LEASE if status is Status.CLAIMED else None,
            claimed_at=now,
            sent_at=None,
            detail=detail,
        )
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    if _rows(result) != 1:
        return False  # another process took it over between the read and the update
    log.info(
        "reminder %s: the claim of %s had lapsed; taken over by %s (%s)",
        key,
        previous.owner or "a process before revision 0007",
        owner,
        status.value,
    )
    return True


async def renew(session: AsyncSession, key: str, owner: str, now: datetime) -> bool:
    """Hold a claim for another `LEASE` from now. False: it is no longer ours (it lapsed
    and another process took it over): do not send it."""
    result = await session.execute(
        update(ReminderLog)
        .where(
            ReminderLog.dedup_key == key,
            ReminderLog.owner == owner,
            ReminderLog.status == Status.CLAIMED.value,
        )
        .values(lease_until=now + LEASE)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    return _rows(result) == 1


async def finish(
    session: AsyncSession,
    key: str,
    status: Status,
    now: datetime,
    detail: str | None = None,
    *,
    owner: str,
) -> bool:
    """Record how a claimed message ended: sent, failed, blocked or skipped. False: the
    claim was no longer ours (taken over after it lapsed), so the message may have gone
    out twice; logged."""
    result = await session.execute(
        update(ReminderLog)
        .where(
            ReminderLog.dedup_key == key,
            ReminderLog.owner == owner,
            ReminderLog.status == Status.CLAIMED.value,
        )
        .values(
            status=status.value,
            sent_at=now if status is Status.SENT else None,
            detail=detail[:500] if detail else None,
        )
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    if _rows(result) == 1:
        return True
    log.warning(
        "reminder %s (%s): its claim had lapsed and was taken over before it was recorded",
        key,
        status.value,
    )
    return False


async def record_skipped(
    session: AsyncSession, items: Sequence[Due], now: datetime, *, owner: str
) -> int:
    """Mark messages whose working day ended unsent as skipped, so they are never sent late
    (a lapsed claim of such a message too: it is not retried after its day). How many
    this call marked.

    After a long stop the look-back finds thousands at once, so the new ones go in a few
    multi-row INSERTs and one commit (one commit each cost 0.75 ms on SQLite, 2.3 s for
    3,000); a key already in the ledger is taken over only if its claim lapsed."""
    pending: dict[str, tuple[Due, str]] = {}
    for item in items:
        local = item.until.astimezone(ZoneInfo(item.timezone))
        detail = f"its working day ended at {local:%H:%M %d/%m/%Y} before it could be sent"
        pending.setdefault(item.key, (item, detail))
    if not pending:
        return 0
    table = cast(Table, ReminderLog.__table__)
    dialect = session.get_bind().dialect.name
    statement = insert_ignoring(table, dialect).returning(table.c.dedup_key)
    keys = list(pending)
    stored: set[str] = set()
    for i in range(0, len(keys), _SKIP_CHUNK):
        rows = [
            _entry(pending[key][0], now, owner, Status.SKIPPED, pending[key][1])
            for key in keys[i : i + _SKIP_CHUNK]
        ]
        # Many parameter sets for one compiled statement: SQLAlchemy sends them as
        # multi-row INSERTs ("insertmanyvalues") and compiles it once, not per chunk.
        stored.update(await session.scalars(statement, rows))
        await asyncio.sleep(0)  # a tick's replies are not held behind thousands of rows
    await session.commit()
    # A key already in the ledger is either held (finished, or a live claim) or a lapsed
    # claim to take over: one read tells them apart, and only the lapsed cost a write each.
    taken = [key for key in keys if key not in stored]
    held = await held_keys(session, taken, now) if taken else set()
    for key in taken:
        if key not in held and await _take_over(
            session, key, now, owner, Status.SKIPPED, pending[key][1]
        ):
            stored.add(key)
    for key in keys:
        if key in stored:
            item, detail = pending[key]
            log.info("reminder %s to %s skipped: %s", key, item.address, detail)
    return len(stored)
