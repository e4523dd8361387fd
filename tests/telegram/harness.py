"""Drive the real Application through `process_update`, with a BaseRequest that records what
the bot sends instead of calling Telegram (the idea of PTB's tests/auxil/networking.py)."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from telegram import Update
from telegram.request import BaseRequest, RequestData

from bot.telegram.app import ThiduaApp
from bot.telegram.updates import PerPersonUpdates

BOT_ID = 5_000_000
BOT_USERNAME = "thidua_test_bot"
FILE_CONTENT = b"%PDF-1.4 evidence"


@dataclass
class Sent:
    method: str
    params: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))


@dataclass
class RecordingRequest(BaseRequest):
    calls: list[Sent] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        if "/file/bot" in url:
            self.downloads.append(url)
            return 200, FILE_CONTENT
        name = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        self.calls.append(Sent(name, params))
        return 200, json.dumps({"ok": True, "result": self._result(name, params)}).encode()

    def _result(self, name: str, params: dict[str, Any]) -> Any:
        if name == "getMe":
            return {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Thi Đua Bot",
                "username": BOT_USERNAME,
            }
        if name == "getFile":
            return {
                "file_id": params["file_id"],
                "file_unique_id": f"u-{params['file_id']}",
                "file_size": len(FILE_CONTENT),
                "file_path": f"documents/{params['file_id']}.pdf",
            }
        if name.startswith("send"):
            # sendMessage, sendPhoto, sendDocument…: Telegram answers with the Message.
            chat_id = int(params["chat_id"])
            return {
                "message_id": next(self._ids),
                "date": 0,
                "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
                "text": params.get("text", ""),
            }
        return True

    def sent(self, method: str = "sendMessage") -> list[Sent]:
        return [c for c in self.calls if c.method == method]

    def texts_to(self, chat_id: int) -> list[str]:
        return [c.text for c in self.sent() if int(c.params["chat_id"]) == chat_id]

    def clear(self) -> None:
        self.calls.clear()

    def buttons(self) -> list[str]:
        """The callback data of the buttons under the last message sent."""
        markup = self.sent()[-1].params.get("reply_markup") or {}
        rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
        return [b.get("callback_data", "") for row in rows for b in row]


async def settle(app: ThiduaApp) -> None:
    """Wait until every update put on `app.update_queue` has been handled: taken off the
    queue by PTB, then run in its lane by our processor (bot/telegram/updates.py)."""
    await app.update_queue.join()
    processor = app.update_processor
    if isinstance(processor, PerPersonUpdates):
        await processor.join()


_update_ids = itertools.count(1)


def _user(user_id: int, name: str) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": name, "language_code": "vi"}


def _chat(chat_id: int, user_id: int, name: str) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": name}
    return {"id": chat_id, "type": "supergroup", "title": "Cụm thi đua"}


def message(
    app: ThiduaApp,
    user_id: int,
    text: str,
    *,
    chat_id: int | None = None,
    name: str = "Nguyễn Văn An",
    when: datetime | None = None,
) -> Update:
    """A text message (a command when it starts with /) from a user."""
    chat = chat_id if chat_id is not None else user_id
    data: dict[str, Any] = {
        "update_id": next(_update_ids),
        "message": {
            "message_id": next(_update_ids),
            "date": int(when.timestamp()) if when else 0,
            "chat": _chat(chat, user_id, name),
            "from": _user(user_id, name),
            "text": text,
        },
    }
    if text.startswith("/"):
        command = text.split()[0]
        data["message"]["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return Update.de_json(data, app.bot)


def button(app: ThiduaApp, user_id: int, data: str, *, name: str = "Nguyễn Văn An") -> Update:
    """A press on an inline button in the user's private chat."""
    payload = {
        "update_id": next(_update_ids),
        "callback_query": {
            "id": str(next(_update_ids)),
            "from": _user(user_id, name),
            "chat_instance": "1",
            "data": data,
            "message": {
                "message_id": next(_update_ids),
                "date": 0,
                "chat": _chat(user_id, user_id, name),
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Thi Đua Bot"},
                "text": "…",
            },
        },
    }
    return Update.de_json(payload, app.bot)


