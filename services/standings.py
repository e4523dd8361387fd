"""Where every unit of a cluster stands for a year, computed for all units at once.

Values are year-to-date, so a unit's standing on a criterion is its newest report version in
any period of the year (the latest period, then the highest version). It is one set-based
statement for every unit of one or many clusters, the newest review of each of those
versions included: never a query per unit or per criterion. A board (`boards`) ranks the
scope's report rows with a window and sums them per unit in the same statement, one row per
member; the export, the summary and the review screens load every entry (`load_years`) and
score them with `totals`, to the same figures. A unit's own /tiendo sheet
(services/reporting) probes the reports' unique index once per criterion and period
instead, so its cost does not grow with the number of versions, and is scored by the same
`totals`.

The verified total counts only reviews of the newest version: a unit that corrects a
report after the chair reviewed it needs a new review (the old one stays in history).
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    Text,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from models.tables import (
    Ballot,
    BallotCandidate,
    Cluster,
    ClusterYear,
    Criterion,
    CriterionKind,
    LeaderboardPost,
    Membership,
    Period,
    Report,
    Review,
    Role,
    Unit,
    UnitTarget,
    YearStatus,
)
from services import scoring
from services.cluster_file import RatingRule, settings_of, year_settings

ZERO = Decimal("0.00")
EXTRA_KINDS = frozenset({CriterionKind.BONUS, CriterionKind.PENALTY})
RATING_CODES = ("excellent", "good", "completed", scoring.NOT_COMPLETED)


@dataclass(frozen=True)
class Member:
    unit_id: int
    code: str
    name: str
    short_name: str
    role: Role
    valid_from: date | None = None  # the unit's life (mergers): see calendar.exists_during
    valid_to: date | None = None


@dataclass(frozen=True)
class Leaf:
    """An active leaf criterion of the year."""

    id: int
    code: str
    name: str
    kind: CriterionKind
    max_points: Decimal
    points_each: Decimal | None
    target: Decimal | None
    measure_unit: str | None
    group_code: str  # the top-level group ("1" for "1.2.3"); its own code when loose

    @property
    def base(self) -> bool:
        return self.kind not in EXTRA_KINDS

    def rule(self) -> scoring.LeafRule:
        return scoring.LeafRule(code=self.code, kind=self.kind, max_points=self.max_points)


@dataclass(frozen=True)
class Group:
    code: str
    name: str
    depth: int


@dataclass(frozen=True)
class Entry:
    """The newest report of one unit on one criterion, with the newest review of it.

    Boards load only what ranks (`detail=False`); the maximum in force, the value, note,
    time and the review's reason are loaded for the review screens and the export.
    """

    report_id: int
    unit_id: int
    criterion_id: int
    period_code: str
    version: int
    proposed: Decimal
    late: bool
    max_points: Decimal | None = None  # the maximum in force when it was reported
    value: Decimal | None = None
    note: str | None = None
    reported_at: datetime | None = None
    review_id: int | None = None
    verified: Decimal | None = None
    reason: str | None = None

    @property
    def adjusted(self) -> bool:
        return self.verified is not None and self.verified != self.proposed


@dataclass
class YearData:
    """One cluster's year: its rules, members, criteria and everyone's newest reports."""

    cluster: Cluster
    year: ClusterYear
    members: list[Member] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    leaves: list[Leaf] = field(default_factory=list)
    outline: list[Group | Leaf] = field(default_factory=list)  # groups and leaves, in order
    entries: dict[tuple[int, int], Entry] = field(default_factory=dict)
    # tie_rule = "ballot": the votes of the year's closed ballot for the leading unit.
    ballot_votes: dict[int, int] = field(default_factory=dict)

    def entry(self, unit_id: int, criterion_id: int) -> Entry | None:
        return self.entries.get((unit_id, criterion_id))

    def levels(self) -> list[scoring.RatingLevel]:
        return rating_levels(year_settings(self.year).rating)

    @property
    def tie_rule(self) -> str:
        return year_settings(self.year).rating.tie_rule


@dataclass(frozen=True)
class UnitStanding:
    member: Member
    proposed: Decimal
    verified: Decimal
    reported: int  # base criteria with a report
    base_leaves: int
    unreviewed: int  # newest versions without a review of that version
    late: int
    rank: int
    rating: str
    previous_rank: int | None  # in the last posted board; None: not on it (or none posted)

    @property
    def completion(self) -> Decimal:
        if not self.base_leaves:
            return Decimal(0)
        return Decimal(self.reported) / Decimal(self.base_leaves)

    @property
    def movement(self) -> int | None:
        """Places gained since the last posted board (+2 up, -1 down); None when new."""
        return None if self.previous_rank is None else self.previous_rank - self.rank


@dataclass(frozen=True)
class Board:
    """The leaderboard of a cluster's year: ranked by the verified total."""

    cluster_id: int
    cluster_code: str
    cluster_name: str
    cluster_kind: str
    language: str
    timezone: str
    year: int
    closed: bool
    tie_rule: str
    standings: list[UnitStanding]
    previous_at: datetime | None  # when the board it is compared with was posted
    computed_at: datetime

    @property
    def shared_ranks(self) -> bool:
        ranks = [s.rank for s in self.standings]
        return len(ranks) != len(set(ranks))

    def snapshot(self) -> dict[str, Any]:
        """What a LeaderboardPost keeps: enough to show movement next time."""
        return {
            str(s.member.unit_id): {
                "rank": s.rank,
                "verified": str(s.verified),
                "proposed": str(s.proposed),
            }
            for s in self.standings
        }


