"""The year-end meeting's documents, from a closed year: the minutes of the deliberation
(biên bản họp bình xét thi đua) and the award proposal (tờ trình đề nghị khen thưởng).

Both are Word files laid out as Nghị định 30/2020/NĐ-CP asks of administrative documents
(national title and motto, issuing body, number and date lines, Times New Roman, A4 and its
margins, a signature block), so the secretariat prints, numbers and signs them instead of
retyping the year's results. Like the export, they are in Vietnamese whatever the language
of the person asking; their fixed wording is here, the role names come from the catalogue.

The figures are the published year result (`YearResult`, written by closing the year from
the same board the export and the leaderboard compute): never recomputed here, so the
minutes, the proposal and the posted final table cannot disagree.
"""

from __future__ import annotations

import enum
import io
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol
from zoneinfo import ZoneInfo

from docx import Document as new_document
from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.shared import Cm, Mm, Pt
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Cluster, ClusterYear, Membership, Role, Unit, YearResult, YearStatus
from services import ballot as ballots
from services.access import Actor, Permission
from services.errors import InvalidInput, NotFound
from services.export import KIND_VI, RATING_VI
from services.leaderboard import cluster_named_first, working_year

MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
FONT = "Times New Roman"
BODY_PT = 14  # the body text: 13-14 pt
TITLE_PT = 14  # the document's kind and summary ("BIÊN BẢN", "Về việc …"): 13-14 pt, bold
NATIONAL_PT = 12  # "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM": 12-13 pt, bold; 13 wraps
MOTTO_PT = 14  # "Độc lập - Tự do - Hạnh phúc": 13-14 pt, bold
ISSUER_PT = 13  # the issuing body: 12-13 pt, bold
TABLE_PT = 12  # tables are allowed smaller, so six columns fit a portrait page
SMALL_PT = 12  # "Nơi nhận" and the signing hints
# A4 portrait; top/bottom 20-25 mm, left 30-35 mm, right 15-20 mm.
PAGE_WIDTH_MM, PAGE_HEIGHT_MM = 210, 297
MARGINS_MM = {"top": 20, "bottom": 20, "left": 30, "right": 15}
TEXT_WIDTH_CM = (PAGE_WIDTH_MM - MARGINS_MM["left"] - MARGINS_MM["right"]) / 10
FIRST_LINE_CM = 1.27
HEAD_LEFT_CM = 6.0  # the issuing body's column; the national title's is the rest
NATIONAL_TITLE = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"
BLANK = "…"
DOTS = "……………………"
LEADING_AWARD = "Cờ thi đua"
EXCELLENT_AWARD = "Bằng khen"
EXCELLENT = "excellent"
# Which document, and its kind sign on the number line (Nghị định 30, appendix III).
_SIGN = {"minutes": "BB", "proposal": "TTr"}
_CLUSTER_SIGN = {"cum": "CTĐ", "khoi": "KTĐ"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_PARTS = re.compile(r"\s+[\u2014\u2013]\s+")  # "Cụm thi đua số 6 — Sở Tài chính"


class Wording(Protocol):
    """What the documents need of a catalogue (handlers.i18n.Texts for "vi" is one): the
    role names and the Vietnamese number and date forms, kept in one place."""

    def raw(self, key: str) -> str: ...

    def number(self, value: Decimal | int | float, places: int = 2) -> str: ...

    def date(self, value: date) -> str: ...


class DocumentKind(enum.StrEnum):
    MINUTES = "minutes"
    PROPOSAL = "proposal"


@dataclass(frozen=True)
class UnitResult:
    """One unit's published result of the year."""

    code: str
    name: str
    short_name: str
    role: Role
    proposed: Decimal
    verified: Decimal
    rank: int
    rating: str


@dataclass(frozen=True)
class YearRecord:
    """A closed year as published: the cluster, its chair and every unit's result."""

    cluster_code: str
    cluster_name: str
    cluster_kind: str  # "cum" or "khoi"
    year: int
    closed_on: date | None  # in the cluster's time zone
    results: list[UnitResult]  # in the board's order: rank, then the higher proposal, code

    @property
    def chair(self) -> UnitResult | None:
        return next((r for r in self.results if r.role is Role.CHAIR), None)

    def unit(self, code: str) -> UnitResult:
        for r in self.results:
            if r.code.lower() == code.lower():
                return r
        raise InvalidInput("error.document_unknown_unit", unit=code, year=self.year)


@dataclass(frozen=True)
class BallotVotes:
    unit_code: str
    votes: int


@dataclass(frozen=True)
class Ballot:
    """The secret ballot's figures (bỏ phiếu kín) for the leading unit, as the vote-counting
    board reads them out. There is no ballot model yet: the ballot feature will fill this;
    until then the minutes say the ballot is recorded separately."""

    issued: int  # phiếu phát ra
    returned: int  # phiếu thu về
    valid: int  # phiếu hợp lệ
    votes: tuple[BallotVotes, ...]  # for each unit that received votes
    leading: str | None = None  # the unit code chosen; default: the most votes, if alone

    def __post_init__(self) -> None:
        if not 0 <= self.valid <= self.returned <= self.issued:
            raise ValueError("a ballot needs 0 ≤ valid ≤ returned ≤ issued")
        if any(v.votes < 0 or v.votes > self.valid for v in self.votes):
            raise ValueError("a unit's votes are between 0 and the valid ballots")

    def winner(self) -> str | None:
        if self.leading is not None:
            return self.leading
        if not self.votes:
            return None
        top = max(v.votes for v in self.votes)
        best = [v.unit_code for v in self.votes if v.votes == top]
        return best[0] if len(best) == 1 else None  # a tie is for the meeting to settle


@dataclass(frozen=True)
class Proposal:
    unit: UnitResult
    award: str  # "Cờ thi đua" for the leading unit, "Bằng khen" for the other excellent ones
    leading: bool


@dataclass(frozen=True)
class DocumentFile:
    filename: str
    content: bytes
    cluster_code: str
    year: int
    kind: DocumentKind
    proposed: tuple[str, ...]  # the short names of the units proposed for an award

    mime_type: str = MIME


# ---------------------------------------------------------------- the year, as published


async def _latest_closed(session: AsyncSession, cluster: Cluster) -> ClusterYear:
    found = await session.scalar(
        select(ClusterYear)
        .where(ClusterYear.cluster_id == cluster.id, ClusterYear.status == YearStatus.CLOSED)
        .order_by(ClusterYear.year.desc())
        .limit(1)
    )
    if found is None:
        year = await working_year(session, cluster, None)
        raise InvalidInput("error.document_year_open", year=year.year)
    return found


async def year_record(session: AsyncSession, cluster: Cluster, year: int | None) -> YearRecord:
    """The published results of a closed year (default: the latest closed one); an open
    year is refused, because its figures may still change."""
    cluster_year = (
        await working_year(session, cluster, year)
        if year is not None
        else await _latest_closed(session, cluster)
    )
    if cluster_year.status is not YearStatus.CLOSED:
        raise InvalidInput("error.document_year_open", year=cluster_year.year)
    rows = await session.execute(
        select(YearResult, Unit, Membership.role)
        .join(Unit, Unit.id == YearResult.unit_id)
        .join(
            Membership,
            (Membership.cluster_id == YearResult.cluster_id)
            & (Membership.year == YearResult.year)
            & (Membership.unit_id == YearResult.unit_id),
        )
        .where(YearResult.cluster_id == cluster.id, YearResult.year == cluster_year.year)
    )
    results = [
        UnitResult(
            code=unit.code,
            name=unit.name,
            short_name=unit.short_name,
            role=role,
            proposed=result.proposed_total,
            verified=result.verified_total,
            rank=result.rank,
            rating=result.rating,
        )
        for result, unit, role in rows
    ]
    if not results:
        raise NotFound("error.document_no_results", year=cluster_year.year)
    # The order of the published board (services.standings.build_board).
    results.sort(key=lambda r: (r.rank, -r.proposed, r.code))
    closed = cluster_year.closed_at
    return YearRecord(
        cluster_code=cluster.code,
        cluster_name=cluster.name,
        cluster_kind=cluster.kind.value,
        year=cluster_year.year,
        closed_on=closed.astimezone(ZoneInfo(cluster.timezone)).date() if closed else None,
        results=results,
    )


def proposals(
    record: YearRecord, ballot: Ballot | None = None, chosen: Sequence[str] | None = None
) -> list[Proposal]:
    """Who is proposed for an award. By default the leading unit (the ballot's choice, else
    rank 1) and every unit rated excellent; `chosen` (unit codes) replaces that list when
    the meeting decided otherwise. The leading unit is proposed for the flag, the others
    for the certificate of merit."""
    winner = ballot.winner() if ballot is not None else None
    if winner is not None:
        leading = {record.unit(winner).code}
    else:
        leading = {r.code for r in record.results if r.rank == 1}
    if chosen is not None:
        units = list(dict.fromkeys(record.unit(code) for code in chosen))
    else:
        units = [r for r in record.results if r.code in leading or r.rating == EXCELLENT]
    made = [
        Proposal(u, LEADING_AWARD if u.code in leading else EXCELLENT_AWARD, u.code in leading)
        for u in units
    ]
    return sorted(made, key=lambda p: not p.leading)  # the flag first, then in rank order


# ---------------------------------------------------------------- layout helpers


def ascii_name(text: str) -> str:
    """A file name without diacritics ("Biên bản" → "Bien-ban"): every mail client and
    channel keeps it as it is."""
    folded = text.replace("đ", "d").replace("Đ", "D")
    folded = unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode()
    return _UNSAFE.sub("-", folded).strip("-")


def issuing_body(record: YearRecord) -> list[str]:
    """The cluster's name as the issuing body: upper case, starting with its kind, one line
    per part ("Cụm thi đua số 6 — Sở Tài chính" is two), so no line breaks mid-name."""
    kind = f"{_kind(record)} thi đua"
    name = record.cluster_name
    if not name.lower().startswith(kind.lower()):
        name = f"{kind} {name}"
    return [part.strip().upper() for part in _PARTS.split(name) if part.strip()]


def _set_font(r_pr: BaseOxmlElement, size: float | None = None) -> None:
    """Times New Roman for every script: Word picks the East-Asian and complex-script
    fonts separately, and a missing one falls back to the theme font for Vietnamese."""
    fonts = r_pr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        r_pr.insert(0, fonts)
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attr), FONT)
    for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(theme), None)
    lang = r_pr.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        r_pr.append(lang)
    lang.set(qn("w:val"), "vi-VN")
    if size is not None:
        for tag in ("w:sz", "w:szCs"):
            node = r_pr.find(qn(tag))
            if node is None:
                node = OxmlElement(tag)
                r_pr.append(node)
            node.set(qn("w:val"), str(int(size * 2)))


