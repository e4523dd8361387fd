"""Who gets a message: one planning run's cached reads (criteria, members, gaps, reachable
officers), and the `Due` items for units and for roles."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
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
from services.contacts import Contact, contacts_by_cluster
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
_YIELD_EVERY = 250  # messages built between two turns of the event loop
# Ids per IN (…) list: far below SQLite's and asyncpg's limits on bound parameters.
_CHUNK = 1_000


def _chunks(values: Iterable[int]) -> Iterable[list[int]]:
    ordered = sorted(set(values))
    for i in range(0, len(ordered), _CHUNK):
        yield ordered[i : i + _CHUNK]


def _counted(criterion: type[Criterion]) -> tuple[Any, ...]:
    """The criteria a unit must report for a period (leaves; bonus and penalty are not
    chased): one condition for the per-period read and the prefetch alike."""
    return (criterion.active.is_(True), criterion.kind.not_in(_NOT_COUNTED))


class Reader:
    """Cached reads for one planning run: gaps per period, officers per unit, roles."""

    def __init__(self, session: AsyncSession) -> None:
        self.s = session
        # (cluster, year) → its counted criteria, in order: (id, code and name).
        self._criteria: dict[tuple[int, int], list[tuple[int, CriterionRef]]] = {}
        self._members: dict[tuple[int, int], dict[int, tuple[Unit, Role]]] = {}
        self._gaps: dict[int, dict[int, Gap]] = {}
        self._officers: dict[int, dict[int, list[Contact]]] = {}

    async def members(self, cluster_id: int, year: int) -> dict[int, tuple[Unit, Role]]:
        await self._load_members({(cluster_id, year)})
        return self._members[(cluster_id, year)]

    async def period_members(
        self, period: PeriodRef, cluster_id: int
    ) -> dict[int, tuple[Unit, Role]]:
        """The year's member units that existed during the period (services.calendar)."""
        await self.members(cluster_id, period.year)
        return self._period_members(period, cluster_id)

    def _period_members(self, period: PeriodRef, cluster_id: int) -> dict[int, tuple[Unit, Role]]:
        members = self._members[(cluster_id, period.year)]
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
        if period.id not in self._gaps:
            await self.prefetch([(cluster_id, period)])
        return self._gaps[period.id]

    async def prefetch(self, wanted: Sequence[tuple[int, PeriodRef]]) -> None:
        """Read at once, for many (cluster, period) pairs, what `gaps` and `officers` need:
        the criteria, the members, who reported what and the officers' contacts. A tick
        that plans for 1,000 clusters makes a few statements instead of some thousands."""
        periods = {p.id: (cid, p) for cid, p in wanted if p.id not in self._gaps}
        years = {(cid, p.year) for cid, p in periods.values()}
        await self._load_criteria(years)
        await self._load_members(years)
        await self._load_gaps(periods)
        await self._prefetch_officers(cid for cid, _ in periods.values())

    async def _load_criteria(self, keys: set[tuple[int, int]]) -> None:
        """The counted criteria of these (cluster, year) pairs, in their order."""
        todo = {key for key in keys if key not in self._criteria}
        for chunk in _chunks(cid for cid, _ in todo):
            rows = await self.s.execute(
                select(
                    Criterion.cluster_id,
                    Criterion.year,
                    Criterion.id,
                    Criterion.code,
                    Criterion.name,
                )
                .where(
                    Criterion.cluster_id.in_(chunk),
                    Criterion.year.in_({year for _, year in todo}),
                    *_counted(Criterion),
                )
                .order_by(Criterion.cluster_id, Criterion.year, Criterion.position)
            )
            for cid, year, criterion_id, code, name in rows:
                if (cid, year) in todo:
                    entry = (criterion_id, CriterionRef(code, name))
                    self._criteria.setdefault((cid, year), []).append(entry)
        for key in todo:
            self._criteria.setdefault(key, [])

    async def _load_members(self, keys: set[tuple[int, int]]) -> None:
        """The member units of these (cluster, year) pairs with their roles, by name."""
        todo = {key for key in keys if key not in self._members}
        for chunk in _chunks(cid for cid, _ in todo):
            seats = await self.s.execute(
                select(Unit, Membership.role, Membership.cluster_id, Membership.year)
                .join(Membership, Membership.unit_id == Unit.id)
                .where(
                    Membership.cluster_id.in_(chunk),
                    Membership.year.in_({year for _, year in todo}),
                )
                .order_by(Unit.short_name)
            )
            for unit, role, cid, year in seats:
                if (cid, year) in todo:
                    self._members.setdefault((cid, year), {})[unit.id] = (unit, role)
        for key in todo:
            self._members.setdefault(key, {})

    async def _load_gaps(self, periods: dict[int, tuple[int, PeriodRef]]) -> None:
        """Each period's units with counted criteria not reported (criteria and members
        loaded). First how many each unit reported, then the detail only for periods where
        a member unit has reported fewer than all."""
        counts: dict[tuple[int, int], int] = {}
        for chunk in _chunks(periods):
            tallies = await self.s.execute(
                select(Report.period_id, Report.unit_id, func.count(Report.criterion_id.distinct()))
                .join(Criterion, Criterion.id == Report.criterion_id)
                .where(Report.period_id.in_(chunk), *_counted(Criterion))
                .group_by(Report.period_id, Report.unit_id)
            )
            counts.update({(pid, uid): n for pid, uid, n in tallies})
        short = []
        for pid, (cid, period) in periods.items():
            total = len(self._criteria[(cid, period.year)])
            members = self._period_members(period, cid)
            if any(counts.get((pid, uid), 0) < total for uid in members):
                short.append(pid)
            else:
                self._gaps[pid] = {}
        reported: dict[int, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
        for chunk in _chunks(short):
            pairs = await self.s.execute(
                select(Report.period_id, Report.unit_id, Report.criterion_id)
                .where(Report.period_id.in_(chunk))
                .distinct()
            )
            for pid, uid, criterion_id in pairs:
                reported[pid][uid].add(criterion_id)
        for pid in short:
            cid, period = periods[pid]
            criteria = self._criteria[(cid, period.year)]
            gaps = {}
            for unit_id, (unit, _) in self._period_members(period, cid).items():
                done = reported[pid][unit_id]
                missing = tuple(ref for id_, ref in criteria if id_ not in done)
                if missing:
                    gaps[unit_id] = Gap(unit_id, unit.short_name, len(criteria), missing)
            self._gaps[pid] = gaps

    async def _prefetch_officers(self, cluster_ids: Iterable[int]) -> None:
        todo = [cid for cid in set(cluster_ids) if cid not in self._officers]
        for chunk in _chunks(todo):
            found = await contacts_by_cluster(self.s, chunk)
            for cid in chunk:
                by_unit: dict[int, list[Contact]] = defaultdict(list)
                for contact in found.get(cid, []):
                    by_unit[contact.unit_id].append(contact)
                self._officers[cid] = by_unit

    async def officers(self, cluster_id: int, unit_id: int) -> list[Contact]:
        """Active, reachable officers of a unit in the cluster."""
        # One query per cluster, not per unit (and one for many with `prefetch`).
        await self._prefetch_officers([cluster_id])
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
                if len(out) % _YIELD_EVERY == 0:
                    # Thousands of messages are built in one go: let the replies waiting
                    # meanwhile have the event loop (a plan is read-only: nothing changes).
                    await asyncio.sleep(0)
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