def rating_levels(rule: RatingRule) -> list[scoring.RatingLevel]:
    """The cluster year's rating thresholds, for scoring.rate."""
    return [
        scoring.RatingLevel(code=level.code, min_total=level.min_total, min_share=level.min_share)
        for level in rule.levels
        # "not_completed" is what remains below the last level; as a level it adds nothing.
        if level.code != scoring.NOT_COMPLETED
    ]


def _scope(
    query: Select[Any],
    cluster_ids: Sequence[int] | None,
    period_id: int | None,
    unit_id: int | None = None,
    criterion_id: int | None = None,
) -> Any:
    if cluster_ids is not None:
        query = query.where(Period.cluster_id.in_(cluster_ids))
    if period_id is not None:
        query = query.where(Report.period_id == period_id)
    # Inside the window, not around it: the partitions are per unit and criterion, so a
    # narrower scope changes no rank and lets one unit's sheet read only its own rows.
    if unit_id is not None:
        query = query.where(Report.unit_id == unit_id)
    if criterion_id is not None:
        query = query.where(Report.criterion_id == criterion_id)
    return query


# The newest version of a unit's report on a criterion: the latest period (by its start,
# then the later period row for two that start the same day), then the highest version.
# Built once per shape with bound parameters: composing these statements costs more than
# running them for one unit's sheet, and a cached shape also reuses its compiled SQL.
_YEAR = bindparam("year", type_=Integer)
_CLUSTERS = bindparam("cluster_ids", type_=Integer, expanding=True)
_PERIOD = bindparam("period_id", type_=Integer)
_UNIT = bindparam("unit_id", type_=Integer)


@dataclass(frozen=True)
class _Shape:
    by_cluster: bool
    by_period: bool
    by_unit: bool
    detail: bool
    reviews: bool

    @property
    def probe(self) -> bool:
        return self.by_unit and self.by_cluster


def _report_columns(detail: bool) -> list[Any]:
    columns: list[Any] = [
        Report.id.label("report_id"),
        Report.unit_id,
        Report.criterion_id,
        Period.cluster_id,
        Period.code.label("period_code"),
        Report.version,
        Report.proposed_score,
        Report.late,
    ]
    if detail:
        columns += [Report.max_points, Report.value, Report.note, Report.reported_at]
    return columns


def _newest_by_window(shape: _Shape) -> Any:
    """Each newest version's row, ranked over the scope's report rows: one pass over a
    board's rows (about one version per unit, criterion and period).

    For listed clusters only ids and keys are sorted and the winners' rows read by primary
    key, a few hundred lookups per cluster; for every cluster at once the rows ride through
    the sort instead, as reading the winners again would be a second pass over the whole
    table (PostgreSQL hashes them)."""
    rn = (
        func.row_number()
        .over(
            partition_by=(Report.unit_id, Report.criterion_id),
            order_by=(Period.starts_on.desc(), Period.id.desc(), Report.version.desc()),
        )
        .label("rn")
    )
    carried = [Report.id.label("report_id")] if shape.by_cluster else _report_columns(shape.detail)
    inner = (
        select(*carried, rn).join(Period, Period.id == Report.period_id).where(Period.year == _YEAR)
    )
    if shape.by_cluster:
        inner = inner.where(Period.cluster_id.in_(_CLUSTERS))
    if shape.by_period:
        inner = inner.where(Report.period_id == _PERIOD)
    # Inside the window, not around it: the partitions are per unit and criterion, so a
    # narrower scope changes no rank.
    if shape.by_unit:
        inner = inner.where(Report.unit_id == _UNIT)
    ranked = inner.subquery("ranked")
    columns = [c for c in ranked.c if c.name != "rn"]
    winners = select(*columns).where(ranked.c.rn == 1).subquery("winners")
    if not shape.by_cluster:
        return winners
    return _read_rows(winners.c.report_id, shape.detail)


def _read_rows(report_id: Any, detail: bool) -> Any:
    """The report rows (with their period) of the ids in `report_id`'s subquery."""
    return (
        select(*_report_columns(detail))
        .select_from(report_id.table)
        .join(Report, Report.id == report_id)
        .join(Period, Period.id == Report.period_id)
        .subquery("newest")
    )


