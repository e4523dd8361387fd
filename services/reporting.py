"""Reporting progress: which period is open, what a unit has reported, a new report version,
its history, and the unit's standing.

Values are year-to-date (lũy kế từ đầu năm), as Vietnamese progress reports are: the latest
report of a criterion in any period of the year is the unit's current standing on it.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.db import insert_ignoring
from models.tables import (
    AuditEntry,
    Cluster,
    ClusterYear,
    Criterion,
    CriterionKind,
    EvidenceFile,
    Period,
    Report,
    UnitTarget,
    YearStatus,
)
from services import cache, scoring, standings
from services.access import Actor, Permission, Seat
from services.calendar import PeriodState as PeriodState  # handlers/ import it from here
from services.calendar import current_index, period_state
from services.errors import InvalidInput, NotFound, chair_term
from services.values import parse_value

ZERO = Decimal(0)


@dataclass(frozen=True)
class PeriodView:
    id: int
    code: str
    starts_on: date
    ends_on: date
    deadline: datetime
    state: PeriodState


@dataclass(frozen=True)
class CriterionView:
    id: int
    code: str
    name: str
    kind: CriterionKind
    group_code: str | None
    max_points: Decimal
    points_each: Decimal | None
    target: Decimal | None  # the unit's own target when it has one
    measure_unit: str | None
    evidence_required: bool
    scale_to_best: bool

    @property
    def to_report(self) -> bool:
        """A criterion every unit must report: not a bonus or penalty item (those are
        reported only when earned). The rule of the boards and /tonghop (`Leaf.base`)."""
        return self.kind not in standings.EXTRA_KINDS

    @property
    def percent(self) -> bool:
        return (self.measure_unit or "").strip() == "%"

    def rule(self) -> scoring.LeafRule:
        return scoring.LeafRule(
            code=self.code,
            kind=self.kind,
            max_points=self.max_points,
            points_each=self.points_each,
            target=self.target,
            scale_to_best=self.scale_to_best,
        )


@dataclass(frozen=True)
class GroupView:
    code: str
    name: str
    depth: int


@dataclass(frozen=True)
class Latest:
    report_id: int
    period_code: str
    version: int
    value: Decimal | None
    proposed: Decimal | None
    late: bool
    note: str | None
    reported_at: datetime
    verified: Decimal | None
    review_reason: str | None
    evidence: int

    @property
    def needs_answer(self) -> bool:
        """The chair changed the score and the unit has not answered with a new version."""
        return self.verified is not None and self.verified != self.proposed


@dataclass(frozen=True)
class Line:
    criterion: CriterionView
    latest: Latest | None


@dataclass(frozen=True)
class Sheet:
    """A unit's criteria for a period (or the year to date), with what it reported."""

    cluster_code: str
    unit_name: str
    year: int
    period: PeriodView | None  # None: the year to date
    groups: list[GroupView]
    lines: list[Line]

    @property
    def to_report(self) -> int:
        """How many criteria the unit must report (what "15/15" counts in /tonghop)."""
        return sum(1 for line in self.lines if line.criterion.to_report)

    @property
    def reported(self) -> int:
        """Criteria to report that have a report; a bonus or penalty item adds nothing."""
        return sum(1 for line in self.lines if line.criterion.to_report and line.latest)

    @property
    def missing(self) -> list[Line]:
        return [line for line in self.lines if line.latest is None and line.criterion.to_report]

    def total(self, verified: bool) -> Decimal:
        # The boards' scoring of a unit, so /tiendo and the leaderboard always agree.
        t = standings.totals((line.criterion.rule(), line.latest) for line in self.lines)
        return t.verified if verified else t.proposed

    @property
    def base_max(self) -> Decimal:
        return sum(
            (line.criterion.max_points for line in self.lines if line.criterion.to_report),
            ZERO,
        )


@dataclass(frozen=True)
class EvidenceIn:
    file_ref: str  # the channel's reference: "telegram:<file_id>", a Zalo image URL…
    file_unique_id: str
    file_name: str
    mime_type: str | None
    size: int
    stored_path: str | None = None


