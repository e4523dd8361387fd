"""The year-end minutes and award proposal on a real database (SQLite and PostgreSQL): read
back with python-docx, their figures compared with the published `YearResult` rows."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from docx import Document as open_docx
from docx.document import Document as DocxDocument
from docx.oxml.ns import qn
from docx.shared import Length, Pt
from docx.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.i18n import texts
from models.tables import Cluster, Membership, Unit, YearResult
from services import documents
from services.access import Actor
from services.clusters import get_cluster
from services.documents import Ballot, BallotVotes, DocumentKind, YearRecord
from services.errors import DomainError
from services.export import RATING_VI
from tests.chair_data import close_cum6, cum6_with_reports, sample_record
from tests.factories import officer

VI = texts("vi")


@pytest.fixture
async def cum6(session: AsyncSession) -> dict[str, Actor]:
    return await cum6_with_reports(session)


@pytest.fixture
async def closed(session: AsyncSession, cum6: dict[str, Actor]) -> YearRecord:
    await close_cum6(session, cum6)
    return await documents.year_record(session, await get_cluster(session, "CUM6-STC"), 2024)


def read(content: bytes) -> DocxDocument:
    return open_docx(io.BytesIO(content))


def lines(doc: DocxDocument) -> list[str]:
    """Every paragraph's text: the body's and the cells' (the heading block is a table)."""
    out = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            for cell in row.cells:
                out += [p.text for p in cell.paragraphs]
    return out


def table_with(doc: DocxDocument, head: str) -> Table:
    return next(t for t in doc.tables if head in [c.text for c in t.rows[0].cells])


def mm(*lengths: Length | None) -> list[int]:
    return [round(length.mm) if length is not None else -1 for length in lengths]


def number(text: str) -> Decimal:
    """A figure as the document prints it, in Vietnamese form (1.234,5) back to a Decimal."""
    return Decimal(text.replace(".", "").replace(",", "."))


async def published(session: AsyncSession) -> dict[str, YearResult]:
    rows = await session.execute(
        select(Unit.name, YearResult).join(Unit, Unit.id == YearResult.unit_id)
    )
    return {name: result for name, result in rows}


async def test_the_minutes_list_every_member_and_the_published_figures(
    session: AsyncSession, closed: YearRecord
) -> None:
    made = documents.minutes(closed, VI)

    assert made.filename == "bien-ban-binh-xet-CUM6-STC-2024.docx"
    doc = read(made.content)
    text = lines(doc)
    for heading in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "CỤM THI ĐUA SỐ 6\nSỞ TÀI CHÍNH",
        "Số: …/BB-CTĐ",
        "…, ngày … tháng … năm …",
        "BIÊN BẢN",
        "HỌP BÌNH XÉT THI ĐUA NĂM 2024",
        "I. THÀNH PHẦN THAM DỰ",
        "3. Bỏ phiếu kín bình xét đơn vị dẫn đầu",
        "CỤM TRƯỞNG",
    ):
        assert heading in text, heading
    members = await session.scalars(
        select(Unit.name)
        .join(Membership)
        .join(Cluster, Cluster.id == Membership.cluster_id)
        .where(Cluster.code == "CUM6-STC", Membership.year == 2024)
    )
    names = set(members)
    assert len(names) == 6
    for name in names:  # every member attends, by its full name
        assert any(line.startswith(f"{i}. {name}") for i in range(1, 7) for line in text), name
    assert "5. Sở Tài chính tỉnh Quảng Nam (Cụm trưởng): ……………………" in text

    results = await published(session)
    table = table_with(doc, "Điểm thẩm định")
    rows = [[c.text for c in row.cells] for row in table.rows[1:]]
    assert len(rows) == len(results) == 6
    for position, (_, unit, proposed, verified, rank, rating) in enumerate(rows, start=1):
        result = results[unit.removesuffix(" (Cụm trưởng)").removesuffix(" (Cụm phó)")]
        assert number(proposed) == result.proposed_total
        assert number(verified) == result.verified_total
        assert int(rank) == result.rank
        assert rating == RATING_VI[result.rating]
        assert position == 1 or int(rank) >= int(rows[position - 2][4])  # in rank order
    assert rows[0][1:4] == ["Sở Tài chính tỉnh Khánh Hòa", "100", "100"]
    assert rows[3][2] == "10,1"  # Vietnamese decimals

    assert "- Hoàn thành xuất sắc nhiệm vụ: 1 đơn vị (Khánh Hòa)." in text
    assert any("biên bản kiểm phiếu riêng" in line for line in text)  # no ballot given
    assert any(
        "gồm đơn vị dẫn đầu Cụm và các đơn vị xếp loại Hoàn thành xuất sắc" in x for x in text
    )
    assert (
        "1. Sở Tài chính tỉnh Khánh Hòa (đơn vị dẫn đầu, hạng 1, 100 điểm, Hoàn thành xuất sắc "
        "nhiệm vụ): đề nghị tặng Cờ thi đua." in text
    )
    assert made.proposed == ("Khánh Hòa",)


