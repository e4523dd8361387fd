"""The chair's /remind (nhắc ngay) and everyone's /deadlines (hạn chót). The schedule itself
runs in handlers/delivery.py; the rules are in services.reminders."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from handlers import delivery
from handlers.core import Call, Router
from handlers.i18n import Html, Texts
from handlers.render import period_label
from services import reminders
from services.reminders import DeadlineLine, Deadlines
from services.reporting import PeriodState

REMIND_COMMANDS = ["remind", "nhacnho"]
DEADLINES_COMMANDS = ["deadlines", "hanchot"]


async def remind(call: Call) -> None:
    """/nhacnho [CỤM] (/remind): remind every unit still missing reports for the current
    period, now, privately and in the group; at most once a day per person."""
    code = call.args[0] if call.args else None
    result = await reminders.nudge(call.session, call.actor, call.now, code)
    t = call.t
    label = period_label(t, result.period.code, result.period.year)
    if not result.gaps:
        await call.reply(t("remind.nudge.none_missing", period=label))
        return
    lines: list[str] = []
    if result.items:
        delivery.dispatch(call.core, result.items)
        key = "remind.nudge.sent_group" if result.group else "remind.nudge.sent"
        lines.append(
            t(key, result.officers, period=label, officers=result.officers, units=len(result.gaps))
        )
        if result.already:
            lines.append(t("remind.nudge.partly", result.already, count=result.already))
    elif result.already:
        lines.append(t("remind.nudge.already", period=label))
    if result.unreached:
        lines.append(
            t(
                "remind.nudge.unreached",
                len(result.unreached),
                count=len(result.unreached),
                units=", ".join(result.unreached),
            )
        )
    await call.reply(Html("\n".join(lines)))


def _line(t: Texts, line: DeadlineLine, view: Deadlines, tz: ZoneInfo, private: bool) -> str:
    period = period_label(t, line.period.code, line.period.year)
    deadline = t.datetime(line.period.deadline, tz)
    if line.state is PeriodState.LATE:
        out: list[str] = [t("deadlines.late", period=period, deadline=deadline)]
    elif line.state is PeriodState.OPEN:
        out = [t("deadlines.open", period=period, deadline=deadline)]
    else:
        out = [t("deadlines.future", period=period, deadline=deadline)]
    if line.state is not PeriodState.FUTURE:
        if private and view.unit_name is not None:
            if line.gap is None:
                out.append(t("deadlines.unit_done"))
            else:
                codes = ", ".join(ref.code for ref in line.gap.missing[:12])
                if len(line.gap.missing) > 12:
                    codes += f" +{len(line.gap.missing) - 12}"
                out.append(
                    t(
                        "deadlines.unit_missing",
                        missing=len(line.gap.missing),
                        total=line.gap.total,
                        codes=codes,
                    )
                )
        if line.late_units:
            out.append(t("deadlines.late_units", line.late_units, count=line.late_units))
    if line.next_reminder is not None:
        out.append(t("deadlines.next_reminder", when=t.datetime(line.next_reminder, tz)))
    return "\n".join(out)


async def deadlines(call: Call) -> None:
    """/hanchot [CỤM] (/deadlines): the coming deadlines, what the unit still misses, and
    when the next reminder goes out."""
    code = call.args[0] if call.args else None
    view = await reminders.deadlines(call.session, call.actor, call.now, code)
    t = call.t
    tz = ZoneInfo(view.timezone)
    lines: list[str] = [t("deadlines.title", cluster=view.cluster_name, year=view.year)]
    if call.private and view.unit_name is not None:
        lines.append(t("deadlines.unit", unit=view.unit_name))
    if not view.lines:
        lines.append(t("deadlines.none", year=view.year))
    for line in view.lines:
        lines.append("")
        lines.append(_line(t, line, view, tz, call.private))
    days = ", ".join(str(d) for d in sorted(view.rules.before_days, reverse=True)) or "—"
    lines.append("")
    lines.append(t("deadlines.rules", days=days, at=view.rules.at.strftime("%H:%M")))
    await call.reply(Html("\n".join(lines)))


def register(router: Router) -> None:
    """The reminder commands."""
    router.command(REMIND_COMMANDS, remind)
    router.command(DEADLINES_COMMANDS, deadlines)