@dataclass(frozen=True)
class Preview:
    criterion: CriterionView
    period: PeriodView
    value: Decimal
    proposed: Decimal
    late: bool
    next_version: int


@dataclass(frozen=True)
class Submitted:
    preview: Preview
    report_id: int
    version: int


@dataclass(frozen=True)
class VersionView:
    version: int
    period_code: str
    value: Decimal | None
    proposed: Decimal | None
    late: bool
    note: str | None
    reported_at: datetime
    reporter: int
    evidence: list[str]
    verified: Decimal | None
    review_reason: str | None


def check_evidence_size(size: int, limit: int) -> None:
    """Refuse a file over the limit before anything is downloaded or stored."""
    if size > limit:
        raise InvalidInput(
            "error.file_too_large", size_mb=megabytes(size), limit_mb=megabytes(limit)
        )


def megabytes(size: int) -> Decimal:
    return (Decimal(size) / Decimal(1024 * 1024)).quantize(Decimal("0.1"))


@dataclass(frozen=True)
class PeriodRule:
    """A period as the rules cache keeps it (a plain value, shared across sessions)."""

    id: int
    code: str
    starts_on: date
    ends_on: date
    deadline: datetime


@dataclass(frozen=True)
class Rules:
    """A cluster year's criteria tree, unit targets and periods: what every report reads and
    only an import (or the year's close, its hand-over) changes. Cached by (year id,
    revision) in `_RULES`; immutable, shared by every update of the process."""

    groups: tuple[GroupView, ...]
    leaves: tuple[CriterionView, ...]  # active leaves in tree order, the cluster's targets
    # Every criterion's code of the year, active or retired, that is a group: a code typed
    # for a report that names one is told so rather than "not found".
    group_codes: dict[str, str]
    targets: dict[int, dict[int, Decimal]]  # unit → criterion → the unit's own target
    periods: tuple[PeriodRule, ...]
    _units: dict[int, tuple[tuple[CriterionView, ...], dict[str, CriterionView]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def of_unit(self, unit_id: int) -> tuple[tuple[CriterionView, ...], dict[str, CriterionView]]:
        """The leaves with the unit's own targets, and by lower-case code."""
        found = self._units.get(unit_id)
        if found is None:
            own = self.targets.get(unit_id, {})
            leaves = tuple(
                replace(leaf, target=own[leaf.id]) if leaf.id in own else leaf
                for leaf in self.leaves
            )
            by_code: dict[str, CriterionView] = {}
            for leaf in leaves:
                by_code.setdefault(leaf.code.lower(), leaf)
            found = self._units[unit_id] = (leaves, by_code)
        return found


# A few hundred cluster years fit in well under a megabyte; a country has about 1,000.
_RULES: cache.Memo[Rules] = cache.Memo(2048)


def rules_loads() -> int:
    """How many times this process read a year's rules from the database (tests, benches)."""
    return _RULES.loads


async def _load_rules(session: AsyncSession, year: cache.Year) -> Rules:
    rows = list(
        await session.scalars(
            select(Criterion)
            .where(Criterion.cluster_id == year.cluster_id, Criterion.year == year.year)
            .order_by(Criterion.position, Criterion.id)
        )
    )
    targets: dict[int, dict[int, Decimal]] = defaultdict(dict)
    for unit_id, criterion_id, target in await session.execute(
        select(UnitTarget.unit_id, UnitTarget.criterion_id, UnitTarget.target)
        .join(Criterion, Criterion.id == UnitTarget.criterion_id)
        .where(
            Criterion.cluster_id == year.cluster_id,
            Criterion.year == year.year,
            Criterion.active.is_(True),
        )
    ):
        targets[unit_id][criterion_id] = target
    periods = await session.execute(
        select(Period.id, Period.code, Period.starts_on, Period.ends_on, Period.deadline).where(
            Period.cluster_id == year.cluster_id, Period.year == year.year
        )
    )
    active = [c for c in rows if c.active]
    by_id = {c.id: c for c in active}
    return Rules(
        groups=tuple(
            GroupView(c.code, c.name, c.code.count("."))
            for c in active
            if c.kind is CriterionKind.GROUP
        ),
        leaves=tuple(
            CriterionView(
                id=c.id,
                code=c.code,
                name=c.name,
                kind=c.kind,
                group_code=by_id[c.parent_id].code if c.parent_id in by_id else None,
                max_points=c.max_points or ZERO,
                points_each=c.points_each,
                target=c.target,
                measure_unit=c.measure_unit,
                evidence_required=c.evidence_required,
                scale_to_best=c.scale_to_best,
            )
            for c in active
            if c.kind is not CriterionKind.GROUP
        ),
        group_codes={c.code.lower(): c.code for c in rows if c.kind is CriterionKind.GROUP},
        targets=dict(targets),
        periods=tuple(sorted((PeriodRule(*p) for p in periods), key=lambda p: (p.starts_on, p.id))),
    )


async def _year_row(session: AsyncSession, seat: Seat) -> cache.Year | None:
    """The seat's working year, when the actor query of this unit of work is not at hand."""
    row = (
        await session.execute(
            select(
                Cluster.code,
                Cluster.kind,
                Cluster.timezone,
                ClusterYear.id,
                ClusterYear.year,
                ClusterYear.status,
                ClusterYear.late_lock_days,
                ClusterYear.revision,
            )
            .join(ClusterYear, ClusterYear.cluster_id == Cluster.id)
            .where(Cluster.id == seat.cluster_id, ClusterYear.year == seat.year)
        )
    ).first()
    if row is None:
        return None
    year = cache.Year(
        cluster_id=seat.cluster_id,
        cluster_code=row.code,
        cluster_kind=row.kind.value,
        timezone=row.timezone,
        year_id=row.id,
        year=row.year,
        status=row.status,
        late_lock_days=row.late_lock_days,
        revision=row.revision,
    )
    cache.remember(session, year)
    return year


class _Scope:
    """The reporting officer's cluster, working year and unit, and the year's rules. With
    the actor just resolved and the rules in memory, loading it reads nothing."""

    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.s = session
        self.actor = actor

    async def load(self) -> _Scope:
        seat = self.actor.seat
        if seat is None:
            raise InvalidInput("error.not_registered")
        self.actor.require(Permission.REPORT, seat.cluster_id)
        self.seat: Seat = seat
        year = cache.known(self.s, seat.cluster_id, seat.year) or await _year_row(self.s, seat)
        if year is None:
            raise NotFound("error.no_year", cluster=seat.cluster_code)
        self.year = year
        self.tz = ZoneInfo(year.timezone)
        self.rules = await _RULES.get(year.key, lambda: _load_rules(self.s, year))
        return self

    def periods(self, now: datetime) -> list[PeriodView]:
        return period_views(self.rules.periods, self.year.late_lock_days, self.tz, now)

    def period(self, code: str | None, now: datetime) -> PeriodView:
        return find_period(self.periods(now), code, self.year.cluster_code)

    def criteria(self) -> tuple[list[GroupView], list[CriterionView]]:
        leaves, _ = self.rules.of_unit(self.seat.unit_id)
        return list(self.rules.groups), list(leaves)

    def criterion(self, code: str) -> CriterionView:
        wanted = code.strip().rstrip(".").lower()
        _, by_code = self.rules.of_unit(self.seat.unit_id)
        found = by_code.get(wanted)
        if found is not None:
            return found
        group = self.rules.group_codes.get(wanted)
        if group is not None:
            raise InvalidInput("error.criterion_is_group", code=group)
        raise NotFound(
            "error.criterion_not_found", code=code.strip(), cluster=self.year.cluster_code
        )

    async def latest(self, period_id: int | None) -> dict[int, Latest]:
        """The newest version per criterion, in one period or across the year."""
        entries = await standings.newest_entries(
            self.s, [self.year.cluster_id], self.year.year, period_id, unit_id=self.seat.unit_id
        )
        ids = [entry.report_id for _, entry in entries]
        evidence = dict(
            (
                await self.s.execute(
                    select(EvidenceFile.report_id, func.count())
                    .where(EvidenceFile.report_id.in_(ids))
                    .group_by(EvidenceFile.report_id)
                )
            ).all()
        )
        out = {}
        for _, entry in entries:
            assert entry.reported_at is not None  # loaded with detail
            out[entry.criterion_id] = Latest(
                report_id=entry.report_id,
                period_code=entry.period_code,
                version=entry.version,
                value=entry.value,
                proposed=entry.proposed,
                late=entry.late,
                note=entry.note,
                reported_at=entry.reported_at,
                verified=entry.verified,
                review_reason=entry.reason,
                evidence=int(evidence.get(entry.report_id, 0)),
            )
        return out


def period_views(
    periods: Iterable[Period | PeriodRule], late_lock_days: int, tz: ZoneInfo, now: datetime
) -> list[PeriodView]:
    """A year's periods in start order, each with its state at `now`."""
    return [
        PeriodView(
            id=p.id,
            code=p.code,
            starts_on=p.starts_on,
            ends_on=p.ends_on,
            deadline=p.deadline,
            state=period_state(
                starts_on=p.starts_on,
                deadline=p.deadline,
                late_lock_days=late_lock_days,
                now=now,
                tz=tz,
            ),
        )
        for p in sorted(periods, key=lambda p: p.starts_on)
    ]


def default_period(periods: list[PeriodView]) -> PeriodView:
    """The period people are reporting for now (see calendar.current_index)."""
    return periods[current_index([p.state for p in periods])]


def find_period(periods: list[PeriodView], code: str | None, cluster_code: str) -> PeriodView:
    """The period named by code (case-insensitive), else the one being reported now."""
    if not periods:
        raise NotFound("error.no_periods", cluster=cluster_code)
    if code is None:
        return default_period(periods)
    for period in periods:
        if period.code.lower() == code.strip().lower():
            return period
    raise NotFound("error.period_not_found", code=code, periods=", ".join(p.code for p in periods))


# What a period code looks like in any cadence: T01…T12, Q1…Q4, H1/H2, N (services.calendar).
# Criterion codes are dotted numbers, so a word of this shape is never meant as one.
_PERIOD_SHAPE = re.compile(r"^(?:[tqh]\d{1,2}|n)$", re.IGNORECASE)


@dataclass(frozen=True)
class OneLine:
    """The one-line form `/report [PERIOD] CODE VALUE [note…]`, split."""

    period_code: str | None
    criterion_code: str
    raw_value: str
    note: str | None


async def one_line(session: AsyncSession, actor: Actor, words: list[str]) -> OneLine:
    """Split the one-line form. A leading word that looks like a period code is taken as one
    and must be a period of the working year: `/baocao Q5 1.2 50` is told that Q5 is not a
    period (with the year's periods), not that Q5 is not a criterion."""
    scope = await _Scope(session, actor).load()
    if scope.year.status is YearStatus.CLOSED:
        raise InvalidInput("error.year_closed", year=scope.year.year)
    period_code = None
    if len(words) >= 3 and _PERIOD_SHAPE.match(words[0]):
        codes = sorted(p.code for p in scope.rules.periods)
        found = next((c for c in codes if c.lower() == words[0].lower()), None)
        if found is None:
            raise NotFound("error.period_not_found", code=words[0], periods=", ".join(codes))
        period_code, words = found, words[1:]
    if len(words) < 2:
        raise InvalidInput("error.one_line_usage")
    return OneLine(period_code, words[0], words[1], " ".join(words[2:]) or None)


async def check_open(session: AsyncSession, actor: Actor) -> None:
    """Refuse at once when the officer's year takes no more reports (a closed year), so a
    guided report never walks to its value step only to be refused there."""
    scope = await _Scope(session, actor).load()
    if scope.year.status is YearStatus.CLOSED:
        raise InvalidInput("error.year_closed", year=scope.year.year)


async def periods(session: AsyncSession, actor: Actor, now: datetime) -> list[PeriodView]:
    """The working year's periods with their state, for choosing one."""
    scope = await _Scope(session, actor).load()
    return scope.periods(now)


async def sheet(
    session: AsyncSession, actor: Actor, *, period_code: str | None, now: datetime, year: bool
) -> Sheet:
    """The unit's criteria with its latest reports: for one period, or the year to date."""
    scope = await _Scope(session, actor).load()
    period = scope.period(period_code, now)
    groups, leaves = scope.criteria()
    latest = await scope.latest(None if year else period.id)
    return Sheet(
        cluster_code=scope.year.cluster_code,
        unit_name=scope.seat.unit_name,
        year=scope.year.year,
        period=None if year else period,
        groups=groups,
        lines=[Line(leaf, latest.get(leaf.id)) for leaf in leaves],
    )


async def preview(
    session: AsyncSession,
    actor: Actor,
    *,
    criterion_code: str,
    period_code: str | None,
    raw_value: str,
    language: str,
    now: datetime,
    count_versions: bool = True,
) -> Preview:
    """Validate a value for a criterion and period and compute its proposed score; with the
    version it would be (one more query), unless `count_versions` is off."""
    scope = await _Scope(session, actor).load()
    checked = _preview(scope, criterion_code, period_code, raw_value, language, now)
    if not count_versions:
        return checked
    versions = await session.scalar(
        select(func.max(Report.version)).where(
            Report.unit_id == scope.seat.unit_id,
            Report.criterion_id == checked.criterion.id,
            Report.period_id == checked.period.id,
        )
    )
    return replace(checked, next_version=(versions or 0) + 1)


def _preview(
    scope: _Scope,
    criterion_code: str,
    period_code: str | None,
    raw_value: str,
    language: str,
    now: datetime,
) -> Preview:
    if scope.year.status is YearStatus.CLOSED:
        raise InvalidInput("error.year_closed", year=scope.year.year)
    criterion = scope.criterion(criterion_code)
    period = scope.period(period_code, now)
    if period.state is PeriodState.FUTURE:
        raise InvalidInput("error.period_not_started", period=period.code)
    if period.state is PeriodState.LOCKED:
        raise InvalidInput(
            "error.period_locked",
            period=period.code,
            days=scope.year.late_lock_days,
            chair=chair_term(scope.year.cluster_kind),
        )
    value = parse_value(
        criterion.kind,
        raw_value,
        language,
        percent=criterion.percent,
        max_points=criterion.max_points,
    )
    proposed = scoring.score_leaf(
        criterion.rule(), bool(value) if criterion.kind is CriterionKind.YES_NO else value
    )
    return Preview(
        criterion=criterion,
        period=period,
        value=value,
        proposed=proposed,
        late=period.state is PeriodState.LATE,
        next_version=0,  # counted by `preview`, or taken by `submit`
    )


# Attempts at the next version number when officers of one unit report at the same instant.
_VERSION_RETRIES = 20  # each round stores at least one of the contenders


_AUDIT_INSERT = insert(cast(Table, AuditEntry.__table__))


@functools.cache
def _report_insert(dialect_name: str) -> Any:
    """The INSERT of a report version, built once per dialect. The version is taken in the
    statement itself, one more than the newest: no read before it. Another officer of the
    unit (another worker) storing the same version at that moment makes it do nothing
    rather than fail (on PostgreSQL a failed statement would abort the transaction); the
    next attempt sees theirs and takes the version after it, so both reports are kept.
    SQLite's single writer never collides."""
    reports = Report.__table__.c

    def param(name: str) -> Any:
        return bindparam(name, type_=reports[name].type)

    newest = (
        select(func.coalesce(func.max(reports.version), 0) + 1)
        .where(
            reports.unit_id == param("unit_id"),
            reports.criterion_id == param("criterion_id"),
            reports.period_id == param("period_id"),
        )
        .scalar_subquery()
    )
    columns = [c.name for c in Report.__table__.c if c.name not in ("id", "version")]
    return (
        insert_ignoring(cast(Table, Report.__table__), dialect_name)
        .values({**{name: param(name) for name in columns}, "version": newest})
        .returning(reports.id, reports.version)
    )


async def submit(
    session: AsyncSession,
    actor: Actor,
    *,
    criterion_code: str,
    period_code: str | None,
    raw_value: str,
    note: str | None,
    evidence: list[EvidenceIn],
    evidence_limit: int,
    language: str,
    now: datetime,
) -> Submitted:
    """Store a new version of the unit's report. Earlier versions are never touched."""
    scope = await _Scope(session, actor).load()
    checked = _preview(scope, criterion_code, period_code, raw_value, language, now)
    criterion = checked.criterion
    note = (note or "").strip() or None
    if note is not None and len(note) > 2000:
        raise InvalidInput("error.note_too_long", limit=2000)
    if criterion.kind is CriterionKind.JUDGED and note is None:
        raise InvalidInput("error.judged_needs_note", code=criterion.code)
    for item in evidence:
        check_evidence_size(item.size, evidence_limit)
    if criterion.evidence_required and not evidence:
        # Each version stands on its own evidence: a corrected figure needs its proof.
        raise InvalidInput("error.evidence_required", code=criterion.code)
    assert actor.user_id is not None  # an officer has a user row
    insert = _report_insert(session.get_bind().dialect.name)
    values = {
        "unit_id": scope.seat.unit_id,
        "criterion_id": criterion.id,
        "period_id": checked.period.id,
        "value": checked.value,
        "proposed_score": checked.proposed,
        "max_points": criterion.max_points,
        "note": note,
        "late": checked.late,
        "reported_by": actor.user_id,
        "reported_at": now,
    }
    for _attempt in range(_VERSION_RETRIES):
        stored = (await session.execute(insert, values)).first()
        if stored is not None:
            break
    else:
        raise InvalidInput("error.report_busy")
    report_id, version = int(stored[0]), int(stored[1])
    for item in evidence:
        session.add(
            EvidenceFile(
                report_id=report_id,
                file_ref=item.file_ref,
                file_unique_id=item.file_unique_id,
                file_name=item.file_name,
                mime_type=item.mime_type,
                size=item.size,
                stored_path=item.stored_path,
                created_at=now,
            )
        )
    # The audit entry services.audit.record would add, as one prepared INSERT: the ORM's
    # unit of work costs more than the rest of the write.
    await session.execute(
        _AUDIT_INSERT,
        {
            "at": now,
            "actor": actor.audit_name,
            "cluster_id": scope.year.cluster_id,
            "action": "report.submit",
            "entity": "report",
            "entity_id": report_id,
            "details": {
                "unit": scope.seat.unit_code,
                "criterion": criterion.code,
                "period": checked.period.code,
                "version": version,
                "value": str(checked.value),
                "proposed": str(checked.proposed),
                "late": checked.late,
                "evidence": len(evidence),
            },
        },
    )
    await session.commit()
    return Submitted(
        preview=replace(checked, next_version=version), report_id=report_id, version=version
    )


async def history(
    session: AsyncSession, actor: Actor, *, criterion_code: str
) -> tuple[CriterionView, list[VersionView]]:
    """Every version the unit reported on a criterion this year, newest first."""
    scope = await _Scope(session, actor).load()
    criterion = scope.criterion(criterion_code)
    rows = (
        await session.execute(
            select(Report, Period.code)
            .join(Period, Period.id == Report.period_id)
            .where(Report.unit_id == scope.seat.unit_id, Report.criterion_id == criterion.id)
            .order_by(Report.reported_at.desc(), Report.id.desc())
        )
    ).all()
    ids = [report.id for report, _ in rows]
    files: dict[int, list[str]] = defaultdict(list)
    for report_id, name in await session.execute(
        select(EvidenceFile.report_id, EvidenceFile.file_name)
        .where(EvidenceFile.report_id.in_(ids))
        .order_by(EvidenceFile.id)
    ):
        files[report_id].append(name)
    reviews = {
        row.report_id: row
        for row in await session.execute(
            standings.newest_reviews_query(
                [scope.year.cluster_id],
                scope.year.year,
                unit_id=scope.seat.unit_id,
                criterion_id=criterion.id,
            )
        )
    }
    return criterion, [
        VersionView(
            version=report.version,
            period_code=period_code,
            value=report.value,
            proposed=report.proposed_score,
            late=report.late,
            note=report.note,
            reported_at=report.reported_at,
            reporter=report.reported_by,
            evidence=files.get(report.id, []),
            verified=reviews[report.id].verified_score if report.id in reviews else None,
            review_reason=reviews[report.id].reason if report.id in reviews else None,
        )
        for report, period_code in rows
    ]
