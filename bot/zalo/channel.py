"""The Zalo adapter: a ZaloUpdate becomes the core's Incoming, the core's Outgoing becomes
Bot API calls, and Zalo's errors become the core's neutral ones. Nothing else.

What Zalo lacks, and what this does instead:

- no buttons: `buttons = False`, so the core writes choices as numbered lines to answer by
  typing; should a Text still carry choices, they are appended as "1. label" lines;
- no formatting we rely on: texts go as plain text (`to_plain`; a link as "label (URL)"),
  cut at 2,000 characters on line boundaries (handlers/split.py);
- pictures only as a URL the platform fetches: the PNG is published first (bot/media.py,
  `publish`) and sent with sendPhoto; a caption over 2,000 characters is cut, the rest
  follows as text;
- no documents: the file is published and its link sent as a text line
  "📄 name: URL" under the caption;
- incoming files are images only, as a URL on Zalo's CDN: the attachment's ref is
  `zalo:<url>`, its unique id the first 32 hex digits of the URL's SHA-256, its size 0
  (unknown until downloaded; `fetch` enforces `max_download`);
- stickers, voice and "unsupported" messages (what Zalo sends for protected users and for
  kinds it does not pass on) come back from `incoming` as `Unsupported`, so the wiring can
  answer politely that only text and pictures are understood.

Errors: 429 → RetryLater, 403 → Blocked, 400/404 → Rejected, 401 → Rejected with an error
log (the token is wrong or was reset), 408/5xx/no answer → Transient. A 429 carries no
retry-after on Zalo: the channel asks for 5 s, doubling with each 429 in a row up to 60 s,
back to 5 s after a send goes through. A message sent in several parts that fails half-way
raises for the part that failed; the parts before it were delivered.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
import mimetypes
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bot.zalo.client import (
    EVENT_IMAGE,
    TEXT_LIMIT,
    DownloadTooLarge,
    ZaloClient,
    ZaloError,
    ZaloNetworkError,
    ZaloUpdate,
)
from handlers.channel import Blocked, Pace, Rejected, RetryLater, Transient, Undeliverable
from handlers.i18n import to_plain
from handlers.io import Attachment, Choices, Document, Incoming, Outgoing, Picture, Text
from handlers.split import split_plain
from services.addresses import Address

log = logging.getLogger(__name__)

CHANNEL = "zalo"
REF_PREFIX = f"{CHANNEL}:"

# Publishes bytes at a public URL (MediaStore.put): content, file name, MIME type → URL.
Publish = Callable[[bytes, str, str], Awaitable[str]]

RETRY_FIRST_S = 5.0
RETRY_MAX_S = 60.0
_LINK_RE = re.compile(r"""<a\s[^>]*?href\s*=\s*(["'])(.*?)\1[^>]*>(.*?)</a>""", re.DOTALL)


def address(zalo_id: str) -> Address:
    return Address(CHANNEL, zalo_id)


@dataclass(frozen=True)
class ZaloPacing:
    """How fast the bot writes on Zalo. Zalo publishes no limits: these are conservative."""

    per_second: float = 10.0  # a batch (reminders) overall
    private_gap: float = 1.0  # seconds between two batch messages to one person
    group_gap: float = 3.0  # groups are not generally available on Zalo yet
    # Every send, replies included, never faster than this (replies are not paced by the
    # core; parts of one long message go out one after the other).
    ceiling_per_second: float = 15.0

    @property
    def pace(self) -> Pace:
        return Pace(self.per_second, self.private_gap, self.group_gap)


@dataclass(frozen=True)
class Unsupported:
    """A message the bot cannot read (a sticker, voice, a protected user's message, an
    unknown kind): the wiring answers that only text and pictures are understood."""

    sender: Address
    chat: Address
    private: bool
    full_name: str
    event_name: str
    update_id: str | None = None


def unique_id(url: str) -> str:
    """A stable id for a photo URL: names the stored copy, never the person's file name."""
    return hashlib.sha256(url.encode()).hexdigest()[:32]


def plain(body: str) -> str:
    """Safe HTML as Zalo text: a link keeps its address ("label (URL)"), since plain
    text cannot hide it behind the label; then tags dropped and entities decoded."""

    def spelled(match: re.Match[str]) -> str:
        url, label = html.unescape(match.group(2)), to_plain(match.group(3))
        return label if url in ("", label) else f"{label} ({url})"

    return to_plain(_LINK_RE.sub(lambda m: html.escape(spelled(m), quote=False), body))


def _choice_lines(options: Choices) -> list[str]:
    numbered = [choice for row in options for choice in row]
    return [f"{number}. {choice.label}" for number, choice in enumerate(numbered, start=1)]


class _Spacer:
    """Spaces calls at least 1/rate seconds apart (one process; cheap, no task)."""

    def __init__(self, per_second: float) -> None:
        self.gap = 1.0 / per_second if per_second > 0 else 0.0
        self._next = 0.0

    def delay(self) -> float:
        now = time.monotonic()
        at = max(now, self._next)
        self._next = at + self.gap
        return at - now


class ZaloChannel:
    """The core's Channel on the Zalo Bot Platform."""

    name = CHANNEL
    buttons = False
    text_limit = TEXT_LIMIT

    def __init__(
        self,
        client: ZaloClient,
        publish: Publish,
        *,
        max_download: int,
        pacing: ZaloPacing | None = None,
    ) -> None:
        self.client = client
        self.publish = publish
        self.max_download = max_download
        self.pacing = pacing or ZaloPacing()
        self.pace = self.pacing.pace
        # Chats seen as GROUP in an update. Zalo's chats are private today (groups are
        # "coming soon"); an address never seen is taken as private. Per process and not
        # persisted: enough while groups do not exist, to be revisited when they do.
        self._groups: set[str] = set()
        self._spacer = _Spacer(self.pacing.ceiling_per_second)
        self._retry_s = RETRY_FIRST_S

    def is_group(self, chat: Address) -> bool:
        return chat.id in self._groups

    # ------------------------------------------------------------------ incoming

    def incoming(self, update: ZaloUpdate) -> Incoming | Unsupported | None:
        """The neutral shape of an update; None for what nobody answers (a bot's message,
        an event without a message)."""
        message = update.message
        if message is None or message.sender.is_bot:
            return None
        private = message.chat.chat_type.upper() != "GROUP"
        if not private:
            self._groups.add(message.chat.id)
        sender, chat = address(message.sender.id), address(message.chat.id)
        full_name = message.sender.display_name or message.sender.id
        update_id = f"{CHANNEL}:{message.message_id}" if message.message_id else None
        if message.photo:
            uid = unique_id(message.photo)
            photo = Attachment(
                "photo", REF_PREFIX + message.photo, uid, f"{uid}.jpg", "image/jpeg", 0
            )
            text = message.caption or message.text or ""
            return Incoming(
                sender, chat, private, full_name, text=text, attachments=(photo,),
                update_id=update_id,
            )  # fmt: skip
        text = message.text or ""
        if text.strip() and update.event_name != EVENT_IMAGE:
            return Incoming(sender, chat, private, full_name, text=text, update_id=update_id)
        return Unsupported(sender, chat, private, full_name, update.event_name, update_id)

    # ------------------------------------------------------------------ sending

    async def _call(self, what: Callable[[], Awaitable[object]]) -> None:
        """One Bot API call, spaced, with Zalo's errors turned into the core's."""
        delay = self._spacer.delay()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            await what()
        except ZaloError as exc:
            raise self._undeliverable(exc) from None
        except ZaloNetworkError as exc:
            raise Transient(str(exc)) from None
        self._retry_s = RETRY_FIRST_S

    def _undeliverable(self, exc: ZaloError) -> Undeliverable:
        detail = str(exc)
        code = exc.code
        if code == 429:
            seconds = self._retry_s
            self._retry_s = min(self._retry_s * 2, RETRY_MAX_S)
            return RetryLater(detail, seconds)
        if code == 403:
            return Blocked(detail)
        if code == 401:
            log.error("Zalo refused the bot token (401): it is wrong or was reset (%s)", detail)
            return Rejected(detail)
        if code == 408 or code >= 500:
            return Transient(detail)
        return Rejected(detail)  # 400, 404 and anything undocumented

    async def _texts(self, chat_id: str, text: str) -> None:
        for part in split_plain(text, self.text_limit):
            await self._call(partial(self.client.send_message, chat_id, part))

    async def _published(self, content: bytes, filename: str, mime: str) -> str:
        try:
            return await self.publish(content, filename, mime)
        except OSError as exc:
            raise Transient(f"cannot publish {filename}: {exc}") from exc

    async def send(self, chat: Address, message: Outgoing, *, batch: bool = False) -> None:
        # `batch` needs nothing here: the core paces batches by `pace`, and every send
        # goes through the same spacing.
        chat_id = chat.id
        if isinstance(message, Text):
            text = plain(message.body)
            lines = _choice_lines(message.choices)
            if lines:
                text = "\n".join([text.rstrip(), "", *lines]) if text.strip() else "\n".join(lines)
            await self._texts(chat_id, text)
        elif isinstance(message, Picture):
            url = await self._published(message.png, "chart.png", "image/png")
            caption = plain(message.caption).strip()
            parts = split_plain(caption, self.text_limit) if caption else []
            first = parts[0] if parts else ""
            await self._call(partial(self.client.send_photo, chat_id, url, first))
            for rest in parts[1:]:
                await self._call(partial(self.client.send_message, chat_id, rest))
        elif isinstance(message, Document):
            mime = mimetypes.guess_type(message.filename)[0] or "application/octet-stream"
            url = await self._published(message.content, message.filename, mime)
            link = f"📄 {message.filename}: {url}"
            caption = plain(message.caption).strip()
            await self._texts(chat_id, f"{caption}\n\n{link}" if caption else link)

    async def typing(self, chat: Address) -> None:
        """Show "typing…" (best effort: a failure is only logged)."""
        try:
            await self.client.send_chat_action(chat.id, "typing")
        except (ZaloError, ZaloNetworkError) as exc:
            log.info("Zalo typing indicator failed: %s", exc)

    # ------------------------------------------------------------------ files

    async def fetch(self, attachment: Attachment, target: Path) -> None:
        if not attachment.ref.startswith(REF_PREFIX):
            raise Rejected(f"not a Zalo file reference: {attachment.ref[:20]}…")
        url = attachment.ref.removeprefix(REF_PREFIX)
        try:
            await self.client.download(url, target, self.max_download)
        except DownloadTooLarge as exc:
            raise Rejected(str(exc)) from None
        except ZaloError as exc:
            if exc.code >= 500:
                raise Transient(str(exc)) from None
            raise Rejected(str(exc)) from None  # the CDN link expired or never worked
        except ZaloNetworkError as exc:
            raise Transient(str(exc)) from None