def _setup(doc: DocxDocument) -> None:
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(PAGE_WIDTH_MM), Mm(PAGE_HEIGHT_MM)
    section.top_margin = Mm(MARGINS_MM["top"])
    section.bottom_margin = Mm(MARGINS_MM["bottom"])
    section.left_margin = Mm(MARGINS_MM["left"])
    section.right_margin = Mm(MARGINS_MM["right"])
    # The document defaults too: headers, footers and table cells start from them.
    defaults = doc.styles.element.find(qn("w:docDefaults"))
    r_pr_default = defaults.find(qn("w:rPrDefault")) if defaults is not None else None
    if r_pr_default is not None:
        r_pr = r_pr_default.find(qn("w:rPr"))
        if r_pr is None:
            r_pr = OxmlElement("w:rPr")
            r_pr_default.append(r_pr)
        _set_font(r_pr, BODY_PT)
    for name in ("Normal", "Table Grid", "Header"):
        style = doc.styles[name].element
        _set_font(style.get_or_add_rPr(), TABLE_PT if name == "Table Grid" else BODY_PT)
    normal = doc.styles["Normal"].paragraph_format
    normal.space_before, normal.space_after = Pt(0), Pt(6)
    normal.line_spacing = 1.0
    # Page numbers from the second page, centred at the top (Nghị định 30, art. 9).
    section.different_first_page_header_footer = True
    number = section.header.paragraphs[0]
    number.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _field(number, "PAGE")


