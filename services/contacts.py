"""Where a person is reached: one reachable channel identity per person — the channel they
chose (/kenh) if it still reaches them, else the one they used last. Reminders, review
notices, hand-over messages and /kenh itself all ask here, so "which channel gets the
message" is decided once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Identity, Officer, User
from services.addresses import Address


@dataclass(frozen=True)
class Account:
    """One of a person's channel accounts, as far as reaching them goes."""

    address: Address
    reachable: bool
    last_seen_at: datetime


def reach(accounts: Iterable[Account], chosen: str | None) -> Address | None:
    """The address a person's messages go to: on the chosen channel if that account is
    reachable, else the reachable account used last; None when nothing reaches them."""
    reachable = sorted(
        (a for a in accounts if a.reachable), key=lambda a: a.last_seen_at, reverse=True
    )
    for account in reachable:
        if account.address.channel == chosen:
            return account.address
    return reachable[0].address if reachable else None


@dataclass(frozen=True)
class Contact:
    """An active officer of a unit, with the address their messages go to."""

    unit_id: int
    user_id: int
    address: Address
    language: str | None
    name: str


async def officer_contacts(
    session: AsyncSession, cluster_id: int, unit_ids: Sequence[int] | None = None
) -> list[Contact]:
    """The active officers of a cluster (or of some of its units) that can be reached,
    each once per unit, at the address `reach` picks; in the order they joined."""
    found = await contacts_by_cluster(session, [cluster_id], unit_ids)
    return found.get(cluster_id, [])


async def contacts_by_cluster(
    session: AsyncSession, cluster_ids: Sequence[int], unit_ids: Sequence[int] | None = None
) -> dict[int, list[Contact]]:
    """`officer_contacts` of several clusters in one statement (a reminder tick plans for
    every cluster at once), by cluster; a cluster nobody reaches is left out."""
    # Columns, not entities: a tick reads thousands of officers at once, and building
    # User and Identity objects for each cost more than the query.
    query = (
        select(
            Officer.cluster_id,
            Officer.unit_id,
            User.id.label("user_id"),
            User.channel.label("chosen"),
            User.language,
            User.full_name,
            Identity.channel,
            Identity.external_id,
            Identity.reachable,
            Identity.last_seen_at,
        )
        .join(User, Officer.user_id == User.id)
        .join(Identity, Identity.user_id == User.id)
        .where(
            Officer.cluster_id.in_(list(cluster_ids)),
            Officer.active.is_(True),
            Identity.reachable.is_(True),
        )
        .order_by(Officer.joined_at, User.id, Identity.id)
    )
    if unit_ids is not None:
        query = query.where(Officer.unit_id.in_(list(unit_ids)))
    people: dict[tuple[int, int, int], tuple[Any, list[Account]]] = {}
    for row in await session.execute(query):
        _, found = people.setdefault((row.cluster_id, row.unit_id, row.user_id), (row, []))
        found.append(
            Account(Address(row.channel, row.external_id), row.reachable, row.last_seen_at)
        )
    out: dict[int, list[Contact]] = {}
    for (cluster_id, unit_id, user_id), (person, accounts) in people.items():  # joining order
        address = reach(accounts, person.chosen)
        if address is not None:
            contact = Contact(unit_id, user_id, address, person.language, person.full_name)
            out.setdefault(cluster_id, []).append(contact)
    return out
