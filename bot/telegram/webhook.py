"""Webhook mode: a small ASGI app (Starlette, served by uvicorn) in front of the Application.

PTB's built-in webhook server cannot serve a health route, so this follows PTB's
customwebhookbot example: Telegram posts updates to `path`, checked against the secret token,
and they go onto the Application's update queue, handled exactly as in polling mode.

- `GET /healthz` answers 200 with a small JSON when the database answers and the bot runs,
  503 otherwise (and while stopping, so a proxy stops sending work here).
- SIGTERM/SIGINT: uvicorn stops accepting requests and finishes those in flight; then
  `Application.stop()` handles every update still queued and waits for running jobs, so an
  update Telegram was told we accepted (200) is never dropped.
- Several workers behind one proxy: any worker takes any update. A guided dialogue's step
  is a draft row in the database, so the next step may land anywhere.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

import uvicorn
from pydantic import ValidationError
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from telegram import Update

from bot.settings import Settings, SettingsError
from bot.telegram.updates import PerPersonUpdates

if TYPE_CHECKING:
    from bot.telegram.app import ThiduaApp

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's updates are a few kilobytes; anything this large is not from Telegram.
MAX_BODY = 1024 * 1024
# How long uvicorn waits for requests in flight when asked to stop.
GRACEFUL_S = 30


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    listen: str
    port: int
    path: str
    secret: str

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        url: str | None = None,
        listen: str | None = None,
        port: int | None = None,
        path: str | None = None,
    ) -> WebhookConfig:
        """The settings, overridden by command-line options; SettingsError names what is
        missing or wrong."""
        tg = settings.telegram
        # The options go through the same checks as the settings file.
        try:
            checked = tg.model_validate(
                {
                    **tg.model_dump(),
                    "webhook_url": url if url is not None else tg.webhook_url,
                    "webhook_listen": listen if listen is not None else tg.webhook_listen,
                    "webhook_port": port if port is not None else tg.webhook_port,
                    "webhook_path": path if path is not None else tg.webhook_path,
                }
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(part) for part in first["loc"])
            message = str(first["msg"]).removeprefix("Value error, ")
            raise SettingsError(f"telegram.{key}: {message}") from None
        if not checked.webhook_url:
            raise SettingsError(
                "telegram.webhook_url: not set (--webhook-url https://… or "
                "THIDUA_TELEGRAM__WEBHOOK_URL): Telegram needs the public URL to post to"
            )
        if tg.webhook_secret is None:
            raise SettingsError(
                "telegram.webhook_secret: not set (THIDUA_TELEGRAM__WEBHOOK_SECRET); "
                "without it anyone who finds the URL could post updates"
            )
        return cls(
            url=checked.webhook_url,
            listen=checked.webhook_listen,
            port=checked.webhook_port,
            path=checked.webhook_path,
            secret=tg.webhook_secret.get_secret_value(),
        )


class WebhookServer:
    """The HTTP side of webhook mode: receives updates, answers health checks."""

    def __init__(
        self, app: ThiduaApp, config: WebhookConfig, extra_routes: list[Route] | None = None
    ) -> None:
        self.app = app
        self.config = config
        # Another channel's routes on the same server (Zalo's webhook and media files).
        self.extra_routes = extra_routes or []
        self.stopping = False
        self._secret = config.secret.encode()

    def asgi(self) -> Starlette:
        return Starlette(
            routes=[
                Route(self.config.path, self.receive, methods=["POST"]),
                Route("/healthz", self.health, methods=["GET"]),
                *self.extra_routes,
            ]
        )

    def _secret_ok(self, request: Request) -> bool:
        given = request.headers.get(SECRET_HEADER, "").encode()
        return hmac.compare_digest(given, self._secret)

    async def receive(self, request: Request) -> Response:
        """An update from Telegram."""
        if not self._secret_ok(request):
            client = request.client.host if request.client else "?"
            log.warning("webhook: refused a request from %s: wrong or missing secret", client)
            return PlainTextResponse("forbidden", status_code=403)
        if self.stopping:
            # Telegram retries later: another worker, or this one after its restart.
            return PlainTextResponse("stopping", status_code=503)
        body = await request.body()
        if len(body) > MAX_BODY:
            return PlainTextResponse("too large", status_code=413)
        try:
            data: Any = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            update = Update.de_json(data, self.app.bot)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("webhook: refused a malformed update: %s", exc)
            return PlainTextResponse("bad update", status_code=400)
        await self.app.update_queue.put(update)
        return Response(status_code=200)

    async def _database_ok(self) -> bool:
        try:
            async with asyncio.timeout(3):
                async with self.app.bot_data.session_factory()() as session:
                    await session.execute(text("SELECT 1"))
        except Exception as exc:
            log.warning("health: the database does not answer: %r", exc)
            return False
        return True

    async def health(self, request: Request) -> Response:
        """Liveness and readiness for the proxy or the service manager."""
        database = await self._database_ok()
        ok = database and self.app.running and not self.stopping
        status = "ok" if ok else "stopping" if self.stopping else "unavailable"
        body = {
            "status": status,
            "database": "ok" if database else "unreachable",
            "bot": self.app.bot.username,
            "queued_updates": pending(self.app),
        }
        return JSONResponse(body, status_code=200 if ok else 503)


def pending(app: ThiduaApp) -> int:
    """Updates accepted and not handled yet: still on PTB's queue, or in our processor's
    lanes (bot/telegram/updates.py takes them off the queue as soon as it has room)."""
    held = 0
    processor = app.update_processor
    if isinstance(processor, PerPersonUpdates):
        held = processor.waiting + processor.running
    return app.update_queue.qsize() + held


@contextmanager
def _stop_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGTERM/SIGINT outside uvicorn's own watch (start-up, draining) ask for a stop instead
    of killing the process half-way; uvicorn re-raises the signal it handled when it returns,
    which lands here too."""

    def noted(signum: int, _frame: FrameType | None) -> None:
        if not stop.is_set():
            log.info("webhook: %s received, stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, noted) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


async def _listening(server: uvicorn.Server, serving: asyncio.Task[None]) -> None:
    """Until the server has bound its socket; what stopped it if it could not."""
    while not server.started:
        if serving.done():
            serving.result()  # raises what stopped it (the port is taken, say)
            raise RuntimeError("webhook: the HTTP server stopped before it listened")
        await asyncio.sleep(0.01)


async def serve(
    app: ThiduaApp,
    config: WebhookConfig,
    extra_routes: list[Route] | None = None,
    on_listening: Sequence[Callable[[], Awaitable[None]]] = (),
) -> None:
    """Start the Application and the server; once it listens, register the webhook (and
    run `on_listening`: Zalo's, whose routes ride on this server), serve until
    SIGTERM/SIGINT, then finish every accepted update before shutting down (the order of
    PTB's run_webhook: a platform posts as soon as its webhook is set)."""
    web = WebhookServer(app, config, extra_routes)
    server = uvicorn.Server(
        uvicorn.Config(
            web.asgi(),
            host=config.listen,
            port=config.port,
            log_config=None,  # our logging set-up (with token redaction) applies
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=GRACEFUL_S,
        )
    )
    stop = asyncio.Event()
    with _stop_signals(stop):
        await app.initialize()
        try:
            if app.post_init is not None:
                await app.post_init(app)
            await app.start()
            try:
                if not stop.is_set():
                    serving = asyncio.create_task(server.serve(), name="webhook-http")
                    try:
                        await _listening(server, serving)
                        # Every worker registers the same URL; Telegram treats that as a
                        # no-op. It is not deleted on stop: other workers may serve it.
                        await app.bot.set_webhook(
                            url=config.url,
                            secret_token=config.secret,
                            allowed_updates=Update.ALL_TYPES,
                        )
                        for call in on_listening:
                            await call()
                        log.info(
                            "webhook: listening on http://%s:%d%s (Telegram posts to %s)",
                            config.listen,
                            config.port,
                            config.path,
                            config.url,
                        )
                        await serving
                    finally:
                        if not serving.done():  # registering failed: stop serving too
                            server.should_exit = True
                            await asyncio.wait([serving])
            finally:
                web.stopping = True
                log.info("webhook: finishing %d queued updates", pending(app))
                await app.stop()
                if app.post_stop is not None:
                    await app.post_stop(app)
        finally:
            await app.shutdown()
            if app.post_shutdown is not None:
                await app.post_shutdown(app)
    log.info("webhook: stopped")