def _field(paragraph: Paragraph, code: str) -> None:
    simple = OxmlElement("w:fldSimple")
    simple.set(qn("w:instr"), code)
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "2"
    run.append(text)
    simple.append(run)
    paragraph._p.append(simple)


def _para(
    where: DocxDocument | _Cell,
    text: str = "",
    *,
    size: float = BODY_PT,
    bold: bool = False,
    italic: bool = False,
    underline: bool = False,
    align: WD_ALIGN_PARAGRAPH | None = WD_ALIGN_PARAGRAPH.JUSTIFY,
    indent: bool = False,
    after: float = 6,
    keep: bool = False,
) -> Paragraph:
    paragraph: Paragraph = where.add_paragraph()
    if text:
        run = paragraph.add_run(text)
        run.font.size = Pt(size)
        run.font.bold = bold
        run.font.italic = italic
        run.font.underline = underline
    fmt = paragraph.paragraph_format
    fmt.alignment = align
    fmt.space_before = Pt(0)
    fmt.space_after = Pt(after)
    if indent:
        fmt.first_line_indent = Cm(FIRST_LINE_CM)
    if keep:
        fmt.keep_with_next = True
    return paragraph


def _heading(doc: DocxDocument, text: str) -> None:
    paragraph = _para(doc, text, bold=True, keep=True, align=WD_ALIGN_PARAGRAPH.LEFT)
    paragraph.paragraph_format.space_before = Pt(6)


def _fill(doc: DocxDocument, text: str) -> None:
    """A line the secretariat completes by hand: left-aligned, so justification does not
    stretch its words apart."""
    _para(doc, text, indent=True, align=WD_ALIGN_PARAGRAPH.LEFT)


