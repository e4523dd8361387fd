"""Zalo in a running bot: the API client, the channel, updates (long polling, or a webhook
route), and the HTTP server Zalo fetches our pictures and files from.

With Telegram in the same process, this starts and stops with the Telegram Application
(`build_application(…, zalo=…)`); in Telegram's webhook mode its routes join that server.
Without Telegram, `run_zalo` runs the same pieces on its own, with the reminders' tick on
APScheduler (the scheduler PTB's JobQueue wraps).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import text

from bot.settings import Settings, SettingsError
from bot.zalo.channel import Unsupported, ZaloChannel, ZaloPacing
from bot.zalo.client import ZaloClient, ZaloUpdate
from handlers import delivery
from handlers.core import Core, answer, utc_now
from handlers.io import Incoming
from models.db import create_engine, session_factory
from models.migrate import upgrade

if TYPE_CHECKING:
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from bot.zalo.runner import ZaloPoller

log = logging.getLogger(__name__)

PURGE_SECONDS = 3600


def make_core(settings: Settings, clock: Callable[[], datetime] = utc_now) -> Core:
    """The core of a running bot, from the settings (the same for every channel)."""
    return Core(
        admins=settings.app.admin_addresses(),
        tz=settings.app.tz,
        default_language=settings.app.language,
        storage_dir=settings.app.storage_dir,
        bot_username=settings.telegram.bot_username,
        clock=clock,
    )


class ZaloService:
    """Everything Zalo needs while the bot runs."""

    @staticmethod
    def check(settings: Settings) -> str:
        """The token, once the settings Zalo needs are known to be there (SettingsError)."""
        zalo = settings.zalo
        if zalo.token is None:
            raise SettingsError("zalo.token: not set (THIDUA_ZALO__TOKEN)")
        if zalo.webhook_url and zalo.webhook_secret is None:
            raise SettingsError(
                "zalo.webhook_secret: not set (THIDUA_ZALO__WEBHOOK_SECRET); without it "
                "anyone who finds the URL could post updates"
            )
        return zalo.token.get_secret_value()

    def __init__(self, settings: Settings) -> None:
        # The HTTP pieces (Starlette, and uvicorn in _serve) come with a Zalo token only:
        # a Telegram-only bot never loads them.
        from bot.media import MediaStore
        from bot.zalo.runner import ZaloWebhook

        token = self.check(settings)
        zalo = settings.zalo
        self.settings = settings
        self.bot_id = token.split(":", 1)[0]  # public: the part before the secret
        self.client = ZaloClient(token, zalo.base_url)
        self.media = MediaStore(
            settings.app.storage_dir / "media",
            zalo.media_base(),
            timedelta(hours=zalo.media_hours),
        )
        self.webhook = (
            ZaloWebhook(zalo.webhook_secret.get_secret_value(), self._on_update)
            if zalo.webhook_url and zalo.webhook_secret is not None
            else None
        )
        self.poller: ZaloPoller | None = None
        self.core: Core | None = None
        self.channel: ZaloChannel | None = None
        self.account_name = ""  # the bot's name on Zalo, once started
        self._server: uvicorn.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def routes(self) -> list[Route]:
        """The media files, and the webhook route in webhook mode."""
        from bot.media import media_routes

        routes = media_routes(self.media)
        if self.webhook is not None:
            routes += self.webhook.routes(self.settings.zalo.webhook_path)
        return routes

    async def start(self, core: Core, *, serve_http: bool) -> None:
        """Join the core as its "zalo" channel and start taking updates. `serve_http`: run
        our own HTTP server for the routes (when no other server carries them). Without
        it, in webhook mode, the server that carries the routes calls `register_webhook`
        once it listens: Zalo posts an update as soon as the webhook is set, and one posted
        to a port nobody listens on yet is lost."""
        zalo = self.settings.zalo
        self.core = core
        self.channel = ZaloChannel(
            self.client,
            self.media.put,
            max_download=core.evidence_limit,
            pacing=ZaloPacing(per_second=zalo.per_second, private_gap=zalo.private_gap),
        )
        core.channels.add(self.channel)
        me = await self.client.get_me()
        if serve_http:
            await self._serve()
        self.account_name = me.account_name
        if self.webhook is not None:
            if serve_http:
                await self.register_webhook()
        else:
            from bot.zalo.runner import ZaloPoller

            self.poller = ZaloPoller(self.client, self._on_update, poll_timeout=zalo.poll_timeout)
            await self.poller.start()
            log.info("zalo: bot %s polls for updates", me.account_name)
        self._tasks.append(asyncio.create_task(self._purge_media(), name="zalo-media-purge"))

    async def register_webhook(self) -> None:
        """Tell Zalo where to post updates (webhook mode), once that address is served."""
        zalo = self.settings.zalo
        await self.client.set_webhook(zalo.webhook_url, self.webhook_secret())
        log.info("zalo: bot %s takes updates at %s", self.account_name, zalo.webhook_url)

    def webhook_secret(self) -> str:
        secret = self.settings.zalo.webhook_secret
        return secret.get_secret_value() if secret is not None else ""

    async def _serve(self) -> None:
        import uvicorn
        from starlette.applications import Starlette
        from starlette.routing import Route

        class _Server(uvicorn.Server):
            """uvicorn for a second server in the process: signals stay with the process's
            own loop (PTB's, or run_zalo's), which stops this one in order."""

            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        zalo = self.settings.zalo
        app = Starlette(routes=[*self.routes(), Route("/healthz", self._health, methods=["GET"])])
        self._server = _Server(
            uvicorn.Config(
                app,
                host=zalo.listen,
                port=zalo.port,
                log_config=None,  # our logging set-up (with token redaction) applies
                access_log=False,
                lifespan="off",
            )
        )
        self._tasks.append(asyncio.create_task(self._server.serve(), name="zalo-http"))
        for _ in range(200):  # started (bound) or failed, before updates may need it
            if self._server.started or self._tasks[-1].done():
                break
            await asyncio.sleep(0.02)
        if self._tasks[-1].done():
            self._tasks[-1].result()  # raises what stopped it (the port is taken, say)
            raise SettingsError(f"zalo: the HTTP server on {zalo.listen}:{zalo.port} stopped")
        log.info("zalo: media served on http://%s:%d", zalo.listen, zalo.port)

    async def _health(self, request: Request) -> Response:
        from starlette.responses import JSONResponse

        database = False
        if self.core is not None and self.core.sessions is not None:
            try:
                async with asyncio.timeout(3), self.core.sessions() as session:
                    await session.execute(text("SELECT 1"))
                database = True
            except Exception as exc:
                log.warning("health: the database does not answer: %r", exc)
        polling = self.poller is not None and self.poller.running
        ok = database and (polling or self.webhook is not None)
        body = {"status": "ok" if ok else "unavailable", "database": database, "zalo": ok}
        return JSONResponse(body, status_code=200 if ok else 503)

    async def _purge_media(self) -> None:
        while True:
            removed = await asyncio.to_thread(self.media.purge)
            if removed:
                log.info("zalo: %d expired media files removed", removed)
            await asyncio.sleep(PURGE_SECONDS)

    async def _on_update(self, update: ZaloUpdate) -> None:
        if self.channel is None or self.core is None:
            return
        found = self.channel.incoming(update)
        if found is None:
            return
        if isinstance(found, Unsupported):
            log.info(
                "zalo: %s from %s is not something the bot reads", found.event_name, found.sender
            )
            found = Incoming(
                sender=found.sender,
                chat=found.chat,
                private=found.private,
                full_name=found.full_name,
                update_id=found.update_id,
                unsupported=True,
            )
        if found.update_id is not None:
            # Zalo's message ids are the platform's: key them by this bot, as for Telegram.
            found = replace(found, update_id=f"zalo:{self.bot_id}:{found.update_id}")
        await answer(self.core, found)

    async def stop(self) -> None:
        """Stop taking updates, finish those accepted, close the server and the client."""
        if self.poller is not None:
            await self.poller.stop()
        if self.webhook is not None:
            await self.webhook.drain()
        if self._server is not None:
            self._server.should_exit = True
        for task in self._tasks:
            if task.get_name() == "zalo-media-purge":
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.client.aclose()


async def _tick(core: Core) -> None:
    delivery.tick(core)


def run_zalo(settings: Settings) -> None:
    """`thidua run` with a Zalo token and no Telegram one."""
    asyncio.run(_run_zalo(settings))


async def _run_zalo(settings: Settings) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    engine = create_engine(settings.database.url)
    if settings.database.migrate_on_start:
        await upgrade(engine)
    core = make_core(settings)
    core.sessions = session_factory(engine)
    service = ZaloService(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    scheduler = AsyncIOScheduler(timezone=UTC)
    try:
        await service.start(core, serve_http=True)
        # The same job as under Telegram's JobQueue: at start-up, then every minute. A
        # coroutine function, so APScheduler runs it on this loop: a plain function would
        # run in its thread pool, where the tick cannot start its batch (no event loop).
        scheduler.add_job(
            _tick,
            "interval",
            seconds=delivery.TICK_SECONDS,
            args=[core],
            id=delivery.JOB_ID,
            next_run_time=datetime.now(UTC),
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
        )
        scheduler.start()
        await stop.wait()
        log.info("zalo: stopping")
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=False)
        delivery.runtime(core).stopping = True
        await delivery.settle(core)
        await service.stop()
        await engine.dispose()
