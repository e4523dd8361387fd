"""The mid-year review (sơ kết 6 tháng): every unit's year-to-date progress on each criterion
at the H1 cut-off, who is behind on which targets, and the year-end score and rating the
current pace leads to. Asked for with /soket, and sent on its own to the chair's and
vice-chair's officers on the first working day after the H1 deadline.

Nothing here decides a unit's standing again: the newest versions, their reviews and the
current totals are the board's (services/standings), the scores and ratings the engine's
(services/scoring). This module adds only the cut-off, the pro-rata share of a target and
the linear projection (docs/chair.md, "Sơ kết 6 tháng").
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Cluster, ClusterYear, CriterionKind, Period, Role, YearStatus
from services import scoring, workdays
from services.access import Actor, Permission
from services.calendar import exists_during
from services.cluster_file import MidyearRule, year_settings
from services.errors import InvalidInput
from services.leaderboard import cluster_named_first, working_year
from services.reminders import LOOKBACK, Due, Kind, Plan, ReminderRules, Slot, new_only, period_ref
from services.reminders.audience import Reader, Where, to_officers
from services.standings import Entry, Leaf, UnitStanding, build_board, load_years, unit_targets
from services.workdays import OFFICE_HOURS, WorkingHours

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

ZERO = Decimal(0)
MONTHS = Decimal(12)
RULE = "midyear"
# The first working day after a deadline is at most a month away (workdays._MAX_GAP), and a
# send whose day ended is still recorded as skipped within LOOKBACK: periods whose deadline
# is older than this cannot have a send due, so a tick never reads them.
_HORIZON = LOOKBACK + timedelta(days=31)


@dataclass(frozen=True)
class PeriodSpan:
    id: int
    code: str
    starts_on: date
    ends_on: date
    deadline: datetime


@dataclass(frozen=True)
class Window:
    """What the review covers: the periods ending by the cut-off, and when H1 is due."""

    year: int
    through: date  # the cut-off: the end of the last period covered (30/06)
    months: int  # months of the year up to the cut-off: the pro-rata share is months/12
    periods: tuple[str, ...]  # the codes of the periods covered (Q1, Q2)
    deadline: datetime | None  # the last covered period's deadline; None: no period ends by then
    period_id: int | None  # that period (the scheduled send's ledger key)


def _month_end(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def window(periods: Sequence[PeriodSpan], year: int, month: int = 6) -> Window:
    """The review's cut-off in a year with these periods: the periods that end by the end of
    `month` (June: T01…T06, Q1+Q2, H1). A yearly cadence has none: the cut-off is then the
    end of the month itself, and there is no deadline to send after."""
    covered = sorted((p for p in periods if p.ends_on <= _month_end(year, month)), key=_end)
    if not covered:
        return Window(year, _month_end(year, month), month, (), None, None)
    last = covered[-1]
    return Window(
        year=year,
        through=last.ends_on,
        months=last.ends_on.month,
        periods=tuple(p.code for p in covered),
        deadline=last.deadline,
        period_id=last.id,
    )


def _end(period: PeriodSpan) -> date:
    return period.ends_on


def send_day(deadline: datetime, tz: ZoneInfo) -> date:
    """The first working day after the H1 deadline's day (weekends and holidays skipped)."""
    return workdays.add_working_days(deadline.astimezone(tz).date(), 1)


