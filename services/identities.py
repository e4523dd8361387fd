"""A person's channel accounts: linking a second channel to the same person (/lienket), and
which channel their scheduled messages go to (/kenh).

A person who joined on Telegram and then opens the bot on Zalo is, to the bot, a stranger
until they prove it is them: they ask for a code on the first channel and send it from the
second. Then the second account is an identity of the same person (one seat, one set of
reminders), never a second officer of the unit."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Draft, Identity, LinkCode, Officer, User
from services import audit
from services.addresses import Address
from services.contacts import Account, reach
from services.errors import InvalidInput, NotFound
from services.onboarding import Person, upsert_user

LINK_TTL = timedelta(minutes=15)
# Eight digits: typed on a phone keypad; with the code valid 15 minutes and each code
# hashed, guessing one means sending tens of millions of messages to the bot.
CODE_RE = re.compile(r"^\d{4}\s?\d{4}$")


def _hash(code: str) -> str:
    return hashlib.sha256(code.replace(" ", "").encode()).hexdigest()


@dataclass(frozen=True)
class Accounts:
    """A person's accounts, the channel they chose (None: the one used last) and where
    scheduled messages go now."""

    accounts: tuple[Account, ...]
    chosen: str | None
    reminders_to: Address | None


async def _user_of(session: AsyncSession, address: Address) -> User:
    user = await session.scalar(
        select(User)
        .join(Identity, Identity.user_id == User.id)
        .where(Identity.channel == address.channel, Identity.external_id == address.id)
    )
    if user is None:
        raise NotFound("error.not_registered")
    return user


async def accounts(session: AsyncSession, address: Address) -> Accounts:
    user = await _user_of(session, address)
    rows = await session.scalars(
        select(Identity).where(Identity.user_id == user.id).order_by(Identity.id)
    )
    found = tuple(
        Account(Address(i.channel, i.external_id), i.reachable, i.last_seen_at) for i in rows
    )
    return Accounts(found, user.channel, reach(found, user.channel))


async def choose_channel(
    session: AsyncSession, address: Address, channel: str | None, now: datetime
) -> Accounts:
    """Scheduled messages go to `channel` from now on (None: the channel used last)."""
    user = await _user_of(session, address)
    mine = await accounts(session, address)
    names = sorted({a.address.channel for a in mine.accounts})
    if channel is not None and channel not in names:
        raise InvalidInput("error.channel_unknown", channel=channel, channels=", ".join(names))
    user.channel = channel
    user.updated_at = now
    audit.record(
        session,
        now=now,
        actor=str(address),
        action="user.channel",
        entity="user",
        entity_id=user.id,
        channel=channel or "auto",
    )
    await session.commit()
    return await accounts(session, address)


async def new_link_code(session: AsyncSession, address: Address, now: datetime) -> str:
    """A code to send from the other channel; an older unused code of the person stops
    working."""
    user = await _user_of(session, address)
    await session.execute(
        update(LinkCode)
        .where(LinkCode.user_id == user.id, LinkCode.used_at.is_(None))
        .values(expires_at=now)
    )
    while True:
        code = f"{secrets.randbelow(10**8):08d}"
        if await session.get(LinkCode, _hash(code)) is None:
            break
    session.add(
        LinkCode(
            code_hash=_hash(code),
            user_id=user.id,
            created_at=now,
            expires_at=now + LINK_TTL,
            used_at=None,
        )
    )
    await session.commit()
    return f"{code[:4]} {code[4:]}"


@dataclass(frozen=True)
class Linked:
    full_name: str
    already: bool


async def link(session: AsyncSession, person: Person, code: str, now: datetime) -> Linked:
    """Attach the account `person` writes from to the person who asked for `code`."""
    if not CODE_RE.fullmatch(code.strip()):
        raise InvalidInput("error.link_code_form")
    row = await session.get(LinkCode, _hash(code.strip()))
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise InvalidInput("error.link_code_unknown", minutes=int(LINK_TTL.total_seconds() // 60))
    owner = await session.get_one(User, row.user_id)
    address = person.address
    identity = await session.scalar(
        select(Identity).where(
            Identity.channel == address.channel, Identity.external_id == address.id
        )
    )
    if identity is not None and identity.user_id == owner.id:
        return Linked(owner.full_name, already=True)
    same_channel = await session.scalar(
        select(Identity).where(Identity.user_id == owner.id, Identity.channel == address.channel)
    )
    if same_channel is not None:
        # One account per channel and person: the reminders would not know which to use.
        raise InvalidInput("error.link_same_channel", channel=address.channel)
    if identity is None:
        await upsert_user(session, person, now)  # creates the identity (and a bare user)
        await session.flush()
        identity = await session.scalar(
            select(Identity).where(
                Identity.channel == address.channel, Identity.external_id == address.id
            )
        )
        assert identity is not None
    other = identity.user_id
    seated = await session.scalar(
        select(Officer.id).where(Officer.user_id == other, Officer.active.is_(True)).limit(1)
    )
    if seated is not None:
        # This account already reports for a unit as a person of its own: merging two
        # people's histories is an administrator's decision, not a code's.
        raise InvalidInput("error.link_has_seat")
    identity.user_id = owner.id
    identity.reachable = True
    identity.last_seen_at = now
    await session.execute(delete(Draft).where(Draft.user_id == other))
    row.used_at = now
    audit.record(
        session,
        now=now,
        actor=str(address),
        action="user.link",
        entity="user",
        entity_id=owner.id,
        address=str(address),
        from_user=other,
    )
    await session.commit()
    return Linked(owner.full_name, already=False)