def _first(
    cell: _Cell,
    text: str,
    *,
    size: float = TABLE_PT,
    bold: bool = False,
    italic: bool = False,
    align: WD_ALIGN_PARAGRAPH = WD_ALIGN_PARAGRAPH.CENTER,
) -> Paragraph:
    """A cell's own first paragraph, filled (a new cell already holds an empty one)."""
    paragraph: Paragraph = cell.paragraphs[0]
    run = paragraph.add_run(text)
    run.font.size = Pt(size)
    run.font.bold = bold
    run.font.italic = italic
    fmt = paragraph.paragraph_format
    fmt.alignment = align
    fmt.space_before = fmt.space_after = Pt(0)
    return paragraph


def _rule(where: DocxDocument | _Cell, length_cm: float, width_cm: float) -> None:
    """The short solid line under the issuing body and under a document's summary: a
    paragraph's bottom border, its indents centring it at the given length."""
    paragraph = where.add_paragraph()
    fmt = paragraph.paragraph_format
    side = Cm(max(0.0, (width_cm - length_cm) / 2))
    fmt.left_indent = fmt.right_indent = side
    fmt.space_before, fmt.space_after = Pt(0), Pt(6)
    fmt.line_spacing = Pt(2)
    p_pr = paragraph._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for attr, value in (
        ("w:val", "single"),
        ("w:sz", "6"),
        ("w:space", "1"),
        ("w:color", "000000"),
    ):
        bottom.set(qn(attr), value)
    borders.append(bottom)
    p_pr.append(borders)


def _widths(table: Table, widths_cm: Sequence[float]) -> None:
    table.autofit = False
    for column, width in zip(table.columns, widths_cm, strict=True):
        column.width = Cm(width)
        for cell in column.cells:
            cell.width = Cm(width)


def _row_flag(table: Table, index: int, tag: str) -> None:
    tr_pr = table.rows[index]._tr.get_or_add_trPr()
    flag = OxmlElement(tag)
    flag.set(qn("w:val"), "true")
    tr_pr.append(flag)


def _repeat_header(table: Table) -> None:
    """The head row repeats on every printed page of a long table; no row is cut in two."""
    _row_flag(table, 0, "w:tblHeader")
    for index in range(len(table.rows)):
        _row_flag(table, index, "w:cantSplit")


def _heading_block(doc: DocxDocument, record: YearRecord, kind: DocumentKind) -> None:
    """Issuing body, number, national title, motto and place/date (Nghị định 30, app. I)."""
    right = TEXT_WIDTH_CM - HEAD_LEFT_CM
    table = doc.add_table(rows=2, cols=2)
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    _widths(table, (HEAD_LEFT_CM, right))
    body, national = table.cell(0, 0), table.cell(0, 1)
    lines = issuing_body(record)
    issuer = _first(body, lines[0], size=ISSUER_PT, bold=True)
    for line in lines[1:]:
        run = issuer.add_run()
        run.add_break()
        run = issuer.add_run(line)
        run.font.size, run.font.bold = Pt(ISSUER_PT), True
    _rule(body, HEAD_LEFT_CM / 3, HEAD_LEFT_CM)
    _first(national, NATIONAL_TITLE, size=NATIONAL_PT, bold=True)
    motto = national.add_paragraph()
    run = motto.add_run(MOTTO)
    run.font.size, run.font.bold = Pt(MOTTO_PT), True
    # The motto's line is as long as the motto itself: its own underline is exactly that.
    run.font.underline = True
    motto.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    motto.paragraph_format.space_after = Pt(6)
    sign = f"{_SIGN[kind.value]}-{_CLUSTER_SIGN.get(record.cluster_kind, 'CTĐ')}"
    # The number is the secretariat's to give, when the document is registered and signed.
    _first(table.cell(1, 0), f"Số: {BLANK}/{sign}", size=BODY_PT - 1)
    _first(
        table.cell(1, 1),
        f"{BLANK}, ngày {BLANK} tháng {BLANK} năm {BLANK}",
        size=BODY_PT,
        italic=True,
    )
    _para(doc, "", after=6)


def _title(doc: DocxDocument, kind_line: str, summary: str) -> None:
    _para(doc, kind_line, size=TITLE_PT, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, after=0)
    _para(doc, summary, size=TITLE_PT, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, after=0)
    _rule(doc, 4.0, TEXT_WIDTH_CM)


def _table(
    doc: DocxDocument,
    heads: Sequence[str],
    rows: Sequence[Sequence[str]],
    widths: Sequence[float],
    left: frozenset[int] = frozenset({1}),
) -> Table:
    table: Table = doc.add_table(rows=1 + len(rows), cols=len(heads))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    _widths(table, widths)
    for col, head in enumerate(heads):
        _first(table.cell(0, col), head, bold=True)
    for r, values in enumerate(rows, start=1):
        for col, value in enumerate(values):
            align = WD_ALIGN_PARAGRAPH.LEFT if col in left else WD_ALIGN_PARAGRAPH.CENTER
            _first(table.cell(r, col), value, align=align)
    _repeat_header(table)
    _para(doc, "", after=0)
    return table