@dataclass(frozen=True)
class CriterionLine:
    """One unit on one criterion at the cut-off."""

    leaf: Leaf
    entry: Entry | None  # the newest version (with its newest review), as on the board
    target: Decimal | None  # quantitative: the unit's own target, else the criterion's
    months: int  # the months of the year its value stands for
    rate: bool  # a rate or level (`[years.midyear] rates`): neither pro-rated nor projected
    expected: Decimal | None  # quantitative: the pro-rata share of the target at the cut-off
    projected_value: Decimal | None
    projected: Decimal  # the projected year-end score of the criterion

    @property
    def value(self) -> Decimal | None:
        return None if self.entry is None else self.entry.value

    @property
    def verified(self) -> bool:
        return self.entry is not None and self.entry.verified is not None

    @property
    def score(self) -> Decimal | None:
        """The score now: the chair's verified score where there is one, else the unit's."""
        if self.entry is None:
            return None
        return self.entry.verified if self.entry.verified is not None else self.entry.proposed

    @property
    def reached(self) -> Decimal | None:
        """The share of the (whole-year) target reached: 0.55 for 55 %."""
        if self.target is None or self.value is None:
            return None
        return self.value / self.target

    @property
    def behind(self) -> bool:
        """A target not reported yet, or a value below its pro-rata share at the cut-off."""
        if self.expected is None:
            return False
        return self.value is None or self.value < self.expected


@dataclass(frozen=True)
class UnitReview:
    standing: UnitStanding  # the board's figures: the same totals, rank and rating as /bxh
    lines: list[CriterionLine]
    projected_total: Decimal
    projected_rating: str

    @property
    def behind(self) -> list[CriterionLine]:
        return [line for line in self.lines if line.behind]

    @property
    def verified(self) -> int:
        return sum(1 for line in self.lines if line.verified)

    @property
    def reported(self) -> int:
        return sum(1 for line in self.lines if line.entry is not None)


@dataclass(frozen=True)
class Review:
    cluster_id: int
    cluster_code: str
    cluster_name: str
    cluster_kind: str
    language: str
    timezone: str
    window: Window
    leaves: list[Leaf]
    units: list[UnitReview]  # in the board's order
    computed_at: datetime
    closed: bool = False
    rates: tuple[str, ...] = ()  # `[years.midyear] rates`: neither pro-rated nor projected

    @property
    def year(self) -> int:
        return self.window.year

    @property
    def provisional(self) -> bool:
        """Asked before H1 is due, in an open year: units may still report for it."""
        if self.closed:
            return False
        if self.window.deadline is not None:
            return self.computed_at <= self.window.deadline
        tz = ZoneInfo(self.timezone)
        return self.computed_at.astimezone(tz).date() <= self.window.through

    @property
    def filename(self) -> str:
        return f"so-ket-{self.cluster_code}-{self.year}.xlsx"


def _line(
    leaf: Leaf, entry: Entry | None, target: Decimal | None, months: int, rate: bool
) -> CriterionLine:
    score = (
        None
        if entry is None
        else (entry.verified if entry.verified is not None else entry.proposed)
    )
    if leaf.kind is not CriterionKind.QUANTITATIVE or target is None:
        # Done or not, counted, judged, bonus and penalty items: what is scored now stands.
        return CriterionLine(leaf, entry, None, months, False, None, None, score or ZERO)
    expected = target if rate else target * months / MONTHS
    if entry is None or entry.value is None:
        return CriterionLine(leaf, entry, target, months, rate, expected, None, ZERO)
    value = entry.value if rate else entry.value * MONTHS / months
    maximum = entry.max_points if entry.max_points is not None else leaf.max_points
    rule = scoring.LeafRule(leaf.code, leaf.kind, maximum, target=target)
    projected = scoring.score_leaf(rule, value)
    if entry.verified is not None and entry.verified != entry.proposed:
        # The chair changed the score: a doubt about the value, not a pace to extend.
        projected = entry.verified
    return CriterionLine(leaf, entry, target, months, rate, expected, value, projected)


def _months(cut: Window, period: PeriodSpan | None) -> int:
    """The months of the year a value stands for: those up to the cut-off, or, for a value
    of a period that began after it (/soket asked in October), up to that period's end."""
    if period is None or period.starts_on <= cut.through:
        return cut.months
    return period.ends_on.month


