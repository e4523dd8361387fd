"""Who gets a message: one planning run's cached reads (criteria, members, gaps, reachable
officers), and the `Due` items for units and for roles."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import (
    Cluster,
    Criterion,
    CriterionKind,
    Membership,
    Report,
    Role,
    Unit,
)
from services.addresses import Address
from services.calendar import exists_during
from services.contacts import Contact, officer_contacts
from services.reminders.messages import CriterionRef, Due, Gap, PeriodRef, dedup_key
from services.reminders.schedule import Slot

# A message whose day ended while the bot was down is recorded as skipped if it fell due


# A message whose day ended while the bot was down is recorded as skipped if it fell due
_NOT_COUNTED = (CriterionKind.GROUP, CriterionKind.BONUS, CriterionKind.PENALTY)


class Reader:
    """Cached reads for one planning run: gaps per period, officers per unit, roles."""

    def __init__(self, session: AsyncSession) -> None:
        self.s = session
        self._criteria: dict[tuple[int, int], list[Criterion]] = {}
        self._members: dict[tuple[int, int], dict[int, tuple[Unit, Role]]] = {}
        self._gaps: dict[int, dict[int, Gap]] = {}
        self._officers: dict[int, dict[int, list[Contact]]] = {}

    async def criteria(self, cluster_id: int, year: int) -> list[Criterion]:
        key = (cluster_id, year)
        if key not in self._criteria:
            self._criteria[key] = list(
                await self.s.scalars(
                    select(Criterion)
                    .where(
                        Criterion.cluster_id == cluster_id,
                        Criterion.year == year,
                        Criterion.active.is_(True),
                        Criterion.kind.not_in(_NOT_COUNTED),
                    )
                    .order_by(Criterion.position)
                )
            )
        return self._criteria[key]

    async def members(self, cluster_id: int, year: int) -> dict[int, tuple[Unit, Role]]:
        key = (cluster_id, year)
        if key not in self._members:
            rows = await self.s.execute(
                select(Unit, Membership.role)
                .join(Membership, Membership.unit_id == Unit.id)
                .where(Membership.cluster_id == cluster_id, Membership.year == year)
                .order_by(Unit.short_name)
            )
            self._members[key] = {unit.id: (unit, role) for unit, role in rows}
        return self._members[key]

    async def period_members(
        self, period: PeriodRef, cluster_id: int
    ) -> dict[int, tuple[Unit, Role]]:
        """The year's member units that existed during the period (services.calendar)."""
        members = await self.members(cluster_id, period.year)
        return {
            unit_id: (unit, role)
            for unit_id, (unit, role) in members.items()
            if exists_during(unit.valid_from, unit.valid_to, period.starts_on, period.ends_on)
        }

    async def units_in(self, cluster_id: int, year: int, roles: Iterable[Role]) -> list[int]:
        wanted = set(roles)
        members = await self.members(cluster_id, year)
        return [unit_id for unit_id, (_, role) in members.items() if role in wanted]

    async def gaps(self, period: PeriodRef, cluster_id: int) -> dict[int, Gap]:
        """Member units (existing during the period) with base criteria not reported."""
        if period.id in self._gaps:
            return self._gaps[period.id]
        criteria = await self.criteria(cluster_id, period.year)
        members = await self.period_members(period, cluster_id)
        reported: dict[int, set[int]] = defaultdict(set)
        rows = await self.s.execute(
            select(Report.unit_id, Report.criterion_id)
            .where(Report.period_id == period.id)
            .distinct()
        )
        for unit_id, criterion_id in rows:
            reported[unit_id].add(criterion_id)
        gaps = {}
        for unit_id, (unit, _) in members.items():
            missing = tuple(
                CriterionRef(c.code, c.name) for c in criteria if c.id not in reported[unit_id]
            )
            if missing:
                gaps[unit_id] = Gap(unit_id, unit.short_name, len(criteria), missing)
        self._gaps[period.id] = gaps
        return gaps

    async def officers(self, cluster_id: int, unit_id: int) -> list[Contact]:
        """Active, reachable officers of a unit in the cluster."""
        if cluster_id not in self._officers:
            # One query per cluster, not per unit: a tick may plan for every unit at once.
            by_unit: dict[int, list[Contact]] = defaultdict(list)
            for contact in await officer_contacts(self.s, cluster_id):
                by_unit[contact.unit_id].append(contact)
            self._officers[cluster_id] = by_unit
        return list(self._officers[cluster_id].get(unit_id, []))


@dataclass(frozen=True)
class Where:
    cluster: Cluster
    tz: ZoneInfo
    members: int  # member units existing during the period: "5 of 6 units" counts these


def due_item(
    where: Where,
    slot: Slot,
    *,
    address: Address,
    recipient: str,
    language: str | None,
    period: PeriodRef | None = None,
    unit_id: int | None = None,
    user_id: int | None = None,
    gaps: tuple[Gap, ...] = (),
) -> Due:
    cluster = where.cluster
    return Due(
        key=dedup_key(slot.rule, period.id if period else None, unit_id, recipient),
        rule=slot.rule,
        kind=slot.kind,
        cluster_id=cluster.id,
        cluster_name=cluster.name,
        cluster_kind=cluster.kind.value,
        timezone=cluster.timezone,
        address=address,
        language=language or cluster.language,
        due_at=slot.due_at,
        until=slot.until,
        days_left=slot.days_left,
        period=period,
        unit_id=unit_id,
        user_id=user_id,
        gaps=gaps,
        members=where.members,
    )


async def to_units(
    reader: Reader, where: Where, slot: Slot, period: PeriodRef, gaps: Sequence[Gap]
) -> list[Due]:
    """One message to each reachable officer of each unit, about that unit's gap."""
    out = []
    for gap in gaps:
        for r in await reader.officers(where.cluster.id, gap.unit_id):
            out.append(
                due_item(
                    where,
                    slot,
                    address=r.address,
                    recipient=str(r.address),
                    language=r.language,
                    period=period,
                    unit_id=gap.unit_id,
                    user_id=r.user_id,
                    gaps=(gap,),
                )
            )
    return out


async def to_roles(
    reader: Reader,
    where: Where,
    slot: Slot,
    period: PeriodRef,
    roles: tuple[Role, ...],
    gaps: tuple[Gap, ...],
) -> list[Due]:
    out = []
    for unit_id in await reader.units_in(where.cluster.id, period.year, roles):
        for r in await reader.officers(where.cluster.id, unit_id):
            out.append(
                due_item(
                    where,
                    slot,
                    address=r.address,
                    recipient=str(r.address),
                    language=r.language,
                    period=period,
                    unit_id=unit_id,
                    user_id=r.user_id,
                    gaps=gaps,
                )
            )
    return out