def _newest_by_probe(shape: _Shape) -> Any:
    """One unit's newest version of each criterion, found by index probes: for each
    criterion and period of the year, the highest version is one backward seek into the
    (unit, criterion, period) range of the reports' unique index, so a criterion corrected
    2,000 times costs what one reported once does. Then the latest period with a version
    wins (a window over criteria x periods rows, a few hundred at most)."""
    probe = aliased(Report, name="probe")
    top_version = (
        select(probe.id)
        .where(
            probe.unit_id == _UNIT,
            probe.criterion_id == Criterion.id,
            probe.period_id == Period.id,
        )
        .order_by(probe.version.desc())
        .limit(1)
        .scalar_subquery()
    )
    cells = (
        select(
            Criterion.id.label("criterion_id"),
            Period.id.label("period_id"),
            Period.starts_on,
            top_version.label("id"),
        )
        .join(
            Period,
            (Period.cluster_id == Criterion.cluster_id) & (Period.year == Criterion.year),
        )
        .where(
            Criterion.cluster_id.in_(_CLUSTERS),
            Criterion.year == _YEAR,
            Criterion.kind != CriterionKind.GROUP,
        )
    )
    if shape.by_period:
        cells = cells.where(Period.id == _PERIOD)
    cell = cells.subquery("cells")
    rn = (
        func.row_number()
        .over(
            partition_by=cell.c.criterion_id,
            # Periods without a version last, so rank 1 is a real one whenever one exists.
            order_by=(cell.c.id.is_(None), cell.c.starts_on.desc(), cell.c.period_id.desc()),
        )
        .label("rn")
    )
    ranked = select(cell.c.id, rn).subquery("ranked")
    ids = select(ranked.c.id).where(ranked.c.rn == 1, ranked.c.id.is_not(None)).subquery("ids")
    return _read_rows(ids.c.id, shape.detail)


@functools.cache
def _beaten_review() -> Any:
    """A later review of the same report exists: `~_beaten_review()` keeps a report's
    newest review (the latest, then the highest id), an anti-join on the reviews' report
    index with the same plan on SQLite and PostgreSQL."""
    later = aliased(Review, name="later")
    return (
        select(later.id)
        .where(
            later.report_id == Review.report_id,
            (later.reviewed_at > Review.reviewed_at)
            | ((later.reviewed_at == Review.reviewed_at) & (later.id > Review.id)),
        )
        .exists()
    )


def _newest_statement(shape: _Shape) -> Select[Any]:
    newest = _newest_by_probe(shape) if shape.probe else _newest_by_window(shape)
    query = select(*newest.c)
    if not shape.reviews:
        return query
    # The newest review of that version: the one no later review of the same report beats.
    # An anti-join on the reviews' report index, the same plan on SQLite and PostgreSQL.
    beaten = _beaten_review()
    review_columns: list[Any] = [Review.id.label("review_id"), Review.verified_score]
    if shape.detail:
        review_columns.append(Review.reason)
    return query.add_columns(*review_columns).outerjoin(
        Review, (Review.report_id == newest.c.report_id) & ~beaten
    )


def _newest_call(
    cluster_ids: Sequence[int] | None,
    year: int,
    period_id: int | None,
    unit_id: int | None,
    *,
    detail: bool,
    reviews: bool,
) -> tuple[Select[Any], dict[str, Any]]:
    """The cached statement of this scope's shape, and its parameters."""
    shape = _Shape(
        by_cluster=cluster_ids is not None,
        by_period=period_id is not None,
        by_unit=unit_id is not None,
        detail=detail,
        reviews=reviews,
    )
    params: dict[str, Any] = {"year": year}
    if cluster_ids is not None:
        params["cluster_ids"] = list(cluster_ids)
    if period_id is not None:
        params["period_id"] = period_id
    if unit_id is not None:
        params["unit_id"] = unit_id
    return _newest_statement(shape), params


def newest_reports_query(
    cluster_ids: Sequence[int] | None,
    year: int,
    period_id: int | None = None,
    *,
    detail: bool = True,
    unit_id: int | None = None,
) -> Select[Any]:
    """Each unit's newest report version per criterion, set-based (one unit's, with
    `unit_id`: with `cluster_ids` too, at a cost that does not grow with its versions)."""
    query, params = _newest_call(
        cluster_ids, year, period_id, unit_id, detail=detail, reviews=False
    )
    return query.params(params)


def newest_entries_query(
    cluster_ids: Sequence[int] | None,
    year: int,
    period_id: int | None = None,
    *,
    detail: bool = True,
    unit_id: int | None = None,
) -> Select[Any]:
    """`newest_reports_query` with the newest review of each of those versions
    (review_id, verified_score, and with `detail` its reason; NULL when not reviewed)."""
    query, params = _newest_call(cluster_ids, year, period_id, unit_id, detail=detail, reviews=True)
    return query.params(params)


def newest_reviews_query(
    cluster_ids: Sequence[int] | None,
    year: int,
    period_id: int | None = None,
    *,
    detail: bool = True,
    unit_id: int | None = None,
    criterion_id: int | None = None,
) -> Select[Any]:
    """The newest review of every reviewed report of the clusters' year, set-based.

    Scoped like the reports rather than by the newest versions' ids, so the database runs
    the (expensive) newest-version window once; the caller keeps the newest versions'.
    """
    rn = (
        func.row_number()
        .over(
            partition_by=Review.report_id,
            order_by=(Review.reviewed_at.desc(), Review.id.desc()),
        )
        .label("rn")
    )
    columns: list[Any] = [Review.id, Review.report_id, Review.verified_score]
    if detail:
        columns.append(Review.reason)
    inner = (
        select(*columns, rn)
        .join(Report, Report.id == Review.report_id)
        .join(Period, Period.id == Report.period_id)
        .where(Period.year == year)
    )
    sub = _scope(inner, cluster_ids, period_id, unit_id, criterion_id).subquery("reviews")
    return select(*(c for c in sub.c if c.name != "rn")).where(sub.c.rn == 1)


