"""How Zalo updates reach the bot: long polling (`ZaloPoller`) or a webhook route
(`ZaloWebhook`, `zalo_webhook_routes`), both handing each parsed `ZaloUpdate` to
`on_update`.

Polling. Zalo documents getUpdates "for local development" and gives it no offset: an
update is gone from Zalo once a poll has returned it. The poller deletes any webhook first
(getUpdates is refused while one is set), then polls in a loop and hands the updates to
`on_update` one after the other, in order. A failing poll backs off (1 s doubling to 30 s)
and is logged once per kind of failure until a poll succeeds again; a malformed update or
a failing `on_update` is logged and skipped, never the end of the loop. `stop()` lets an
update being handled finish, and cancels a poll in flight (an update Zalo returned at that
very moment would be lost: the API has no acknowledgement).

Webhook. POST `path` with the header `X-Bot-Api-Secret-Token` (checked in constant time;
403 otherwise), a JSON body `{"ok": true, "result": {update}}` as documented (a bare
update is accepted too). The route answers 200 as soon as the update is parsed and runs
`on_update` in a background task: Zalo's fetcher should not wait for the database, and a
slow answer could make it send again. `ZaloWebhook.drain()` waits for the tasks still
running; call it after the web server has stopped taking requests. Malformed JSON or a
body that is not an update → 400 and a log line; a body over 1 MiB → 413.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.zalo.client import (
    SECRET_HEADER,
    ZaloClient,
    ZaloError,
    ZaloNetworkError,
    ZaloUpdate,
    parse_update,
)

log = logging.getLogger(__name__)

OnUpdate = Callable[[ZaloUpdate], Awaitable[None]]
MAX_BODY = 1024 * 1024


async def _handle(on_update: OnUpdate, update: ZaloUpdate) -> None:
    try:
        await on_update(update)
    except Exception:
        event = update.event_name or "?"
        log.exception("zalo: handling an update (%s) failed", event)


class ZaloPoller:
    """Long-polls getUpdates and hands every update to `on_update`."""

    def __init__(
        self,
        client: ZaloClient,
        on_update: OnUpdate,
        *,
        poll_timeout: float = 30.0,
        backoff_first: float = 1.0,
        backoff_max: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client = client
        self.on_update = on_update
        self.poll_timeout = poll_timeout
        self.backoff_first = backoff_first
        self.backoff_max = backoff_max
        self.sleep = sleep  # how a back-off is waited out (tests record the delays)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._handling = False
        self._failing: str | None = None  # the kind of failure last logged

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Delete any webhook, then poll in a background task."""
        if self.running:
            return
        try:
            await self.client.delete_webhook()
        except (ZaloError, ZaloNetworkError) as exc:
            # Polling will say whether it matters (getUpdates is refused under a webhook).
            log.warning("zalo: could not delete the webhook before polling: %s", exc)
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="zalo-poller")

    async def stop(self) -> None:
        """Stop polling; an update being handled is finished first."""
        self._stopping = True
        task, self._task = self._task, None
        if task is None:
            return
        if not self._handling:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def _failed(self, kind: str, exc: Exception) -> None:
        if kind != self._failing:
            log.warning("zalo: polling failed (%s), backing off: %s", kind, exc)
            self._failing = kind
        else:
            log.debug("zalo: polling still failing (%s)", kind)

    async def _run(self) -> None:
        delay = self.backoff_first
        while not self._stopping:
            try:
                update = await self.client.get_updates(self.poll_timeout)
            except ZaloError as exc:
                self._failed(f"error {exc.code}", exc)
            except ZaloNetworkError as exc:
                self._failed("network", exc)
            except ValueError as exc:  # an update that does not parse
                log.warning("zalo: skipped a malformed update: %s", exc)
                continue
            else:
                if self._failing is not None:
                    log.info("zalo: polling works again")
                    self._failing = None
                delay = self.backoff_first
                if update is not None:
                    self._handling = True
                    try:
                        await _handle(self.on_update, update)
                    finally:
                        self._handling = False
                continue
            await self.sleep(delay)
            delay = min(delay * 2, self.backoff_max)


class ZaloWebhook:
    """The webhook side: checks the secret, parses the update, runs `on_update`."""

    def __init__(self, secret: str, on_update: OnUpdate) -> None:
        if not secret:
            raise ValueError("a Zalo webhook needs its secret token")
        self._secret = secret.encode()
        self.on_update = on_update
        self._tasks: set[asyncio.Task[None]] = set()

    def routes(self, path: str) -> list[Route]:
        return [Route(path, self.receive, methods=["POST"])]

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait for every update accepted so far to be handled."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def receive(self, request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            client = request.client.host if request.client else "?"
            log.warning("zalo webhook: refused a request from %s: wrong or missing secret", client)
            return PlainTextResponse("forbidden", status_code=403)
        body = await request.body()
        if len(body) > MAX_BODY:
            return PlainTextResponse("too large", status_code=413)
        try:
            data: Any = json.loads(body)
            update = parse_update(data)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            log.warning("zalo webhook: refused a malformed update: %s", str(exc)[:200])
            return PlainTextResponse("bad update", status_code=400)
        task = asyncio.create_task(_handle(self.on_update, update), name="zalo-update")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return Response(status_code=200)


def zalo_webhook_routes(path: str, secret: str, on_update: OnUpdate) -> list[Route]:
    """The webhook route alone (use ZaloWebhook itself to `drain()` at shutdown)."""
    return ZaloWebhook(secret, on_update).routes(path)
