"""The Application factory: every piece of wiring, in one place."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeDefault,
)
from telegram.constants import ParseMode
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    ExtBot,
    JobQueue,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.settings import Settings, SettingsError
from handlers import chair, leaderboard, onboarding, reporting, review
from handlers.commands import menu
from handlers.common import on_error
from handlers.context import BotData, Context, UserData, utc_now
from handlers.i18n import LANGUAGES, texts
from handlers.jobs import schedule as schedule_reminders
from handlers.limits import batch_aware
from handlers.reminders import handlers as reminder_handlers
from models.db import create_engine, session_factory
from models.migrate import upgrade

log = logging.getLogger(__name__)

ThiduaApp = Application[ExtBot[None], Context, UserData, dict[Any, Any], BotData, JobQueue[Context]]


def register(app: ThiduaApp) -> None:
    """Every handler of the bot. Order matters only where noted."""
    # Group -1: follow a group's id change before anything else reads it.
    app.add_handler(
        MessageHandler(filters.StatusUpdate.MIGRATE, onboarding.group_migrated), group=-1
    )
    app.add_handler(ChatMemberHandler(onboarding.bot_added, ChatMemberHandler.MY_CHAT_MEMBER))

    app.add_handler(CommandHandler("start", onboarding.start))
    app.add_handler(CommandHandler("help", onboarding.help_command))
    app.add_handler(CommandHandler("lang", onboarding.lang))
    app.add_handler(CallbackQueryHandler(onboarding.lang_button, pattern=r"^lang:"))
    app.add_handler(CommandHandler("whoami", onboarding.whoami))
    app.add_handler(CommandHandler("linkgroup", onboarding.linkgroup))

    # Reporting: the guided /report conversation must come before the catch-all below,
    # which would otherwise swallow the values typed inside the flow.
    for handler in reporting.handlers():
        app.add_handler(handler)

    # Leaderboard, summaries, review, export, year close. The review conversation comes
    # before the catch-all below, which would otherwise swallow the scores typed in it.
    for handler in [*leaderboard.handlers(), *review.handlers(), *chair.handlers()]:
        app.add_handler(handler)

    # Reminders and the chair's nudges.
    for handler in reminder_handlers():
        app.add_handler(handler)
    # One repeating job with a fixed id; the schedules themselves are rows in our tables.
    schedule_reminders(app)

    # Last: anything else typed in a private chat gets a pointer to /help.
    app.add_handler(
        MessageHandler(
            filters.ChatType.PRIVATE & (filters.TEXT | filters.COMMAND), onboarding.unknown
        )
    )
    app.add_error_handler(on_error)


async def publish_menus(app: ThiduaApp) -> None:
    """Register the command menu per chat type, in Vietnamese (default) and English."""

    def commands(language: str | None, private: bool) -> list[BotCommand]:
        t = texts(language)
        return [
            BotCommand(c.shown(t.language), t.raw(f"cmd.{c.name}")) for c in menu(private=private)
        ]

    for language in (None, *LANGUAGES):
        for scope, private in (
            (BotCommandScopeAllPrivateChats(), True),
            (BotCommandScopeAllGroupChats(), False),
        ):
            await app.bot.set_my_commands(
                commands(language, private), scope=scope, language_code=language
            )
    # Clients that match no scope (rare) fall back to the private menu.
    await app.bot.set_my_commands(commands(None, True), scope=BotCommandScopeDefault())


def build_application(
    settings: Settings,
    *,
    request: BaseRequest | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> ThiduaApp:
    """The configured Application. Tests pass a recording `request` and a fake clock."""
    if settings.telegram.token is None:
        raise SettingsError("telegram.token: not set (THIDUA_TELEGRAM__TOKEN)")
    tz = settings.app.tz
    bot_data = BotData(
        admins=frozenset(settings.app.admins),
        tz=tz,
        default_language=settings.app.language,
        storage_dir=settings.app.storage_dir,
        bot_username=settings.telegram.bot_username,
        clock=clock,
    )
    engine_holder: dict[str, Any] = {}

    async def post_init(app: ThiduaApp) -> None:
        engine = create_engine(settings.database.url)
        engine_holder["engine"] = engine
        if settings.database.migrate_on_start:
            await upgrade(engine)
        app.bot_data.sessions = session_factory(engine)
        if not app.bot_data.bot_username:
            app.bot_data.bot_username = app.bot.username
        await publish_menus(app)
        log.info("bot @%s ready", app.bot.username)

    async def post_shutdown(app: ThiduaApp) -> None:
        engine = engine_holder.pop("engine", None)
        if engine is not None:
            await engine.dispose()

    builder = (
        ApplicationBuilder()
        .token(settings.telegram.token.get_secret_value())
        .base_url(settings.telegram.base_url)
        .base_file_url(settings.telegram.base_file_url)
        .defaults(Defaults(tzinfo=tz, parse_mode=ParseMode.HTML))
        .context_types(ContextTypes(bot_data=BotData, user_data=UserData))
        # Replies retry a RetryAfter here; reminder batches obey it themselves (jobs.py).
        .rate_limiter(batch_aware(AIORateLimiter(max_retries=3)))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    app: ThiduaApp = builder.build()  # type: ignore[assignment]
    # ContextTypes builds BotData with its defaults; put the configured one in its place.
    app.bot_data.__dict__.update(bot_data.__dict__)
    register(app)
    return app
