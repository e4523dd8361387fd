"""Every message the bot sends on its own that is due at a moment: the one question the
delivery tick (handlers/delivery.py) asks. Three sources, each with its own rules:

- the period reminders, escalations, summaries and the weekly board (services.reminders);
- the ballot's reminders to the units that have not voted (here, from services.ballot);
- the mid-year review for the chair (services.midyear).

All three are `Due` items keyed in the same ledger, so each goes out once, across restarts
and processes, and what expired unsent is recorded as skipped.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Cluster
from services import ballot, midyear, reminders
from services.reminders.audience import Reader, Where, to_officers
from services.reminders.messages import BallotRef


async def plan(session: AsyncSession, now: datetime, *, catch_up: bool = True) -> reminders.Plan:
    """What is due at `now` and not in the ledger yet; with `catch_up`, also what expired
    unsent (the caller records it as skipped)."""
    found = await reminders.plan(session, now, catch_up=catch_up)
    for more in (
        await ballot_reminders(session, now, catch_up=catch_up),
        await midyear.scheduled(session, now, catch_up=catch_up),
    ):
        found.due += more.due
        found.expired += more.expired
    return found


async def ballot_reminders(
    session: AsyncSession,
    now: datetime,
    *,
    catch_up: bool = True,
    lookback: timedelta = reminders.LOOKBACK,
) -> reminders.Plan:
    """Before an open ballot closes: each officer of a unit that has not voted, at each of
    the rule's hours before the close (none before the ballot opened: it was announced)."""
    found = reminders.Plan()
    waiting = await ballot.waiting(session, now)
    if not waiting:
        return found
    reader = Reader(session)
    ids = {w.cluster_id for w in waiting}
    clusters = {c.id: c for c in await session.scalars(select(Cluster).where(Cluster.id.in_(ids)))}
    for open_ballot in waiting:
        cluster = clusters[open_ballot.cluster_id]
        where = Where(cluster, ZoneInfo(cluster.timezone), 0)
        ref = BallotRef(open_ballot.id, open_ballot.kind, open_ballot.year, open_ballot.closes_at)
        members = await reader.members(cluster.id, open_ballot.year)
        for hours in open_ballot.remind_before_hours:
            due_at = open_ballot.closes_at - timedelta(hours=hours)
            if due_at <= open_ballot.opened_at:
                continue
            rule = f"ballot{open_ballot.id}-{hours}h"
            slot = reminders.Slot(rule, reminders.Kind.BALLOT, due_at, open_ballot.closes_at)
            state = slot.state(now, lookback)
            if state is None or (state == "expired" and not catch_up):
                continue
            items = [
                replace(i, ballot=ref, subject_unit=members[i.unit_id or 0][0].short_name)
                for i in await to_officers(reader, where, slot, open_ballot.units)
            ]
            (found.due if state == "due" else found.expired).extend(items)
    found.due = await reminders.new_only(session, found.due, now)
    found.expired = await reminders.new_only(session, found.expired, now)
    return found
