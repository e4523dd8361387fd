"""What every handler shares: one unit of work per update, the actor, the texts, and the
translation of domain errors into a clear message."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType

from handlers.context import Context
from handlers.i18n import Html, Texts, texts
from services.access import Actor, resolve_actor
from services.errors import DomainError
from services.onboarding import Person, mark_reachable
from services.uow import Session

log = logging.getLogger(__name__)
R = TypeVar("R")


@dataclass
class Call:
    """One update being handled: its session, who sent it, their texts and 'now'."""

    update: Update
    context: Context
    session: Session
    actor: Actor
    t: Texts
    now: datetime

    @property
    def args(self) -> list[str]:
        return list(self.context.args or [])

    @property
    def private(self) -> bool:
        chat = self.update.effective_chat
        return chat is not None and chat.type == ChatType.PRIVATE

    @property
    def chat_id(self) -> int:
        chat = self.update.effective_chat
        assert chat is not None  # every update we register for has a chat
        return chat.id

    @property
    def person(self) -> Person:
        user = self.update.effective_user
        assert user is not None
        return Person(telegram_id=user.id, full_name=user.full_name, username=user.username)

    async def reply(self, text: Html, keyboard: InlineKeyboardMarkup | None = None) -> None:
        query = self.update.callback_query
        if query is not None:
            await query.answer()
        await self.context.bot.send_message(self.chat_id, text, reply_markup=keyboard)


def button(text: str, data: str) -> InlineKeyboardButton:
    """An inline button carrying callback data."""
    return InlineKeyboardButton(text, callback_data=data)


def error_text(t: Texts, err: DomainError) -> Html:
    params: dict[str, object] = {
        key: t.number(value) if isinstance(value, Decimal) else value
        for key, value in err.params.items()
    }
    if "permission" in params:
        params["permission"] = t.raw(f"perm.{params['permission']}")
    if "holders" in params:
        params["holders"] = t.raw(f"holders.{params['holders']}")
    return t(err.key, **params)


def use_case(
    func: Callable[[Call], Awaitable[R]],
) -> Callable[[Update, Context], Coroutine[Any, Any, R | None]]:
    """Wrap a handler: open the update's session, resolve the actor, turn DomainError into
    a message in the user's language. The session rolls back unless the service committed.
    The handler's result (a conversation state) is passed on; after a refusal it is None,
    which keeps a conversation where it was, so the person can simply try again."""

    @functools.wraps(func)
    async def handler(update: Update, context: Context) -> R | None:
        user = update.effective_user
        if user is None or update.effective_chat is None:
            return None  # channel posts and the like: nobody to answer
        data = context.bot_data
        async with data.session_factory()() as session:
            actor = await resolve_actor(session, user.id, data.admins)
            if not actor.reachable:
                await mark_reachable(session, user.id, data.clock())
            call = Call(
                update=update,
                context=context,
                session=session,
                actor=actor,
                t=texts(actor.language or data.default_language),
                now=data.clock(),
            )
            try:
                return await func(call)
            except DomainError as err:
                await session.rollback()
                log.info("refused %s for user %s: %s", func.__name__, user.id, err.key)
                await call.reply(error_text(call.t, err))
                return None

    return handler


async def on_error(update: object, context: Context) -> None:
    """Log the failure and tell the user something went wrong, without details."""
    log.error("unhandled error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        t = texts(context.bot_data.default_language)
        await context.bot.send_message(update.effective_chat.id, t("error.internal"))
