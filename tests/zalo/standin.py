"""A stand-in for the Zalo Bot API, written from its documentation, over real HTTP.

Bot side, `/bot<TOKEN>/<method>` (GET or POST; query string, form, multipart or JSON):

- `getMe`; `getUpdates {timeout}`: a long poll answering ONE update, or after the timeout an
  empty result (`empty_poll="empty"`) or the error 408 (`empty_poll="408"`); refused with
  400 while a webhook is set;
- `setWebhook {url, secret_token (8-256 characters)}` (else 400), `deleteWebhook`,
  `getWebhookInfo`;
- `sendMessage {chat_id, text (1-2000 characters)}`, `sendPhoto {chat_id, photo (a URL,
  fetched over HTTP: 400 when it cannot be), caption (≤ 2000)}`, `sendChatAction
  {chat_id, action: typing}`: a chat nobody wrote from → 400 (the bot can write only to
  who wrote to it), a blocked person → 403, over the configured rate → 429 "Quota
  exceeded" (a sliding one-second window over the send methods);
- a wrong token → 401; an unknown method → 400 ("invalid API name", as the error table
  says). Undocumented choices are marked "assumption" below.

Test side, `/_test/…` (JSON): `POST inject` a person's message — text, an image (served
by the stand-in itself at `/_test/files/<name>` so the bot downloads real bytes), a
sticker or an unsupported one — queued for getUpdates or, when a webhook is set, POSTed to
it with `X-Bot-Api-Secret-Token`; `GET sent?chat_id=`; `GET stats` (429s, queue, webhook
deliveries); `POST block` / `unblock`; `POST config` (rate limit); `POST reset`.

Run it alone (the e2e tier): `python -m tests.zalo.standin --port 8081
[--rate-limit-per-second 5] [--token 123:abc]`; in-process: `ZaloStandin().start()`
(a free port, a background thread), `.url`, `.stop()`; `StandinControl(url)` drives the
test side from async code.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import email.parser
import email.policy
import hashlib
import json
import logging
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

DEFAULT_TOKEN = "1459232241454765289:standin-secret-0123456789"
TEXT_MAX = 2000
SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendChatAction", "sendSticker"})
SECRET_HEADER = "X-Bot-Api-Secret-Token"
EmptyPoll = Literal["empty", "408"]


def _error(code: int, description: str) -> JSONResponse:
    return JSONResponse(
        {"ok": False, "error_code": code, "description": description}, status_code=code
    )


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


def _now_ms() -> int:
    return int(time.time() * 1000)


def _message_id() -> str:
    return secrets.token_hex(10)  # Zalo's look like "2d758cb5e222177a4e35"


def _multipart(body: bytes, content_type: str) -> dict[str, str]:
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload.decode("utf-8", "replace")
    return fields


async def _params(request: Request) -> dict[str, Any]:
    """Query string, then the body (JSON, form or multipart) on top."""
    params: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if not body:
        return params
    content_type = request.headers.get("content-type", "")
    if "json" in content_type:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("the JSON body must be an object")
        params.update(data)
    elif "multipart/form-data" in content_type:
        params.update(_multipart(body, content_type))
    else:  # form-urlencoded, or no type at all
        params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return params


@dataclass
class _State:
    token: str
    rate_limit: float | None
    empty_poll: EmptyPoll
    queue: deque[dict[str, Any]] = field(default_factory=deque)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    sent: list[dict[str, Any]] = field(default_factory=list)
    known: set[str] = field(default_factory=set)  # chats someone wrote from
    blocked: set[str] = field(default_factory=set)
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    window: deque[float] = field(default_factory=deque)
    rate_limited: int = 0
    unauthorized: int = 0
    webhook_url: str = ""
    webhook_secret: str = ""
    webhook_updated: int = 0
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    polls: int = 0

    def reset(self) -> None:
        self.queue.clear()
        self.sent.clear()
        self.known.clear()
        self.blocked.clear()
        self.files.clear()
        self.window.clear()
        self.deliveries.clear()
        self.rate_limited = self.unauthorized = self.polls = 0
        self.webhook_url = self.webhook_secret = ""
        self.webhook_updated = 0

    def over_rate(self) -> bool:
        if not self.rate_limit:
            return False
        now = time.monotonic()
        while self.window and now - self.window[0] >= 1.0:
            self.window.popleft()
        if len(self.window) >= self.rate_limit:
            return True
        self.window.append(now)
        return False


class StandinApp:
    """The Starlette app and its state (one event loop: the server's)."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        rate_limit_per_second: float | None = None,
        empty_poll: EmptyPoll = "empty",
    ) -> None:
        self.state = _State(token, rate_limit_per_second, empty_poll)
        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self.bot_api, methods=["GET", "POST"]),
                Route("/_test/inject", self.inject, methods=["POST"]),
                Route("/_test/sent", self.sent, methods=["GET"]),
                Route("/_test/stats", self.stats, methods=["GET"]),
                Route("/_test/block", self.block, methods=["POST"]),
                Route("/_test/unblock", self.unblock, methods=["POST"]),
                Route("/_test/config", self.config, methods=["POST"]),
                Route("/_test/reset", self.reset, methods=["POST"]),
                Route("/_test/files/{name}", self.file, methods=["GET"]),
            ]
        )

    # ------------------------------------------------------------------ bot side

    async def bot_api(self, request: Request) -> Response:
        state = self.state
        if request.path_params["token"] != state.token:
            state.unauthorized += 1
            return _error(401, "Unauthorized")
        method = str(request.path_params["method"])
        try:
            params = await _params(request)
        except (ValueError, UnicodeDecodeError):
            return _error(400, "Bad request: the parameters do not parse")
        handler = {
            "getMe": self.get_me,
            "getUpdates": self.get_updates,
            "setWebhook": self.set_webhook,
            "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info,
            "sendMessage": self.send_message,
            "sendPhoto": self.send_photo,
            "sendChatAction": self.send_chat_action,
        }.get(method)
        if handler is None:
            return _error(400, "Bad request: invalid API name")
        if method in SEND_METHODS:
            refused = self._check_chat(params)
            if refused is not None:
                return refused
            if state.over_rate():
                state.rate_limited += 1
                return _error(429, "Quota exceeded")
        return await handler(request, params)

    def _check_chat(self, params: dict[str, Any]) -> Response | None:
        chat_id = str(params.get("chat_id") or "")
        if not chat_id:
            return _error(400, "Bad request: chat_id is required")
        if chat_id in self.state.blocked:
            return _error(403, "Forbidden: the user blocked the bot")
        if chat_id not in self.state.known:
            # Assumption: the docs give no code for a chat the bot may not write to.
            return _error(400, "Bad request: chat not found")
        return None

    async def get_me(self, request: Request, params: dict[str, Any]) -> Response:
        bot_id = self.state.token.split(":", 1)[0]
        return _ok(
            {
                "id": bot_id,
                "account_name": "bot.Standin",
                "account_type": "BASIC",
                "can_join_groups": False,
            }
        )

    async def get_updates(self, request: Request, params: dict[str, Any]) -> Response:
        state = self.state
        if state.webhook_url:
            # Assumption: refused as a bad request (the docs only say it does not work).
            return _error(400, "Bad request: getUpdates is not available while a webhook is set")
        try:
            timeout = float(params.get("timeout", 30))
        except (TypeError, ValueError):
            return _error(400, "Bad request: timeout must be a number")
        state.polls += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, min(timeout, 60.0))
        while True:
            if state.queue:
                if await request.is_disconnected():
                    return Response(status_code=499)  # nobody to give it to: keep it
                return _ok(state.queue.popleft())
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            state.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.arrived.wait(), min(remaining, 0.25))
            if await request.is_disconnected():
                return Response(status_code=499)
        if state.empty_poll == "408":
            return _error(408, "Request timeout")
        return _ok(None)

    async def set_webhook(self, request: Request, params: dict[str, Any]) -> Response:
        url = str(params.get("url") or "")
        secret = str(params.get("secret_token") or "")
        if not url.startswith(("https://", "http://")):
            return _error(400, "Bad request: url must be an HTTPS URL")
        if not 8 <= len(secret) <= 256:
            return _error(400, "Bad request: secret_token must be 8-256 characters")
        state = self.state
        state.webhook_url, state.webhook_secret = url, secret
        state.webhook_updated = _now_ms()
        return _ok({"url": url, "updated_at": state.webhook_updated})

    async def delete_webhook(self, request: Request, params: dict[str, Any]) -> Response:
        state = self.state
        state.webhook_url = state.webhook_secret = ""
        state.webhook_updated = _now_ms()
        return _ok({"url": "", "updated_at": state.webhook_updated})

    async def get_webhook_info(self, request: Request, params: dict[str, Any]) -> Response:
        return _ok({"url": self.state.webhook_url, "updated_at": self.state.webhook_updated})

    def _record(self, entry: dict[str, Any]) -> JSONResponse:
        sent = {"message_id": _message_id(), "date": _now_ms()}
        self.state.sent.append({**entry, **sent})
        return _ok(sent)

    async def send_message(self, request: Request, params: dict[str, Any]) -> Response:
        text = params.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= TEXT_MAX:
            return _error(400, f"Bad request: text must be 1-{TEXT_MAX} characters")
        chat_id = str(params["chat_id"])
        return self._record({"method": "sendMessage", "chat_id": chat_id, "text": text})

    async def send_photo(self, request: Request, params: dict[str, Any]) -> Response:
        photo = str(params.get("photo") or "")
        caption = params.get("caption")
        if caption is not None and (not isinstance(caption, str) or len(caption) > TEXT_MAX):
            return _error(400, f"Bad request: caption must be at most {TEXT_MAX} characters")
        if not photo.startswith(("http://", "https://")):
            return _error(400, "Bad request: photo must be a URL")
        try:
            async with httpx.AsyncClient(timeout=10.0) as http:
                fetched = await http.get(photo)
        except httpx.HTTPError:
            return _error(400, "Bad request: the photo URL cannot be fetched")
        if not fetched.is_success or not fetched.content:
            return _error(400, f"Bad request: the photo URL answered {fetched.status_code}")
        content = fetched.content
        return self._record(
            {
                "method": "sendPhoto",
                "chat_id": str(params["chat_id"]),
                "photo": photo,
                "caption": caption or "",
                "size": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
                "content_type": fetched.headers.get("content-type", ""),
            }
        )

    async def send_chat_action(self, request: Request, params: dict[str, Any]) -> Response:
        action = params.get("action")
        if action not in ("typing", "upload_photo"):
            return _error(400, "Bad request: action must be typing")
        chat_id = str(params["chat_id"])
        self.state.sent.append({"method": "sendChatAction", "chat_id": chat_id, "action": action})
        return JSONResponse({"ok": True})

    # ------------------------------------------------------------------ test side

    async def inject(self, request: Request) -> Response:
        """A person writes to the bot. JSON: user_id, display_name, text | image (base64) |
        kind ("sticker", "unsupported"), caption, chat_type, is_bot, event_name."""
        state = self.state
        data = await request.json()
        user_id = str(data.get("user_id") or secrets.token_hex(10))
        chat_id = str(data.get("chat_id") or user_id)
        message: dict[str, Any] = {
            "from": {
                "id": user_id,
                "display_name": str(data.get("display_name", "Người dùng")),
                "is_bot": bool(data.get("is_bot", False)),
            },
            "chat": {"id": chat_id, "chat_type": str(data.get("chat_type", "PRIVATE"))},
            "message_id": _message_id(),
            "date": _now_ms(),
        }
        kind = str(data.get("kind", ""))
        if data.get("image") is not None:
            content = base64.b64decode(data["image"])
            name = f"{secrets.token_hex(8)}.{data.get('extension', 'jpg')}"
            state.files[name] = (content, str(data.get("mime", "image/jpeg")))
            message["photo"] = f"{str(request.base_url).rstrip('/')}/_test/files/{name}"
            if data.get("caption"):
                message["caption"] = str(data["caption"])
            event = "message.image.received"
        elif kind == "sticker":
            message["sticker"] = "0e078a2fb66a5f34067b"
            message["url"] = "https://stickers.example/0e078a2fb66a5f34067b.png"
            event = "message.sticker.received"
        elif kind == "unsupported":
            event = "message.unsupported.received"
        else:
            message["text"] = str(data.get("text", ""))
            event = "message.text.received"
        update = {"event_name": str(data.get("event_name", event)), "message": message}
        state.known.add(chat_id)
        delivered: int | None = None
        if state.webhook_url:
            delivered = await self._deliver(update)
        else:
            state.queue.append(update)
            state.arrived.set()
        return _ok({"update": update, "webhook_status": delivered})

    async def _deliver(self, update: dict[str, Any]) -> int:
        state = self.state
        try:
            async with httpx.AsyncClient(timeout=10.0) as http:
                answer = await http.post(
                    state.webhook_url,
                    json={"ok": True, "result": update},
                    headers={SECRET_HEADER: state.webhook_secret},
                )
            status = answer.status_code
        except httpx.HTTPError:
            status = 0
        state.deliveries.append({"status": status, "update": update})
        return status

    async def sent(self, request: Request) -> Response:
        chat_id = request.query_params.get("chat_id")
        found = [m for m in self.state.sent if chat_id is None or m["chat_id"] == chat_id]
        return _ok(found)

    async def stats(self, request: Request) -> Response:
        state = self.state
        return _ok(
            {
                "sent": len(state.sent),  # cheap to poll, unlike the whole log
                "rate_limited": state.rate_limited,
                "unauthorized": state.unauthorized,
                "queued": len(state.queue),
                "polls": state.polls,
                "webhook_url": state.webhook_url,
                "deliveries": [d["status"] for d in state.deliveries],
            }
        )

    async def block(self, request: Request) -> Response:
        self.state.blocked.add(str((await request.json())["user_id"]))
        return _ok(True)

    async def unblock(self, request: Request) -> Response:
        self.state.blocked.discard(str((await request.json())["user_id"]))
        return _ok(True)

    async def config(self, request: Request) -> Response:
        data = await request.json()
        if "rate_limit_per_second" in data:
            rate = data["rate_limit_per_second"]
            self.state.rate_limit = float(rate) if rate else None
            self.state.window.clear()
        if "empty_poll" in data:
            self.state.empty_poll = "408" if str(data["empty_poll"]) == "408" else "empty"
        return _ok(True)

    async def reset(self, request: Request) -> Response:
        self.state.reset()
        return _ok(True)

    async def file(self, request: Request) -> Response:
        found = self.state.files.get(str(request.path_params["name"]))
        if found is None:
            return Response("not found", status_code=404)
        content, mime = found
        return Response(content, media_type=mime)


