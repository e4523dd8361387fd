"""The scoring table as an Excel workbook (bảng điểm): a summary sheet and one per unit.

The workbook is an official document for the cluster's meetings and award dossiers, so it
is in Vietnamese whatever the language of the person who asked for it (its headers are
here, not in the chat catalogues). Scores are written as numbers with a number format, not
as text, so the secretariat can sort and sum them.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Cluster, CriterionKind, EvidenceFile, Explanation
from services.access import Actor, Permission
from services.errors import InvalidInput
from services.leaderboard import cluster_named_first, working_year
from services.reporting import find_period
from services.standings import (
    Board,
    Group,
    Leaf,
    YearData,
    build_board,
    group_scores,
    load_years,
    unit_targets,
)
from services.summary import year_periods

if TYPE_CHECKING:
    from openpyxl.cell.cell import Cell
    from openpyxl.styles import Alignment, Border, Font, PatternFill
    from openpyxl.worksheet.worksheet import Worksheet

MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SCORE_FORMAT = "#,##0.00"
VALUE_FORMAT = "#,##0.##"
PERCENT_FORMAT = "0%"
SUMMARY_SHEET = "Tổng hợp"
RATING_VI = {
    "excellent": "Hoàn thành xuất sắc nhiệm vụ",
    "good": "Hoàn thành tốt nhiệm vụ",
    "completed": "Hoàn thành nhiệm vụ",
    "not_completed": "Không hoàn thành nhiệm vụ",
}
ROLE_VI = {"chair": "trưởng", "vice_chair": "phó"}
KIND_VI = {"cum": "Cụm", "khoi": "Khối"}
UNIT_COLUMNS = [
    ("Mã", 8),
    ("Tiêu chí", 48),
    ("Điểm chuẩn", 10),
    ("Chỉ tiêu", 10),
    ("Đơn vị tính", 9),
    ("Kết quả", 11),
    ("Kỳ", 6),
    ("Lần", 5),
    ("Điểm tự chấm", 10),
    ("Điểm thẩm định", 10),
    ("Lý do thẩm định", 30),
    ("Giải trình của đơn vị", 30),
    ("Minh chứng", 30),
    ("Nộp muộn", 8),
    ("Ghi chú", 30),
]
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
# What a cell may not hold: the C0 controls XML 1.0 forbids (openpyxl raises
# IllegalCharacterError on them; \t \n \r are allowed and kept), lone surrogates (they
# cannot be encoded, so saving would fail) and the two non-characters XML forbids.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Text Excel (or LibreOffice, or a CSV saved from the workbook) could take for a formula or
# a DDE call: = + - @ first, also after blanks, tabs and line breaks, and the full-width
# forms some input methods type.
_FORMULA_START = re.compile("^\\s*[=+\\-@\uff1d\uff0b\uff0d\uff20]")
# Bidirectional overrides make "gpj.exe" look like "exe.jpg" in a file name.
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
CELL_LIMIT = 32_767  # Excel's limit on the characters (UTF-16 code units) of one cell
TRUNCATED = " … [đã cắt bớt: quá giới hạn 32.767 ký tự của một ô Excel]"
CellValue = str | float | int | None


@dataclass(frozen=True)
class _Styles:
    border: Border
    head_fill: PatternFill
    group_fill: PatternFill
    bold: Font
    title: Font
    subtitle: Font
    wrap: Alignment
    center: Alignment


@cache
def _styles() -> _Styles:
    # openpyxl (with numpy, lxml and Pillow behind it) costs the bot ~25 MB and ~0.3 s at
    # start-up; it is imported when the first workbook is written, not with this module.
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    thin = Side(style="thin", color="999999")
    return _Styles(
        border=Border(left=thin, right=thin, top=thin, bottom=thin),
        head_fill=PatternFill("solid", fgColor="DDEBF7"),
        group_fill=PatternFill("solid", fgColor="F2F2F2"),
        bold=Font(bold=True),
        title=Font(bold=True, size=14),
        subtitle=Font(bold=True, size=13),
        wrap=Alignment(wrap_text=True, vertical="top"),
        center=Alignment(horizontal="center", vertical="center", wrap_text=True),
    )


@dataclass(frozen=True)
class ExportFile:
    filename: str
    content: bytes
    cluster_code: str
    year: int
    period_code: str | None
    units: int

    mime_type: str = MIME


@dataclass(frozen=True)
class _Extras:
    targets: dict[tuple[int, int], Decimal]
    evidence: dict[int, list[str]]
    answers: dict[int, list[str]]  # by report version: every answer to any of its reviews


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def cell_text(text: str) -> str:
    """What a cell shows of a user's text: the text without the characters a workbook cannot
    hold, cut at Excel's cell limit with a marker saying so. Formula-looking text is kept as
    it is here; `put` stores it as text (see there).

    Tabs and line breaks stay, but a line break is written as Excel's own "\\n": a lone
    "\\r" would not survive the file (XML reads every CR back as LF) and "\\r\\n" would
    come back doubled.
    """
    text = _ILLEGAL.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    if _utf16_len(text) <= CELL_LIMIT:
        return text
    room = CELL_LIMIT - _utf16_len(TRUNCATED)
    cut = text[:room]
    while _utf16_len(cut) > room:  # characters outside the BMP count twice in Excel
        cut = cut[:-1]
    return cut + TRUNCATED


def file_label(name: str) -> str:
    """An evidence file's name as a cell lists it: without the direction overrides that
    make a name read backwards ("gpj.exe" shown as "exe.jpg"); `put` cleans the rest."""
    return _BIDI.sub("", name)


def put(ws: Worksheet, row: int, column: int, value: CellValue) -> Cell:
    """Write one cell; every cell of the workbook is written here.

    A string is cleaned by `cell_text`, and one that could be taken for a formula is stored
    as a string cell marked with Excel's quote prefix (what typing a leading ' does): Excel
    shows it as text and keeps it text when edited, while the value read back is exactly
    the user's text (no ' added to it). Our own labels never start with = + - @.
    """
    if not isinstance(value, str):
        return ws.cell(row=row, column=column, value=value)
    text = cell_text(value)
    cell = ws.cell(row=row, column=column, value=text)
    if _FORMULA_START.match(text):
        cell.data_type = "s"  # openpyxl made "=…" a formula
        cell.quotePrefix = True
    return cell


def sheet_title(name: str, taken: set[str]) -> str:
    """A sheet name Excel accepts (≤ 31 characters, none of []:*?/\\), unique in the book."""
    base = _BAD_SHEET_CHARS.sub("-", _ILLEGAL.sub("", name)).strip().strip("'") or "Sheet"
    base = base[:31]
    title, n = base, 2
    while title.lower() in {t.lower() for t in taken}:
        suffix = f" ({n})"
        title = base[: 31 - len(suffix)] + suffix
        n += 1
    taken.add(title)
    return title


def _number(value: Decimal | None) -> float | None:
    # openpyxl writes Decimal as a number too, but floats keep the file identical on both
    # databases (SQLite hands back REAL-derived decimals).
    return None if value is None else float(value)


def _signed(leaf: Leaf, score: Decimal) -> Decimal:
    return -abs(score) if leaf.kind is CriterionKind.PENALTY else score


def _value_cell(leaf: Leaf, value: Decimal | None) -> str | float | None:
    if value is None:
        return None
    if leaf.kind is CriterionKind.YES_NO:
        return "Có" if value else "Không"
    return float(value)


def _head_cell(cell: Cell) -> None:
    st = _styles()
    cell.font, cell.fill, cell.alignment, cell.border = st.bold, st.head_fill, st.center, st.border


def _head_row(ws: Worksheet, row: int, labels: list[str]) -> None:
    for col, label in enumerate(labels, start=1):
        _head_cell(put(ws, row, col, label))


def _print_setup(ws: Worksheet, title_rows: str) -> None:
    from openpyxl.worksheet.properties import PageSetupProperties

    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_title_rows = title_rows
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4


def _scope_text(period_code: str | None, when: str) -> str:
    scope = f"Kỳ {period_code}" if period_code else "Lũy kế cả năm"
    return f"Phạm vi: {scope} · Xếp hạng theo điểm thẩm định · Xuất lúc {when}"


def _summary_sheet(
    ws: Worksheet, data: YearData, board: Board, period_code: str | None, when: str
) -> None:
    from openpyxl.utils import get_column_letter

    st = _styles()
    cluster = data.cluster
    tops = [g for g in data.groups if g.depth == 0]
    group_max: dict[str, Decimal] = defaultdict(lambda: Decimal(0))
    for leaf in data.leaves:
        if leaf.base:
            group_max[leaf.group_code] += leaf.max_points
    width = 3 + 2 * len(tops) + 5
    put(ws, 1, 1, f"BẢNG TỔNG HỢP ĐIỂM THI ĐUA NĂM {data.year.year}").font = st.title
    put(ws, 2, 1, cluster.name).font = st.bold
    put(ws, 3, 1, _scope_text(period_code, when))
    for row in (1, 2, 3):
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=width)
    heads = ["Hạng", "Mã đơn vị", "Đơn vị"]
    _head_row(ws, 5, heads)
    for col in range(1, 4):
        ws.merge_cells(start_row=5, start_column=col, end_row=6, end_column=col)
    col = 4
    for group in tops:
        maximum = group_max.get(group.code)
        label = f"{group.code}. {group.name}"
        if maximum:
            label += f" (tối đa {maximum.normalize():f})"
        cell = put(ws, 5, col, label)
        ws.merge_cells(start_row=5, start_column=col, end_row=5, end_column=col + 1)
        for sub, text in enumerate(("Tự chấm", "Thẩm định")):
            sub_cell = put(ws, 6, col + sub, text)
            _head_cell(sub_cell)
        _head_cell(cell)
        col += 2
    tail = ["Tổng tự chấm", "Tổng thẩm định", "Xếp loại", "Tỷ lệ tiêu chí đã báo cáo"]
    tail.append("Báo cáo chưa thẩm định")
    for offset, label in enumerate(tail):
        cell = put(ws, 5, col + offset, label)
        _head_cell(cell)
        ws.merge_cells(start_row=5, start_column=col + offset, end_row=6, end_column=col + offset)
    row = 7
    for standing in board.standings:
        member = standing.member
        proposed = group_scores(data, member.unit_id, verified=False)
        verified = group_scores(data, member.unit_id, verified=True)
        name = member.name
        if member.role.value in ROLE_VI:
            name += f" ({KIND_VI.get(cluster.kind.value, 'Cụm')} {ROLE_VI[member.role.value]})"
        values: list[CellValue] = [standing.rank, member.code, name]
        for group in tops:
            values += [_number(proposed.get(group.code)), _number(verified.get(group.code))]
        values += [
            _number(standing.proposed),
            _number(standing.verified),
            RATING_VI.get(standing.rating, standing.rating),
            float(standing.completion),
            standing.unreviewed,
        ]
        for c, value in enumerate(values, start=1):
            cell = put(ws, row, c, value)
            cell.border = st.border
            if 4 <= c < 4 + 2 * len(tops) + 2:
                cell.number_format = SCORE_FORMAT
        ws.cell(row=row, column=col + 3).number_format = PERCENT_FORMAT
        row += 1
    ws.freeze_panes = "D7"
    widths = [6, 12, 34] + [11] * (2 * len(tops)) + [11, 11, 24, 11, 11]
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = w
    ws.row_dimensions[5].height = 60
    _print_setup(ws, "5:6")


def _unit_sheet(
    ws: Worksheet,
    data: YearData,
    board: Board,
    unit_id: int,
    extras: _Extras,
    period_code: str | None,
    when: str,
) -> None:
    from openpyxl.utils import get_column_letter

    st = _styles()
    standing = next(s for s in board.standings if s.member.unit_id == unit_id)
    member = standing.member
    put(ws, 1, 1, f"BẢNG ĐIỂM THI ĐUA NĂM {data.year.year} — {member.name}").font = st.subtitle
    put(ws, 2, 1, data.cluster.name).font = st.bold
    put(ws, 3, 1, _scope_text(period_code, when))
    for row in (1, 2, 3):
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=len(UNIT_COLUMNS))
    _head_row(ws, 5, [label for label, _ in UNIT_COLUMNS])
    for i, (_, w) in enumerate(UNIT_COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = w
    row = 6
    node: Group | Leaf
    for node in data.outline:
        if isinstance(node, Group):
            put(ws, row, 1, node.code)
            put(ws, row, 2, node.name)
            for c in range(1, len(UNIT_COLUMNS) + 1):
                cell = ws.cell(row=row, column=c)
                cell.font, cell.fill, cell.border, cell.alignment = (
                    st.bold,
                    st.group_fill,
                    st.border,
                    st.wrap,
                )
            row += 1
            continue
        leaf = node
        entry = data.entry(unit_id, leaf.id)
        target = extras.targets.get((leaf.id, unit_id), leaf.target)
        values: list[CellValue] = [
            leaf.code,
            leaf.name,
            _number(
                entry.max_points if entry and entry.max_points is not None else leaf.max_points
            ),
            _number(target) if leaf.kind is CriterionKind.QUANTITATIVE else None,
            leaf.measure_unit,
        ]
        if entry is None:
            values += [None, None, None, None, None, None, None, None, None, None]
        else:
            values += [
                _value_cell(leaf, entry.value),
                entry.period_code,
                entry.version,
                _number(_signed(leaf, entry.proposed)),
                _number(_signed(leaf, entry.verified)) if entry.verified is not None else None,
                entry.reason,
                " | ".join(extras.answers.get(entry.report_id, [])) or None,
                "; ".join(file_label(n) for n in extras.evidence.get(entry.report_id, [])) or None,
                "Có" if entry.late else None,
                entry.note,
            ]
        for c, value in enumerate(values, start=1):
            cell = put(ws, row, c, value)
            cell.border = st.border
            cell.alignment = st.wrap
            if c in (3, 9, 10):
                cell.number_format = SCORE_FORMAT
            elif c in (4, 6):
                cell.number_format = VALUE_FORMAT
        row += 1
    row += 1
    for label, value in (
        ("Tổng điểm tự chấm", _number(standing.proposed)),
        ("Tổng điểm thẩm định", _number(standing.verified)),
        ("Xếp hạng", standing.rank),
        ("Xếp loại", RATING_VI.get(standing.rating, standing.rating)),
        ("Báo cáo chưa thẩm định", standing.unreviewed),
    ):
        put(ws, row, 2, label).font = st.bold
        cell = put(ws, row, 3, value)
        cell.font = st.bold
        if isinstance(value, float):
            cell.number_format = SCORE_FORMAT
        row += 1
    ws.freeze_panes = "C6"
    _print_setup(ws, "5:5")


async def _extras(session: AsyncSession, data: YearData) -> _Extras:
    report_ids = [e.report_id for e in data.entries.values()]
    evidence: dict[int, list[str]] = defaultdict(list)
    if report_ids:
        for report_id, name in await session.execute(
            select(EvidenceFile.report_id, EvidenceFile.file_name)
            .where(EvidenceFile.report_id.in_(report_ids))
            .order_by(EvidenceFile.id)
        ):
            evidence[report_id].append(name)
    # All the unit's explanations of the newest version, oldest first, whichever review they
    # answered: a revised review is usually the chair's answer to one, and keying them by
    # the newest review left the column empty just when it mattered.
    answers: dict[int, list[str]] = defaultdict(list)
    if report_ids:
        for report_id, text in await session.execute(
            select(Explanation.report_id, Explanation.text)
            .where(Explanation.report_id.in_(report_ids))
            .order_by(Explanation.created_at, Explanation.id)
        ):
            answers[report_id].append(text)
    targets = await unit_targets(session, [leaf.id for leaf in data.leaves])
    return _Extras(targets=targets, evidence=dict(evidence), answers=dict(answers))


def workbook(
    data: YearData, board: Board, extras: _Extras, period_code: str | None, now: datetime
) -> bytes:
    """The .xlsx bytes: a summary sheet, then one sheet per unit in rank order."""
    from openpyxl import Workbook  # see _styles: only when a workbook is written

    when = now.astimezone(ZoneInfo(data.cluster.timezone)).strftime("%H:%M %d/%m/%Y")
    book = Workbook()
    summary = book.active
    assert summary is not None
    taken: set[str] = set()
    summary.title = sheet_title(SUMMARY_SHEET, taken)
    _summary_sheet(summary, data, board, period_code, when)
    for standing in board.standings:
        ws = book.create_sheet(sheet_title(standing.member.short_name, taken))
        _unit_sheet(ws, data, board, standing.member.unit_id, extras, period_code, when)
    book.properties.title = f"Bảng điểm thi đua {data.cluster.code} {data.year.year}"
    book.properties.creator = "Thi Đua Bot"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def build_export(
    session: AsyncSession,
    cluster: Cluster,
    *,
    year: int | None,
    period_code: str | None,
    now: datetime,
) -> ExportFile:
    """The workbook of a cluster's year, or of one period of its working year."""
    cluster_year = await working_year(session, cluster, year)
    period_id = None
    if period_code is not None:
        periods = await year_periods(session, cluster, cluster_year, now)
        period = find_period(periods, period_code, cluster.code)
        period_id, period_code = period.id, period.code
    data = (await load_years(session, cluster_year.year, [cluster.id], period_id=period_id))[
        cluster.id
    ]
    board = build_board(data, now)
    extras = await _extras(session, data)
    content = workbook(data, board, extras, period_code, now)
    suffix = f"-{period_code}" if period_code else ""
    return ExportFile(
        filename=f"bang-diem-{cluster.code}-{cluster_year.year}{suffix}.xlsx",
        content=content,
        cluster_code=cluster.code,
        year=cluster_year.year,
        period_code=period_code,
        units=len(board.standings),
    )


async def export(
    session: AsyncSession, actor: Actor, *, words: list[str], now: datetime
) -> ExportFile:
    """/export [CLUSTER] [YEAR|PERIOD]: the scoring workbook (default: the year to date)."""
    cluster, rest = await cluster_named_first(session, actor, words)
    actor.require(Permission.EXPORT, cluster.id)
    if len(rest) > 1:
        raise InvalidInput("error.export_usage")
    year: int | None = None
    period_code: str | None = None
    if rest:
        word = rest[0].strip()
        if word.isdigit() and len(word) == 4:
            year = int(word)
        else:
            period_code = word
    return await build_export(session, cluster, year=year, period_code=period_code, now=now)