async def build(
    session: AsyncSession, cluster: Cluster, cluster_year: ClusterYear, now: datetime
) -> Review:
    """The review of a cluster's year at `now`; no rights checked."""
    year = cluster_year.year
    rule: MidyearRule = year_settings(cluster_year).midyear
    data = (await load_years(session, year, [cluster.id]))[cluster.id]
    board = build_board(data, now)
    rows = await session.scalars(
        select(Period).where(Period.cluster_id == cluster.id, Period.year == year)
    )
    spans = [PeriodSpan(p.id, p.code, p.starts_on, p.ends_on, p.deadline) for p in rows]
    cut = window(spans, year, rule.month)
    by_code = {p.code: p for p in spans}
    targets = await unit_targets(session, [leaf.id for leaf in data.leaves])
    rates = set(rule.rates)
    rules = [leaf.rule() for leaf in data.leaves]
    levels = data.levels()
    units = []
    for standing in board.standings:
        unit_id = standing.member.unit_id
        lines = []
        for leaf in data.leaves:
            entry = data.entry(unit_id, leaf.id)
            months = _months(cut, by_code[entry.period_code] if entry else None)
            target = targets.get((leaf.id, unit_id), leaf.target)
            lines.append(_line(leaf, entry, target, months, leaf.code in rates))
        scores = {line.leaf.code: line.projected for line in lines}
        total = scoring.total(rules, scores)
        rating = scoring.rate(total, rules, scores, levels)
        units.append(UnitReview(standing, lines, total, rating))
    return Review(
        cluster_id=cluster.id,
        cluster_code=cluster.code,
        cluster_name=cluster.name,
        cluster_kind=cluster.kind.value,
        language=cluster.language,
        timezone=cluster.timezone,
        window=cut,
        leaves=data.leaves,
        units=units,
        computed_at=now,
        closed=cluster_year.status is YearStatus.CLOSED,
        rates=tuple(code for code in rule.rates if any(leaf.code == code for leaf in data.leaves)),
    )


async def review(session: AsyncSession, actor: Actor, *, words: list[str], now: datetime) -> Review:
    """/soket [CLUSTER] [YEAR]: the mid-year review (default: the working year)."""
    cluster, rest = await cluster_named_first(session, actor, words)
    actor.require(Permission.VIEW_SUMMARY, cluster.id)
    if len(rest) > 1 or (rest and not (rest[0].isdigit() and len(rest[0]) == 4)):
        raise InvalidInput("error.midyear_usage")
    cluster_year = await working_year(session, cluster, int(rest[0]) if rest else None)
    return await build(session, cluster, cluster_year, now)


async def for_send(session: AsyncSession, item: Due, now: datetime) -> Review:
    """The review a scheduled send carries (the year of the period in its ledger key)."""
    assert item.period is not None
    cluster = await session.get_one(Cluster, item.cluster_id)
    cluster_year = await working_year(session, cluster, item.period.year)
    return await build(session, cluster, cluster_year, now)


# ---------------------------------------------------------------- the scheduled send