async def load_years(
    session: AsyncSession,
    year: int,
    cluster_ids: Sequence[int] | None = None,
    *,
    period_id: int | None = None,
    detail: bool = True,
) -> dict[int, YearData]:
    """Every listed cluster's year (all clusters when None) with all units' newest reports.

    With `period_id`, only the reports of that period count (a period's export/summary);
    without `detail`, only what ranks is loaded (values, notes and reasons are not).
    """
    # The clusters' years and their members in one statement: a board is a handful of
    # statements, and each one is a round trip worth saving.
    head = (
        select(
            Cluster,
            ClusterYear,
            Membership.role,
            Unit.id,
            Unit.code,
            Unit.name,
            Unit.short_name,
            Unit.valid_from,
            Unit.valid_to,
        )
        .join(ClusterYear, (ClusterYear.cluster_id == Cluster.id) & (ClusterYear.year == year))
        .outerjoin(Membership, (Membership.cluster_id == Cluster.id) & (Membership.year == year))
        .outerjoin(Unit, Unit.id == Membership.unit_id)
        .order_by(Cluster.id, Unit.code)
    )
    if cluster_ids is not None:
        head = head.where(Cluster.id.in_(cluster_ids))
    data: dict[int, YearData] = {}
    for cluster, cluster_year, role, unit_id, code, name, short, since, until in (
        await session.execute(head)
    ).all():
        year_data = data.get(cluster.id)
        if year_data is None:
            year_data = data[cluster.id] = YearData(cluster=cluster, year=cluster_year)
        if unit_id is not None:  # None: a cluster year without members
            year_data.members.append(
                Member(unit_id, code, name, short, role, valid_from=since, valid_to=until)
            )
    if not data:
        return {}
    ids = list(data) if cluster_ids is not None else None

    def scoped(column: Any) -> Any:
        return true() if ids is None else column.in_(ids)

    criteria = (
        select(
            Criterion.cluster_id,
            Criterion.id,
            Criterion.code,
            Criterion.name,
            Criterion.kind,
            Criterion.max_points,
            Criterion.points_each,
            Criterion.target,
            Criterion.measure_unit,
        )
        .where(Criterion.year == year, Criterion.active.is_(True), scoped(Criterion.cluster_id))
        .order_by(Criterion.cluster_id, Criterion.position)
    )
    for row in await session.execute(criteria):
        cluster_id, cid, code, name, kind, max_points, points_each, target, measure = row
        if cluster_id not in data:
            continue
        if kind is CriterionKind.GROUP:
            group = Group(code, name, code.count("."))
            data[cluster_id].groups.append(group)
            data[cluster_id].outline.append(group)
            continue
        leaf = Leaf(
            id=cid,
            code=code,
            name=name,
            kind=kind,
            max_points=max_points or ZERO,
            points_each=points_each,
            target=target,
            measure_unit=measure,
            group_code=code.split(".")[0],
        )
        data[cluster_id].leaves.append(leaf)
        data[cluster_id].outline.append(leaf)

    await _fill_entries(session, data, ids, year, period_id, detail)
    await _ballot_votes(session, year, data)
    return data


async def _fill_entries(
    session: AsyncSession,
    data: dict[int, YearData],
    ids: Sequence[int] | None,
    year: int,
    period_id: int | None,
    detail: bool,
) -> None:
    active = {leaf.id for year_data in data.values() for leaf in year_data.leaves}
    for cluster_id, entry in await newest_entries(session, ids, year, period_id, detail=detail):
        year_data = data.get(cluster_id)
        # A report on a retired criterion stays in history but no longer counts.
        if year_data is not None and entry.criterion_id in active:
            year_data.entries[(entry.unit_id, entry.criterion_id)] = entry


async def period_year(
    session: AsyncSession, data: YearData, period_id: int, *, detail: bool = False
) -> YearData:
    """The same cluster year with only one period's reports counted, as `load_years` with
    `period_id` would load it, without reading its rules, members and criteria again (a
    period's summary beside the year to date): one statement."""
    narrowed = replace(data, entries={}, ballot_votes=dict(data.ballot_votes))
    await _fill_entries(
        session, {data.cluster.id: narrowed}, [data.cluster.id], data.year.year, period_id, detail
    )
    return narrowed


async def _ballot_votes(session: AsyncSession, year: int, data: dict[int, YearData]) -> None:
    """For closed years whose ties the ballot breaks, the votes of the latest closed ballot
    for the leading unit (a query only when some cluster needs it)."""
    wanted = [
        cluster_id
        for cluster_id, year_data in data.items()
        if year_data.year.status is YearStatus.CLOSED and year_data.tie_rule == "ballot"
    ]
    if not wanted:
        return
    for cluster_id, votes in (await _closed_ballot_votes(session, year, wanted)).items():
        data[cluster_id].ballot_votes.update(votes)


