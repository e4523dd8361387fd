"""One person, two channels: a link code attaches a Zalo account to a Telegram officer (or
the other way round); /kenh chooses where reminders go; refusals change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Identity, Officer, User
from services import identities, invites, onboarding
from services.access import resolve_actor
from services.addresses import Address
from services.contacts import officer_contacts
from services.errors import InvalidInput
from services.onboarding import Person
from tests.conftest import NOW
from tests.factories import officer, seed_examples, tg

ZALO = Address("zalo", "z-4411")


def on_zalo(address: Address = ZALO) -> Person:
    return Person(address=address, full_name="Nguyễn Văn Zalo", username=None)


@pytest.fixture
async def seated(session: AsyncSession) -> int:
    await seed_examples(session)
    actor = await officer(session, 101, "STC-BDINH")
    assert actor.user_id is not None and actor.seat is not None
    return actor.seat.cluster_id


async def count(session: AsyncSession, table: type[User] | type[Identity]) -> int:
    return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def test_a_code_from_telegram_links_the_zalo_account_to_the_same_officer(
    session: AsyncSession, seated: int
) -> None:
    code = await identities.new_link_code(session, tg(101), NOW)
    assert len(code.replace(" ", "")) == 8

    done = await identities.link(session, on_zalo(), code, NOW + timedelta(minutes=3))

    assert not done.already and done.full_name == "Cán bộ STC-BDINH"
    zalo = await resolve_actor(session, ZALO, frozenset())
    telegram = await resolve_actor(session, tg(101), frozenset())
    assert zalo.user_id == telegram.user_id and zalo.seat == telegram.seat
    # One officer, reached once, on the channel used last (Zalo: it just wrote).
    contacts = await officer_contacts(session, seated)
    mine = [c for c in contacts if c.user_id == telegram.user_id]
    assert [c.address for c in mine] == [ZALO]
    assert await session.scalar(select(func.count()).select_from(Officer)) == 1


async def test_the_chosen_channel_wins_over_the_one_used_last(
    session: AsyncSession, seated: int
) -> None:
    code = await identities.new_link_code(session, tg(101), NOW)
    await identities.link(session, on_zalo(), code, NOW)

    chosen = await identities.choose_channel(session, ZALO, "telegram", NOW)
    assert chosen.chosen == "telegram" and chosen.reminders_to == tg(101)
    assert [c.address for c in await officer_contacts(session, seated)] == [tg(101)]

    # Telegram blocked: the choice cannot be kept, the other account still reaches them.
    row = await session.scalar(select(Identity).where(Identity.channel == "telegram"))
    assert row is not None
    row.reachable = False
    await session.commit()
    assert [c.address for c in await officer_contacts(session, seated)] == [ZALO]

    back = await identities.choose_channel(session, tg(101), None, NOW)
    assert back.chosen is None


async def test_choosing_a_channel_the_person_has_no_account_on_is_refused(
    session: AsyncSession, seated: int
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await identities.choose_channel(session, tg(101), "zalo", NOW)

    assert refused.value.key == "error.channel_unknown"
    user = await session.scalar(select(User))
    assert user is not None and user.channel is None


@pytest.mark.parametrize(
    ("shift", "typed", "key"),
    [
        (timedelta(minutes=16), None, "error.link_code_unknown"),  # expired
        (timedelta(0), "0000 0000", "error.link_code_unknown"),  # never issued
        (timedelta(0), "12ab", "error.link_code_form"),
    ],
)
async def test_a_wrong_or_expired_code_links_nothing(
    session: AsyncSession, seated: int, shift: timedelta, typed: str | None, key: str
) -> None:
    code = await identities.new_link_code(session, tg(101), NOW)
    users, accounts = await count(session, User), await count(session, Identity)

    with pytest.raises(InvalidInput) as refused:
        await identities.link(session, on_zalo(), typed or code, NOW + shift)

    assert refused.value.key == key
    assert (await count(session, User), await count(session, Identity)) == (users, accounts)


async def test_a_code_works_once_and_a_newer_code_replaces_an_older_one(
    session: AsyncSession, seated: int
) -> None:
    old = await identities.new_link_code(session, tg(101), NOW)
    new = await identities.new_link_code(session, tg(101), NOW)
    with pytest.raises(InvalidInput):
        await identities.link(session, on_zalo(), old, NOW)

    await identities.link(session, on_zalo(), new, NOW)
    with pytest.raises(InvalidInput) as again:
        await identities.link(session, on_zalo(Address("zalo", "z-other")), new, NOW)
    assert again.value.key == "error.link_code_unknown"


async def test_a_second_account_on_the_same_channel_is_refused(
    session: AsyncSession, seated: int
) -> None:
    await officer(session, 202, "STC-QNGAI")
    code = await identities.new_link_code(session, tg(101), NOW)

    with pytest.raises(InvalidInput) as refused:
        await identities.link(session, Person(tg(202), "x", None), code, NOW)

    assert refused.value.key == "error.link_same_channel"


async def test_an_account_that_reports_for_a_unit_as_another_person_is_not_merged(
    session: AsyncSession, seated: int
) -> None:
    [issued] = await invites.create_invites(
        session,
        cluster_code="CUM6-STC",
        unit_code="STC-QNGAI",
        now=NOW,
        days=14,
        max_uses=None,
        actor="test",
    )
    await onboarding.join(session, on_zalo(), issued.token, NOW)  # joined on Zalo alone
    code = await identities.new_link_code(session, tg(101), NOW)

    with pytest.raises(InvalidInput) as refused:
        await identities.link(session, on_zalo(), code, NOW)

    assert refused.value.key == "error.link_has_seat"
    zalo = await resolve_actor(session, ZALO, frozenset())
    telegram = await resolve_actor(session, tg(101), frozenset())
    assert zalo.user_id != telegram.user_id
    assert zalo.seat is not None and zalo.seat.unit_code == "STC-QNGAI"
