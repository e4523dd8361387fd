"""A thin async client of the Zalo Bot Platform API, on httpx: every wire-format fact about
Zalo lives in this module, so a change on Zalo's side is one edit.

Checked against the platform's published API pages (bot.zaloplatforms.com/docs,
docs.zaloplatforms.com/docs/BOT, as mirrored in public repositories, late 2025):

- endpoint `https://bot-api.zaloplatforms.com/bot<TOKEN>/<method>`; the token is
  `<bot_id>:<secret>` in the path, no auth header; methods are case-sensitive; every
  documented example is a POST with a JSON body (GET, form and query are also accepted);
- every answer is `{"ok": bool, "result": …}`, an error `{"ok": false, "error_code": int,
  "description": str}`; documented codes 400, 401, 403, 404, 408, 429 "Quota exceeded"
  (and 426 for testWebhook, which we do not call). The error table names 403 "Internal
  server error"; the channel still reads 403 on a send as "blocked", as the brief and
  Telegram's convention do — see bot/zalo/channel.py;
- `getMe` → `{id, account_name, account_type, can_join_groups}`;
- `getUpdates {timeout}` (seconds, default 30, documented as a string or a number) is a
  long poll that answers with ONE update as `result` (an object, not a list); no offset;
  refused while a webhook is set; "for local development";
- `setWebhook {url, secret_token (8-256 characters)}` → `{url, updated_at}`;
  `deleteWebhook`, `getWebhookInfo` → `{url, updated_at}`;
- `sendMessage {chat_id, text (1-2000 characters)}` and `sendPhoto {chat_id, photo (a URL
  the platform fetches), caption (≤ 2000)}` → `{message_id, date}`;
- `sendChatAction {chat_id, action: "typing"}` (`upload_photo` "coming soon");
- an update is `{event_name, message: {from: {id, display_name, is_bot}, chat: {id,
  chat_type: PRIVATE|GROUP}, text, message_id, date (milliseconds)}}`; events
  `message.text.received`, `message.image.received` (`photo`, `caption`),
  `message.sticker.received` (`sticker`, `url`), `message.unsupported.received`; newer
  pages add `message.voice.received` (`voice_url`).

Assumptions (not documented, or documented inconsistently; each is handled leniently):

- `photo` is a plain URL string in real payloads (third-party SDKs say so; one copy of the
  docs calls it `photo_url`; an object with a `url` is also accepted);
- an older sample names the sender `first_name` instead of `display_name`: both are read;
- ids are strings; a number is taken as its decimal string;
- a long poll that ends without an update answers either an empty `result` or the error
  408 (one open-source adapter treats 408 so): both mean "nothing yet";
- should `result` ever be a list, its updates are returned one per call, in order;
- rate limits are not published and a 429 carries no retry-after.

The token is a secret and the URL carries it: exceptions are built from the method name
(never from the URL) and scrubbed of the token; network errors are re-raised without
their httpx cause (whose request holds the URL). httpx logs each request URL at INFO: the
client adds a filter to the `httpx` logger that replaces the token, and the logging set-up
should keep `httpx` at WARNING anyway (bot/logs.py does).
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://bot-api.zaloplatforms.com"
TEXT_LIMIT = 2000  # sendMessage text and sendPhoto caption: 1-2000 characters
SECRET_HEADER = "X-Bot-Api-Secret-Token"
SECRET_MIN, SECRET_MAX = 8, 256
# Asked of getUpdates; the HTTP read waits this much longer before giving up.
POLL_GRACE_S = 10.0
REDACTED = "<token>"

EVENT_TEXT = "message.text.received"
EVENT_IMAGE = "message.image.received"
EVENT_STICKER = "message.sticker.received"
EVENT_UNSUPPORTED = "message.unsupported.received"


class ZaloError(Exception):
    """The platform answered `ok: false` (or an HTTP error without a JSON body)."""

    def __init__(self, method: str, code: int, description: str) -> None:
        super().__init__(f"Zalo {method}: {code} {description}")
        self.method = method
        self.code = code
        self.description = description


class ZaloNetworkError(Exception):
    """No answer: a connection error or a time-out (worth another try)."""

    def __init__(self, method: str, detail: str) -> None:
        super().__init__(f"Zalo {method}: {detail}")
        self.method = method
        self.detail = detail


class DownloadTooLarge(Exception):
    """A download went over its size limit; the partial file was deleted."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"download larger than {limit} bytes")
        self.limit = limit


