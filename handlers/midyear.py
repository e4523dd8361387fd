"""/soket (/midyear): the mid-year review as a message and a workbook, on demand and on the
first working day after the H1 deadline. The figures are services/midyear's; this module
renders and sends them."""

from __future__ import annotations

import html
from datetime import datetime
from zoneinfo import ZoneInfo

from handlers.core import Call, Core, Router
from handlers.i18n import Html, Texts, texts
from handlers.io import Document, Text
from handlers.split import split_html
from services import midyear
from services.midyear import Review, UnitReview
from services.reminders import Due
from services.uow import Session

MIDYEAR_COMMANDS = ["midyear", "soket"]
# Targets named per unit in the message; the workbook lists them all.
BEHIND_SHOWN = 6


def _behind(t: Texts, u: UnitReview) -> Html:
    """The targets a unit is behind on: those below their share with the figures, then the
    codes of those not reported at all; at most BEHIND_SHOWN of them."""
    behind = u.behind
    if not behind:
        return t("midyear.on_track")
    shown = behind[:BEHIND_SHOWN]
    below = [
        f"{html.escape(x.leaf.code)} ({t.number(x.value)}/{t.number(x.expected)})"
        for x in shown
        if x.value is not None and x.expected is not None
    ]
    missing = [html.escape(x.leaf.code) for x in shown if x.value is None]
    parts = [", ".join(below)] if below else []
    if missing:
        parts.append(t("midyear.not_reported", codes=Html(", ".join(missing))))
    text = "; ".join(parts)
    rest = len(behind) - len(shown)
    if rest > 0:
        text += " " + t("midyear.more", rest, count=rest)
    return t("midyear.behind", len(behind), count=len(behind), items=Html(text))


def midyear_message(t: Texts, r: Review) -> Html:
    """The review in short: the cut-off, then per unit its totals, projection and gaps."""
    tz = ZoneInfo(r.timezone)
    cut = r.window
    out: list[str] = [
        t("midyear.head", months=cut.months, year=r.year, cluster=r.cluster_name),
        t(
            "midyear.scope",
            through=t.date(cut.through),
            periods=", ".join(cut.periods) or t.raw("midyear.no_period"),
            months=cut.months,
        ),
    ]
    if r.provisional:
        until = t.datetime(cut.deadline, tz) if cut.deadline else t.date(cut.through)
        out.append(t("midyear.provisional", until=until))
    for u in r.units:
        s = u.standing
        out += [
            "",
            t(
                "midyear.unit",
                rank=s.rank,
                unit=s.member.short_name,
                verified=t.number(s.verified),
                proposed=t.number(s.proposed),
                projected=t.number(u.projected_total),
                rating=t.raw(f"rating.{u.projected_rating}"),
            ),
            t("midyear.verified", u.reported, count=u.reported, verified=u.verified)
            if u.reported
            else t("midyear.nothing_reported"),
            _behind(t, u),
        ]
    out += ["", t("midyear.legend")]
    if r.rates:
        out.append(t("midyear.rates", codes=", ".join(r.rates)))
    return Html("\n".join(out))


def caption(t: Texts, r: Review) -> Html:
    n = len(r.units)
    return t(
        "midyear.caption", n, months=r.window.months, year=r.year, cluster=r.cluster_code, count=n
    )


async def midyear_command(call: Call) -> None:
    """/soket, /midyear [CLUSTER] [YEAR]: the mid-year review and its workbook."""
    if not call.private:
        await call.reply(call.t("chair.private_only"))
        return
    result = await midyear.review(call.session, call.actor, words=call.args, now=call.now)
    for part in split_html(midyear_message(call.t, result), call.channel.text_limit):
        await call.reply(part)
    content = midyear.workbook(result)
    await call.send(call.chat, Document(content, result.filename, caption(call.t, result)))


async def send_scheduled(core: Core, session: Session, item: Due, now: datetime) -> None:
    """The scheduled review to one officer of the chair's or vice-chair's unit, in their
    language (handlers/delivery sends it once, through the reminders' ledger)."""
    result = await midyear.for_send(session, item, now)
    t = texts(item.language)
    channel = core.channels.get(item.address.channel)
    for part in split_html(midyear_message(t, result), channel.text_limit):
        await channel.send(item.address, Text(part), batch=True)
    content = midyear.workbook(result)
    await channel.send(
        item.address, Document(content, result.filename, caption(t, result)), batch=True
    )


def register(router: Router) -> None:
    router.command(MIDYEAR_COMMANDS, midyear_command)
