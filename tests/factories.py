"""Building blocks shared by service and handler tests."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services import invites, onboarding
from services.access import Actor, resolve_actor
from services.cluster_file import load_cluster_file
from services.clusters import import_cluster
from services.onboarding import Person
from tests.conftest import EXAMPLES, NOW

CUM6 = EXAMPLES / "cum6-stc-2024.toml"
TAYNINH = EXAMPLES / "khoi-tw-tayninh.toml"


async def seed_examples(session: AsyncSession) -> None:
    await import_cluster(session, load_cluster_file(CUM6), now=NOW)
    await import_cluster(session, load_cluster_file(TAYNINH), now=NOW)


async def officer(
    session: AsyncSession,
    telegram_id: int,
    unit: str,
    cluster: str = "CUM6-STC",
    admins: frozenset[int] = frozenset(),
) -> Actor:
    """A liaison officer of `unit`, joined through a real invitation."""
    [issued] = await invites.create_invites(
        session,
        cluster_code=cluster,
        unit_code=unit,
        now=NOW,
        days=14,
        max_uses=None,
        actor="test",
    )
    person = Person(telegram_id=telegram_id, full_name=f"Cán bộ {unit}", username=None)
    await onboarding.join(session, person, issued.token, NOW)
    return await resolve_actor(session, telegram_id, admins)
