"""Webhook mode's HTTP side (bot/telegram/webhook.py) in front of the real Application: the secret,
malformed input, the health check and stopping gracefully. Requests go through httpx's ASGI
transport, so no port is opened."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bot.telegram.app import ThiduaApp
from bot.telegram.webhook import SECRET_HEADER, WebhookConfig, WebhookServer
from models.db import create_engine, session_factory
from tests.telegram.conftest import InviteMaker
from tests.telegram.harness import RecordingRequest, message, settle

SECRET = "s3cret_token-for-tests"
OK = {SECRET_HEADER: SECRET}


def _config() -> WebhookConfig:
    return WebhookConfig(
        url="https://bot.example.test/telegram",
        listen="127.0.0.1",
        port=8443,
        path="/telegram",
        secret=SECRET,
    )


def _json(app: ThiduaApp, user_id: int, text: str) -> dict[str, Any]:
    update = message(app, user_id, text)
    data: dict[str, Any] = update.to_dict()
    return data


async def _client(web: WebhookServer) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=web.asgi())
    return httpx.AsyncClient(transport=transport, base_url="http://worker")


@pytest.fixture
async def web(app: ThiduaApp) -> AsyncIterator[WebhookServer]:
    yield WebhookServer(app, _config())


async def test_an_update_with_the_secret_is_handled_like_a_polled_one(
    app: ThiduaApp, web: WebhookServer, recorder: RecordingRequest, invite: InviteMaker
) -> None:
    token = await invite("STC-BDINH")

    async with await _client(web) as http:
        answer = await http.post("/telegram", json=_json(app, 501, f"/start {token}"), headers=OK)
    await settle(app)

    assert answer.status_code == 200
    assert "Chào mừng" in recorder.texts_to(501)[0]


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET.upper(), SECRET + "x"])
async def test_an_update_without_the_right_secret_is_refused_and_never_queued(
    app: ThiduaApp, web: WebhookServer, recorder: RecordingRequest, secret: str | None
) -> None:
    headers = {} if secret is None else {SECRET_HEADER: secret}

    async with await _client(web) as http:
        answer = await http.post("/telegram", json=_json(app, 502, "/whoami"), headers=headers)
    await settle(app)

    assert answer.status_code == 403
    assert recorder.texts_to(502) == []


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"{not json", 400), (b"[1, 2]", 400), (b'{"message": 5}', 400), (b"x" * 2_000_000, 413)],
)
async def test_malformed_or_oversized_bodies_are_refused(
    web: WebhookServer, body: bytes, status: int
) -> None:
    async with await _client(web) as http:
        answer = await http.post("/telegram", content=body, headers=OK)

    assert answer.status_code == status


async def test_the_health_check_reports_the_database_and_the_bot(web: WebhookServer) -> None:
    async with await _client(web) as http:
        answer = await http.get("/healthz")

    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ok",
        "database": "ok",
        "bot": "thidua_test_bot",
        "queued_updates": 0,
    }


async def test_the_health_check_fails_when_the_database_does_not_answer(
    app: ThiduaApp, web: WebhookServer
) -> None:
    working = app.bot_data.sessions
    dead = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    app.bot_data.sessions = session_factory(dead)
    try:
        async with await _client(web) as http:
            answer = await http.get("/healthz")
    finally:
        app.bot_data.sessions = working
        await dead.dispose()

    assert answer.status_code == 503
    assert answer.json()["database"] == "unreachable"


async def test_while_stopping_health_fails_and_updates_are_sent_back_to_telegram(
    app: ThiduaApp, web: WebhookServer
) -> None:
    web.stopping = True

    async with await _client(web) as http:
        health = await http.get("/healthz")
        update = await http.post("/telegram", json=_json(app, 503, "/whoami"), headers=OK)

    assert health.status_code == 503 and health.json()["status"] == "stopping"
    assert update.status_code == 503  # Telegram retries it later, elsewhere
