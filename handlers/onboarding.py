"""Joining, help, language, who-am-I, and linking the cluster's group chat."""

from __future__ import annotations

from handlers import accounts
from handlers.commands import commands_for
from handlers.core import Call, Core, Router
from handlers.i18n import Html, Texts, texts
from handlers.io import Choice, Text, choices
from services import onboarding
from services.access import Actor, Seat
from services.addresses import Address
from services.identities import CODE_RE
from services.invites import TOKEN_RE


def role_label(t: Texts, seat: Seat | None, actor: Actor) -> str:
    if seat is not None and seat.role is not None:
        role = seat.role.value
        key = f"role.{role}" if role == "member" else f"role.{role}.{seat.cluster_kind}"
        label = t.raw(key)
    else:
        label = t.raw("role.none")
    if actor.is_admin:
        label = f"{label} · {t.raw('role.admin')}"
    return label


async def start(call: Call) -> None:
    """/start [token]: join a unit through its invitation, or say how to get one."""
    t = call.t
    if not call.private:
        await call.reply(t("start.group_chat"))
        return
    if call.args:
        result = await onboarding.join(call.session, call.person, call.args[0], call.now)
        key = "start.already" if result.already else "start.welcome"
        text = t(
            key,
            name=call.person.full_name,
            unit=result.seat.unit_name,
            cluster=result.seat.cluster_name,
            role=role_label(t, result.seat, call.actor),
        )
        if result.left_unit:
            text = Html(text + "\n\n" + t("start.moved", unit=result.left_unit))
        await call.reply(text)
        return
    seat = call.actor.seat
    if seat is None:
        key = "start.admin" if call.actor.is_admin else "start.stranger"
        await call.reply(t(key, name=call.person.full_name))
        return
    await call.reply(
        t("start.back", name=call.person.full_name, unit=seat.unit_name, cluster=seat.cluster_name)
    )


async def help_command(call: Call) -> None:
    """/help: the commands this person's role allows, in this kind of chat."""
    t = call.t
    lines: list[str] = [t("help.header", role=role_label(t, call.actor.seat, call.actor))]
    for command in commands_for(call.actor.permissions(), private=call.private):
        shown = command.shown(t.language)
        alias = f" (/{command.name})" if shown != command.name else ""
        lines.append(f"/{shown}{alias} — {t.raw('cmd.' + command.name)}")
    if call.actor.seat is None and not call.actor.is_admin:
        lines.append("")
        lines.append(t("help.stranger"))
    await call.reply(Html("\n".join(lines)))


LANGUAGE_CHOICES = choices([Choice("🇻🇳 Tiếng Việt", "lang:vi"), Choice("🇬🇧 English", "lang:en")])


async def lang(call: Call) -> None:
    """/lang [vi|en]: switch the language of every later message."""
    if not call.args:
        await call.reply(call.t("lang.choose"), LANGUAGE_CHOICES)
        return
    chosen = await onboarding.set_language(
        call.session, call.person, call.args[0].strip().lower(), call.now
    )
    await call.reply(texts(chosen)("lang.set"))


async def lang_button(call: Call) -> None:
    """The language buttons of /lang."""
    chosen = await onboarding.set_language(
        call.session, call.person, call.button.removeprefix("lang:"), call.now
    )
    await call.reply(texts(chosen)("lang.set"))


async def whoami(call: Call) -> None:
    """/whoami: which unit and cluster this person reports for, and in which role."""
    t = call.t
    seat = call.actor.seat
    if seat is None:
        key = "whoami.admin" if call.actor.is_admin else "whoami.stranger"
        await call.reply(t(key, id=str(call.person.address)))
        return
    await call.reply(
        t(
            "whoami.officer",
            name=call.person.full_name,
            unit=seat.unit_name,
            cluster=seat.cluster_name,
            role=role_label(t, seat, call.actor),
            year=str(seat.year or "—"),
        )
    )


async def linkgroup(call: Call) -> None:
    """/linkgroup [CLUSTER]: make this group the cluster's group (chair or admin)."""
    if call.private:
        await call.reply(call.t("linkgroup.private_only"))
        return
    code = call.args[0] if call.args else None
    cluster = await onboarding.link_group(
        call.session, call.actor, chat=call.chat, cluster_code=code, now=call.now
    )
    await call.reply(call.t("linkgroup.done", cluster=cluster.name))


async def unknown(call: Call) -> None:
    """Anything we do not understand in a private chat gets a pointer to /help; but an
    invitation token or a link code typed on its own is taken as what it is (on Zalo there
    are no start links: people paste the token)."""
    typed = call.incoming.text.strip()
    if typed and not call.incoming.attachments:
        if TOKEN_RE.fullmatch(typed):
            call.args = [typed]
            await start(call)
            return
        if CODE_RE.fullmatch(typed):
            await accounts.link_with(call, typed)
            return
    await call.refuse(call.t("unknown"))


async def unsupported(call: Call) -> None:
    """A sticker, or content the platform does not pass on: say what the bot can read."""
    await call.refuse(call.t("unsupported"))


async def stale_button(call: Call) -> None:
    """A button no version of this bot answers (or an old one's): say so, change nothing."""
    await call.refuse(call.t("error.stale_button"))


async def bot_added(core: Core, chat: Address) -> None:
    """Greet a group the bot was added to and tell the chair how to link it."""
    t = texts(core.default_language)
    await core.channels.send(chat, Text(t("group.hello")))


async def group_moved(core: Core, old: Address, new: Address) -> None:
    """The platform gave the group a new address (Telegram: upgrade to supergroup)."""
    async with core.session_factory()() as session:
        await onboarding.migrate_group(session, old, new, core.clock())


def register(router: Router) -> None:
    """Joining, help, language, who-am-I, linking the group; and the catch-all."""
    router.command("start", start)
    router.command("help", help_command)
    router.command("lang", lang)
    router.button("lang", lang_button, "s")
    router.command("whoami", whoami)
    router.command("linkgroup", linkgroup)
    router.unknown = unknown
    router.stale_button = stale_button
    router.unsupported = unsupported