async def scheduled(
    session: AsyncSession,
    now: datetime,
    *,
    catch_up: bool = True,
    hours: WorkingHours = OFFICE_HOURS,
    lookback: timedelta = LOOKBACK,
) -> Plan:
    """The reviews due at `now` and not yet in the ledger: to every reachable officer of the
    chair's and vice-chair's units, on the first working day after the H1 deadline, at the
    reminders' hour; with `catch_up`, those whose day ended unsent (to record as skipped)."""
    found = Plan()
    # Plain columns first: on most minutes of the year no period qualifies, and a tick over
    # a nationwide database should not build thousands of rows into objects to learn that.
    recent = await session.execute(
        select(Period.id, Period.ends_on, ClusterYear.year, ClusterYear.settings)
        .join(
            ClusterYear,
            and_(ClusterYear.cluster_id == Period.cluster_id, ClusterYear.year == Period.year),
        )
        .where(
            ClusterYear.status == YearStatus.OPEN,
            Period.deadline <= now,
            Period.deadline > now - _HORIZON,
        )
    )
    wanted = []
    for row in recent.mappings():
        rule = year_settings(ClusterYear(settings=row["settings"])).midyear
        # Only a period ending by the cut-off month can be the last one of H1.
        if rule.enabled and row["ends_on"] <= _month_end(row["year"], rule.month):
            wanted.append(row["id"])
    if not wanted:
        return found
    candidates = (
        await session.execute(
            select(Period, ClusterYear, Cluster)
            .join(
                ClusterYear,
                and_(ClusterYear.cluster_id == Period.cluster_id, ClusterYear.year == Period.year),
            )
            .join(Cluster, Cluster.id == Period.cluster_id)
            .where(Period.id.in_(wanted))
        )
    ).all()
    spans: dict[tuple[int, int], list[PeriodSpan]] = {}
    for p in await session.scalars(
        select(Period).where(
            Period.cluster_id.in_({c.id for _, _, c in candidates}),
            Period.year.in_({y.year for _, y, _ in candidates}),
        )
    ):
        spans.setdefault((p.cluster_id, p.year), []).append(
            PeriodSpan(p.id, p.code, p.starts_on, p.ends_on, p.deadline)
        )
    reader = Reader(session)
    for period, year, cluster in candidates:
        cut = window(spans[(cluster.id, year.year)], year.year, year_settings(year).midyear.month)
        if cut.period_id != period.id:
            continue
        tz = ZoneInfo(cluster.timezone)
        at = ReminderRules.of(year_settings(year).reminders).at
        start, end = hours.send_window(send_day(period.deadline, tz), at, tz)
        slot = Slot(f"{RULE}:{year.year}", Kind.MIDYEAR, start, end)
        state = slot.state(now, lookback)
        if state is None or (state == "expired" and not catch_up):
            continue
        units = await reader.units_in(cluster.id, year.year, (Role.CHAIR, Role.VICE_CHAIR))
        members = await reader.members(cluster.id, year.year)
        # A chair's unit merged away before the cut-off has nobody left to read it.
        units = [
            u
            for u in units
            if exists_during(
                members[u][0].valid_from, members[u][0].valid_to, cut.through, cut.through
            )
        ]
        items = await to_officers(
            reader, Where(cluster, tz, 0), slot, units, period=period_ref(period)
        )
        (found.due if state == "due" else found.expired).extend(items)
    found.due = await new_only(session, found.due, now)
    found.expired = await new_only(session, found.expired, now)
    return found


# ---------------------------------------------------------------- the workbook

SHEET_UNITS = "Sơ kết"
SHEET_DETAIL = "Chi tiết"
UNIT_HEADS = [
    ("Hạng hiện tại", 8),
    ("Mã đơn vị", 12),
    ("Đơn vị", 34),
    ("Điểm tự chấm", 11),
    ("Điểm thẩm định", 11),
    ("Điểm dự kiến cuối năm", 12),
    ("Xếp loại dự kiến", 24),
    ("Chỉ tiêu chậm tiến độ", 10),
    ("Tiêu chí đã báo cáo", 10),
    ("Trong đó đã thẩm định", 10),
    ("Các chỉ tiêu chậm", 40),
]
DETAIL_HEADS = [
    ("Mã đơn vị", 12),
    ("Đơn vị", 22),
    ("Mã tiêu chí", 9),
    ("Tiêu chí", 44),
    ("Điểm chuẩn", 9),
    ("Chỉ tiêu năm", 10),
    ("Chỉ tiêu đến mốc sơ kết", 11),
    ("Kết quả lũy kế", 11),
    ("Tỷ lệ đạt chỉ tiêu năm", 10),
    ("Kỳ", 6),
    ("Điểm hiện tại", 10),
    ("Nguồn điểm", 11),
    ("Dự kiến cuối năm", 11),
    ("Điểm dự kiến", 10),
    ("Chậm tiến độ", 8),
]


