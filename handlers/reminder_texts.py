"""The texts of scheduled reminders and escalations, in the recipient's language. What is
due and for whom is decided in services.reminders; how it goes out, in handlers/delivery."""

from __future__ import annotations

import html
from zoneinfo import ZoneInfo

from handlers.i18n import Html, Texts, texts
from handlers.io import Choice, Choices, Text, choices
from handlers.render import period_label, short
from services.reminders import Due, Kind

LIST_LIMIT = 10  # criteria listed in a private reminder
BUTTON_LIMIT = 6  # "report this criterion" buttons under it
CODES_LIMIT = 8  # criterion codes per unit in the chair's escalation


def _when(t: Texts, item: Due) -> str:
    period = item.period
    assert period is not None
    if item.days_left > 0 and period.deadline > item.due_at:
        return t.plain("remind.when.left", item.days_left, days=item.days_left)
    if period.deadline > item.due_at:
        return t.raw("remind.when.today")
    if item.days_left < 0:
        return t.plain("remind.when.late", -item.days_left, days=-item.days_left)
    return t.raw("remind.when.passed")


def _period_line(t: Texts, item: Due) -> Html:
    period = item.period
    assert period is not None
    return t(
        "remind.period",
        period=period_label(t, period.code, period.year),
        deadline=t.datetime(period.deadline, ZoneInfo(item.timezone)),
        when=_when(t, item),
    )


def _private(t: Texts, item: Due) -> tuple[Html, Choices]:
    period, gap = item.period, item.gaps[0]
    assert period is not None
    title = {
        Kind.BEFORE: "remind.before.title",
        Kind.OVERDUE: "remind.overdue.title",
        Kind.NUDGE: "remind.nudge.title",
    }[item.kind]
    lines: list[str] = [t(title, cluster=item.cluster_name), _period_line(t, item)]
    if period.deadline <= item.due_at:
        lines.append(t("remind.late_accepted"))
    lines.append(
        t(
            "remind.unit_missing",
            gap.total,
            unit=gap.unit_name,
            missing=len(gap.missing),
            total=gap.total,
        )
    )
    for ref in gap.missing[:LIST_LIMIT]:
        lines.append(f"• <b>{html.escape(ref.code)}</b> {html.escape(short(ref.name, 60))}")
    if len(gap.missing) > LIST_LIMIT:
        lines.append(t("remind.more", count=len(gap.missing) - LIST_LIMIT))
    lines.append(t("remind.press"))
    buttons = [
        Choice(f"📝 {ref.code}", f"rr:{period.code}:{ref.code}")
        for ref in gap.missing[:BUTTON_LIMIT]
    ]
    rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    if item.kind is not Kind.OVERDUE:
        # /report opens on the current period, which a reminder before the deadline is about.
        rows.append([Choice(t.raw("remind.report_all"), "rnow")])
    return Html("\n".join(lines)), choices(*rows)


def _group(t: Texts, item: Due) -> Html:
    period = item.period
    assert period is not None
    lines: list[str] = [
        t("remind.group.title", period=period_label(t, period.code, period.year)),
        _period_line(t, item),
        t("remind.group.units", len(item.gaps), count=len(item.gaps), members=item.members),
    ]
    for gap in item.gaps:
        lines.append(
            t(
                "remind.group.line",
                gap.total,
                unit=gap.unit_name,
                missing=len(gap.missing),
                total=gap.total,
            )
        )
    lines.append(t("remind.group.footer"))
    return Html("\n".join(lines))


def _escalation(t: Texts, item: Due) -> Html:
    period = item.period
    assert period is not None
    lines: list[str] = [
        t(
            "remind.escalate.title",
            period=period_label(t, period.code, period.year),
            cluster=item.cluster_name,
        ),
        _period_line(t, item),
        t("remind.escalate.units", len(item.gaps), count=len(item.gaps), members=item.members),
    ]
    for gap in item.gaps:
        codes = ", ".join(ref.code for ref in gap.missing[:CODES_LIMIT])
        if len(gap.missing) > CODES_LIMIT:
            codes += f" +{len(gap.missing) - CODES_LIMIT}"
        lines.append(
            t(
                "remind.escalate.line",
                unit=gap.unit_name,
                missing=len(gap.missing),
                total=gap.total,
                codes=codes,
            )
        )
    lines.append(t("remind.escalate.footer"))
    return Html("\n".join(lines))


def _ballot(t: Texts, item: Due) -> tuple[Html, Choices]:
    ballot = item.ballot
    assert ballot is not None
    text = t(
        "remind.ballot",
        kind=t.raw(f"ballot.kind.{ballot.kind}"),
        year=ballot.year,
        cluster=item.cluster_name,
        unit=item.subject_unit or "?",
        closes=t.datetime(ballot.closes_at, ZoneInfo(item.timezone)),
    )
    return text, choices([Choice(t.raw("remind.ballot.button"), f"bvo:{ballot.id}")])


def render(item: Due) -> Text:
    """The text (and choices) of a reminder, in the recipient's language."""
    t = texts(item.language)
    if item.kind in (Kind.BEFORE, Kind.OVERDUE, Kind.NUDGE):
        return Text(*_private(t, item))
    if item.kind in (Kind.GROUP_MISSING, Kind.NUDGE_GROUP):
        return Text(_group(t, item))
    if item.kind is Kind.ESCALATE:
        return Text(_escalation(t, item))
    if item.kind is Kind.UNREACHABLE:
        return Text(
            t("remind.unreachable", name=item.subject or "?", unit=item.subject_unit or "?")
        )
    if item.kind is Kind.BALLOT:
        return Text(*_ballot(t, item))
    raise ValueError(f"{item.kind} is sent by its own feature, not rendered here")
