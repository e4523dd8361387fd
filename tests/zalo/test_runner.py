"""bot/zalo/runner.py: updates by long polling and by webhook, against the stand-in."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest
from starlette.applications import Starlette

from bot.zalo.client import SECRET_HEADER, ZaloClient, ZaloUpdate
from bot.zalo.runner import ZaloPoller, ZaloWebhook, zalo_webhook_routes
from tests.zalo.standin import StandinControl, ZaloStandin, bot_side, serve_app

SECRET = "a-webhook-secret-42"
PATH = "/zalo/webhook"


class Inbox:
    """Collects updates; `wait(n)` until n have come."""

    def __init__(self, fail_first: int = 0) -> None:
        self.updates: list[ZaloUpdate] = []
        self.fail_first = fail_first
        self.calls = 0
        self._changed = asyncio.Event()

    async def __call__(self, update: ZaloUpdate) -> None:
        self.calls += 1
        if self.calls <= self.fail_first:
            raise RuntimeError("a handler that breaks")
        self.updates.append(update)
        self._changed.set()

    async def wait(self, count: int, within: float = 5.0) -> list[str]:
        async with asyncio.timeout(within):
            while len(self.updates) < count:
                self._changed.clear()
                await self._changed.wait()
        return [u.message.text or "" for u in self.updates if u.message is not None]


# ---------------------------------------------------------------- polling


async def test_the_poller_deletes_a_webhook_and_delivers_in_order(
    client: ZaloClient, control: StandinControl
) -> None:
    await client.set_webhook("https://old.example.org/hook", SECRET)
    inbox = Inbox()
    poller = ZaloPoller(client, inbox, poll_timeout=1)
    await poller.start()
    try:
        assert (await client.get_webhook_info()).url == ""
        for text in ("một", "hai", "ba"):
            await control.inject_text("u-1", text)
        assert await inbox.wait(3) == ["một", "hai", "ba"]
        assert poller.running
    finally:
        await poller.stop()
    assert not poller.running


async def test_the_poller_survives_a_failing_handler(
    client: ZaloClient, control: StandinControl, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = Inbox(fail_first=1)
    poller = ZaloPoller(client, inbox, poll_timeout=1)
    await poller.start()
    try:
        await control.inject_text("u-1", "breaks")
        await control.inject_text("u-1", "works")
        assert await inbox.wait(1) == ["works"]
    finally:
        await poller.stop()
    assert any("handling an update" in r.getMessage() for r in caplog.records)


async def test_the_poller_backs_off_and_logs_a_failure_once(
    standin: ZaloStandin, control: StandinControl, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "7:wrong-secret-for-polling"
    caplog.set_level(logging.DEBUG, logger="bot.zalo.runner")
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        await asyncio.sleep(0.01)

    async with ZaloClient(wrong, base_url=standin.url) as client:
        poller = ZaloPoller(
            client, Inbox(), poll_timeout=1, backoff_first=0.05, backoff_max=0.1, sleep=sleep
        )
        await poller.start()
        # The count lives in the stand-in's thread: asked for, not awaited as an event.
        async with asyncio.timeout(10):
            while (await control.stats())["unauthorized"] < 6:  # noqa: ASYNC110
                await asyncio.sleep(0.02)  # deleteWebhook and five polls
        await poller.stop()
    # Backing off after every failed poll: the first delay, then doubling up to the cap.
    assert len(delays) >= 5
    assert delays[:3] == [0.05, 0.1, 0.1] and set(delays) == {0.05, 0.1}
    failures = [r.getMessage() for r in caplog.records if "polling failed" in r.getMessage()]
    assert len(failures) == 1 and "401" in failures[0], failures
    assert poller.running is False
    assert all("wrong-secret" not in r.getMessage() for r in bot_side(caplog.records))


async def test_stopping_the_poller_mid_poll_keeps_the_next_update(
    client: ZaloClient, control: StandinControl
) -> None:
    first = ZaloPoller(client, Inbox(), poll_timeout=20)
    await first.start()
    await asyncio.sleep(0.3)  # the long poll is open
    await first.stop()
    await control.inject_text("u-1", "after the stop")
    await asyncio.sleep(0.6)  # the abandoned poll notices its client left
    inbox = Inbox()
    second = ZaloPoller(client, inbox, poll_timeout=1)
    await second.start()
    try:
        assert await inbox.wait(1) == ["after the stop"]
    finally:
        await second.stop()


# ---------------------------------------------------------------- webhook


async def test_the_webhook_delivers_with_the_right_secret(
    client: ZaloClient, control: StandinControl
) -> None:
    inbox = Inbox()
    app = Starlette(routes=zalo_webhook_routes(PATH, SECRET, inbox))
    async with serve_app(app) as base:
        await client.set_webhook(base + PATH, SECRET)
        result = await control.inject_text("u-1", "qua webhook")
        assert result["webhook_status"] == 200
        assert await inbox.wait(1) == ["qua webhook"]
        await client.set_webhook(base + PATH, "not-the-secret")
        refused = await control.inject_text("u-1", "spoofed")
        assert refused["webhook_status"] == 403
        await asyncio.sleep(0.1)
    assert len(inbox.updates) == 1


async def test_the_webhook_refuses_bad_requests(caplog: pytest.LogCaptureFixture) -> None:
    inbox = Inbox()
    hook = ZaloWebhook(SECRET, inbox)
    bare = {
        "event_name": "message.text.received",
        "message": {
            "from": {"id": "u", "display_name": "U", "is_bot": False},
            "chat": {"id": "u", "chat_type": "PRIVATE"},
            "text": "bare",
            "message_id": "m",
            "date": 1,
        },
    }
    async with serve_app(Starlette(routes=hook.routes(PATH))) as base, httpx.AsyncClient() as http:
        url = base + PATH
        no_secret = await http.post(url, json={"ok": True, "result": bare})
        bad_json = await http.post(url, content=b"{not json", headers={SECRET_HEADER: SECRET})
        not_update = await http.post(url, json={"ok": True}, headers={SECRET_HEADER: SECRET})
        accepted = await http.post(url, content=json.dumps(bare), headers={SECRET_HEADER: SECRET})
        get = await http.get(url)
        await hook.drain()
    assert [r.status_code for r in (no_secret, bad_json, not_update, accepted, get)] == [
        403,
        400,
        400,
        200,
        405,
    ]
    assert [u.message.text for u in inbox.updates if u.message] == ["bare"]
    logged = [r.getMessage() for r in caplog.records if r.name == "bot.zalo.runner"]
    assert sum("malformed" in m for m in logged) == 2
    assert sum("wrong or missing secret" in m for m in logged) == 1


async def test_the_webhook_answers_before_the_handler_finishes() -> None:
    release = asyncio.Event()
    done: list[str] = []

    async def slow(update: ZaloUpdate) -> None:
        await release.wait()
        done.append(update.event_name)

    hook = ZaloWebhook(SECRET, slow)
    body = {"ok": True, "result": {"event_name": "message.unsupported.received"}}
    async with serve_app(Starlette(routes=hook.routes(PATH))) as base, httpx.AsyncClient() as http:
        answer = await http.post(base + PATH, json=body, headers={SECRET_HEADER: SECRET})
        assert answer.status_code == 200 and hook.pending == 1 and done == []
        release.set()
        await hook.drain()
    assert done == ["message.unsupported.received"] and hook.pending == 0


def test_a_webhook_needs_a_secret() -> None:
    async def nothing(update: ZaloUpdate) -> None:
        return None

    with pytest.raises(ValueError):
        ZaloWebhook("", nothing)
