"""Creating and updating clusters from cluster files, and reading them back."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import (
    Cluster,
    ClusterYear,
    Criterion,
    Membership,
    Officer,
    Period,
    Pledge,
    Report,
    Role,
    Unit,
    UnitTarget,
    YearStatus,
)
from services import audit
from services.calendar import plan_periods
from services.cluster_file import ClusterFile, Notice, YearSpec
from services.errors import NotFound


@dataclass
class ImportResult:
    cluster_code: str
    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    retired: Counter[str] = field(default_factory=Counter)
    warnings: list[Notice] = field(default_factory=list)  # worded by the caller

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.retired)


def _sync(obj: object, **values: Any) -> bool:
    """Set only the attributes that differ, so an unchanged file writes nothing."""
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


class _Importer:
    def __init__(self, session: AsyncSession, spec: ClusterFile, now: datetime, actor: str):
        self.s = session
        self.spec = spec
        self.now = now
        self.actor = actor
        self.result = ImportResult(cluster_code=spec.cluster.code, warnings=spec.warnings())
        self.units: dict[str, Unit] = {}

    def _touch(self, what: str, obj: object, /, **values: Any) -> None:
        if _sync(obj, **values):
            if hasattr(obj, "updated_at"):
                obj.updated_at = self.now
            self.result.updated[what] += 1

    def _new(self, what: str, obj: Any) -> None:
        self.s.add(obj)
        self.result.created[what] += 1

    async def run(self) -> Cluster:
        cluster = await self._cluster()
        await self._units()
        for year in self.spec.years:
            await self._year(cluster, year)
        if self.result.changed:
            audit.record(
                self.s,
                now=self.now,
                actor=self.actor,
                action="cluster.import",
                entity="cluster",
                entity_id=cluster.id,
                cluster_id=cluster.id,
                created=dict(self.result.created),
                updated=dict(self.result.updated),
                retired=dict(self.result.retired),
            )
        return cluster

    async def _cluster(self) -> Cluster:
        c = self.spec.cluster
        cluster = await self.s.scalar(select(Cluster).where(Cluster.code == c.code))
        values = {"name": c.name, "kind": c.kind, "timezone": c.timezone, "language": c.language}
        if cluster is None:
            cluster = Cluster(code=c.code, created_at=self.now, updated_at=self.now, **values)
            self._new("cluster", cluster)
            await self.s.flush()
        else:
            self._touch("cluster", cluster, **values)
        return cluster

    async def _units(self) -> None:
        codes = [u.code for u in self.spec.units]
        existing = {
            u.code: u for u in await self.s.scalars(select(Unit).where(Unit.code.in_(codes)))
        }
        for u in self.spec.units:
            values = {
                "name": u.name,
                "short_name": u.label,
                "valid_from": u.valid_from,
                "valid_to": u.valid_to,
            }
            unit = existing.get(u.code)
            if unit is None:
                unit = Unit(code=u.code, created_at=self.now, updated_at=self.now, **values)
                self._new("unit", unit)
            else:
                self._touch("unit", unit, **values)
            self.units[u.code] = unit
        await self.s.flush()
        for u in self.spec.units:
            successor_id = self.units[u.successor].id if u.successor else None
            unit = self.units[u.code]
            if u.code in existing:
                self._touch("unit", unit, successor_id=successor_id)
            else:
                unit.successor_id = successor_id  # part of its creation, not an update

    async def _year(self, cluster: Cluster, y: YearSpec) -> None:
        # Read back by cluster_file.year_settings with the same models.
        settings = y.settings().model_dump(mode="json")
        values: dict[str, Any] = {
            "cadence": y.periods.cadence,
            "deadline_day": y.periods.deadline_day,
            "deadline_time": y.periods.deadline_time,
            "late_lock_days": y.periods.late_lock_days,
            "settings": settings,
        }
        row = await self.s.scalar(
            select(ClusterYear).where(
                ClusterYear.cluster_id == cluster.id, ClusterYear.year == y.year
            )
        )
        wanted = YearStatus(y.status)
        if row is None:
            row = ClusterYear(
                cluster_id=cluster.id,
                year=y.year,
                status=wanted,
                closed_at=self.now if wanted is YearStatus.CLOSED else None,
                created_at=self.now,
                updated_at=self.now,
                **values,
            )
            self._new("year", row)
        else:
            if row.status is YearStatus.CLOSED and wanted is YearStatus.OPEN:
                # Closing is final (the ranking was published); a file cannot reopen it.
                self.result.warnings.append(Notice("import.note.year_closed", {"year": y.year}))
            elif row.status is YearStatus.OPEN and wanted is YearStatus.CLOSED:
                values.update(status=wanted, closed_at=self.now)
            self._touch("year", row, **values)
        await self._members(cluster, y)
        await self._criteria(cluster, y)
        await self._periods(cluster, y)

    async def _members(self, cluster: Cluster, y: YearSpec) -> None:
        members = self.spec.members_of(y)
        roles = {code: Role.MEMBER for code in members}
        roles[y.chair] = Role.CHAIR
        if y.vice_chair:
            roles[y.vice_chair] = Role.VICE_CHAIR
        rows = {
            m.unit_id: m
            for m in await self.s.scalars(
                select(Membership).where(
                    Membership.cluster_id == cluster.id, Membership.year == y.year
                )
            )
        }
        pledges = {
            p.unit_id: p
            for p in await self.s.scalars(
                select(Pledge).where(Pledge.cluster_id == cluster.id, Pledge.year == y.year)
            )
        }
        wanted_ids = set()
        for code, role in roles.items():
            unit = self.units[code]
            wanted_ids.add(unit.id)
            m = rows.get(unit.id)
            if m is None:
                self._new(
                    "membership",
                    Membership(
                        cluster_id=cluster.id,
                        unit_id=unit.id,
                        year=y.year,
                        role=role,
                        decision=y.decision,
                        created_at=self.now,
                        updated_at=self.now,
                    ),
                )
            else:
                self._touch("membership", m, role=role, decision=y.decision)
            if y.pledge_signed_on is not None:
                p = pledges.get(unit.id)
                if p is None:
                    self._new(
                        "pledge",
                        Pledge(
                            cluster_id=cluster.id,
                            unit_id=unit.id,
                            year=y.year,
                            signed_on=y.pledge_signed_on,
                            created_at=self.now,
                        ),
                    )
                else:
                    self._touch("pledge", p, signed_on=y.pledge_signed_on)
        for unit_id, m in rows.items():
            if unit_id in wanted_ids:
                continue
            # Dropping a member is allowed only while it has left no trace.
            has_reports = await self.s.scalar(
                select(func.count())
                .select_from(Report)
                .join(Period, Period.id == Report.period_id)
                .where(
                    Report.unit_id == unit_id,
                    Period.cluster_id == cluster.id,
                    Period.year == y.year,
                )
            )
            has_officers = await self.s.scalar(
                select(func.count())
                .select_from(Officer)
                .where(Officer.unit_id == unit_id, Officer.cluster_id == cluster.id)
            )
            if has_reports or has_officers:
                gone = await self.s.scalar(select(Unit.code).where(Unit.id == unit_id))
                self.result.warnings.append(
                    Notice("import.note.membership_kept", {"year": y.year, "unit": gone})
                )
            else:
                await self.s.delete(m)
                self.result.retired["membership"] += 1

    async def _criteria(self, cluster: Cluster, y: YearSpec) -> None:
        existing = {
            c.code: c
            for c in await self.s.scalars(
                select(Criterion).where(
                    Criterion.cluster_id == cluster.id, Criterion.year == y.year
                )
            )
        }
        by_code: dict[str, Criterion] = {}
        for position, spec in enumerate(y.criteria):
            parent = by_code[spec.parent_code] if spec.parent_code else None
            values: dict[str, Any] = {
                "parent_id": parent.id if parent else None,
                "name": spec.name,
                "kind": spec.kind,
                "max_points": spec.max_points,
                "points_each": spec.points_each,
                "target": spec.target,
                "measure_unit": spec.measure_unit,
                "evidence_required": spec.evidence_required,
                "scale_to_best": spec.scale_to_best,
                "position": position,
                "active": True,
            }
            row = existing.get(spec.code)
            if row is None:
                row = Criterion(
                    cluster_id=cluster.id,
                    year=y.year,
                    code=spec.code,
                    created_at=self.now,
                    updated_at=self.now,
                    **values,
                )
                self._new("criterion", row)
                await self.s.flush()  # children need its id
            else:
                self._touch("criterion", row, **values)
            by_code[spec.code] = row
            await self._targets(row, spec.targets)
        for code, row in existing.items():
            if code not in by_code and row.active:
                # Retired, never deleted: reports on it stay readable.
                row.active = False
                row.updated_at = self.now
                self.result.retired["criterion"] += 1

    async def _targets(self, criterion: Criterion, targets: dict[str, Decimal]) -> None:
        rows = {
            t.unit_id: t
            for t in await self.s.scalars(
                select(UnitTarget).where(UnitTarget.criterion_id == criterion.id)
            )
        }
        wanted = {self.units[code].id: value for code, value in targets.items()}
        for unit_id, value in wanted.items():
            row = rows.get(unit_id)
            if row is None:
                self._new(
                    "target", UnitTarget(criterion_id=criterion.id, unit_id=unit_id, target=value)
                )
            else:
                self._touch("target", row, target=value)
        for unit_id, row in rows.items():
            if unit_id not in wanted:
                await self.s.delete(row)
                self.result.retired["target"] += 1

    async def _periods(self, cluster: Cluster, y: YearSpec) -> None:
        plans = plan_periods(
            y.year,
            y.periods.cadence,
            y.periods.deadline_day,
            y.periods.deadline_time,
            ZoneInfo(self.spec.cluster.timezone),
        )
        existing = {
            p.code: p
            for p in await self.s.scalars(
                select(Period).where(Period.cluster_id == cluster.id, Period.year == y.year)
            )
        }
        for plan in plans:
            row = existing.get(plan.code)
            values = {
                "starts_on": plan.starts_on,
                "ends_on": plan.ends_on,
                "deadline": plan.deadline,
            }
            if row is None:
                self._new(
                    "period",
                    Period(
                        cluster_id=cluster.id,
                        year=y.year,
                        code=plan.code,
                        created_at=self.now,
                        updated_at=self.now,
                        **values,
                    ),
                )
            else:
                self._touch("period", row, **values)
        planned = {p.code for p in plans}
        for code, row in existing.items():
            if code in planned:
                continue
            reports = await self.s.scalar(
                select(func.count()).select_from(Report).where(Report.period_id == row.id)
            )
            if reports:
                self.result.warnings.append(
                    Notice("import.note.period_kept", {"year": y.year, "period": code})
                )
            else:
                await self.s.delete(row)
                self.result.retired["period"] += 1


async def import_cluster(
    session: AsyncSession, spec: ClusterFile, *, now: datetime, actor: str = "cli"
) -> ImportResult:
    """Create or update a cluster from its file; idempotent, and never loses a report."""
    importer = _Importer(session, spec, now, actor)
    await importer.run()
    await session.commit()
    return importer.result


@dataclass(frozen=True)
class ClusterSummary:
    code: str
    name: str
    kind: str
    units: int
    current_year: int | None
    chair: str | None
    group_linked: bool


def _working_first() -> tuple[Any, ...]:
    """The order that puts a cluster's working year first: the latest open one, else the
    latest."""
    return ((ClusterYear.status == YearStatus.OPEN).desc(), ClusterYear.year.desc())


async def current_year(session: AsyncSession, cluster_id: int) -> ClusterYear | None:
    """The cluster's working year: the latest open one, else the latest."""
    rows = await session.scalars(
        select(ClusterYear)
        .where(ClusterYear.cluster_id == cluster_id)
        .order_by(*_working_first())
        .limit(1)
    )
    return rows.first()