def _role(words: Wording, record: YearRecord, role: str = "chair") -> str:
    return words.raw(f"role.{role}.{record.cluster_kind}")


def _signatures(
    doc: DocxDocument,
    record: YearRecord,
    words: Wording,
    left: list[tuple[str, float, bool, bool]],
) -> None:
    """The chair's signature on the right, left empty for signing; `left` is the other
    side (the secretary, or "Nơi nhận"), lines of (text, size, bold, italic)."""
    table = doc.add_table(rows=1, cols=2)
    # The signature block is never cut by a page break: the signer's name stays with the
    # title and the hints (a page holding only a name is not signable).
    _row_flag(table, 0, "w:cantSplit")
    half = TEXT_WIDTH_CM / 2
    _widths(table, (half - 0.5, half + 0.5))
    cell = table.cell(0, 0)
    for i, (text, size, bold, italic) in enumerate(left):
        # "Nơi nhận" and its list sit at the left edge; a secretary's title is centred.
        align = (
            WD_ALIGN_PARAGRAPH.LEFT if text.startswith(("-", "Nơi")) else WD_ALIGN_PARAGRAPH.CENTER
        )
        if i == 0:
            _first(cell, text, size=size, bold=bold, italic=italic, align=align)
        else:
            _para(cell, text, size=size, bold=bold, italic=italic, align=align, after=0)
    sign = table.cell(0, 1)
    _first(sign, _role(words, record).upper(), size=BODY_PT, bold=True)
    _para(
        sign,
        "(Ký, ghi rõ họ tên, đóng dấu)",
        size=SMALL_PT,
        italic=True,
        align=WD_ALIGN_PARAGRAPH.CENTER,
        after=0,
    )
    for _ in range(4):  # room for the signature and the seal
        _para(sign, "", after=0)
    chair = record.chair
    if chair is not None:
        _para(sign, chair.name, size=BODY_PT, align=WD_ALIGN_PARAGRAPH.CENTER, after=0)


def _save(doc: DocxDocument, title: str) -> bytes:
    doc.core_properties.title = title
    doc.core_properties.author = "Thi Đua Bot"
    doc.core_properties.language = "vi-VN"
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


def _score(words: Wording, value: Decimal) -> str:
    return words.number(value, 2)


def _rating(code: str) -> str:
    return RATING_VI.get(code, code)


def _unit_label(words: Wording, record: YearRecord, unit: UnitResult) -> str:
    if unit.role in (Role.CHAIR, Role.VICE_CHAIR):
        return f"{unit.name} ({_role(words, record, unit.role.value)})"
    return unit.name


def _kind(record: YearRecord) -> str:
    return KIND_VI.get(record.cluster_kind, "Cụm")


def _filename(prefix: str, record: YearRecord) -> str:
    return ascii_name(f"{prefix}-{record.cluster_code}-{record.year}") + ".docx"


# ---------------------------------------------------------------- the minutes