async def _closed_ballot_votes(
    session: AsyncSession, year: int, cluster_ids: Sequence[int]
) -> dict[int, dict[int, int]]:
    """Cluster → unit → its votes in the cluster's latest closed ballot for the leading unit."""
    latest = (
        select(func.max(Ballot.id))
        .where(
            Ballot.cluster_id.in_(cluster_ids),
            Ballot.year == year,
            Ballot.kind == "leading",
            Ballot.status == "closed",
        )
        .group_by(Ballot.cluster_id)
    )
    rows = await session.execute(
        select(Ballot.cluster_id, BallotCandidate.unit_id, BallotCandidate.votes)
        .join(BallotCandidate, BallotCandidate.ballot_id == Ballot.id)
        .where(Ballot.id.in_(latest))
    )
    out: dict[int, dict[int, int]] = defaultdict(dict)
    for cluster_id, unit_id, votes in rows:
        out[cluster_id][unit_id] = int(votes)
    return out


async def newest_entries(
    session: AsyncSession,
    cluster_ids: Sequence[int] | None,
    year: int,
    period_id: int | None = None,
    *,
    detail: bool = True,
    unit_id: int | None = None,
) -> list[tuple[int, Entry]]:
    """(cluster id, entry) for each unit's newest version per criterion, with the newest
    review of that version: one statement, however many versions there are."""
    query, params = _newest_call(cluster_ids, year, period_id, unit_id, detail=detail, reviews=True)
    result = await session.execute(query, params)
    out: list[tuple[int, Entry]] = []
    if detail:
        for (
            report_id,
            unit,
            criterion_id,
            cluster_id,
            period_code,
            version,
            proposed,
            late,
            max_points,
            value,
            note,
            reported_at,
            review_id,
            verified,
            reason,
        ) in result:
            entry = Entry(
                report_id,
                unit,
                criterion_id,
                period_code,
                version,
                proposed if proposed is not None else ZERO,
                late,
                max_points,
                value,
                note,
                reported_at,
                review_id,
                verified,
                reason,
            )
            out.append((cluster_id, entry))
        return out
    for (
        report_id,
        unit,
        criterion_id,
        cluster_id,
        period_code,
        version,
        proposed,
        late,
        review_id,
        verified,
    ) in result:
        entry = Entry(
            report_id,
            unit,
            criterion_id,
            period_code,
            version,
            proposed if proposed is not None else ZERO,
            late,
            review_id=review_id,
            verified=verified,
        )
        out.append((cluster_id, entry))
    return out


async def unit_targets(
    session: AsyncSession, criterion_ids: Sequence[int]
) -> dict[tuple[int, int], Decimal]:
    """(criterion, unit) → the unit's own target, for quantitative criteria."""
    rows = await session.execute(
        select(UnitTarget.criterion_id, UnitTarget.unit_id, UnitTarget.target).where(
            UnitTarget.criterion_id.in_(criterion_ids)
        )
    )
    return {(cid, uid): target for cid, uid, target in rows}


@dataclass(frozen=True)
class Totals:
    proposed: Decimal
    verified: Decimal
    verified_scores: dict[str, Decimal]
    reported: int
    base_leaves: int
    unreviewed: int
    late: int


class Scored(Protocol):
    """What totals need of a unit's newest version of a criterion (an Entry, a sheet line)."""

    @property
    def proposed(self) -> Decimal | None: ...

    @property
    def verified(self) -> Decimal | None: ...

    @property
    def late(self) -> bool: ...


def totals(lines: Iterable[tuple[scoring.LeafRule, Scored | None]]) -> Totals:
    """A unit's proposed and verified totals from its newest version of each active leaf
    (None: not reported); the one scoring of a unit, for boards and for its own sheet."""
    rules: list[scoring.LeafRule] = []
    proposed: dict[str, Decimal] = {}
    verified: dict[str, Decimal] = {}
    reported = unreviewed = late = base_leaves = 0
    for rule, scored in lines:
        rules.append(rule)
        base = rule.kind not in EXTRA_KINDS
        if base:
            base_leaves += 1
        if scored is None:
            continue
        proposed[rule.code] = scored.proposed if scored.proposed is not None else ZERO
        # Only a review of the newest version counts: a corrected report needs a new one.
        if scored.verified is not None:
            verified[rule.code] = scored.verified
        else:
            unreviewed += 1
        if base:
            reported += 1
        if scored.late:
            late += 1
    return Totals(
        proposed=scoring.total(rules, proposed),
        verified=scoring.total(rules, verified),
        verified_scores=verified,
        reported=reported,
        base_leaves=base_leaves,
        unreviewed=unreviewed,
        late=late,
    )


def unit_totals(
    data: YearData, unit_id: int, rules: Sequence[scoring.LeafRule] | None = None
) -> Totals:
    """A unit's proposed and verified totals over the year's active leaves (`rules`: the
    leaves' rules in order, when the caller already has them, as a board of every unit
    does)."""
    if rules is None:
        rules = [leaf.rule() for leaf in data.leaves]
    entries = data.entries
    return totals(
        (rule, entries.get((unit_id, leaf.id)))
        for rule, leaf in zip(rules, data.leaves, strict=True)
    )


@dataclass(frozen=True)
class _Figures:
    """What a board shows of one member, before the ranking."""

    member: Member
    proposed: Decimal
    verified: Decimal
    reported: int
    base_leaves: int
    unreviewed: int
    late: int
    rating: str


