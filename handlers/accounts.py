"""A person's channels: where scheduled messages go (/kenh) and linking a second channel's
account to the same person (/lienket)."""

from __future__ import annotations

from handlers.core import Call, Router
from handlers.i18n import Html, Texts
from handlers.io import Choice, choices
from services import identities
from services.identities import LINK_TTL, Accounts


def channel_name(t: Texts, channel: str) -> str:
    return t.raw(f"channel.name.{channel}") if channel in KNOWN else channel


KNOWN = ("telegram", "zalo", "console")


def _status(t: Texts, mine: Accounts) -> Html:
    names = sorted({a.address.channel for a in mine.accounts})
    to = mine.reminders_to
    lines = [
        t("channel.header"),
        t("channel.accounts", channels=", ".join(channel_name(t, n) for n in names)),
    ]
    if to is None:
        lines.append(t("channel.unreachable"))
    elif mine.chosen is not None and to.channel == mine.chosen:
        lines.append(t("channel.to_chosen", channel=channel_name(t, to.channel)))
    else:
        lines.append(t("channel.to_last", channel=channel_name(t, to.channel)))
    if len(names) < 2:
        lines.append(t("channel.link_hint"))
    return Html("\n".join(lines))


def _choices(t: Texts, mine: Accounts) -> tuple[tuple[Choice, ...], ...]:
    names = sorted({a.address.channel for a in mine.accounts})
    rows = [[Choice("📨 " + channel_name(t, n), f"ch:{n}")] for n in names if len(names) > 1]
    if len(names) > 1:
        rows.append([Choice(t.raw("channel.auto"), "ch:auto")])
    rows.append([Choice(t.raw("channel.link"), "lk")])
    return choices(*rows)


async def channel(call: Call) -> None:
    """/kenh [telegram|zalo|auto]: where reminders go; without an argument, the choices."""
    t = call.t
    if not call.private:
        await call.reply(t("report.private_only"))
        return
    if call.args:
        wanted = call.args[0].lower()
        mine = await identities.choose_channel(
            call.session, call.incoming.sender, None if wanted == "auto" else wanted, call.now
        )
        await call.reply(_status(t, mine))
        return
    mine = await identities.accounts(call.session, call.incoming.sender)
    await call.reply(_status(t, mine), _choices(t, mine))


async def channel_button(call: Call) -> None:
    wanted = call.button.removeprefix("ch:")
    mine = await identities.choose_channel(
        call.session, call.incoming.sender, None if wanted == "auto" else wanted, call.now
    )
    await call.reply(_status(call.t, mine))


async def link(call: Call) -> None:
    """/lienket: a code to send from the other channel; /lienket CODE: send it here."""
    if not call.private:
        await call.reply(call.t("report.private_only"))
        return
    if call.args:
        await link_with(call, " ".join(call.args))
        return
    await give_code(call)


async def give_code(call: Call) -> None:
    code = await identities.new_link_code(call.session, call.incoming.sender, call.now)
    minutes = int(LINK_TTL.total_seconds() // 60)
    await call.reply(call.t("link.code", code=code, minutes=minutes))


async def link_button(call: Call) -> None:
    await give_code(call)


async def link_with(call: Call, code: str) -> None:
    done = await identities.link(call.session, call.person, code, call.now)
    key = "link.already" if done.already else "link.done"
    await call.reply(call.t(key, name=done.full_name))


def register(router: Router) -> None:
    router.command(["channel", "kenh"], channel)
    router.button("ch", channel_button, "s")
    router.command(["link", "lienket"], link)
    router.button("lk", link_button)
