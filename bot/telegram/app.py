"""The Application factory: every piece of wiring, in one place."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeDefault,
    Update,
)
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackContext,
    ContextTypes,
    Defaults,
    ExtBot,
    JobQueue,
    TypeHandler,
)
from telegram.request import BaseRequest

from bot import resume_collector
from bot.settings import Settings, SettingsError
from bot.telegram.channel import TelegramChannel, on_error, on_update
from bot.telegram.limits import JSONDict, Limiter
from bot.telegram.request import BotRequest
from bot.telegram.updates import PerPersonUpdates
from bot.zalo_service import ZaloService, make_core
from handlers import delivery
from handlers.commands import menu
from handlers.core import Core, utc_now
from handlers.i18n import LANGUAGES, texts
from models.db import create_engine, session_factory
from models.migrate import at_head, upgrade

log = logging.getLogger(__name__)

Context = CallbackContext[ExtBot[JSONDict], dict[Any, Any], dict[Any, Any], Core]
ThiduaApp = Application[
    ExtBot[JSONDict], Context, dict[Any, Any], dict[Any, Any], Core, JobQueue[Context]
]


class ThiduaApplication(ThiduaApp):
    """PTB's Application, whose `stop` also waits for the updates running in our processor,
    and whose `start` waits for what `post_init` left running (the command menus)."""

    # Set by post_init, awaited by start (or cancelled at shutdown if it never started).
    publishing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await super().start()
        # post_init sends the command menus without waiting for them, so that the first
        # getUpdates (or setWebhook) goes out alongside them instead of after a round trip
        # to Telegram; start-up still completes, or fails, with them.
        task, self.publishing = self.publishing, None
        if task is not None:
            await task
        resume_collector()  # paused by `thidua run` for its start (bot/__init__.py)

    async def forget_publishing(self) -> None:
        """Cancel the menus if they are still being sent (an application never started)."""
        task, self.publishing = self.publishing, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def stop(self) -> None:
        # PTB's stop hands every queued update to the processor and returns once it has
        # taken them; ours runs them in lanes, so wait for those too (the webhook server's
        # drain and run_polling's SIGTERM both rely on stop meaning "all handled").
        await super().stop()
        processor = self.update_processor
        if isinstance(processor, PerPersonUpdates):
            await processor.join()


JOB_ID = delivery.JOB_ID
TICK_SECONDS = delivery.TICK_SECONDS


async def _tick(context: Context) -> None:
    delivery.tick(context.bot_data)


def schedule(app: ThiduaApp) -> None:
    """Register the reminders' tick under a fixed id: at start-up (so what fell due while the
    bot was down goes out if still useful), then every minute. The schedules themselves are
    rows in our tables, so a restart re-creates exactly this job and nothing is pickled."""
    if app.job_queue is None:
        raise RuntimeError("reminders need the JobQueue (python-telegram-bot[job-queue])")
    app.job_queue.run_repeating(
        _tick,
        interval=TICK_SECONDS,
        first=0,
        name=JOB_ID,
        job_kwargs={
            "id": JOB_ID,
            "replace_existing": True,
            # The first run as soon as the scheduler starts, however long after this call
            # (migrations run in between): without it APScheduler would wait one interval.
            "next_run_time": datetime.now(UTC),
            "misfire_grace_time": None,
            "coalesce": True,
            "max_instances": 1,
        },
    )


def register(app: ThiduaApp) -> None:
    """The bot's one handler: every update goes to the adapter, which hands it to the core
    (commands, buttons and guided steps are routed there, the same for every channel)."""
    app.add_handler(TypeHandler(Update, on_update))
    # One repeating job with a fixed id; the schedules themselves are rows in our tables.
    schedule(app)
    app.add_error_handler(on_error)


async def publish_menus(app: ThiduaApp) -> None:
    """Register the command menu per chat type, in Vietnamese (default) and English."""

    def commands(language: str | None, private: bool) -> list[BotCommand]:
        t = texts(language)
        return [
            BotCommand(c.shown(t.language), t.raw(f"cmd.{c.name}")) for c in menu(private=private)
        ]

    calls = [
        app.bot.set_my_commands(commands(language, private), scope=scope, language_code=language)
        for language in (None, *LANGUAGES)
        for scope, private in (
            (BotCommandScopeAllPrivateChats(), True),
            (BotCommandScopeAllGroupChats(), False),
        )
    ]
    # Clients that match no scope (rare) fall back to the private menu.
    calls.append(app.bot.set_my_commands(commands(None, True), scope=BotCommandScopeDefault()))
    # At once, not one after another: start-up waits for one round trip to Telegram, not
    # seven (each is 0.1-0.3 s from Viet Nam).
    await asyncio.gather(*calls)


def build_application(
    settings: Settings,
    *,
    request: BaseRequest | None = None,
    clock: Callable[[], datetime] = utc_now,
    zalo: ZaloService | None = None,
    zalo_http: bool = True,
) -> ThiduaApp:
    """The configured Application. Tests pass a recording `request` and a fake clock.
    `zalo`: the Zalo channel served from the same process, started and stopped with it
    (`zalo_http`: on its own HTTP server, else its routes are on the webhook server)."""
    if settings.telegram.token is None:
        raise SettingsError("telegram.token: not set (THIDUA_TELEGRAM__TOKEN)")
    tz = settings.app.tz
    core = make_core(settings, clock)
    engine_holder: dict[str, Any] = {}

    async def post_init(app: ThiduaApp) -> None:
        engine = create_engine(settings.database.url)
        engine_holder["engine"] = engine
        if settings.database.migrate_on_start and not await at_head(engine):
            # A migration may take long: the collector works as usual meanwhile.
            resume_collector()
            await upgrade(engine)
        app.bot_data.sessions = session_factory(engine)
        app.bot_data.channels.add(TelegramChannel(app.bot))
        if not app.bot_data.bot_username:
            app.bot_data.bot_username = app.bot.username
        assert isinstance(app, ThiduaApplication)  # the builder's application_class
        app.publishing = asyncio.create_task(publish_menus(app), name="publish menus")
        if zalo is not None:
            await zalo.start(app.bot_data, serve_http=zalo_http)
        log.info("bot @%s ready", app.bot.username)

    async def post_stop(app: ThiduaApp) -> None:
        # What is still queued in a batch stays unclaimed: the next start sends it.
        delivery.runtime(app.bot_data).stopping = True
        await delivery.settle(app.bot_data)
        if zalo is not None:
            await zalo.stop()

    async def post_shutdown(app: ThiduaApp) -> None:
        if isinstance(app, ThiduaApplication):
            await app.forget_publishing()
        engine = engine_holder.pop("engine", None)
        if engine is not None:
            await engine.dispose()

    builder = (
        ApplicationBuilder()
        .token(settings.telegram.token.get_secret_value())
        .base_url(settings.telegram.base_url)
        .base_file_url(settings.telegram.base_file_url)
        .defaults(Defaults(tzinfo=tz, parse_mode=ParseMode.HTML))
        .context_types(ContextTypes(bot_data=Core))
        .application_class(ThiduaApplication)
        # Different people at once, one person's updates in order (bot/telegram/updates.py).
        .concurrent_updates(PerPersonUpdates())
        # Replies retry a RetryAfter there; reminder batches obey it themselves (delivery).
        .rate_limiter(Limiter())
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    else:
        # PTB's own pool sizes (256 for calls, 1 for the long poll), with each fault logged
        # once and a spoilt answer made a NetworkError (bot/telegram/request.py). One TLS
        # context for both, as httpx would make it (certifi's CA bundle, SSL_CERT_FILE/DIR
        # honoured): each client would read the bundle again (~15 ms and ~0.7 MB).
        tls = {"verify": httpx.create_ssl_context()}
        builder = builder.request(BotRequest(connection_pool_size=256, httpx_kwargs=tls))
        builder = builder.get_updates_request(BotRequest(connection_pool_size=1, httpx_kwargs=tls))
    app: ThiduaApp = builder.build()  # type: ignore[assignment]
    # ContextTypes builds the Core with its defaults; put the configured one in its place.
    app.bot_data.__dict__.update(core.__dict__)
    register(app)
    return app


def run_polling(settings: Settings) -> None:
    """`thidua run`: long-poll Telegram until stopped (and serve Zalo too when its token
    is set)."""
    zalo = ZaloService(settings) if settings.zalo.token is not None else None
    build_application(settings, zalo=zalo).run_polling(allowed_updates=Update.ALL_TYPES)


async def ask_username(settings: Settings) -> str:
    """The bot's @username, from Telegram (getMe), for invitation links."""
    token = settings.telegram.token
    bot = Bot(token.get_secret_value() if token else "", base_url=settings.telegram.base_url)
    async with bot:
        return str(bot.username)
