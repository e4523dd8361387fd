"""The Telegram adapter: an Update becomes the core's Incoming, the core's Outgoing becomes
Bot API calls, and Telegram's errors become the core's neutral ones. Nothing else."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import ExtBot

from bot.telegram.limits import (
    GROUP_PER_MINUTE,
    OVERALL_PER_SECOND,
    PRIVATE_GAP,
    JSONDict,
    Limiter,
    is_group_id,
    retry_seconds,
)
from handlers import onboarding
from handlers.channel import Blocked, Moved, Pace, Rejected, RetryLater, Transient, Undeliverable
from handlers.core import Core, handle, language_of
from handlers.i18n import Html, texts
from handlers.io import Attachment, Choices, Document, Incoming, Outgoing, Picture, Text
from handlers.split import split_html
from models.db import unavailable
from services.addresses import Address

if TYPE_CHECKING:
    from telegram.ext import CallbackContext

log = logging.getLogger(__name__)

CHANNEL = "telegram"
# Telegram's limits, counted after entity parsing (tags removed, &lt; one character), as
# handlers.split counts: longer texts are sent in parts, longer captions are cut.
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024


def address(chat_id: int | str) -> Address:
    return Address(CHANNEL, str(chat_id))


def _keyboard(options: Choices) -> InlineKeyboardMarkup | None:
    if not options:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(c.label, callback_data=c.data) for c in row] for row in options]
    )


def _caption(caption: Html) -> tuple[Html | None, Html]:
    """A file's caption as Telegram takes it (1,024 characters after entity parsing), and
    what did not fit, to follow as text (empty when it all fits)."""
    parts = split_html(caption, CAPTION_LIMIT)
    if len(parts) <= 1:
        return (parts[0] if parts else None), Html("")
    # Each part is well-formed on its own, so the rest joined is too; the text splitter
    # then cuts it again at Telegram's text limit.
    return parts[0], Html("\n".join(parts[1:]))


def _attachments(message: Message | None) -> tuple[Attachment, ...]:
    """The file of a message, if it has one (a document, or the largest photo size)."""
    if message is None:
        return ()
    if message.document is not None:
        doc = message.document
        return (
            Attachment(
                "document",
                f"{CHANNEL}:{doc.file_id}",
                doc.file_unique_id,
                doc.file_name or f"{doc.file_unique_id}.bin",
                doc.mime_type,
                doc.file_size or 0,
            ),
        )
    if message.photo:
        photo = message.photo[-1]
        return (
            Attachment(
                "photo",
                f"{CHANNEL}:{photo.file_id}",
                photo.file_unique_id,
                f"{photo.file_unique_id}.jpg",
                "image/jpeg",
                photo.file_size or 0,
            ),
        )
    return ()


def _bot_id(update: Update) -> str:
    """The bot's public id (the token's part before the colon): update ids are per bot."""
    try:
        return update.get_bot().token.split(":", 1)[0]
    except RuntimeError:  # an update built without a bot (tests): one namespace
        return "-"


def incoming(update: Update) -> Incoming | None:
    """The neutral shape of an update, or None for what nobody needs to answer (channel
    posts, service messages, edits: see `on_update`)."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or update.edited_message is not None:
        return None
    base: dict[str, Any] = {
        "sender": address(user.id),
        "chat": address(chat.id),
        "private": chat.type == ChatType.PRIVATE,
        "full_name": user.full_name,
        "username": user.username,
        "update_id": f"{CHANNEL}:{_bot_id(update)}:{update.update_id}",
    }
    query = update.callback_query
    if query is not None:
        return Incoming(**base, button=query.data or "")
    message = update.message
    if message is None:
        return None
    text = message.text or message.caption or ""
    attachments = _attachments(message)
    if not text and not attachments:
        return None  # a sticker, a poll, a member joining…: not a message to the bot
    return Incoming(**base, text=text, attachments=attachments)


def pace_of(bot: ExtBot[JSONDict]) -> Pace:
    """A batch's pace on Telegram: the limiter's window, the one every request passes
    (replies first), so nothing else spaces a batch with numbers of its own. Without our
    limiter (a benchmark's case), the batch keeps the same limits in a window of its own."""
    limiter = bot.rate_limiter
    window = limiter.window if isinstance(limiter, Limiter) else None
    return Pace(
        per_second=OVERALL_PER_SECOND,
        private_gap=PRIVATE_GAP,
        group_gap=60 / GROUP_PER_MINUTE,
        window=window,
    )