def _standings(
    figures: Sequence[_Figures], votes: dict[int, int] | None, previous: dict[str, Any] | None
) -> list[UnitStanding]:
    """Rank the members by verified total (ties share a rank unless the ballot's `votes`
    order them) and put them in the board's order."""
    tiebreak = {f.member.code: votes.get(f.member.unit_id, 0) for f in figures} if votes else None
    ranks = scoring.rank({f.member.code: f.verified for f in figures}, tiebreak)
    standings = []
    for f in figures:
        before = (previous or {}).get(str(f.member.unit_id))
        standings.append(
            UnitStanding(
                member=f.member,
                proposed=f.proposed,
                verified=f.verified,
                reported=f.reported,
                base_leaves=f.base_leaves,
                unreviewed=f.unreviewed,
                late=f.late,
                rank=ranks[f.member.code],
                rating=f.rating,
                previous_rank=int(before["rank"]) if before else None,
            )
        )
    # Within a shared rank the higher proposal shows first, then the code: stable, and it
    # says nothing the numbers do not.
    standings.sort(key=lambda s: (s.rank, -s.proposed, s.member.code))
    return standings


def build_board(
    data: YearData,
    now: datetime,
    previous: dict[str, Any] | None = None,
    previous_at: datetime | None = None,
) -> Board:
    """Rank every member by verified total (ties share a rank) and rate them, from the
    loaded entries (`boards` sums in the database instead, to the same figures)."""
    rules = [leaf.rule() for leaf in data.leaves]
    levels = data.levels()
    figures = []
    for m in data.members:
        t = unit_totals(data, m.unit_id, rules)
        rating = scoring.rate(t.verified, rules, t.verified_scores, levels)
        figures.append(
            _Figures(
                m, t.proposed, t.verified, t.reported, t.base_leaves, t.unreviewed, t.late, rating
            )
        )
    votes = data.ballot_votes if data.tie_rule == "ballot" else None
    cluster = data.cluster
    return Board(
        cluster_id=cluster.id,
        cluster_code=cluster.code,
        cluster_name=cluster.name,
        cluster_kind=cluster.kind.value,
        language=cluster.language,
        timezone=cluster.timezone,
        year=data.year.year,
        closed=data.year.status is YearStatus.CLOSED,
        tie_rule=data.tie_rule,
        standings=_standings(figures, votes, previous),
        previous_at=previous_at,
        computed_at=now,
    )


async def last_posts(
    session: AsyncSession,
    year: int,
    cluster_ids: Sequence[int] | None,
    before: datetime | None = None,
) -> dict[int, LeaderboardPost]:
    """The newest posted board of each cluster's year (posted before `before`, if given)."""
    rn = (
        func.row_number()
        .over(
            partition_by=LeaderboardPost.cluster_id,
            order_by=(LeaderboardPost.posted_at.desc(), LeaderboardPost.id.desc()),
        )
        .label("rn")
    )
    inner = select(LeaderboardPost.id, rn).where(LeaderboardPost.year == year)
    if before is not None:
        inner = inner.where(LeaderboardPost.posted_at < before)
    if cluster_ids is not None:
        inner = inner.where(LeaderboardPost.cluster_id.in_(cluster_ids))
    sub = inner.subquery()
    posts = await session.scalars(
        select(LeaderboardPost).where(LeaderboardPost.id.in_(select(sub.c.id).where(sub.c.rn == 1)))
    )
    return {post.cluster_id: post for post in posts}


# ---------------------------------------------------------------- a board in one statement

# A board needs each unit's sums and counts, not its rows: the database sums them, so a
# board returns one row per member (as the hand-written SQL of bench/bench_scale.py does)
# instead of one per member and criterion. Scores are summed as whole ten-thousandths (the
# Points type's 4 places): integers add up exactly on SQLite's REALs and PostgreSQL's
# NUMERIC alike, so the totals are the Decimal sums `totals` makes, to the last digit.
_SCALE = 10_000
# A rating level's floor (every floored criterion at `min_share` of its maximum) is checked
# against the unit's weakest criterion, floor(verified / maximum * _SHARE_SCALE) in integer
# division: exact for any share with at most 5 decimals. A year whose shares have more
# (none in practice) is scored from its entries instead (`_exact_shares`).
_SHARE_SCALE = 100_000
_SINCE = bindparam("since", type_=LeaderboardPost.__table__.c.posted_at.type)


def _whole(column: Any) -> Any:
    """A Points column in whole ten-thousandths (BIGINT on both databases)."""
    return cast(func.round(column * literal_column(str(_SCALE))), BigInteger)