def test_the_documents_are_laid_out_as_decree_30_asks() -> None:
    record = sample_record()
    for made in (documents.minutes(record, VI), documents.proposal(record, VI)):
        doc = read(made.content)
        section = doc.sections[0]
        # Word keeps lengths in twentieths of a point: compare them in whole millimetres.
        assert mm(section.page_width, section.page_height) == [210, 297]  # A4
        assert mm(section.top_margin, section.bottom_margin) == [20, 20]
        assert mm(section.left_margin, section.right_margin) == [30, 15]
        normal = doc.styles["Normal"]
        assert normal.font.name == "Times New Roman" and normal.font.size == Pt(14)
        fonts = normal.element.rPr.find(qn("w:rFonts"))
        assert fonts is not None and fonts.get(qn("w:eastAsia")) == "Times New Roman"
        assert fonts.get(qn("w:cs")) == "Times New Roman"
        head = doc.tables[0]
        national, motto = head.cell(0, 1).paragraphs[:2]
        assert national.runs[0].bold and national.alignment == 1  # centred
        assert motto.runs[0].bold and motto.runs[0].underline and motto.runs[0].font.size == Pt(14)
        issuer = head.cell(0, 0).paragraphs[0]
        assert issuer.runs[0].bold and issuer.text.isupper()
        date_line = head.cell(1, 1).paragraphs[0]
        assert date_line.runs[0].italic
        sizes = {r.font.size for p in doc.paragraphs for r in p.runs if r.font.size}
        assert sizes <= {Pt(12), Pt(13), Pt(14)}
        assert section.different_first_page_header_footer  # page numbers from page 2


async def test_the_proposal_lists_the_units_with_their_award(
    session: AsyncSession, closed: YearRecord
) -> None:
    made = documents.proposal(closed, VI)

    assert made.filename == "to-trinh-khen-thuong-CUM6-STC-2024.docx"
    doc = read(made.content)
    text = lines(doc)
    for heading in (
        "TỜ TRÌNH",
        "Về việc đề nghị khen thưởng thành tích thi đua năm 2024",
        "Kính gửi: Hội đồng Thi đua - Khen thưởng ……………………",
        "Số: …/TTr-CTĐ",
        "Căn cứ Luật Thi đua, khen thưởng số 06/2022/QH15;",
        "Căn cứ Quy chế hoạt động của Cụm thi đua số 6 — Sở Tài chính;",
        "Nơi nhận:",
        "CỤM TRƯỞNG",
    ):
        assert heading in text, heading
    results = await published(session)
    rows = [[c.text for c in r.cells] for r in table_with(doc, "Hình thức khen thưởng").rows[1:]]
    assert [(r[1], r[5]) for r in rows] == [("Sở Tài chính tỉnh Khánh Hòa", "Cờ thi đua")]
    khoa = results["Sở Tài chính tỉnh Khánh Hòa"]
    assert number(rows[0][2]) == khoa.verified_total and int(rows[0][3]) == khoa.rank
    assert rows[0][4] == RATING_VI[khoa.rating]