async def current_years(session: AsyncSession, cluster_ids: list[int]) -> dict[int, ClusterYear]:
    """`current_year` of many clusters in one statement (a tick over every cluster); a
    cluster without a year is left out."""
    out: dict[int, ClusterYear] = {}
    for i in range(0, len(cluster_ids), 1_000):
        rows = await session.scalars(
            select(ClusterYear)
            .where(ClusterYear.cluster_id.in_(cluster_ids[i : i + 1_000]))
            .order_by(ClusterYear.cluster_id, *_working_first())
        )
        for year in rows:
            out.setdefault(year.cluster_id, year)  # the first of each cluster
    return out


async def get_cluster(session: AsyncSession, code: str) -> Cluster:
    cluster = await session.scalar(select(Cluster).where(func.lower(Cluster.code) == code.lower()))
    if cluster is None:
        raise NotFound("error.cluster_not_found", code=code)
    return cluster


async def get_unit(session: AsyncSession, cluster: Cluster, code: str, year: int) -> Unit:
    """A member unit of the cluster in that year, by code (case-insensitive)."""
    unit = await session.scalar(
        select(Unit)
        .join(Membership, Membership.unit_id == Unit.id)
        .where(
            Membership.cluster_id == cluster.id,
            Membership.year == year,
            func.lower(Unit.code) == code.lower(),
        )
    )
    if unit is None:
        raise NotFound("error.unit_not_found", code=code, cluster=cluster.code)
    return unit


async def list_clusters(session: AsyncSession) -> list[ClusterSummary]:
    """Every cluster with its size, working year and chair, for `thidua cluster list`."""
    out = []
    for cluster in await session.scalars(select(Cluster).order_by(Cluster.code)):
        year = await current_year(session, cluster.id)
        units = 0
        chair = None
        if year is not None:
            members = (
                await session.execute(
                    select(Membership.role, Unit.short_name)
                    .join(Unit, Unit.id == Membership.unit_id)
                    .where(Membership.cluster_id == cluster.id, Membership.year == year.year)
                )
            ).all()
            units = len(members)
            chair = next((name for role, name in members if role is Role.CHAIR), None)
        out.append(
            ClusterSummary(
                code=cluster.code,
                name=cluster.name,
                kind=cluster.kind.value,
                units=units,
                current_year=year.year if year else None,
                chair=chair,
                group_linked=cluster.group_address is not None,
            )
        )
    return out
