"""Bot API requests: PTB's HTTPXRequest, plus one line in the log for every fault it meets.

Everything the Bot API can do to a call short of answering it — 429, a 5xx, a time-out, a
reset connection, an answer that is not the Bot API's JSON — is logged here, once, with
the method and the cause. The layers above decide what to do (the rate limiter retries a
reply, a reminder batch pauses or backs off, polling tries again) and log only their
decision, so one fault is one line and never a traceback.

PTB itself leaves two holes, closed here:

- an answer of 200 that is not JSON makes PTB log a traceback ("Can not load invalid JSON
  data") and raise a bare TelegramError, which reads as "refused" (not worth retrying);
  JSON without `ok`/`result` raises a KeyError out of `Bot.send_message`. Both are a
  `BadAnswer` here: a NetworkError, retried like one, since a middlebox garbled it;
- for an error status with a body that is not JSON (an nginx page on a 502), PTB logs the
  same traceback before raising its NetworkError; here it does not.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.request import HTTPXRequest, RequestData

log = logging.getLogger(__name__)

FAULT = "Bot API fault"
SHOWN = 120  # bytes of a spoilt answer quoted in the log


class BadAnswer(NetworkError):
    """The Bot API answered 200 with something that is not its JSON answer."""


def _quote(payload: bytes) -> str:
    text = payload[:SHOWN].decode("utf-8", "replace")
    return " ".join(text.split()) + ("…" if len(payload) > SHOWN else "")


def _cause(exc: BaseException) -> str:
    """What went wrong, to the root: PTB's "httpx.ReadError: " alone says nothing of the
    reset connection underneath it."""
    root = exc
    while root.__cause__ is not None or root.__context__ is not None:
        root = root.__cause__ or root.__context__  # type: ignore[assignment]
    return str(exc) if root is exc else f"{exc} ({root!r})"


def _unreadable(payload: bytes) -> str | None:
    """Why a 2xx answer cannot be the Bot API's, or None when it can."""
    try:
        answer = json.loads(payload.decode("utf-8", "replace"))
    except ValueError:
        return "the answer is not JSON"
    if not isinstance(answer, dict) or "ok" not in answer:
        return "the answer has no 'ok'"
    if answer["ok"] is True and "result" not in answer:
        return "the answer has no 'result'"
    return None


class BotRequest(HTTPXRequest):
    """HTTPXRequest that logs each fault once and turns a spoilt answer into a NetworkError."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        write_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        connect_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        pool_timeout: Any = HTTPXRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        # The last part of the URL is the method; the rest carries the token.
        name = url.rsplit("/", 1)[-1]
        try:
            code, payload = await self.exchange(
                url,
                method,
                request_data,
                read_timeout=read_timeout,
                write_timeout=write_timeout,
                connect_timeout=connect_timeout,
                pool_timeout=pool_timeout,
            )
        except TimedOut as exc:
            # Its root is a cancelled scope, which says nothing more.
            log.warning("%s: %s timed out: no answer within the time-out (%s)", FAULT, name, exc)
            raise
        except NetworkError as exc:
            log.warning("%s: %s: %s", FAULT, name, _cause(exc))
            raise
        if code == 429 or code >= 500:
            log.warning("%s: %s answered %d: %s", FAULT, name, code, _quote(payload))
        elif 200 <= code <= 299 and method == "POST":  # a file download (GET) is bytes
            why = _unreadable(payload)
            if why is not None:
                log.warning("%s: %s: %s: %s", FAULT, name, why, _quote(payload))
                raise BadAnswer(f"{why}: {_quote(payload)}")
        return code, payload

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
        """One HTTP exchange with the Bot API, below the checks above (the e2e tier bridges
        its emulator's departures from the Bot API here)."""
        return await super().do_request(
            url,
            method,
            request_data,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )

    @staticmethod
    def parse_json_payload(payload: bytes) -> dict[str, Any]:
        # Reached with a body that is not JSON only for an error status, already logged
        # above: PTB's own version would add a traceback to that line.
        try:
            parsed: dict[str, Any] = json.loads(payload.decode("utf-8", "replace"))
        except ValueError as exc:
            raise TelegramError("Invalid server response") from exc
        return parsed
