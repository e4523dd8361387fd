"""Building blocks shared by service and handler tests."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services import invites, onboarding
from services.access import Actor, resolve_actor
from services.addresses import Address
from services.cluster_file import load_cluster_file
from services.clusters import import_cluster
from services.onboarding import Person
from tests.conftest import EXAMPLES, NOW

CUM6 = EXAMPLES / "cum6-stc-2024.toml"
TAYNINH = EXAMPLES / "khoi-tw-tayninh.toml"


def tg(telegram_id: int) -> Address:
    """A Telegram identity, as the Telegram adapter would give it."""
    return Address("telegram", str(telegram_id))


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
    person = Person(address=tg(telegram_id), full_name=f"Cán bộ {unit}", username=None)
    await onboarding.join(session, person, issued.token, NOW)
    return await resolve_actor(session, tg(telegram_id), frozenset(str(tg(a)) for a in admins))


async def report_everything(
    session: AsyncSession,
    unit: str,
    period: str,
    *,
    cluster: str = "CUM6-STC",
    year: int = 2024,
    leave_out: tuple[str, ...] = (),
) -> list[str]:
    """Mark a unit as having reported every base criterion (not bonus or penalty) of a period,
    except `leave_out`, by writing report rows directly; returns the codes reported."""
    from decimal import Decimal

    from sqlalchemy import select

    from models.tables import Cluster, Criterion, CriterionKind, Period, Report, Unit, User

    cluster_row = await session.scalar(select(Cluster).where(Cluster.code == cluster))
    unit_row = await session.scalar(select(Unit).where(Unit.code == unit))
    assert cluster_row is not None and unit_row is not None
    period_row = await session.scalar(
        select(Period).where(
            Period.cluster_id == cluster_row.id, Period.year == year, Period.code == period
        )
    )
    assert period_row is not None
    reporter = await session.scalar(select(User.id).order_by(User.id).limit(1))
    assert reporter is not None, "needs at least one user (an officer) in the database"
    criteria = await session.scalars(
        select(Criterion).where(
            Criterion.cluster_id == cluster_row.id,
            Criterion.year == year,
            Criterion.active.is_(True),
            Criterion.kind.not_in(
                [CriterionKind.GROUP, CriterionKind.BONUS, CriterionKind.PENALTY]
            ),
        )
    )
    done = []
    for criterion in criteria:
        if criterion.code in leave_out:
            continue
        session.add(
            Report(
                unit_id=unit_row.id,
                criterion_id=criterion.id,
                period_id=period_row.id,
                version=1,
                value=Decimal(1),
                proposed_score=Decimal(0),
                max_points=criterion.max_points,
                note=None,
                late=False,
                reported_by=reporter,
                reported_at=NOW,
            )
        )
        done.append(criterion.code)
    await session.commit()
    return done