class TelegramChannel:
    """The core's Channel on Telegram's Bot API."""

    name = CHANNEL
    buttons = True
    text_limit = TEXT_LIMIT

    def __init__(self, bot: ExtBot[JSONDict]) -> None:
        self.bot = bot
        self.pace = pace_of(bot)

    def is_group(self, chat: Address) -> bool:
        return is_group_id(int(chat.id) if chat.id.lstrip("-").isdigit() else chat.id)

    async def send(self, chat: Address, message: Outgoing, *, batch: bool = False) -> None:
        limits = {"batch": True} if batch else None
        chat_id: int | str = int(chat.id) if chat.id.lstrip("-").isdigit() else chat.id
        try:
            if isinstance(message, Text):
                await self._texts(chat_id, message.body, message.choices, limits)
            elif isinstance(message, Document | Picture):
                caption, rest = _caption(message.caption)
                if isinstance(message, Document):
                    await self.bot.send_document(
                        chat_id,
                        document=message.content,
                        filename=message.filename,
                        caption=caption,
                        rate_limit_args=limits,
                    )
                else:
                    await self.bot.send_photo(
                        chat_id, photo=message.png, caption=caption, rate_limit_args=limits
                    )
                if rest:
                    await self._texts(chat_id, rest, (), limits)
        except Forbidden as exc:
            raise Blocked(exc.message) from exc
        except ChatMigrated as exc:
            raise Moved(exc.message, address(exc.new_chat_id)) from exc
        except RetryAfter as exc:
            raise RetryLater(exc.message, retry_seconds(exc)) from exc
        except BadRequest as exc:  # before NetworkError, of which it is a subclass
            raise Rejected(exc.message) from exc
        except NetworkError as exc:  # TimedOut included
            raise Transient(exc.message) from exc
        except TelegramError as exc:
            raise Rejected(exc.message) from exc

    async def _texts(
        self, chat_id: int | str, body: Html, options: Choices, limits: JSONDict | None
    ) -> None:
        """A text in as many messages as Telegram needs, the choices under the last one."""
        parts = split_html(body, TEXT_LIMIT)
        if not parts:
            # Telegram refuses an empty text; nothing readable would have been said anyway.
            log.warning("not sending an empty text to %s (%d choice rows)", chat_id, len(options))
            return
        for index, part in enumerate(parts, 1):
            await self.bot.send_message(
                chat_id,
                part,
                reply_markup=_keyboard(options) if index == len(parts) else None,
                rate_limit_args=limits,
            )

    async def fetch(self, attachment: Attachment, target: Path) -> None:
        file_id = attachment.ref.removeprefix(f"{CHANNEL}:")
        try:
            found = await self.bot.get_file(file_id)
            await found.download_to_drive(target)
        except TelegramError as exc:
            raise Transient(exc.message) from exc


async def on_update(update: Update, context: CallbackContext[Any, Any, Any, Core]) -> None:
    """Every update: the group's own events here, everything else through the core."""
    core = context.bot_data
    query = update.callback_query
    if query is not None:
        # Answered first, whatever follows: the button's spinner must always stop.
        try:
            await query.answer()
        except TelegramError as exc:
            log.info("could not answer a callback query: %s", exc)
    change = update.my_chat_member
    if change is not None:
        joined = change.new_chat_member.status in (
            ChatMemberStatus.MEMBER,
            ChatMemberStatus.ADMINISTRATOR,
        )
        was_out = change.old_chat_member.status in (
            ChatMemberStatus.LEFT,
            ChatMemberStatus.BANNED,
        )
        if joined and was_out and change.chat.type != ChatType.PRIVATE:
            await onboarding.bot_added(core, address(change.chat.id))
        return
    message = update.message
    if message is not None and message.migrate_to_chat_id is not None:
        await onboarding.group_moved(
            core, address(message.chat.id), address(message.migrate_to_chat_id)
        )
        return
    if update.edited_message is not None:
        edited = update.edited_message
        if edited.chat.type == ChatType.PRIVATE and edited.from_user is not None:
            # An edit is never taken as the answer to the step that is open now.
            t = texts(core.default_language)
            await core.channels.send(address(edited.chat.id), Text(t("edited.ignored")))
        return
    found = incoming(update)
    if found is not None:
        await handle(core, found)


async def on_error(update: object, context: CallbackContext[Any, Any, Any, Core]) -> None:
    """One line per failure, a traceback only for a bug; tell the person when their request
    was not done, without details.

    - polling failed (no update) on a network error: the fault was logged where it was met
      (bot/telegram/request.py) and PTB polls again;
    - the reply was not delivered (our limiter already retried it): the work behind it was
      committed before the reply, so one line says so and nothing else is sent — a
      "something went wrong" would go the same way, and be untrue;
    - the database was unreachable (restarting): one line, and the person is told to try
      again; the next update gets a fresh connection;
    - anything else is a bug: the traceback, and the person told.
    """
    error = context.error
    chat = update.effective_chat if isinstance(update, Update) else None
    if update is None and isinstance(error, NetworkError):
        return
    if isinstance(error, Undeliverable) and chat is not None:
        log.warning("reply to %s not delivered: %s", address(chat.id), error.detail)
        return
    if error is not None and unavailable(error):
        where = address(chat.id) if chat is not None else "-"
        log.warning("database unavailable while handling an update from %s: %r", where, error)
    else:
        log.error("unhandled error while handling an update", exc_info=error)
    if chat is not None:
        user = update.effective_user if isinstance(update, Update) else None
        who = address(user.id) if user is not None else address(chat.id)
        hint = user.language_code[:2] if user is not None and user.language_code else None
        t = await language_of(context.bot_data, who, hint)
        try:
            await context.bot.send_message(chat.id, t("error.internal"))
        except TelegramError as exc:  # the fault itself was logged where it was met
            log.warning("could not tell %s about the error: %s", address(chat.id), exc)