def workbook(r: Review) -> bytes:
    """The review as an .xlsx file, in Vietnamese like the scoring workbook: a sheet of units
    and a sheet of every criterion of every unit, with numbers as numbers so they sort and sum."""
    # Imported here: openpyxl is heavy and only a /soket (or its scheduled send) needs it.
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    from services.export import PERCENT_FORMAT, RATING_VI, SCORE_FORMAT, VALUE_FORMAT, put

    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    wrap = Alignment(wrap_text=True, vertical="top")
    tz = ZoneInfo(r.timezone)
    when = r.computed_at.astimezone(tz).strftime("%H:%M %d/%m/%Y")
    scope = (
        f"Số liệu lũy kế đến {r.window.through:%d/%m/%Y} "
        f"(kỳ {', '.join(r.window.periods) or 'cả năm'}); chỉ tiêu đến mốc sơ kết = "
        f"{r.window.months}/12 chỉ tiêu năm · Xuất lúc {when}"
    )

    def head(ws: Worksheet, title: str, columns: list[tuple[str, int]]) -> None:
        put(ws, 1, 1, title).font = Font(bold=True, size=14)
        put(ws, 2, 1, r.cluster_name).font = bold
        put(ws, 3, 1, scope)
        for col, (label, width) in enumerate(columns, start=1):
            cell = put(ws, 5, col, label)
            cell.font, cell.fill, cell.alignment = bold, fill, wrap
            ws.column_dimensions[get_column_letter(col)].width = width
        ws.freeze_panes = "D6"

    book = Workbook()
    units = book.active
    assert units is not None
    units.title = SHEET_UNITS
    head(units, f"SƠ KẾT {r.window.months} THÁNG ĐẦU NĂM {r.year}", UNIT_HEADS)
    for row, u in enumerate(r.units, start=6):
        member = u.standing.member
        values: list[str | float | int | None] = [
            u.standing.rank,
            member.code,
            member.name,
            float(u.standing.proposed),
            float(u.standing.verified),
            float(u.projected_total),
            RATING_VI.get(u.projected_rating, u.projected_rating),
            len(u.behind),
            u.reported,
            u.verified,
            ", ".join(line.leaf.code for line in u.behind) or None,
        ]
        for col, value in enumerate(values, start=1):
            cell = put(units, row, col, value)
            if col in (4, 5, 6):
                cell.number_format = SCORE_FORMAT
    detail = book.create_sheet(SHEET_DETAIL)
    head(detail, f"CHI TIẾT SƠ KẾT {r.window.months} THÁNG ĐẦU NĂM {r.year}", DETAIL_HEADS)
    row = 6
    for u in r.units:
        member = u.standing.member
        for line in u.lines:
            leaf, entry = line.leaf, line.entry
            score = line.score
            values = [
                member.code,
                member.short_name,
                leaf.code,
                leaf.name,
                float(leaf.max_points),
                _float(line.target),
                _float(line.expected),
                _value(leaf, line.value),
                _float(line.reached),
                entry.period_code if entry else None,
                None
                if score is None
                else float(-abs(score) if leaf.kind is CriterionKind.PENALTY else score),
                None if entry is None else ("Thẩm định" if line.verified else "Tự chấm"),
                _float(line.projected_value),
                float(
                    -abs(line.projected) if leaf.kind is CriterionKind.PENALTY else line.projected
                ),
                "Có" if line.behind else None,
            ]
            for col, value in enumerate(values, start=1):
                cell = put(detail, row, col, value)
                if col in (5, 11, 14):
                    cell.number_format = SCORE_FORMAT
                elif col in (6, 7, 8, 13):
                    cell.number_format = VALUE_FORMAT
                elif col == 9:
                    cell.number_format = PERCENT_FORMAT
            row += 1
    book.properties.title = f"Sơ kết {r.window.months} tháng {r.cluster_code} {r.year}"
    book.properties.creator = "Thi Đua Bot"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _value(leaf: Leaf, value: Decimal | None) -> str | float | None:
    if value is None:
        return None
    if leaf.kind is CriterionKind.YES_NO:
        return "Có" if value else "Không"
    return float(value)