class _Model(BaseModel):
    # Zalo adds fields without notice: extra fields are ignored, never an error.
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, populate_by_name=True)


class ZaloUser(_Model):
    id: str
    display_name: str = Field(
        default="", validation_alias=AliasChoices("display_name", "first_name", "name")
    )
    is_bot: bool = False


class ZaloChat(_Model):
    id: str
    chat_type: str = "PRIVATE"  # "PRIVATE" or "GROUP"; anything else is kept as it is


class ZaloMessage(_Model):
    sender: ZaloUser = Field(validation_alias=AliasChoices("from", "sender"))
    chat: ZaloChat
    message_id: str = ""
    date: int = 0  # milliseconds since the epoch
    text: str | None = None
    photo: str | None = Field(default=None, validation_alias=AliasChoices("photo", "photo_url"))
    caption: str | None = None
    sticker: str | None = None

    @field_validator("photo", mode="before")
    @classmethod
    def _photo_url(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return value.get("url") or value.get("photo_url") or None
        if isinstance(value, list):  # sizes, largest last, as on Telegram
            urls = [cls._photo_url(item) for item in value]
            return next((url for url in reversed(urls) if isinstance(url, str)), None)
        return value

    @field_validator("sticker", mode="before")
    @classmethod
    def _sticker_id(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return str(value.get("id") or value.get("file_id") or value.get("url") or "")
        return value

    @field_validator("date", mode="before")
    @classmethod
    def _date(cls, value: Any) -> Any:
        return 0 if value in (None, "") else value


class ZaloUpdate(_Model):
    event_name: str = ""
    message: ZaloMessage | None = None  # None for an event that carries no message


class BotInfo(_Model):
    id: str
    account_name: str = ""
    account_type: str = ""
    can_join_groups: bool = False


class WebhookInfo(_Model):
    url: str = ""
    updated_at: int = 0


class SentMessage(_Model):
    message_id: str = ""
    date: int = 0


def parse_update(data: Any) -> ZaloUpdate:
    """An update from its JSON: `{"ok": true, "result": {...}}` as documented, or bare.
    Raises ValueError for what is not an update."""
    if isinstance(data, dict) and "result" in data and "event_name" not in data:
        data = data["result"]
    if not isinstance(data, dict):
        raise ValueError("an update is a JSON object")
    if not isinstance(data.get("event_name"), str) or not data["event_name"]:
        raise ValueError("an update names its event (event_name)")
    try:
        return ZaloUpdate.model_validate(data)
    except ValidationError as exc:
        # Only the places and kinds of the faults: the values are a person's messages.
        faults = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['type']}" for e in exc.errors()
        )
        raise ValueError(f"not a Zalo update ({faults})") from None