@functools.cache
def _board_statement(by_cluster: bool, since: bool) -> Select[Any]:
    """One row per member of each cluster year in scope: the cluster and its year, the
    count of base and floored leaves, the member's unit and role, its sums and counts over
    its newest versions, and the newest board posted (before `since`)."""
    newest = _newest_by_window(
        _Shape(by_cluster=by_cluster, by_period=False, by_unit=False, detail=False, reviews=False)
    )
    beaten = _beaten_review()
    penalty = Criterion.kind == CriterionKind.PENALTY
    extra = Criterion.kind.in_(EXTRA_KINDS)
    maximum = _whole(Criterion.max_points)
    # What scoring.rate floors: base criteria with a maximum (the tree's, not the report's).
    floored = ~extra & (maximum > 0)
    proposed = func.coalesce(_whole(newest.c.proposed_score), 0)
    verified = _whole(Review.verified_score)
    reviewed = Review.id.is_not(None)
    share = verified * literal_column(str(_SHARE_SCALE)) // maximum
    summed = (
        select(
            newest.c.cluster_id,
            newest.c.unit_id,
            func.sum(case((penalty, -func.abs(proposed)), else_=proposed)).label("proposed"),
            func.sum(case((~reviewed, 0), (penalty, -func.abs(verified)), else_=verified)).label(
                "verified"
            ),
            func.sum(case((extra, 0), else_=1)).label("reported"),
            func.sum(case((reviewed, 0), else_=1)).label("unreviewed"),
            func.sum(case((newest.c.late, 1), else_=0)).label("late"),
            func.sum(case((floored & reviewed, 1), else_=0)).label("floored"),
            # A negative score misses every floor, and integer division would round it up.
            func.min(case((floored & reviewed, case((verified < 0, -1), else_=share)))).label(
                "weakest"
            ),
        )
        .select_from(newest)
        # Only the cluster's active leaves of the year count: a report on a retired
        # criterion stays in history.
        .join(
            Criterion,
            (Criterion.id == newest.c.criterion_id)
            & (Criterion.cluster_id == newest.c.cluster_id)
            & (Criterion.year == _YEAR)
            & Criterion.active.is_(True)
            & (Criterion.kind != CriterionKind.GROUP),
        )
        # The newest review of that version: the one no later review of the report beats.
        .outerjoin(Review, (Review.report_id == newest.c.report_id) & ~beaten)
        .group_by(newest.c.cluster_id, newest.c.unit_id)
    )
    # Summed once: PostgreSQL expects a unit or so from the window and, joined as a
    # subquery, aggregated it again for every member row (a third of a board's time).
    # Both databases take the keyword (SQLite since 3.35, which RETURNING needs already).
    per_unit = summed.cte("per_unit").prefix_with("MATERIALIZED")
    leaves = (
        select(
            Criterion.cluster_id,
            func.sum(case((extra, 0), else_=1)).label("base"),
            func.sum(case((floored, 1), else_=0)).label("floored"),
        )
        .where(
            Criterion.year == _YEAR,
            Criterion.active.is_(True),
            Criterion.kind != CriterionKind.GROUP,
        )
        .group_by(Criterion.cluster_id)
    )
    rn = (
        func.row_number()
        .over(
            partition_by=LeaderboardPost.cluster_id,
            order_by=(LeaderboardPost.posted_at.desc(), LeaderboardPost.id.desc()),
        )
        .label("rn")
    )
    posts = select(LeaderboardPost.id, LeaderboardPost.cluster_id, rn).where(
        LeaderboardPost.year == _YEAR
    )
    if by_cluster:
        leaves = leaves.where(Criterion.cluster_id.in_(_CLUSTERS))
        posts = posts.where(LeaderboardPost.cluster_id.in_(_CLUSTERS))
    if since:
        posts = posts.where(LeaderboardPost.posted_at < _SINCE)
    counted = leaves.subquery("leaves")
    ranked_posts = posts.subquery("posts")
    query = (
        select(
            Cluster.id,
            Cluster.code,
            Cluster.name,
            Cluster.kind,
            Cluster.language,
            Cluster.timezone,
            ClusterYear.status,
            # As text, decoded once per cluster rather than once per member row.
            cast(ClusterYear.settings, Text),
            counted.c.base,
            counted.c.floored,
            Membership.role,
            Unit.id,
            Unit.code,
            Unit.name,
            Unit.short_name,
            Unit.valid_from,
            Unit.valid_to,
            per_unit.c.proposed,
            per_unit.c.verified,
            per_unit.c.reported,
            per_unit.c.unreviewed,
            per_unit.c.late,
            per_unit.c.floored,
            per_unit.c.weakest,
            LeaderboardPost.posted_at,
            cast(LeaderboardPost.standings, Text),
        )
        .join(ClusterYear, (ClusterYear.cluster_id == Cluster.id) & (ClusterYear.year == _YEAR))
        .outerjoin(counted, counted.c.cluster_id == Cluster.id)
        .outerjoin(Membership, (Membership.cluster_id == Cluster.id) & (Membership.year == _YEAR))
        .outerjoin(Unit, Unit.id == Membership.unit_id)
        .outerjoin(
            per_unit, (per_unit.c.cluster_id == Cluster.id) & (per_unit.c.unit_id == Unit.id)
        )
        .outerjoin(
            ranked_posts, (ranked_posts.c.cluster_id == Cluster.id) & (ranked_posts.c.rn == 1)
        )
        .outerjoin(LeaderboardPost, LeaderboardPost.id == ranked_posts.c.id)
        .order_by(Cluster.id, Unit.code)
    )
    if by_cluster:
        query = query.where(Cluster.id.in_(_CLUSTERS))
    return query