def minutes(
    record: YearRecord,
    words: Wording,
    *,
    ballot: Ballot | None = None,
    chosen: Sequence[str] | None = None,
) -> DocumentFile:
    """BIÊN BẢN HỌP BÌNH XÉT THI ĐUA NĂM …: attendees, the scoring table, the ratings, the
    ballot and the proposals, with the lines the secretariat fills in at the meeting."""
    doc = new_document()
    _setup(doc)
    kind = DocumentKind.MINUTES
    body = " ".join(issuing_body(record))
    cluster = record.cluster_name
    chair_role = _role(words, record)
    _heading_block(doc, record, kind)
    _title(doc, "BIÊN BẢN", f"HỌP BÌNH XÉT THI ĐUA NĂM {record.year}")
    _fill(doc, f"Thời gian: {BLANK} giờ {BLANK} phút, ngày {BLANK} tháng {BLANK} năm {BLANK}.")
    _fill(doc, f"Địa điểm: {DOTS}{DOTS}")
    chair = record.chair
    _fill(doc, f"Chủ trì: {chair.name} ({chair_role})" if chair else f"Chủ trì: {DOTS}")
    _fill(doc, f"Người chủ trì: {DOTS}{DOTS}")
    _fill(doc, f"Thư ký: {DOTS}{DOTS}")
    _heading(doc, "I. THÀNH PHẦN THAM DỰ")
    _para(
        doc,
        f"Đại diện lãnh đạo {len(record.results)} đơn vị thành viên {cluster}:",
        indent=True,
        keep=True,
    )
    for i, unit in enumerate(sorted(record.results, key=lambda r: r.code), start=1):
        _para(
            doc,
            f"{i}. {_unit_label(words, record, unit)}: {DOTS}",
            indent=True,
            after=3,
            align=WD_ALIGN_PARAGRAPH.LEFT,
        )
    _heading(doc, "II. NỘI DUNG")

    _heading(doc, f"1. Kết quả chấm điểm thi đua năm {record.year}")
    published = (
        f", đã công bố khi kết thúc năm thi đua ngày {words.date(record.closed_on)}"
        if record.closed_on
        else ""
    )
    _para(
        doc,
        f"Căn cứ kết quả tự chấm điểm của các đơn vị và kết quả thẩm định của {chair_role}, "
        f"kết quả chấm điểm, xếp hạng và xếp loại năm {record.year} như sau (xếp hạng theo "
        f"điểm thẩm định{published}):",
        indent=True,
        keep=True,
    )
    _table(
        doc,
        ["TT", "Đơn vị", "Điểm tự chấm", "Điểm thẩm định", "Xếp hạng", "Xếp loại"],
        [
            [
                str(i),
                _unit_label(words, record, r),
                _score(words, r.proposed),
                _score(words, r.verified),
                str(r.rank),
                _rating(r.rating),
            ]
            for i, r in enumerate(record.results, start=1)
        ],
        (1.0, 5.6, 2.1, 2.3, 1.7, 3.3),
    )
    firsts = [r for r in record.results if r.rank == 1]
    if len(firsts) > 1:
        names = ", ".join(r.short_name for r in firsts)
        _para(
            doc,
            f"Các đơn vị {names} bằng điểm thẩm định, cùng xếp hạng 1; đơn vị dẫn đầu do bỏ "
            "phiếu kín quyết định.",
            indent=True,
        )

    _heading(doc, "2. Tổng hợp xếp loại")
    for code, label in RATING_VI.items():
        units = [r.short_name for r in record.results if r.rating == code]
        line = f"- {label}: {len(units)} đơn vị"
        _para(doc, line + (f" ({', '.join(units)})." if units else "."), indent=True, after=3)

    _heading(doc, "3. Bỏ phiếu kín bình xét đơn vị dẫn đầu")
    _ballot_section(doc, record, words, ballot)

    chosen_list = proposals(record, ballot, chosen)
    _heading(doc, "4. Đề nghị khen thưởng")
    basis = (
        "theo thống nhất tại cuộc họp"
        if chosen is not None
        else f"gồm đơn vị dẫn đầu {_kind(record)} và các đơn vị xếp loại Hoàn thành xuất "
        "sắc nhiệm vụ"
    )
    if chosen_list:
        _para(
            doc,
            f"Cuộc họp thống nhất đề nghị khen thưởng các đơn vị sau ({basis}):",
            indent=True,
            keep=True,
        )
        for i, p in enumerate(chosen_list, start=1):
            lead = "đơn vị dẫn đầu, " if p.leading else ""
            _para(
                doc,
                f"{i}. {p.unit.name} ({lead}hạng {p.unit.rank}, "
                f"{_score(words, p.unit.verified)} điểm, {_rating(p.unit.rating)}): "
                f"đề nghị tặng {p.award}.",
                indent=True,
                after=3,
            )
    else:
        _para(doc, f"Không có đơn vị nào được đề nghị khen thưởng ({basis}).", indent=True)

    _heading(doc, "III. KẾT LUẬN")
    _para(
        doc,
        f"Cuộc họp kết thúc vào lúc {BLANK} giờ {BLANK} phút cùng ngày. Biên bản đã được "
        f"thông qua tại cuộc họp, các đại biểu dự họp nhất trí {BLANK}%. Biên bản được lập "
        f"thành {BLANK} bản, gửi các đơn vị thành viên và hồ sơ đề nghị khen thưởng./.",
        indent=True,
        keep=True,
    )
    _para(doc, "", after=0, keep=True)
    _signatures(
        doc,
        record,
        words,
        [
            ("THƯ KÝ", BODY_PT, True, False),
            ("(Ký, ghi rõ họ tên)", SMALL_PT, False, True),
        ],
    )
    title = f"Biên bản họp bình xét thi đua năm {record.year} — {body}"
    return DocumentFile(
        filename=_filename("bien-ban-binh-xet", record),
        content=_save(doc, title),
        cluster_code=record.cluster_code,
        year=record.year,
        kind=kind,
        proposed=tuple(p.unit.short_name for p in chosen_list),
    )


def _percent(words: Wording, part: int, whole: int) -> str:
    return words.number(Decimal(100 * part) / Decimal(whole), 2) if whole else "0"


