"""Onboarding: people joining through invitations, choosing a language, linking the group."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Cluster, Identity, Invite, Officer, Unit, User
from services import audit
from services.access import Actor, Permission, Seat, active_seat
from services.addresses import Address
from services.clusters import get_cluster
from services.errors import InvalidInput, NotFound, PermissionDenied
from services.invites import TOKEN_RE, hash_token

LANGUAGES = ("vi", "en")


@dataclass(frozen=True)
class Person:
    """What the channel knows about the person talking."""

    address: Address
    full_name: str
    username: str | None


async def upsert_user(session: AsyncSession, person: Person, now: datetime) -> User:
    """The person's row and this channel identity, created on first contact; the name is
    kept in step with the channel's, and the identity marked reachable and last used."""
    row = (
        await session.execute(
            select(User, Identity)
            .join(Identity, Identity.user_id == User.id)
            .where(
                Identity.channel == person.address.channel,
                Identity.external_id == person.address.id,
            )
        )
    ).first()
    if row is None:
        user = User(
            full_name=person.full_name,
            username=person.username,
            language=None,
            created_at=now,
            updated_at=now,
        )
        session.add(user)
        await session.flush()
        session.add(
            Identity(
                user_id=user.id,
                channel=person.address.channel,
                external_id=person.address.id,
                reachable=True,
                created_at=now,
                last_seen_at=now,
            )
        )
        await session.flush()
        return user
    user, identity = row
    if (user.full_name, user.username) != (person.full_name, person.username):
        user.full_name, user.username = person.full_name, person.username
        user.updated_at = now
    identity.reachable = True
    identity.last_seen_at = now
    return user


async def mark_reachable(session: AsyncSession, address: Address, now: datetime) -> None:
    """Someone who had blocked the bot wrote to it again: reminders reach them again."""
    await session.execute(
        update(Identity)
        .where(
            Identity.channel == address.channel,
            Identity.external_id == address.id,
            Identity.reachable.is_(False),
        )
        .values(reachable=True, last_seen_at=now)
    )
    await session.commit()


@dataclass(frozen=True)
class JoinResult:
    seat: Seat
    already: bool  # they were already an officer of this unit
    left_unit: str | None  # the unit they reported for before, if they moved


async def join(session: AsyncSession, person: Person, token: str, now: datetime) -> JoinResult:
    """Bind the person to the invitation's unit as a liaison officer."""
    if not TOKEN_RE.fullmatch(token):
        raise InvalidInput("error.invite_unknown")
    invite = await session.scalar(select(Invite).where(Invite.token_hash == hash_token(token)))
    if invite is None:
        raise NotFound("error.invite_unknown")
    if invite.revoked_at is not None:
        raise InvalidInput("error.invite_revoked")
    if invite.expires_at <= now:
        raise InvalidInput("error.invite_expired")
    unit = await session.get_one(Unit, invite.unit_id)
    if unit.valid_to is not None and unit.valid_to < now.date():
        raise InvalidInput("error.unit_closed", unit=unit.name)
    user = await upsert_user(session, person, now)
    current = await session.scalar(
        select(Officer).where(Officer.user_id == user.id, Officer.active.is_(True))
    )
    left_unit = None
    already = current is not None and current.unit_id == unit.id
    if not already:
        if invite.max_uses is not None and invite.uses >= invite.max_uses:
            raise InvalidInput("error.invite_used_up")
        if current is not None:
            # One person reports for one unit at a time; the old seat is closed, not erased.
            current.active = False
            current.left_at = now
            left_unit = (await session.get_one(Unit, current.unit_id)).name
        officer = Officer(
            user_id=user.id,
            unit_id=unit.id,
            cluster_id=invite.cluster_id,
            invite_id=invite.id,
            active=True,
            joined_at=now,
        )
        session.add(officer)
        invite.uses += 1
        await session.flush()
        audit.record(
            session,
            now=now,
            actor=str(person.address),
            action="officer.join",
            entity="officer",
            entity_id=officer.id,
            cluster_id=invite.cluster_id,
            unit=unit.code,
            invite_id=invite.id,
        )
    await session.commit()
    seat = await active_seat(session, user.id)
    assert seat is not None  # just written in this unit of work
    return JoinResult(seat=seat, already=already, left_unit=left_unit)


async def set_language(session: AsyncSession, person: Person, language: str, now: datetime) -> str:
    """Remember the person's language for every later message."""
    if language not in LANGUAGES:
        raise InvalidInput("error.language", languages=", ".join(LANGUAGES))
    user = await upsert_user(session, person, now)
    user.language = language
    user.updated_at = now
    await session.commit()
    return language


async def link_group(
    session: AsyncSession,
    actor: Actor,
    *,
    chat: Address,
    cluster_code: str | None,
    now: datetime,
) -> Cluster:
    """Make this group chat the cluster's group (for leaderboards and reminders)."""
    if cluster_code:
        cluster = await get_cluster(session, cluster_code)
    elif actor.seat is not None:
        cluster = await session.get_one(Cluster, actor.seat.cluster_id)
    elif actor.is_admin:
        raise InvalidInput("error.linkgroup_needs_code")
    else:
        raise PermissionDenied("error.not_registered")
    actor.require(Permission.LINK_GROUP, cluster.id)
    # A chat serves one cluster: unlink it from any other first.
    await session.execute(
        update(Cluster)
        .where(Cluster.group_address == str(chat), Cluster.id != cluster.id)
        .values(group_address=None, updated_at=now)
    )
    previous = cluster.group_address
    cluster.group_address = str(chat)
    cluster.updated_at = now
    audit.record(
        session,
        now=now,
        actor=actor.audit_name,
        action="cluster.link_group",
        entity="cluster",
        entity_id=cluster.id,
        cluster_id=cluster.id,
        chat=str(chat),
        previous_chat=previous,
    )
    await session.commit()
    return cluster


async def migrate_group(session: AsyncSession, old: Address, new: Address, now: datetime) -> None:
    """Follow a group whose address changed (Telegram upgraded it to a supergroup)."""
    result = await session.execute(
        update(Cluster)
        .where(Cluster.group_address == str(old))
        .values(group_address=str(new), updated_at=now)
        .returning(Cluster.id)
    )
    for (cluster_id,) in result.all():
        audit.record(
            session,
            now=now,
            actor=old.channel,
            action="cluster.group_migrated",
            entity="cluster",
            entity_id=cluster_id,
            cluster_id=cluster_id,
            old_chat=str(old),
            new_chat=str(new),
        )
    await session.commit()
