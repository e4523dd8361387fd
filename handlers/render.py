"""Rendering domain views into short HTML messages that read well on a phone."""

from __future__ import annotations

import html
from decimal import Decimal
from zoneinfo import ZoneInfo

from handlers.i18n import Html, Texts
from models.tables import CriterionKind
from services.reporting import CriterionView, Latest, Line, PeriodView, Sheet

BAR_WIDTH = 10
PAGE_SIZE = 8
NAME_LIMIT = 70


def bar(share: Decimal) -> str:
    """A text progress bar, e.g. ▓▓▓▓▓▓░░░░ for 0.6."""
    share = min(max(share, Decimal(0)), Decimal(1))
    filled = int((share * BAR_WIDTH).to_integral_value())
    return "▓" * filled + "░" * (BAR_WIDTH - filled)


def short(name: str, limit: int = NAME_LIMIT) -> str:
    return name if len(name) <= limit else name[: limit - 1].rstrip() + "…"


def period_label(t: Texts, code: str, year: int) -> str:
    """Q2 → "Quý 2/2024", T05 → "Tháng 5/2024", H1 → "6 tháng đầu năm 2024", N → "Năm 2024"."""
    head, number = code[:1].upper(), code[1:]
    key = {"Q": "period.quarter", "T": "period.month", "H": "period.half", "N": "period.year"}
    if head not in key or (head != "N" and not number.isdigit()):
        return code
    return t.raw(key[head]).format(n=int(number) if number else 0, year=year)


def period_line(t: Texts, period: PeriodView, year: int, tz: ZoneInfo) -> Html:
    return t(
        f"period.state.{period.state.value}",
        period=period_label(t, period.code, year),
        deadline=t.datetime(period.deadline, tz),
    )


def value_text(t: Texts, criterion: CriterionView, value: Decimal | None) -> str:
    if value is None:
        return "—"
    if criterion.kind is CriterionKind.YES_NO:
        return t.raw("value.yes") if value else t.raw("value.no")
    unit = f" {criterion.measure_unit}" if criterion.measure_unit else ""
    if criterion.kind is CriterionKind.QUANTITATIVE and criterion.target is not None:
        return f"{t.number(value)}/{t.number(criterion.target)}{unit}"
    if criterion.kind is CriterionKind.JUDGED:
        return t.raw("value.points").format(points=t.number(value))
    return f"{t.number(value)}{unit}"


def mark(latest: Latest | None) -> str:
    if latest is None:
        return "⬜"
    if latest.needs_answer:
        return "❗"
    return "⏰" if latest.late else "✅"


def score_pair(t: Texts, latest: Latest | None, criterion: CriterionView) -> str:
    proposed = t.number(latest.proposed) if latest and latest.proposed is not None else "—"
    verified = t.number(latest.verified) if latest and latest.verified is not None else "—"
    return t.raw("progress.scores").format(
        proposed=proposed, verified=verified, max=t.number(criterion.max_points)
    )


def line_block(t: Texts, line: Line) -> str:
    c, latest = line.criterion, line.latest
    head = f"{mark(latest)} <b>{html.escape(c.code)}</b> {html.escape(short(c.name))}"
    if latest is None:
        return f"{head}\n    {t.raw('progress.missing')}"
    share = (abs(latest.proposed or Decimal(0)) / c.max_points) if c.max_points else Decimal(0)
    detail = f"{html.escape(value_text(t, c, latest.value))}  {bar(share)}"
    where = t.raw("progress.in_period").format(period=latest.period_code, version=latest.version)
    return f"{head}\n    {detail}\n    {score_pair(t, latest, c)} · {where}"


def progress_page(t: Texts, sheet: Sheet, page: int, tz: ZoneInfo) -> tuple[Html, int]:
    """One page of /progress and the number of pages."""
    pages = max(1, -(-len(sheet.lines) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    if sheet.period is not None:
        scope = period_line(t, sheet.period, sheet.year, tz)
    else:
        scope = t("progress.year_scope", year=sheet.year)
    out = [
        t("progress.header", unit=sheet.unit_name),
        scope,
        t(
            "progress.counts",
            sheet.to_report,
            reported=sheet.reported,
            total=sheet.to_report,
            proposed=t.number(sheet.total(verified=False)),
            verified=t.number(sheet.total(verified=True)),
            max=t.number(sheet.base_max),
        ),
        "",
    ]
    group_names = {g.code: g.name for g in sheet.groups}
    shown_group = None
    for line in sheet.lines[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]:
        top = line.criterion.code.split(".")[0]
        if top != shown_group and top in group_names:
            out.append(f"<b>{html.escape(top)}. {html.escape(short(group_names[top], 60))}</b>")
            shown_group = top
        out.append(line_block(t, line))
    missing = [line.criterion.code for line in sheet.missing]
    if missing:
        out.append("")
        listed = ", ".join(missing[:15]) + ("…" if len(missing) > 15 else "")
        out.append(t("progress.still_missing", count=len(missing), codes=listed))
    if pages > 1:
        out.append(t("progress.page", page=page + 1, pages=pages))
    return Html("\n".join(out)), pages