def _ballot_section(
    doc: DocxDocument, record: YearRecord, words: Wording, ballot: Ballot | None
) -> None:
    if ballot is None:
        _para(
            doc,
            "Kết quả bỏ phiếu kín (số phiếu phát ra, thu về, hợp lệ và số phiếu của từng đơn "
            "vị) được ghi tại biên bản kiểm phiếu riêng, kèm theo biên bản này.",
            indent=True,
        )
        return
    _para(
        doc,
        f"Số phiếu phát ra: {ballot.issued}; số phiếu thu về: {ballot.returned}; số phiếu "
        f"hợp lệ: {ballot.valid}.",
        indent=True,
        keep=True,
    )
    votes = sorted(ballot.votes, key=lambda v: (-v.votes, v.unit_code))
    _table(
        doc,
        ["TT", "Đơn vị", "Số phiếu", "Tỷ lệ (%)"],
        [
            [
                str(i),
                record.unit(v.unit_code).name,
                str(v.votes),
                _percent(words, v.votes, ballot.valid),
            ]
            for i, v in enumerate(votes, start=1)
        ],
        (1.0, 8.5, 2.5, 3.0),
    )
    winner = ballot.winner()
    if winner is None:
        _fill(doc, f"Kết quả: {DOTS}{DOTS}")
        return
    unit = record.unit(winner)
    got = next((v.votes for v in ballot.votes if v.unit_code.lower() == winner.lower()), 0)
    _para(
        doc,
        f"Kết quả: {unit.name} được bình xét là đơn vị dẫn đầu "
        f"{_kind(record)} thi đua năm {record.year} với "
        f"{got}/{ballot.valid} phiếu hợp lệ ({_percent(words, got, ballot.valid)}%).",
        indent=True,
    )


# ---------------------------------------------------------------- the proposal


def proposal(
    record: YearRecord,
    words: Wording,
    *,
    ballot: Ballot | None = None,
    chosen: Sequence[str] | None = None,
) -> DocumentFile:
    """TỜ TRÌNH Về việc đề nghị khen thưởng …: to the emulation council, its basis, the units
    proposed with their scores, ratings and the form of award."""
    doc = new_document()
    _setup(doc)
    kind = DocumentKind.PROPOSAL
    body = " ".join(issuing_body(record))
    cluster = record.cluster_name
    chosen_list = proposals(record, ballot, chosen)
    _heading_block(doc, record, kind)
    _title(
        doc,
        "TỜ TRÌNH",
        f"Về việc đề nghị khen thưởng thành tích thi đua năm {record.year}",
    )
    _para(
        doc,
        f"Kính gửi: Hội đồng Thi đua - Khen thưởng {DOTS}",
        align=WD_ALIGN_PARAGRAPH.CENTER,
        after=12,
    )
    for line in (
        "Căn cứ Luật Thi đua, khen thưởng số 06/2022/QH15;",
        "Căn cứ Nghị định số 98/2023/NĐ-CP ngày 31 tháng 12 năm 2023 của Chính phủ quy định "
        "chi tiết thi hành một số điều của Luật Thi đua, khen thưởng;",
        f"Căn cứ {DOTS}{DOTS};",
        f"Căn cứ Quy chế hoạt động của {cluster};",
        f"Căn cứ Biên bản họp bình xét thi đua năm {record.year} của {cluster} ngày "
        f"{BLANK} tháng {BLANK} năm {BLANK},",
    ):
        _para(doc, line, italic=True, indent=True, after=3)
    _para(
        doc,
        f"{cluster} kính trình Hội đồng Thi đua - Khen thưởng {DOTS} xem xét, đề nghị cấp có "
        f"thẩm quyền khen thưởng các đơn vị có thành tích xuất sắc trong phong trào thi đua "
        f"năm {record.year}, cụ thể như sau:",
        indent=True,
    )
    _heading(doc, "I. KẾT QUẢ BÌNH XÉT")
    counts = "; ".join(
        f"{label}: {sum(1 for r in record.results if r.rating == code)} đơn vị"
        for code, label in RATING_VI.items()
    )
    _para(
        doc,
        f"Năm {record.year}, {cluster} có {len(record.results)} đơn vị thành viên. Kết quả "
        f"chấm điểm, xếp hạng theo điểm thẩm định và xếp loại: {counts}.",
        indent=True,
    )
    _heading(doc, "II. ĐỀ NGHỊ KHEN THƯỞNG")
    basis = (
        "theo Biên bản họp bình xét"
        if chosen is not None
        else "đơn vị dẫn đầu và các đơn vị xếp loại Hoàn thành xuất sắc nhiệm vụ"
    )
    if chosen_list:
        _para(doc, f"Các đơn vị được đề nghị ({basis}):", indent=True, keep=True)
        _table(
            doc,
            ["TT", "Đơn vị", "Điểm thẩm định", "Xếp hạng", "Xếp loại", "Hình thức khen thưởng"],
            [
                [
                    str(i),
                    p.unit.name,
                    _score(words, p.unit.verified),
                    str(p.unit.rank),
                    _rating(p.unit.rating),
                    p.award,
                ]
                for i, p in enumerate(chosen_list, start=1)
            ],
            (1.0, 5.6, 2.0, 1.5, 3.2, 2.7),
        )
        flags = [p for p in chosen_list if p.award == LEADING_AWARD]
        if len(flags) > 1:
            _para(
                doc,
                f"Các đơn vị cùng xếp hạng 1: {LEADING_AWARD} đề nghị cho một đơn vị theo kết "
                "quả bỏ phiếu kín ghi tại Biên bản họp bình xét.",
                italic=True,
                indent=True,
            )
    else:
        _para(doc, f"Không có đơn vị nào được đề nghị ({basis}).", indent=True)
    _para(
        doc,
        "Hồ sơ kèm theo: Biên bản họp bình xét thi đua; bảng tổng hợp điểm thi đua; báo cáo "
        "thành tích của các đơn vị được đề nghị.",
        indent=True,
    )
    _para(
        doc,
        f"Kính trình Hội đồng Thi đua - Khen thưởng {DOTS} xem xét, quyết định./.",
        indent=True,
        keep=True,
    )
    _para(doc, "", after=0, keep=True)
    _signatures(
        doc,
        record,
        words,
        [
            ("Nơi nhận:", SMALL_PT, True, True),
            ("- Như trên;", SMALL_PT - 1, False, False),
            ("- Các đơn vị thành viên;", SMALL_PT - 1, False, False),
            ("- Lưu: VT.", SMALL_PT - 1, False, False),
        ],
    )
    title = f"Tờ trình đề nghị khen thưởng năm {record.year} — {body}"
    return DocumentFile(
        filename=_filename("to-trinh-khen-thuong", record),
        content=_save(doc, title),
        cluster_code=record.cluster_code,
        year=record.year,
        kind=kind,
        proposed=tuple(p.unit.short_name for p in chosen_list),
    )