class RedactTokenFilter(logging.Filter):
    """Replaces the token (as written and as percent-encoded in a URL) in log records."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.forms = tuple({token, quote(token, safe=""), quote(token)} - {""})

    def scrub(self, text: str) -> str:
        for form in self.forms:
            text = text.replace(form, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = self.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


class ZaloClient:
    """One bot's calls to the Zalo Bot API. Use `async with`, or call `aclose()`."""

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not token or "/" in token:
            raise ValueError("a Zalo bot token is '<bot_id>:<secret>'")
        self._token = token
        self._root = f"{base_url.rstrip('/')}/bot{token}/"
        self._timeout = timeout
        self._http = httpx.AsyncClient(
            transport=transport, timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0))
        )
        self._pending: list[ZaloUpdate] = []
        self._redact = RedactTokenFilter(token)
        # httpx logs "HTTP Request: POST https://…/bot<TOKEN>/…" at INFO.
        logging.getLogger("httpx").addFilter(self._redact)

    async def __aenter__(self) -> ZaloClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        logging.getLogger("httpx").removeFilter(self._redact)

    def redact(self, text: str) -> str:
        """`text` without this client's token (for anything that might echo a URL)."""
        return self._redact.scrub(text)

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        read_timeout: float | None = None,
    ) -> Any:
        """POST `params` as JSON to `method`; the `result`, or ZaloError/ZaloNetworkError."""
        timeout = (
            httpx.Timeout(self._timeout, read=read_timeout)
            if read_timeout is not None
            else httpx.USE_CLIENT_DEFAULT
        )
        try:
            response = await self._http.post(
                self._root + method, json=params or {}, timeout=timeout
            )
        except httpx.TimeoutException:
            raise ZaloNetworkError(method, "timed out") from None
        except httpx.HTTPError as exc:
            # The cause is dropped on purpose: its request (and traceback) holds the URL.
            raise ZaloNetworkError(method, self.redact(f"{type(exc).__name__}: {exc}")) from None
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "ok" not in body:
            if response.is_success:
                raise ZaloError(method, response.status_code, "answer is not a Zalo response")
            raise ZaloError(method, response.status_code, response.reason_phrase or "HTTP error")
        if body.get("ok") is not True:
            code = body.get("error_code")
            code = code if isinstance(code, int) else response.status_code
            description = str(body.get("description") or response.reason_phrase or "error")
            raise ZaloError(method, code, self.redact(description))
        return body.get("result")

    async def get_me(self) -> BotInfo:
        return BotInfo.model_validate(await self.call("getMe"))

    async def get_updates(self, timeout_s: float = 30.0) -> ZaloUpdate | None:
        """Wait up to `timeout_s` for the next update; None when none came."""
        if self._pending:
            return self._pending.pop(0)
        try:
            result = await self.call(
                "getUpdates",
                {"timeout": str(int(timeout_s))},
                read_timeout=timeout_s + POLL_GRACE_S,
            )
        except ZaloError as exc:
            if exc.code == 408:  # the long poll ended without an update
                return None
            raise
        if not result:
            return None
        if isinstance(result, list):
            updates = [parse_update(item) for item in result]
            self._pending.extend(updates[1:])
            return updates[0]
        return parse_update(result)

    async def set_webhook(self, url: str, secret_token: str) -> WebhookInfo:
        if not SECRET_MIN <= len(secret_token) <= SECRET_MAX:
            raise ValueError(f"secret_token must be {SECRET_MIN}-{SECRET_MAX} characters")
        result = await self.call("setWebhook", {"url": url, "secret_token": secret_token})
        return WebhookInfo.model_validate(result or {})

    async def delete_webhook(self) -> WebhookInfo:
        return WebhookInfo.model_validate(await self.call("deleteWebhook") or {})

    async def get_webhook_info(self) -> WebhookInfo:
        return WebhookInfo.model_validate(await self.call("getWebhookInfo") or {})

    async def send_message(self, chat_id: str, text: str) -> SentMessage:
        result = await self.call("sendMessage", {"chat_id": chat_id, "text": text})
        return SentMessage.model_validate(result or {})

    async def send_photo(self, chat_id: str, photo_url: str, caption: str = "") -> SentMessage:
        params: dict[str, Any] = {"chat_id": chat_id, "photo": photo_url}
        if caption:  # the caption is 1-2000 characters when given
            params["caption"] = caption
        return SentMessage.model_validate(await self.call("sendPhoto", params) or {})

    async def send_chat_action(self, chat_id: str, action: Literal["typing"] = "typing") -> None:
        await self.call("sendChatAction", {"chat_id": chat_id, "action": action})

    async def download(self, url: str, target: Path, max_bytes: int) -> int:
        """Stream `url` (a photo a person sent) into `target`; the number of bytes.

        Written to a temporary file beside `target` and renamed when complete, so `target`
        never holds half a file; over `max_bytes` the download stops, the partial file is
        deleted and DownloadTooLarge is raised. The URL is never logged (a CDN URL may be
        signed)."""
        partial = target.with_name(f".{target.name}.{os.getpid()}.part")
        size = 0
        try:
            async with self._http.stream("GET", url) as response:
                if not response.is_success:
                    raise ZaloError("download", response.status_code, "file not available")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise DownloadTooLarge(max_bytes)
                handle = await asyncio.to_thread(partial.open, "wb")
                try:
                    async for chunk in response.aiter_bytes(64 * 1024):
                        size += len(chunk)
                        if size > max_bytes:
                            raise DownloadTooLarge(max_bytes)
                        await asyncio.to_thread(handle.write, chunk)
                finally:
                    await asyncio.to_thread(handle.close)
            await asyncio.to_thread(partial.replace, target)
        except httpx.TimeoutException:
            raise ZaloNetworkError("download", "timed out") from None
        except httpx.HTTPError as exc:
            raise ZaloNetworkError("download", type(exc).__name__) from None
        finally:
            if partial.exists():
                partial.unlink()
        return size