def test_a_ballot_names_the_leading_unit_and_the_excellent_ones_get_a_certificate() -> None:
    closed = sample_record()
    ballot = Ballot(
        issued=6,
        returned=6,
        valid=5,
        votes=(BallotVotes("STC-KHOA", 2), BallotVotes("STC-BDINH", 3)),
    )

    minutes = lines(read(documents.minutes(closed, VI, ballot=ballot).content))
    proposal = read(documents.proposal(closed, VI, ballot=ballot).content)

    assert "Số phiếu phát ra: 6; số phiếu thu về: 6; số phiếu hợp lệ: 5." in minutes
    assert not any("kiểm phiếu riêng" in line for line in minutes)
    assert any("Sở Tài chính tỉnh Bình Định được bình xét là đơn vị dẫn đầu" in x for x in minutes)
    assert any("3/5 phiếu hợp lệ (60%)" in line for line in minutes)
    rows = [[c.text for c in r.cells] for r in table_with(proposal, "Hình thức khen thưởng").rows]
    assert [(r[1], r[5]) for r in rows[1:]] == [
        ("Sở Tài chính tỉnh Bình Định", "Cờ thi đua"),
        ("Sở Tài chính tỉnh Khánh Hòa", "Bằng khen"),
    ]


def test_the_meeting_may_choose_the_units_itself() -> None:
    closed = sample_record()
    made = documents.proposal(closed, VI, chosen=["stc-khoa", "STC-QNAM", "STC-KHOA"])

    assert made.proposed == ("Khánh Hòa", "Quảng Nam")
    assert "Các đơn vị được đề nghị (theo Biên bản họp bình xét):" in lines(read(made.content))
    with pytest.raises(DomainError) as refused:
        documents.minutes(closed, VI, chosen=["STC-NOPE"])
    assert refused.value.key == "error.document_unknown_unit"


def test_a_ballot_with_impossible_figures_is_refused() -> None:
    with pytest.raises(ValueError, match="valid"):
        Ballot(issued=5, returned=6, valid=5, votes=())
    with pytest.raises(ValueError, match="votes"):
        Ballot(issued=6, returned=6, valid=5, votes=(BallotVotes("STC-KHOA", 6),))
    tie = Ballot(6, 6, 6, (BallotVotes("A", 3), BallotVotes("B", 3)))
    assert tie.winner() is None and Ballot(6, 6, 6, (), leading="B").winner() == "B"


async def test_an_open_year_is_refused_and_the_chair_gets_the_closed_one(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    cluster = await get_cluster(session, "CUM6-STC")
    for year in (None, 2024):
        with pytest.raises(DomainError) as refused:
            await documents.year_record(session, cluster, year)
        assert (refused.value.key, refused.value.params) == (
            "error.document_year_open",
            {"year": 2024},
        )
    with pytest.raises(DomainError) as refused:
        await documents.document(session, cum6["QNAM"], DocumentKind.MINUTES, VI, args=[])
    assert refused.value.key == "error.document_year_open"

    await close_cum6(session, cum6)
    made = await documents.document(
        session, cum6["QNGAI"], DocumentKind.PROPOSAL, VI, args=["2024"]
    )
    assert made.year == 2024 and made.kind is DocumentKind.PROPOSAL


@pytest.mark.parametrize(
    ("who", "args", "key"),
    [
        ("BDINH", [], "error.forbidden"),
        ("QNAM", ["2019"], "error.year_not_found"),
        ("QNAM", ["2024", "2025"], "error.minutes_usage"),
        ("QNAM", ["STC-KHOA", "2024"], "error.minutes_usage"),
        ("QNAM", ["2024", *(["STC-KHOA"] * 51)], "error.document_too_many_units"),
    ],
)
async def test_an_officer_or_a_wrong_year_is_refused(
    session: AsyncSession, cum6: dict[str, Actor], who: str, args: list[str], key: str
) -> None:
    actor = await officer(session, 3199, "STC-BDINH") if who == "BDINH" else cum6[who]

    with pytest.raises(DomainError) as refused:
        await documents.document(session, actor, DocumentKind.MINUTES, VI, args=args)

    assert refused.value.key == key


def test_file_names_and_the_issuing_body_fold_and_split_as_they_should() -> None:
    assert documents.ascii_name("Biên bản Đà Nẵng 2024") == "Bien-ban-Da-Nang-2024"
    record = YearRecord("KHOI-TN", "Các cơ quan Trung ương tỉnh Tây Ninh", "khoi", 2024, None, [])
    assert documents.issuing_body(record) == ["KHỐI THI ĐUA CÁC CƠ QUAN TRUNG ƯƠNG TỈNH TÂY NINH"]
