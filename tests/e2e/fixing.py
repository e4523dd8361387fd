"""A response-fixing request for the `telegram-test-api` emulator. Tests only.

The emulator departs from the Bot API in ways python-telegram-bot rejects. This request sends
every call to the emulator over real HTTP and bridges the differences on the way back, so the
bot runs its production code unchanged:

- getMe lacks `is_bot`; message dates are in milliseconds; a sent message has no `from` and
  every chat is "private"; updates carry the emulator's `botToken` field;
- callback queries have no `chat_instance`; edits, callback answers and setWebhook answer
  `null` where the Bot API answers `true` (or the Message);
- getUpdates answers at once (no long polling), so an empty answer waits a little here, as a
  real long poll would, instead of spinning;
- methods it does not know (setMyCommands, getFile, sendDocument, sendPhoto, …) answer 500.
  Those are answered here instead: sent files are written to an outbox directory (that is
  how tests check files), getFile and file downloads are served from a fixtures directory.

Every method called is appended to a JSON-lines log, so tests can see what the bot asked for
(setWebhook's secret and allowed updates, the first getUpdates that marks start-up, …).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

from telegram.request import HTTPXRequest, RequestData

from bot.telegram.request import BotRequest

BOT_USER = {"id": 666, "is_bot": True, "first_name": "Test First name", "username": "TestNameBot"}
# Methods whose payload carries files: the emulator cannot take them.
FILE_METHODS = frozenset(
    {
        "sendDocument",
        "sendPhoto",
        "sendMediaGroup",
        "sendAudio",
        "sendVideo",
        "sendAnimation",
        "sendVoice",
    }
)
# An empty getUpdates waits this long before answering (the emulator answers at once).
IDLE_POLL_S = 0.05


def _seconds(value: Any) -> Any:
    """Dates in milliseconds (anything after the year 5138 in seconds) back to seconds."""
    if isinstance(value, int | float) and value > 10**11:
        return int(value // 1000)
    return value


def _fix_message(message: dict[str, Any]) -> dict[str, Any]:
    message.pop("botToken", None)
    if "date" in message:
        message["date"] = _seconds(message["date"])
    else:
        message["date"] = int(time.time())
    chat = message.get("chat")
    if isinstance(chat, dict) and int(chat.get("id", 0)) < 0:
        chat["type"] = "supergroup"
        chat.setdefault("title", "Group")
    return message


def _fix_sent(message: dict[str, Any]) -> dict[str, Any]:
    """The Message the emulator returns for a sendMessage: add what the Bot API has."""
    message = _fix_message(message)
    message.setdefault("from", dict(BOT_USER))
    # The emulator echoes the request's fields (chat_id, parse_mode…); they are not Message
    # fields, and PTB would only carry them along as api_kwargs.
    for key in ("chat_id", "parse_mode", "link_preview_options", "disable_notification"):
        message.pop(key, None)
    if isinstance(message.get("reply_markup"), str):
        message["reply_markup"] = json.loads(message["reply_markup"])
    return message


def _fix_update(update: dict[str, Any]) -> dict[str, Any]:
    if isinstance(update.get("message"), dict):
        update["message"] = _fix_message(update["message"])
    query = update.get("callback_query")
    if isinstance(query, dict):
        message = query.get("message")
        if isinstance(message, dict):
            query["message"] = _fix_message(message)
            query.setdefault("chat_instance", str(message.get("chat", {}).get("id", 0)))
        else:
            query.setdefault("chat_instance", "0")
    return update


class FixingRequest(BotRequest):
    """The bot's own request (bot/telegram/request.py) with telegram-test-api's departures
    from the Bot API bridged in its HTTP exchange, below the bot's fault checks."""

    def __init__(
        self,
        *,
        calls_log: Path | None = None,
        outbox: Path | None = None,
        fixtures: Path | None = None,
    ) -> None:
        # One request object serves both getUpdates and every other call: give it enough
        # connections that a poll never makes a reply wait for the pool.
        # E2E_READ_TIMEOUT: the fault tests shorten it, so a held call times out quickly.
        read_timeout = float(os.environ.get("E2E_READ_TIMEOUT") or 10.0)
        super().__init__(connection_pool_size=8, read_timeout=read_timeout)
        self.calls_log = calls_log
        self.outbox = outbox
        self.fixtures = fixtures
        self._ids = itertools.count(10_000_000)
        self._webhook: dict[str, Any] = {}

    @classmethod
    def from_env(cls) -> FixingRequest:
        """Configured by the e2e harness through E2E_CALLS_LOG, E2E_OUTBOX, E2E_FIXTURES."""

        def path(name: str) -> Path | None:
            value = os.environ.get(name)
            return Path(value) if value else None

        return cls(
            calls_log=path("E2E_CALLS_LOG"),
            outbox=path("E2E_OUTBOX"),
            fixtures=path("E2E_FIXTURES"),
        )

    def _log(self, method: str, params: dict[str, Any]) -> None:
        if self.calls_log is None:
            return
        line = json.dumps({"method": method, "params": params, "at": time.time()}, default=str)
        # One write on an O_APPEND descriptor: a test reading the log never sees half a line.
        fd = os.open(self.calls_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)

    async def exchange(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        write_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        connect_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        pool_timeout: Any = HTTPXRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if "/file/bot" in url:
            return self._download(url)
        name = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        self._log(name, params)
        if name in FILE_METHODS:
            return self._ok(self._keep_files(name, params, request_data))
        if name == "getFile":
            return self._ok(self._file_info(str(params["file_id"])))
        if name == "getWebhookInfo":
            return self._ok(
                {
                    "url": self._webhook.get("url", ""),
                    "has_custom_certificate": False,
                    "pending_update_count": 0,
                }
            )
        code, payload = await super().exchange(
            url,
            method,
            request_data,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )
        if code == 500 and b"is not supported" in payload:
            # setMyCommands, sendChatAction, pinChatMessage…: Telegram answers True.
            return self._ok(True)
        if code != 200:
            return code, payload
        try:
            answer = json.loads(payload)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or "ok" not in answer:
            # A spoilt answer (the fault proxy's): the bot's own request must meet it as is.
            return code, payload
        result = answer.get("result")
        if name == "getMe" and isinstance(result, dict):
            result = {**BOT_USER, **result, "is_bot": True}
        elif name == "getUpdates" and isinstance(result, list):
            result = [_fix_update(u) for u in result]
            if not result:
                await asyncio.sleep(IDLE_POLL_S)
        elif isinstance(result, dict) and "message_id" in result:
            result = _fix_sent(result)
        elif result is None:
            if name == "setWebhook":
                self._webhook = params
            result = True
        return self._ok(result)

    @staticmethod
    def _ok(result: Any) -> tuple[int, bytes]:
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def _keep_files(
        self, method: str, params: dict[str, Any], request_data: RequestData | None
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Write the files of a send* call to the outbox and answer with a Message."""
        message_id = next(self._ids)
        names: list[str] = []
        if self.outbox is not None and request_data is not None:
            self.outbox.mkdir(parents=True, exist_ok=True)
            for field_name, (file_name, content, _mime) in request_data.multipart_data.items():
                shown = file_name or field_name
                target = self.outbox / f"{message_id}-{shown}"
                target.write_bytes(content if isinstance(content, bytes) else content.read())
                names.append(shown)
            meta = {"method": method, "params": params, "files": names}
            # Written under another name, then renamed: a test never reads half of it.
            partial = self.outbox / f"{message_id}.json.partial"
            partial.write_text(json.dumps(meta, default=str, ensure_ascii=False), "utf-8")
            partial.rename(self.outbox / f"{message_id}.json")
        chat_id = int(params.get("chat_id", 0))
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "from": dict(BOT_USER),
        }
        if "caption" in params:
            message["caption"] = params["caption"]
        if method == "sendDocument":
            message["document"] = {
                "file_id": f"out-{message_id}",
                "file_unique_id": f"out-{message_id}",
                "file_name": names[0] if names else "document",
            }
        if method == "sendMediaGroup":
            return [{**message, "media_group_id": str(message_id)}]
        return message

    def _file_info(self, file_id: str) -> dict[str, Any]:
        size = 0
        if self.fixtures is not None and (self.fixtures / file_id).is_file():
            size = (self.fixtures / file_id).stat().st_size
        return {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_size": size,
            "file_path": f"documents/{file_id}",
        }

    def _download(self, url: str) -> tuple[int, bytes]:
        file_id = url.rsplit("/", 1)[-1]
        if self.fixtures is None or not (self.fixtures / file_id).is_file():
            return 404, b'{"ok": false, "error_code": 404, "description": "Not Found"}'
        self._log("download", {"file_id": file_id})
        return 200, (self.fixtures / file_id).read_bytes()