def _exact_shares(levels: Sequence[scoring.RatingLevel]) -> bool:
    """Whether every level's share is a whole number of 1/_SHARE_SCALE (see above)."""
    return all((level.min_share * _SHARE_SCALE) % 1 == 0 for level in levels)


def _points(whole: Any) -> Decimal:
    """A sum in whole ten-thousandths, as the Decimal it adds up to."""
    return Decimal(int(whole or 0)).scaleb(-4)


def _floors(floored: int, reviewed: int, weakest: int | None) -> Callable[[Decimal], bool]:
    """For scoring.rate_by: whether each of the `floored` criteria reaches a share of its
    maximum, knowing how many of them have a verified score and the weakest one's
    floor(score / maximum * _SHARE_SCALE)."""

    def met(share: Decimal) -> bool:
        if not floored:
            return True
        # A floored criterion without a verified score counts 0, below any share above 0.
        if reviewed < floored and share > 0:
            return False
        return weakest is None or weakest >= share * _SHARE_SCALE

    return met


async def boards(
    session: AsyncSession,
    year: int,
    cluster_ids: Sequence[int] | None,
    now: datetime,
    *,
    since: datetime | None = None,
) -> dict[int, Board]:
    """The leaderboards of many clusters (all when None) for one year, in one statement
    (and one more for the votes of a closed year whose ties the ballot breaks); movement
    against the last board posted (before `since`, when given)."""
    params: dict[str, Any] = {"year": year}
    if cluster_ids is not None:
        params["cluster_ids"] = list(cluster_ids)
    if since is not None:
        params["since"] = since
    result = await session.execute(
        _board_statement(cluster_ids is not None, since is not None), params
    )
    heads: dict[int, tuple[Any, ...]] = {}
    figures: dict[int, list[_Figures]] = {}
    previous: dict[int, tuple[datetime, dict[str, Any]]] = {}
    settings: dict[int, RatingRule] = {}
    inexact: set[int] = set()
    cluster_id = None
    levels: list[scoring.RatingLevel] = []
    base_leaves = floored = 0
    for (
        cid,
        code,
        name,
        kind,
        language,
        timezone,
        status,
        settings_text,
        base,
        floored_leaves,
        role,
        unit_id,
        unit_code,
        unit_name,
        short_name,
        valid_from,
        valid_to,
        proposed,
        verified,
        reported,
        unreviewed,
        late,
        reviewed,
        weakest,
        posted_at,
        posted,
    ) in result:
        if cid != cluster_id:
            cluster_id = cid
            rule = settings_of(settings_text).rating
            settings[cid] = rule
            levels = rating_levels(rule)
            if not _exact_shares(levels):
                inexact.add(cid)
            heads[cid] = (code, name, kind, language, timezone, status)
            figures[cid] = []
            if posted_at is not None:
                previous[cid] = (posted_at, json.loads(posted))
            base_leaves, floored = int(base or 0), int(floored_leaves or 0)
        if unit_id is None or cid in inexact:  # None: a cluster year without members
            continue
        total = scoring.final_total(_points(verified))
        figures[cid].append(
            _Figures(
                Member(unit_id, unit_code, unit_name, short_name, role, valid_from, valid_to),
                proposed=scoring.final_total(_points(proposed)),
                verified=total,
                reported=int(reported or 0),
                base_leaves=base_leaves,
                unreviewed=int(unreviewed or 0),
                late=int(late or 0),
                rating=scoring.rate_by(
                    total,
                    levels,
                    _floors(floored, int(reviewed or 0), None if weakest is None else int(weakest)),
                ),
            )
        )
    ballots = [
        cid
        for cid, (*_, status) in heads.items()
        if status is YearStatus.CLOSED and settings[cid].tie_rule == "ballot"
    ]
    votes = await _closed_ballot_votes(session, year, ballots) if ballots else {}
    entries = await load_years(session, year, sorted(inexact), detail=False) if inexact else {}
    out: dict[int, Board] = {}
    for cid, (code, name, kind, language, timezone, status) in heads.items():
        posted_at, standings = previous.get(cid, (None, None))
        if cid in inexact:
            out[cid] = build_board(entries[cid], now, standings, posted_at)
            continue
        rule = settings[cid]
        out[cid] = Board(
            cluster_id=cid,
            cluster_code=code,
            cluster_name=name,
            cluster_kind=kind.value,
            language=language,
            timezone=timezone,
            year=year,
            closed=status is YearStatus.CLOSED,
            tie_rule=rule.tie_rule,
            standings=_standings(
                figures[cid], votes.get(cid) if rule.tie_rule == "ballot" else None, standings
            ),
            previous_at=posted_at,
            computed_at=now,
        )
    return out


def group_scores(data: YearData, unit_id: int, verified: bool) -> dict[str, Decimal]:
    """A unit's sum per top-level group (penalties negative), for the summary sheet."""
    sums: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for leaf in data.leaves:
        entry = data.entry(unit_id, leaf.id)
        if entry is None:
            continue
        score = entry.verified if verified else entry.proposed
        if score is None:
            continue
        sums[leaf.group_code] += -abs(score) if leaf.kind is CriterionKind.PENALTY else score
    return dict(sums)
