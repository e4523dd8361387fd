"""The workbook survives whatever users typed: control characters, formulas and DDE calls,
text longer than a cell holds (issue 12). On SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import EvidenceFile, Explanation, Report, Review, Unit
from services import export, reporting, review
from services.onboarding import Person
from services.reporting import EvidenceIn
from tests.chair_data import cum6_with_reports, full_value, report
from tests.conftest import NOW

MARKER = export.TRUNCATED
CONTROLS = "".join(chr(i) for i in range(0x20))
HOSTILE = [
    "trước" + CONTROLS + "sau",
    "Báo cáo \x1b[31m đỏ \x1f hết",
    '=HYPERLINK("http://x","bấm vào đây")',
    "=cmd|' /C calc'!A0",
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "   =1+1",
    "\t=1+1",
    "\r\n=1+1",
    "\x01=1+1",  # =… only once the control character is gone
    "\uff1d1+1",  # a full-width equals sign
    "=",
    "x" * 40_000,
    "😀" * 20_000,  # 40,000 UTF-16 code units: Excel counts those
]


def sanitised(text: str) -> str:
    """The expectation, written independently of the code under test."""
    text = re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f]", "", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # Excel's line break is LF
    units = len(text.encode("utf-16-le")) // 2
    if units <= 32_767:
        return text
    keep = 32_767 - len(MARKER)
    out, used = [], 0
    for ch in text:
        width = 2 if ord(ch) > 0xFFFF else 1
        if used + width > keep:
            break
        out.append(ch)
        used += width
    return "".join(out) + MARKER


async def test_hostile_notes_reasons_explanations_and_file_names_export_as_plain_text(
    session: AsyncSession,
) -> None:
    hostile = list(HOSTILE)
    if session.get_bind().dialect.name == "postgresql":
        # PostgreSQL refuses NUL in text outright, so no such row can exist there.
        hostile = [h.replace("\x00", "") for h in hostile]
    actors = await cum6_with_reports(session)
    bdinh, chair = actors["BDINH"], actors["QNAM"]
    sheet = await reporting.sheet(session, bdinh, period_code=None, now=NOW, year=False)
    leaves = [ln.criterion for ln in sheet.lines][: len(hostile)]
    assert len(leaves) == len(hostile)
    pdf = EvidenceIn("f", "u", "bien-ban.pdf", "application/pdf", 100)
    for i, c in enumerate(leaves):
        await report(
            session, bdinh, c.code, full_value(c.kind, c.max_points), note=f"n{i}", evidence=[pdf]
        )
        await review.submit(
            session,
            chair,
            cluster_code=None,
            unit_code="STC-BDINH",
            criterion_code=c.code,
            score_text="=",
            reason=f"r{i}",
            report_id=None,
            reviewer=Person(chair.address, "Cụm trưởng", None),
            language="vi",
            now=NOW,
        )
        await review.explain(session, bdinh, criterion_code=c.code, text=f"e{i}", now=NOW)
    # What was typed is stored as typed (older rows, other importers): write it directly.
    unit_id = await session.scalar(select(Unit.id).where(Unit.code == "STC-BDINH"))
    for i, text in enumerate(hostile):
        report_id = await session.scalar(
            select(Report.id).where(Report.unit_id == unit_id, Report.note == f"n{i}")
        )
        await session.execute(update(Report).where(Report.id == report_id).values(note=text))
        await session.execute(
            update(Review).where(Review.report_id == report_id).values(reason=text)
        )
        await session.execute(
            update(Explanation).where(Explanation.report_id == report_id).values(text=text)
        )
        await session.execute(
            update(EvidenceFile)
            .where(EvidenceFile.report_id == report_id)
            .values(file_name="\u202e" + text[:250])  # String(255); a direction override
        )
    await session.commit()

    made = await export.export(session, chair, words=[], now=NOW)

    book = load_workbook(io.BytesIO(made.content))
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
    rows = {r[0].value: r for r in book["Bình Định"].iter_rows(min_row=6)}
    for c, text in zip(leaves, hostile, strict=True):
        row = rows[c.code]
        expected = sanitised(text)
        assert row[14].value == expected, c.code  # Ghi chú
        assert row[10].value == expected, c.code  # Lý do thẩm định
        assert row[11].value == expected, c.code  # Giải trình
        assert row[12].value == sanitised(text[:250]), c.code  # Minh chứng, no override
        for cell in (row[14], row[10], row[11]):
            assert isinstance(cell.value, str)
            assert len(cell.value.encode("utf-16-le")) // 2 <= 32_767
            if re.match(r"\s*[=+\-@\uff1d]", expected):
                assert cell.quotePrefix, (c.code, cell.value[:20])


def test_the_sanitiser_keeps_tabs_and_line_breaks_and_marks_a_cut() -> None:
    assert export.cell_text("a\tb\nc\rd\r\n\x00e\x1bf") == "a\tb\nc\nd\nef"
    cut = export.cell_text("y" * 32_768)
    assert len(cut) == 32_767 and cut.endswith(MARKER)
    assert export.cell_text("y" * 32_767) == "y" * 32_767