def bot_added_to_group(app: ThiduaApp, chat_id: int, by_user: int) -> Update:
    bot_user = {"id": BOT_ID, "is_bot": True, "first_name": "Thi Đua Bot"}
    payload = {
        "update_id": next(_update_ids),
        "my_chat_member": {
            "chat": _chat(chat_id, by_user, "x"),
            "from": _user(by_user, "Chủ tịch"),
            "date": 0,
            "old_chat_member": {"status": "left", "user": bot_user},
            "new_chat_member": {"status": "member", "user": bot_user},
        },
    }
    return Update.de_json(payload, app.bot)


def document(
    app: ThiduaApp,
    user_id: int,
    file_name: str,
    *,
    size: int = 1000,
    caption: str | None = None,
    name: str = "Nguyễn Văn An",
) -> Update:
    """A document sent in the user's private chat, optionally with a caption."""
    file_id = f"doc{next(_update_ids)}"
    data: dict[str, Any] = {
        "update_id": next(_update_ids),
        "message": {
            "message_id": next(_update_ids),
            "date": 0,
            "chat": _chat(user_id, user_id, name),
            "from": _user(user_id, name),
            "document": {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "file_name": file_name,
                "mime_type": "application/pdf",
                "file_size": size,
            },
        },
    }
    if caption is not None:
        data["message"]["caption"] = caption
    return Update.de_json(data, app.bot)


def photo(app: ThiduaApp, user_id: int, *, name: str = "Nguyễn Văn An") -> Update:
    """A photo (three sizes, as Telegram sends them) in the user's private chat."""
    file_id = f"photo{next(_update_ids)}"
    sizes = [
        {
            "file_id": f"{file_id}-{w}",
            "file_unique_id": f"u-{file_id}-{w}",
            "width": w,
            "height": w,
            "file_size": w * 100,
        }
        for w in (90, 320, 1280)
    ]
    data: dict[str, Any] = {
        "update_id": next(_update_ids),
        "message": {
            "message_id": next(_update_ids),
            "date": 0,
            "chat": _chat(user_id, user_id, name),
            "from": _user(user_id, name),
            "photo": sizes,
        },
    }
    return Update.de_json(data, app.bot)


@dataclass
class FlakyRequest(RecordingRequest):
    """A RecordingRequest that answers like Telegram under trouble, for chosen chats: 403 for
    a user who blocked the bot, 429 (RetryAfter) or a time-out a given number of times, and
    "migrated" for a group that became a supergroup."""

    blocked: set[int] = field(default_factory=set)
    throttled: dict[int, int] = field(default_factory=dict)  # chat -> 429s still to answer
    timeouts: dict[int, int] = field(default_factory=dict)  # chat -> time-outs still to raise
    migrated: dict[int, int] = field(default_factory=dict)  # group -> its new supergroup id
    retry_after: int = 7
    refused: list[Sent] = field(default_factory=list)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1]
        params: dict[str, Any] = dict(request_data.parameters) if request_data else {}
        chat = int(params["chat_id"]) if name.startswith("send") and "chat_id" in params else None
        if chat is not None and chat in self.blocked:
            self.refused.append(Sent(name, params))
            body = {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked"}
            return 403, json.dumps(body).encode()
        if chat is not None and self.throttled.get(chat, 0) > 0:
            self.throttled[chat] -= 1
            self.refused.append(Sent(name, params))
            body = {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {self.retry_after}",
                "parameters": {"retry_after": self.retry_after},
            }
            return 429, json.dumps(body).encode()
        if chat is not None and chat in self.migrated:
            self.refused.append(Sent(name, params))
            body = {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: group chat was upgraded to a supergroup chat",
                "parameters": {"migrate_to_chat_id": self.migrated[chat]},
            }
            return 400, json.dumps(body).encode()
        if chat is not None and self.timeouts.get(chat, 0) > 0:
            from telegram.error import TimedOut  # here: the harness above stays as it was

            self.timeouts[chat] -= 1
            self.refused.append(Sent(name, params))
            raise TimedOut("simulated time-out")
        return await super().do_request(
            url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
        )
