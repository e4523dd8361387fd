"""The page of a Vietnamese administrative document in python-docx (Nghị định 30/2020/NĐ-CP):
A4 and its margins, Times New Roman for every script, the heading block with the national
title, the signature block, tables whose head row repeats on every page.

services/documents.py writes the minutes and the proposal with these. This module imports
python-docx (and lxml) at the top, so it is imported only when a document is written: the
bot does not carry them (~7 MB) from start-up.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

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

from services.documents import (
    BLANK,
    BODY_PT,
    FIRST_LINE_CM,
    FONT,
    HEAD_LEFT_CM,
    ISSUER_PT,
    MARGINS_MM,
    MOTTO,
    MOTTO_PT,
    NATIONAL_PT,
    NATIONAL_TITLE,
    PAGE_HEIGHT_MM,
    PAGE_WIDTH_MM,
    SMALL_PT,
    TABLE_PT,
    TEXT_WIDTH_CM,
    TITLE_PT,
    DocumentKind,
    Wording,
    YearRecord,
    issuing_body,
    role_name,
)

__all__ = ["WD_ALIGN_PARAGRAPH", "DocxDocument", "new_document"]

# Which document, and its kind sign on the number line (Nghị định 30, appendix III).
_SIGN = {"minutes": "BB", "proposal": "TTr"}
_CLUSTER_SIGN = {"cum": "CTĐ", "khoi": "KTĐ"}


def set_font(r_pr: BaseOxmlElement, size: float | None = None) -> None:
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


def setup(doc: DocxDocument) -> None:
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
        set_font(r_pr, BODY_PT)
    for name in ("Normal", "Table Grid", "Header"):
        style = doc.styles[name].element
        set_font(style.get_or_add_rPr(), TABLE_PT if name == "Table Grid" else BODY_PT)
    normal = doc.styles["Normal"].paragraph_format
    normal.space_before, normal.space_after = Pt(0), Pt(6)
    normal.line_spacing = 1.0
    # Page numbers from the second page, centred at the top (Nghị định 30, art. 9).
    section.different_first_page_header_footer = True
    number = section.header.paragraphs[0]
    number.alignment = WD_ALIGN_PARAGRAPH.CENTER
    field(number, "PAGE")


def field(paragraph: Paragraph, code: str) -> None:
    simple = OxmlElement("w:fldSimple")
    simple.set(qn("w:instr"), code)
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "2"
    run.append(text)
    simple.append(run)
    paragraph._p.append(simple)


def para(
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


def heading(doc: DocxDocument, text: str) -> None:
    paragraph = para(doc, text, bold=True, keep=True, align=WD_ALIGN_PARAGRAPH.LEFT)
    paragraph.paragraph_format.space_before = Pt(6)


def fill(doc: DocxDocument, text: str) -> None:
    """A line the secretariat completes by hand: left-aligned, so justification does not
    stretch its words apart."""
    para(doc, text, indent=True, align=WD_ALIGN_PARAGRAPH.LEFT)


def first(
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


def rule(where: DocxDocument | _Cell, length_cm: float, width_cm: float) -> None:
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


def set_widths(table: Table, widths_cm: Sequence[float]) -> None:
    table.autofit = False
    for column, width in zip(table.columns, widths_cm, strict=True):
        column.width = Cm(width)
        for cell in column.cells:
            cell.width = Cm(width)


def row_flag(table: Table, index: int, tag: str) -> None:
    tr_pr = table.rows[index]._tr.get_or_add_trPr()
    flag = OxmlElement(tag)
    flag.set(qn("w:val"), "true")
    tr_pr.append(flag)


def repeat_header(table: Table) -> None:
    """The head row repeats on every printed page of a long table; no row is cut in two."""
    row_flag(table, 0, "w:tblHeader")
    for index in range(len(table.rows)):
        row_flag(table, index, "w:cantSplit")


def heading_block(doc: DocxDocument, record: YearRecord, kind: DocumentKind) -> None:
    """Issuing body, number, national title, motto and place/date (Nghị định 30, app. I)."""
    right = TEXT_WIDTH_CM - HEAD_LEFT_CM
    table = doc.add_table(rows=2, cols=2)
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    set_widths(table, (HEAD_LEFT_CM, right))
    body, national = table.cell(0, 0), table.cell(0, 1)
    lines = issuing_body(record)
    issuer = first(body, lines[0], size=ISSUER_PT, bold=True)
    for line in lines[1:]:
        run = issuer.add_run()
        run.add_break()
        run = issuer.add_run(line)
        run.font.size, run.font.bold = Pt(ISSUER_PT), True
    rule(body, HEAD_LEFT_CM / 3, HEAD_LEFT_CM)
    first(national, NATIONAL_TITLE, size=NATIONAL_PT, bold=True)
    motto = national.add_paragraph()
    run = motto.add_run(MOTTO)
    run.font.size, run.font.bold = Pt(MOTTO_PT), True
    # The motto's line is as long as the motto itself: its own underline is exactly that.
    run.font.underline = True
    motto.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    motto.paragraph_format.space_after = Pt(6)
    sign = f"{_SIGN[kind.value]}-{_CLUSTER_SIGN.get(record.cluster_kind, 'CTĐ')}"
    # The number is the secretariat's to give, when the document is registered and signed.
    first(table.cell(1, 0), f"Số: {BLANK}/{sign}", size=BODY_PT - 1)
    first(
        table.cell(1, 1),
        f"{BLANK}, ngày {BLANK} tháng {BLANK} năm {BLANK}",
        size=BODY_PT,
        italic=True,
    )
    para(doc, "", after=6)


def title(doc: DocxDocument, kind_line: str, summary: str) -> None:
    para(doc, kind_line, size=TITLE_PT, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, after=0)
    para(doc, summary, size=TITLE_PT, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, after=0)
    rule(doc, 4.0, TEXT_WIDTH_CM)


def data_table(
    doc: DocxDocument,
    heads: Sequence[str],
    rows: Sequence[Sequence[str]],
    widths: Sequence[float],
    left: frozenset[int] = frozenset({1}),
) -> Table:
    table: Table = doc.add_table(rows=1 + len(rows), cols=len(heads))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    set_widths(table, widths)
    for col, head in enumerate(heads):
        first(table.cell(0, col), head, bold=True)
    for r, values in enumerate(rows, start=1):
        for col, value in enumerate(values):
            align = WD_ALIGN_PARAGRAPH.LEFT if col in left else WD_ALIGN_PARAGRAPH.CENTER
            first(table.cell(r, col), value, align=align)
    repeat_header(table)
    para(doc, "", after=0)
    return table


def signatures(
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
    row_flag(table, 0, "w:cantSplit")
    half = TEXT_WIDTH_CM / 2
    set_widths(table, (half - 0.5, half + 0.5))
    cell = table.cell(0, 0)
    for i, (text, size, bold, italic) in enumerate(left):
        # "Nơi nhận" and its list sit at the left edge; a secretary's title is centred.
        align = (
            WD_ALIGN_PARAGRAPH.LEFT if text.startswith(("-", "Nơi")) else WD_ALIGN_PARAGRAPH.CENTER
        )
        if i == 0:
            first(cell, text, size=size, bold=bold, italic=italic, align=align)
        else:
            para(cell, text, size=size, bold=bold, italic=italic, align=align, after=0)
    sign = table.cell(0, 1)
    first(sign, role_name(words, record).upper(), size=BODY_PT, bold=True)
    para(
        sign,
        "(Ký, ghi rõ họ tên, đóng dấu)",
        size=SMALL_PT,
        italic=True,
        align=WD_ALIGN_PARAGRAPH.CENTER,
        after=0,
    )
    for _ in range(4):  # room for the signature and the seal
        para(sign, "", after=0)
    chair = record.chair
    if chair is not None:
        para(sign, chair.name, size=BODY_PT, align=WD_ALIGN_PARAGRAPH.CENTER, after=0)


def save(doc: DocxDocument, title: str) -> bytes:
    doc.core_properties.title = title
    doc.core_properties.author = "Thi Đua Bot"
    doc.core_properties.language = "vi-VN"
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()
