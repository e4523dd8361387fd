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

The page itself (python-docx) is services/docx_layout.py, imported when a document is
written, so the running bot does not load python-docx until the first one is asked for.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Cluster, ClusterYear, Membership, Role, Unit, YearResult, YearStatus
from services import ballot as ballots
from services.access import Actor, Permission
from services.errors import InvalidInput, NotFound
from services.export import KIND_VI, RATING_VI
from services.leaderboard import cluster_named_first, working_year

if TYPE_CHECKING:
    from docx.document import Document as DocxDocument

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


def role_name(words: Wording, record: YearRecord, role: str = "chair") -> str:
    return words.raw(f"role.{role}.{record.cluster_kind}")


def _score(words: Wording, value: Decimal) -> str:
    return words.number(value, 2)


def _rating(code: str) -> str:
    return RATING_VI.get(code, code)


def _unit_label(words: Wording, record: YearRecord, unit: UnitResult) -> str:
    if unit.role in (Role.CHAIR, Role.VICE_CHAIR):
        return f"{unit.name} ({role_name(words, record, unit.role.value)})"
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
    from services import docx_layout as page  # python-docx: only when a document is written

    doc = page.new_document()
    page.setup(doc)
    kind = DocumentKind.MINUTES
    body = " ".join(issuing_body(record))
    cluster = record.cluster_name
    chair_role = role_name(words, record)
    page.heading_block(doc, record, kind)
    page.title(doc, "BIÊN BẢN", f"HỌP BÌNH XÉT THI ĐUA NĂM {record.year}")
    page.fill(doc, f"Thời gian: {BLANK} giờ {BLANK} phút, ngày {BLANK} tháng {BLANK} năm {BLANK}.")
    page.fill(doc, f"Địa điểm: {DOTS}{DOTS}")
    chair = record.chair
    page.fill(doc, f"Chủ trì: {chair.name} ({chair_role})" if chair else f"Chủ trì: {DOTS}")
    page.fill(doc, f"Người chủ trì: {DOTS}{DOTS}")
    page.fill(doc, f"Thư ký: {DOTS}{DOTS}")
    page.heading(doc, "I. THÀNH PHẦN THAM DỰ")
    page.para(
        doc,
        f"Đại diện lãnh đạo {len(record.results)} đơn vị thành viên {cluster}:",
        indent=True,
        keep=True,
    )
    for i, unit in enumerate(sorted(record.results, key=lambda r: r.code), start=1):
        page.para(
            doc,
            f"{i}. {_unit_label(words, record, unit)}: {DOTS}",
            indent=True,
            after=3,
            align=page.WD_ALIGN_PARAGRAPH.LEFT,
        )
    page.heading(doc, "II. NỘI DUNG")

    page.heading(doc, f"1. Kết quả chấm điểm thi đua năm {record.year}")
    published = (
        f", đã công bố khi kết thúc năm thi đua ngày {words.date(record.closed_on)}"
        if record.closed_on
        else ""
    )
    page.para(
        doc,
        f"Căn cứ kết quả tự chấm điểm của các đơn vị và kết quả thẩm định của {chair_role}, "
        f"kết quả chấm điểm, xếp hạng và xếp loại năm {record.year} như sau (xếp hạng theo "
        f"điểm thẩm định{published}):",
        indent=True,
        keep=True,
    )
    page.data_table(
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
        page.para(
            doc,
            f"Các đơn vị {names} bằng điểm thẩm định, cùng xếp hạng 1; đơn vị dẫn đầu do bỏ "
            "phiếu kín quyết định.",
            indent=True,
        )

    page.heading(doc, "2. Tổng hợp xếp loại")
    for code, label in RATING_VI.items():
        units = [r.short_name for r in record.results if r.rating == code]
        line = f"- {label}: {len(units)} đơn vị"
        page.para(doc, line + (f" ({', '.join(units)})." if units else "."), indent=True, after=3)

    page.heading(doc, "3. Bỏ phiếu kín bình xét đơn vị dẫn đầu")
    _ballot_section(doc, record, words, ballot)

    chosen_list = proposals(record, ballot, chosen)
    page.heading(doc, "4. Đề nghị khen thưởng")
    basis = (
        "theo thống nhất tại cuộc họp"
        if chosen is not None
        else f"gồm đơn vị dẫn đầu {_kind(record)} và các đơn vị xếp loại Hoàn thành xuất "
        "sắc nhiệm vụ"
    )
    if chosen_list:
        page.para(
            doc,
            f"Cuộc họp thống nhất đề nghị khen thưởng các đơn vị sau ({basis}):",
            indent=True,
            keep=True,
        )
        for i, p in enumerate(chosen_list, start=1):
            lead = "đơn vị dẫn đầu, " if p.leading else ""
            page.para(
                doc,
                f"{i}. {p.unit.name} ({lead}hạng {p.unit.rank}, "
                f"{_score(words, p.unit.verified)} điểm, {_rating(p.unit.rating)}): "
                f"đề nghị tặng {p.award}.",
                indent=True,
                after=3,
            )
    else:
        page.para(doc, f"Không có đơn vị nào được đề nghị khen thưởng ({basis}).", indent=True)

    page.heading(doc, "III. KẾT LUẬN")
    page.para(
        doc,
        f"Cuộc họp kết thúc vào lúc {BLANK} giờ {BLANK} phút cùng ngày. Biên bản đã được "
        f"thông qua tại cuộc họp, các đại biểu dự họp nhất trí {BLANK}%. Biên bản được lập "
        f"thành {BLANK} bản, gửi các đơn vị thành viên và hồ sơ đề nghị khen thưởng./.",
        indent=True,
        keep=True,
    )
    page.para(doc, "", after=0, keep=True)
    page.signatures(
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
        content=page.save(doc, title),
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
    from services import docx_layout as page

    if ballot is None:
        page.para(
            doc,
            "Kết quả bỏ phiếu kín (số phiếu phát ra, thu về, hợp lệ và số phiếu của từng đơn "
            "vị) được ghi tại biên bản kiểm phiếu riêng, kèm theo biên bản này.",
            indent=True,
        )
        return
    page.para(
        doc,
        f"Số phiếu phát ra: {ballot.issued}; số phiếu thu về: {ballot.returned}; số phiếu "
        f"hợp lệ: {ballot.valid}.",
        indent=True,
        keep=True,
    )
    votes = sorted(ballot.votes, key=lambda v: (-v.votes, v.unit_code))
    page.data_table(
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
        page.fill(doc, f"Kết quả: {DOTS}{DOTS}")
        return
    unit = record.unit(winner)
    got = next((v.votes for v in ballot.votes if v.unit_code.lower() == winner.lower()), 0)
    page.para(
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
    from services import docx_layout as page  # python-docx: only when a document is written

    doc = page.new_document()
    page.setup(doc)
    kind = DocumentKind.PROPOSAL
    body = " ".join(issuing_body(record))
    cluster = record.cluster_name
    chosen_list = proposals(record, ballot, chosen)
    page.heading_block(doc, record, kind)
    page.title(
        doc,
        "TỜ TRÌNH",
        f"Về việc đề nghị khen thưởng thành tích thi đua năm {record.year}",
    )
    page.para(
        doc,
        f"Kính gửi: Hội đồng Thi đua - Khen thưởng {DOTS}",
        align=page.WD_ALIGN_PARAGRAPH.CENTER,
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
        page.para(doc, line, italic=True, indent=True, after=3)
    page.para(
        doc,
        f"{cluster} kính trình Hội đồng Thi đua - Khen thưởng {DOTS} xem xét, đề nghị cấp có "
        f"thẩm quyền khen thưởng các đơn vị có thành tích xuất sắc trong phong trào thi đua "
        f"năm {record.year}, cụ thể như sau:",
        indent=True,
    )
    page.heading(doc, "I. KẾT QUẢ BÌNH XÉT")
    counts = "; ".join(
        f"{label}: {sum(1 for r in record.results if r.rating == code)} đơn vị"
        for code, label in RATING_VI.items()
    )
    page.para(
        doc,
        f"Năm {record.year}, {cluster} có {len(record.results)} đơn vị thành viên. Kết quả "
        f"chấm điểm, xếp hạng theo điểm thẩm định và xếp loại: {counts}.",
        indent=True,
    )
    page.heading(doc, "II. ĐỀ NGHỊ KHEN THƯỞNG")
    basis = (
        "theo Biên bản họp bình xét"
        if chosen is not None
        else "đơn vị dẫn đầu và các đơn vị xếp loại Hoàn thành xuất sắc nhiệm vụ"
    )
    if chosen_list:
        page.para(doc, f"Các đơn vị được đề nghị ({basis}):", indent=True, keep=True)
        page.data_table(
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
            page.para(
                doc,
                f"Các đơn vị cùng xếp hạng 1: {LEADING_AWARD} đề nghị cho một đơn vị theo kết "
                "quả bỏ phiếu kín ghi tại Biên bản họp bình xét.",
                italic=True,
                indent=True,
            )
    else:
        page.para(doc, f"Không có đơn vị nào được đề nghị ({basis}).", indent=True)
    page.para(
        doc,
        "Hồ sơ kèm theo: Biên bản họp bình xét thi đua; bảng tổng hợp điểm thi đua; báo cáo "
        "thành tích của các đơn vị được đề nghị.",
        indent=True,
    )
    page.para(
        doc,
        f"Kính trình Hội đồng Thi đua - Khen thưởng {DOTS} xem xét, quyết định./.",
        indent=True,
        keep=True,
    )
    page.para(doc, "", after=0, keep=True)
    page.signatures(
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
        content=page.save(doc, title),
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