def bot_side(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    """Log records without the access log of uvicorn: the stand-in's own (it logs the path
    it was asked for, token included, as Zalo's side of the wire would), and the bot's
    servers keep theirs off."""
    return [record for record in records if record.name != "uvicorn.access"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _config(app: Any, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        ws="none",
        timeout_graceful_shutdown=2,
    )


class ZaloStandin:
    """The stand-in served by uvicorn in a background thread, on a free local port."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        rate_limit_per_second: float | None = None,
        empty_poll: EmptyPoll = "empty",
        port: int | None = None,
    ) -> None:
        self.token = token
        self.standin = StandinApp(token, rate_limit_per_second, empty_poll)
        self.port = port or free_port()
        self._server = uvicorn.Server(_config(self.standin.app, self.port))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ZaloStandin:
        # Server.run makes its own event loop; in a thread it installs no signal handlers.
        self._thread = threading.Thread(target=self._server.run, name="zalo-standin", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the Zalo stand-in did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


@contextlib.asynccontextmanager
async def serve_app(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn in the current event loop, on a free port; yields its
    base URL (the bot's side in tests: webhook and media routes)."""
    port = free_port()
    server = uvicorn.Server(_config(app, port))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the server did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class StandinControl:
    """The test side of a running stand-in, from async code."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    async def _post(self, path: str, data: dict[str, Any]) -> Any:
        async with httpx.AsyncClient(timeout=15.0) as http:
            answer = await http.post(f"{self.url}/_test/{path}", json=data)
        answer.raise_for_status()
        return answer.json()["result"]

    async def _get(self, path: str, **params: str) -> Any:
        async with httpx.AsyncClient(timeout=15.0) as http:
            answer = await http.get(f"{self.url}/_test/{path}", params=params)
        answer.raise_for_status()
        return answer.json()["result"]

    async def inject_text(self, user_id: str, text: str, **extra: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._post(
            "inject", {"user_id": user_id, "text": text, **extra}
        )
        return result

    async def inject_image(
        self, user_id: str, content: bytes, caption: str = "", **extra: Any
    ) -> dict[str, Any]:
        data = {"user_id": user_id, "image": base64.b64encode(content).decode(), **extra}
        if caption:
            data["caption"] = caption
        result: dict[str, Any] = await self._post("inject", data)
        return result

    async def inject(self, **data: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._post("inject", data)
        return result

    async def sent(self, chat_id: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await self._get(
            "sent", **({"chat_id": chat_id} if chat_id else {})
        )
        return found

    async def stats(self) -> dict[str, Any]:
        found: dict[str, Any] = await self._get("stats")
        return found

    async def block(self, user_id: str) -> None:
        await self._post("block", {"user_id": user_id})

    async def unblock(self, user_id: str) -> None:
        await self._post("unblock", {"user_id": user_id})

    async def configure(self, **data: Any) -> None:
        await self._post("config", data)

    async def reset(self) -> None:
        await self._post("reset", {})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A stand-in Zalo Bot API server for tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--rate-limit-per-second", type=float, default=None)
    parser.add_argument("--empty-poll", choices=["empty", "408"], default="empty")
    args = parser.parse_args(argv)
    standin = StandinApp(args.token, args.rate_limit_per_second, args.empty_poll)
    uvicorn.run(standin.app, host=args.host, port=args.port, log_level="warning", ws="none")


if __name__ == "__main__":
    main()
