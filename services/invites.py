"""Invitations: a random, expiring, revocable token per unit, redeemed with /start <token>."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Invite, Membership, Unit
from services import audit
from services.clusters import current_year, get_cluster, get_unit
from services.errors import InvalidInput, NotFound

# Telegram deep-link payloads allow at most 64 characters of [A-Za-z0-9_-].
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    # 24 random bytes: 192 bits, 32 characters, far beyond guessing.
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class IssuedInvite:
    unit_code: str
    unit_name: str
    token: str
    expires_at: datetime
    max_uses: int | None


async def create_invites(
    session: AsyncSession,
    *,
    cluster_code: str,
    unit_code: str | None,
    now: datetime,
    days: int,
    max_uses: int | None,
    actor: str,
) -> list[IssuedInvite]:
    """One new invitation per member unit of the working year (or for one unit)."""
    if days < 1 or days > 365:
        raise InvalidInput("error.invite_days", days=days)
    if max_uses is not None and max_uses < 1:
        raise InvalidInput("error.invite_uses", uses=max_uses)
    cluster = await get_cluster(session, cluster_code)
    year = await current_year(session, cluster.id)
    if year is None:
        raise NotFound("error.no_year", cluster=cluster.code)
    if unit_code is not None:
        units = [await get_unit(session, cluster, unit_code, year.year)]
    else:
        units = list(
            await session.scalars(
                select(Unit)
                .join(Membership, Membership.unit_id == Unit.id)
                .where(Membership.cluster_id == cluster.id, Membership.year == year.year)
                .order_by(Unit.code)
            )
        )
    issued = []
    for unit in units:
        token = new_token()
        invite = Invite(
            token_hash=hash_token(token),
            cluster_id=cluster.id,
            unit_id=unit.id,
            created_at=now,
            expires_at=now + timedelta(days=days),
            max_uses=max_uses,
            uses=0,
            created_by=actor,
        )
        session.add(invite)
        await session.flush()
        audit.record(
            session,
            now=now,
            actor=actor,
            action="invite.create",
            entity="invite",
            entity_id=invite.id,
            cluster_id=cluster.id,
            unit=unit.code,
            expires_at=invite.expires_at.isoformat(),
            max_uses=max_uses,
        )
        issued.append(IssuedInvite(unit.code, unit.name, token, invite.expires_at, max_uses))
    await session.commit()
    return issued


async def revoke_invites(
    session: AsyncSession, *, cluster_code: str, unit_code: str | None, now: datetime, actor: str
) -> int:
    """Revoke every live invitation of the cluster (or of one unit); returns how many."""
    cluster = await get_cluster(session, cluster_code)
    query = select(Invite).where(
        Invite.cluster_id == cluster.id, Invite.revoked_at.is_(None), Invite.expires_at > now
    )
    if unit_code is not None:
        year = await current_year(session, cluster.id)
        unit = await get_unit(session, cluster, unit_code, year.year if year else now.year)
        query = query.where(Invite.unit_id == unit.id)
    count = 0
    for invite in await session.scalars(query):
        invite.revoked_at = now
        count += 1
        audit.record(
            session,
            now=now,
            actor=actor,
            action="invite.revoke",
            entity="invite",
            entity_id=invite.id,
            cluster_id=cluster.id,
        )
    await session.commit()
    return count