# ---------------------------------------------------------------- entry points


async def recorded_ballot(session: AsyncSession, cluster_id: int, year: int) -> Ballot | None:
    """The bot's own ballot (services.ballot) in the figures the minutes print: every voting
    unit one ballot paper, every cast vote returned and valid (the bot takes no spoilt
    ones); the leading unit, when exactly one candidate reached the threshold."""
    counted = await ballots.leading_result(session, cluster_id, year)
    if counted is None:
        return None
    view = counted.ballot
    chosen = counted.chosen
    return Ballot(
        issued=view.voters,
        returned=view.voted,
        valid=view.voted,
        votes=tuple(BallotVotes(t.candidate.code, t.votes) for t in counted.tallies if t.votes),
        leading=chosen[0].candidate.code if len(chosen) == 1 else None,
    )


MAX_CHOSEN = 50  # units named in one /proposal: more than any cluster has


async def build_document(
    session: AsyncSession,
    cluster: Cluster,
    kind: DocumentKind,
    words: Wording,
    *,
    year: int | None,
    ballot: Ballot | None = None,
    chosen: Sequence[str] | None = None,
) -> DocumentFile:
    """The minutes or the proposal of a cluster's closed year (no rights checked: the CLI).
    Without `ballot`, the year's recorded secret ballot for the leading unit, if any."""
    record = await year_record(session, cluster, year)
    if ballot is None:
        ballot = await recorded_ballot(session, cluster.id, record.year)
    build = minutes if kind is DocumentKind.MINUTES else proposal
    return build(record, words, ballot=ballot, chosen=chosen)


async def document(
    session: AsyncSession,
    actor: Actor,
    kind: DocumentKind,
    words: Wording,
    *,
    args: list[str],
) -> DocumentFile:
    """/minutes, /proposal [CLUSTER] [YEAR] [UNIT …]: a closed year's document (default:
    the latest closed year), for the chair, the vice-chair and admins. Unit codes replace
    the proposed units (the meeting decided otherwise), as `thidua document --unit` does."""
    cluster, rest = await cluster_named_first(session, actor, args)
    actor.require(Permission.DOCUMENTS, cluster.id)
    year = None
    if rest and rest[0].isdigit():
        if len(rest[0]) != 4:
            raise InvalidInput(f"error.{kind.value}_usage")
        year, rest = int(rest[0]), rest[1:]
    if any(word.isdigit() for word in rest):  # two years, or a year after the units
        raise InvalidInput(f"error.{kind.value}_usage")
    if len(rest) > MAX_CHOSEN:
        raise InvalidInput("error.document_too_many_units", most=MAX_CHOSEN)
    chosen = rest or None
    return await build_document(session, cluster, kind, words, year=year, chosen=chosen)
