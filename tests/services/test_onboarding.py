"""Invitations, joining, and the role matrix, on a real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import AuditEntry, Cluster, Invite, Officer
from services import invites, onboarding
from services.access import Permission, resolve_actor
from services.cluster_file import load_cluster_file
from services.clusters import import_cluster
from services.errors import DomainError, InvalidInput, NotFound, PermissionDenied
from services.onboarding import Person
from tests.conftest import EXAMPLES, NOW
from tests.factories import tg

ADMIN_ID = 999


@pytest.fixture
async def clusters(session: AsyncSession) -> None:
    await import_cluster(session, load_cluster_file(EXAMPLES / "cum6-stc-2024.toml"), now=NOW)
    await import_cluster(session, load_cluster_file(EXAMPLES / "khoi-tw-tayninh.toml"), now=NOW)


async def token_for(
    session: AsyncSession, unit: str, cluster: str = "CUM6-STC", **kwargs: object
) -> str:
    options: dict[str, object] = {"days": 14, "max_uses": None} | kwargs
    issued = await invites.create_invites(
        session,
        cluster_code=cluster,
        unit_code=unit,
        now=NOW,
        actor="test",
        **options,  # type: ignore[arg-type]
    )
    return issued[0].token


def person(telegram_id: int, name: str = "Nguyễn Văn A") -> Person:
    return Person(address=tg(telegram_id), full_name=name, username=None)


async def test_invites_are_issued_per_member_unit_and_stored_only_as_hashes(
    session: AsyncSession, clusters: None
) -> None:
    issued = await invites.create_invites(
        session, cluster_code="cum6-stc", unit_code=None, now=NOW, days=7, max_uses=None, actor="t"
    )

    assert [i.unit_code for i in issued] == sorted(
        ["STC-QNAM", "STC-QNGAI", "STC-BDINH", "STC-PYEN", "STC-KHOA", "STC-NTHUAN"]
    )
    assert len({i.token for i in issued}) == 6
    assert all(len(i.token) >= 32 and i.expires_at == NOW + timedelta(days=7) for i in issued)
    stored = set(await session.scalars(select(Invite.token_hash)))
    assert stored == {invites.hash_token(i.token) for i in issued}
    assert not stored & {i.token for i in issued}


async def test_an_officer_joins_through_an_invitation(
    session: AsyncSession, clusters: None
) -> None:
    token = await token_for(session, "STC-BDINH")

    result = await onboarding.join(session, person(1001), token, NOW)

    assert result.seat.unit_code == "STC-BDINH"
    assert result.seat.cluster_code == "CUM6-STC"
    assert result.seat.role is not None and result.seat.role.value == "member"
    assert not result.already
    actions = list(await session.scalars(select(AuditEntry.action)))
    assert "officer.join" in actions


async def test_several_officers_may_join_one_unit_and_rejoining_is_harmless(
    session: AsyncSession, clusters: None
) -> None:
    token = await token_for(session, "STC-PYEN")
    await onboarding.join(session, person(1), token, NOW)
    await onboarding.join(session, person(2), token, NOW)

    again = await onboarding.join(session, person(1), token, NOW)

    assert again.already
    assert await session.scalar(select(func.count()).select_from(Officer)) == 2
    invite = await session.scalar(select(Invite))
    assert invite is not None and invite.uses == 2


@pytest.mark.parametrize(
    ("setup", "key"),
    [
        ("expired", "error.invite_expired"),
        ("revoked", "error.invite_revoked"),
        ("used_up", "error.invite_used_up"),
        ("unknown", "error.invite_unknown"),
        ("malformed", "error.invite_unknown"),
    ],
)
async def test_a_bad_invitation_is_refused_and_changes_nothing(
    session: AsyncSession, clusters: None, setup: str, key: str
) -> None:
    token = await token_for(session, "STC-KHOA", max_uses=1)
    when = NOW
    if setup == "expired":
        when = NOW + timedelta(days=15)
    elif setup == "revoked":
        assert (
            await invites.revoke_invites(
                session, cluster_code="CUM6-STC", unit_code="STC-KHOA", now=NOW, actor="t"
            )
            == 1
        )
    elif setup == "used_up":
        await onboarding.join(session, person(7), token, NOW)
    elif setup == "unknown":
        token = "A" * 32
    elif setup == "malformed":
        token = "<script>"
    officers_before = await session.scalar(select(func.count()).select_from(Officer))

    with pytest.raises(DomainError) as caught:
        await onboarding.join(session, person(8), token, when)

    assert caught.value.key == key
    await session.rollback()
    assert await session.scalar(select(func.count()).select_from(Officer)) == officers_before


async def test_joining_another_unit_closes_the_old_seat_but_keeps_it(
    session: AsyncSession, clusters: None
) -> None:
    await onboarding.join(session, person(5), await token_for(session, "STC-QNAM"), NOW)

    moved = await onboarding.join(session, person(5), await token_for(session, "STC-QNGAI"), NOW)

    assert moved.left_unit is not None and "Quảng Nam" in moved.left_unit
    rows = list(await session.scalars(select(Officer).order_by(Officer.id)))
    assert [(r.active, r.left_at is not None) for r in rows] == [(False, True), (True, False)]


async def test_inviting_an_unknown_cluster_or_unit_names_it(
    session: AsyncSession, clusters: None
) -> None:
    with pytest.raises(NotFound) as no_cluster:
        await token_for(session, "STC-QNAM", cluster="NOPE")
    assert no_cluster.value.params == {"code": "NOPE"}
    with pytest.raises(NotFound) as no_unit:
        await token_for(session, "TN-CTHUE")  # a unit of the other cluster
    assert no_unit.value.key == "error.unit_not_found"
    with pytest.raises(InvalidInput):
        await token_for(session, "STC-QNAM", days=0)


# The role matrix, written out by hand so that a change to the rules must change it too.
P = Permission
EXPECTED: dict[str, set[Permission]] = {
    "stranger": set(),
    "other_cluster_officer": set(),
    "officer": {P.REPORT, P.VIEW_PROGRESS, P.VIEW_LEADERBOARD},
    "vice_chair": {
        P.REPORT,
        P.VIEW_PROGRESS,
        P.VIEW_LEADERBOARD,
        P.VIEW_SUMMARY,
        P.REVIEW,
        P.EXPORT,
        P.DOCUMENTS,
        P.REMIND,
        P.CLOSE_YEAR,
    },
    "chair": set(Permission),
    "admin": set(Permission),
}
WHO = {
    "stranger": (100, None),
    "other_cluster_officer": (101, ("TN-CTHUE", "KHOI-TW-TNINH")),
    "officer": (102, ("STC-PYEN", "CUM6-STC")),
    "vice_chair": (103, ("STC-QNGAI", "CUM6-STC")),
    "chair": (104, ("STC-QNAM", "CUM6-STC")),
    "admin": (ADMIN_ID, None),
}


@pytest.mark.parametrize("who", list(EXPECTED))
async def test_each_role_has_exactly_its_rights_in_the_cum6_cluster(
    session: AsyncSession, clusters: None, who: str
) -> None:
    telegram_id, seat = WHO[who]
    if seat is not None:
        unit, cluster_code = seat
        await onboarding.join(
            session, person(telegram_id), await token_for(session, unit, cluster_code), NOW
        )
    cum6 = await session.scalar(select(Cluster).where(Cluster.code == "CUM6-STC"))
    assert cum6 is not None

    actor = await resolve_actor(session, tg(telegram_id), frozenset({str(tg(ADMIN_ID))}))

    allowed = {p for p in Permission if actor.can(p, cum6.id)}
    assert allowed == EXPECTED[who]
    for permission in set(Permission) - allowed:
        with pytest.raises(PermissionDenied):
            actor.require(permission, cum6.id)


async def test_a_refusal_says_why(session: AsyncSession, clusters: None) -> None:
    await onboarding.join(session, person(1), await token_for(session, "STC-PYEN"), NOW)
    await onboarding.join(
        session, person(2), await token_for(session, "TN-BHXH", "KHOI-TW-TNINH"), NOW
    )
    cum6 = await session.scalar(select(Cluster).where(Cluster.code == "CUM6-STC"))
    assert cum6 is not None
    admins: frozenset[str] = frozenset()

    officer = await resolve_actor(session, tg(1), admins)
    with pytest.raises(PermissionDenied) as forbidden:
        officer.require(Permission.HANDOVER, cum6.id)
    assert forbidden.value.key == "error.forbidden"
    assert forbidden.value.params == {"permission": "handover", "holders": "chair"}

    outsider = await resolve_actor(session, tg(2), admins)
    with pytest.raises(PermissionDenied) as other:
        outsider.require(Permission.REPORT, cum6.id)
    assert other.value.key == "error.other_cluster"

    stranger = await resolve_actor(session, tg(3), admins)
    with pytest.raises(PermissionDenied) as unknown:
        stranger.require(Permission.VIEW_LEADERBOARD, cum6.id)
    assert unknown.value.key == "error.not_registered"


async def test_only_the_chair_or_an_admin_links_the_group(
    session: AsyncSession, clusters: None
) -> None:
    await onboarding.join(session, person(1), await token_for(session, "STC-QNGAI"), NOW)
    await onboarding.join(session, person(2), await token_for(session, "STC-QNAM"), NOW)
    admins = frozenset({str(tg(ADMIN_ID))})

    vice = await resolve_actor(session, tg(1), admins)
    with pytest.raises(PermissionDenied):
        await onboarding.link_group(session, vice, chat=tg(-100), cluster_code=None, now=NOW)
    await session.rollback()

    chair = await resolve_actor(session, tg(2), admins)
    cluster = await onboarding.link_group(session, chair, chat=tg(-100), cluster_code=None, now=NOW)
    assert cluster.group_address == "telegram:-100"

    admin = await resolve_actor(session, tg(ADMIN_ID), admins)
    with pytest.raises(InvalidInput):
        await onboarding.link_group(session, admin, chat=tg(-200), cluster_code=None, now=NOW)
    # The admin moves the chat to the other cluster: one chat serves one cluster.
    other = await onboarding.link_group(
        session, admin, chat=tg(-100), cluster_code="khoi-tw-tninh", now=NOW
    )
    assert other.group_address == "telegram:-100"
    await session.refresh(cluster)
    assert cluster.group_address is None

    await onboarding.migrate_group(session, tg(-100), tg(-1001234), NOW)
    await session.refresh(other)
    assert other.group_address == "telegram:-1001234"
