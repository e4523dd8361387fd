"""`thidua try`: seat a rehearsing secretariat member in a cluster, as a unit's officer or
as the chair, through the same invitation and join rules as everyone else."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Cluster, Membership, Role, Unit
from services import invites, onboarding
from services.clusters import current_year, get_cluster
from services.errors import InvalidInput, NotFound
from services.onboarding import JoinResult, Person

ROLE_WORDS = {"chair": Role.CHAIR, "vice": Role.VICE_CHAIR, "vice_chair": Role.VICE_CHAIR}


async def unit_for(
    session: AsyncSession, cluster_code: str | None, who: str
) -> tuple[str, str, int]:
    """(cluster code, unit code, working year) of "chair", "vice" or a unit code of the
    cluster's working year; without a cluster code, the only cluster in the database."""
    if cluster_code is None:
        codes = list(await session.scalars(select(Cluster.code).order_by(Cluster.code)))
        if len(codes) != 1:
            raise InvalidInput("error.try_which_cluster", clusters=", ".join(codes) or "—")
        cluster_code = codes[0]
    cluster = await get_cluster(session, cluster_code)
    year = await current_year(session, cluster.id)
    if year is None:
        raise NotFound("error.no_working_year", cluster=cluster.code)
    members = select(Unit.code, Membership.role).join(Membership, Membership.unit_id == Unit.id)
    members = members.where(Membership.cluster_id == cluster.id, Membership.year == year.year)
    role = ROLE_WORDS.get(who.lower())
    if role is not None:
        code = await session.scalar(
            select(Unit.code)
            .join(Membership, Membership.unit_id == Unit.id)
            .where(
                Membership.cluster_id == cluster.id,
                Membership.year == year.year,
                Membership.role == role,
            )
        )
    else:
        code = await session.scalar(
            select(Unit.code)
            .join(Membership, Membership.unit_id == Unit.id)
            .where(
                Membership.cluster_id == cluster.id,
                Membership.year == year.year,
                func.lower(Unit.code) == who.lower(),
            )
        )
    if code is None:
        units = ", ".join(c for c, _ in await session.execute(members.order_by(Unit.code)))
        raise NotFound("error.try_unit", who=who, cluster=cluster.code, units=units)
    return cluster.code, code, year.year


async def seat(
    session: AsyncSession, person: Person, cluster_code: str, unit_code: str, now: datetime
) -> JoinResult:
    """Join `person` to the unit through a one-use invitation, like a real officer."""
    [issued] = await invites.create_invites(
        session,
        cluster_code=cluster_code,
        unit_code=unit_code,
        now=now,
        days=1,
        max_uses=1,
        actor="try",
    )
    return await onboarding.join(session, person, issued.token, now)
