"""Joining, help, language, who-am-I, and linking the cluster's group chat."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatMemberStatus

from handlers.commands import commands_for
from handlers.common import Call, use_case
from handlers.context import Context
from handlers.i18n import Html, Texts, texts
from services import onboarding
from services.access import Actor, Seat


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


@use_case
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


@use_case
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


def _language_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("🇻🇳 Tiếng Việt", callback_data="lang:vi"),
                InlineKeyboardButton("🇬🇧 English", callback_data="lang:en"),
            ]
        ]
    )


@use_case
async def lang(call: Call) -> None:
    """/lang [vi|en]: switch the language of every later message."""
    if not call.args:
        await call.reply(call.t("lang.choose"), _language_keyboard())
        return
    chosen = await onboarding.set_language(
        call.session, call.person, call.args[0].strip().lower(), call.now
    )
    await call.reply(texts(chosen)("lang.set"))


@use_case
async def lang_button(call: Call) -> None:
    """The language buttons of /lang."""
    query = call.update.callback_query
    assert query is not None and query.data is not None
    chosen = await onboarding.set_language(
        call.session, call.person, query.data.removeprefix("lang:"), call.now
    )
    await call.reply(texts(chosen)("lang.set"))


@use_case
async def whoami(call: Call) -> None:
    """/whoami: which unit and cluster this person reports for, and in which role."""
    t = call.t
    seat = call.actor.seat
    if seat is None:
        key = "whoami.admin" if call.actor.is_admin else "whoami.stranger"
        await call.reply(t(key, id=call.person.telegram_id))
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


@use_case
async def linkgroup(call: Call) -> None:
    """/linkgroup [CLUSTER]: make this group the cluster's group (chair or admin)."""
    if call.private:
        await call.reply(call.t("linkgroup.private_only"))
        return
    code = call.args[0] if call.args else None
    cluster = await onboarding.link_group(
        call.session, call.actor, chat_id=call.chat_id, cluster_code=code, now=call.now
    )
    await call.reply(call.t("linkgroup.done", cluster=cluster.name))


@use_case
async def unknown(call: Call) -> None:
    """Anything we do not understand in a private chat gets a pointer to /help."""
    await call.reply(call.t("unknown"))


async def bot_added(update: Update, context: Context) -> None:
    """Greet a group the bot was added to and tell the chair how to link it."""
    change = update.my_chat_member
    if change is None:
        return
    joined = change.new_chat_member.status in (
        ChatMemberStatus.MEMBER,
        ChatMemberStatus.ADMINISTRATOR,
    )
    was_out = change.old_chat_member.status in (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED)
    if joined and was_out and change.chat.type != "private":
        t = texts(context.bot_data.default_language)
        await context.bot.send_message(change.chat.id, t("group.hello"))


async def group_migrated(update: Update, context: Context) -> None:
    """Telegram gave the group a new id (upgrade to supergroup); follow it."""
    message = update.effective_message
    if message is None or message.migrate_to_chat_id is None:
        return
    data = context.bot_data
    async with data.session_factory()() as session:
        await onboarding.migrate_group(
            session, message.chat.id, message.migrate_to_chat_id, data.clock()
        )
