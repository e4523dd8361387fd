"""Where a person is reached: one reachable channel identity per person, the one they used
last. Reminders, review notices and hand-over messages all ask here, so "which channel
gets the message" is decided once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Identity, Officer, User
from services.addresses import Address


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
    each once per unit, through the identity they used last; in the order they joined."""
    query = (
        select(Officer.unit_id, User, Identity)
        .join(User, Officer.user_id == User.id)
        .join(Identity, Identity.user_id == User.id)
        .where(
            Officer.cluster_id == cluster_id,
            Officer.active.is_(True),
            Identity.reachable.is_(True),
        )
        # The newest identity first within a person: the first one seen is kept.
        .order_by(Officer.joined_at, User.id, Identity.last_seen_at.desc(), Identity.id.desc())
    )
    if unit_ids is not None:
        query = query.where(Officer.unit_id.in_(list(unit_ids)))
    seen: set[tuple[int, int]] = set()
    out: list[Contact] = []
    for unit_id, user, identity in await session.execute(query):
        if (unit_id, user.id) in seen:
            continue
        seen.add((unit_id, user.id))
        out.append(
            Contact(
                unit_id,
                user.id,
                Address(identity.channel, identity.external_id),
                user.language,
                user.full_name,
            )
        )
    return out
