"""Who gets a message: one planning run's cached reads (criteria, members, gaps, reachable
officers), and the `Due` items for units and for roles."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
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
from services.reminders.messages import (
    CriterionRef,
    Due,
    Gap,
    PeriodRef,
    dedup_key,
    group_recipient,
)
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


def to_group(
    where: Where, slot: Slot, *, period: PeriodRef | None = None, gaps: tuple[Gap, ...] = ()
) -> list[Due]:
    """The message to the cluster's group, in the cluster's language; none without one."""
    cluster = where.cluster
    if cluster.group_address is None:
        return []
    return [
        due_item(
            where,
            slot,
            address=Address.parse(cluster.group_address),
            recipient=group_recipient(cluster.id),
            language=cluster.language,
            period=period,
            gaps=gaps,
        )
    ]


def to_contact(
    where: Where,
    slot: Slot,
    contact: Contact,
    *,
    period: PeriodRef | None = None,
    unit_id: int | None = None,
    gaps: tuple[Gap, ...] = (),
) -> Due:
    """A message to one officer, at the address contacts chose, in their language."""
    return due_item(
        where,
        slot,
        address=contact.address,
        recipient=str(contact.address),
        language=contact.language,
        period=period,
        unit_id=unit_id,
        user_id=contact.user_id,
        gaps=gaps,
    )


async def to_officers(
    reader: Reader,
    where: Where,
    slot: Slot,
    unit_ids: Sequence[int],
    *,
    period: PeriodRef | None = None,
    gaps_of: Callable[[int], tuple[Gap, ...]] = lambda _unit: (),
    keep: Callable[[Contact], bool] = lambda _contact: True,
) -> list[Due]:
    """One message to each reachable officer of these units (those `keep` accepts)."""
    out = []
    for unit_id in unit_ids:
        for contact in await reader.officers(where.cluster.id, unit_id):
            if keep(contact):
                gaps = gaps_of(unit_id)
                out.append(
                    to_contact(where, slot, contact, period=period, unit_id=unit_id, gaps=gaps)
                )
    return out


async def to_units(
    reader: Reader, where: Where, slot: Slot, period: PeriodRef, gaps: Sequence[Gap]
) -> list[Due]:
    """One message to each reachable officer of each unit, about that unit's gap."""
    by_unit = {gap.unit_id: gap for gap in gaps}
    return await to_officers(
        reader, where, slot, list(by_unit), period=period, gaps_of=lambda u: (by_unit[u],)
    )


async def to_roles(
    reader: Reader,
    where: Where,
    slot: Slot,
    period: PeriodRef,
    roles: tuple[Role, ...],
    gaps: tuple[Gap, ...],
) -> list[Due]:
    """To every officer of the units holding these roles, all about the same gaps."""
    units = await reader.units_in(where.cluster.id, period.year, roles)
    return await to_officers(reader, where, slot, units, period=period, gaps_of=lambda _: gaps)
