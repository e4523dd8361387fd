"""Telegram's rate limits, shared by replies and scheduled batches, in one limiter of ours.

Telegram allows about 30 messages/s overall, 20/min in a group and about 1/s in a private
chat (short bursts are tolerated). PTB's AIORateLimiter has no private-chat limit and, on a
RetryAfter, halts *every* request: right for a reply, wrong for a batch of 3,000 reminders,
where one flood answer would freeze the replies to everyone. So:

- every request that names a chat passes the overall limiter, and a group's (20/min);
- a batch's message to a private chat also passes that chat's limiter (1/s). A reply does
  not: it answers someone who just wrote, and a guided step answered quickly must not wait;
- a reply retries a RetryAfter here, after the time Telegram asks, and a network error, a
  time-out, a 5xx or a spoilt answer after 0.5, 1, 2 s (each fault was logged where it was
  met, bot/telegram/request.py). A time-out Telegram did act on may show the reply twice:
  better than not at all, and the work behind it is never done twice (it was committed
  before the reply);
- a request of a batch is marked with `rate_limit_args={"batch": True}` (handlers/delivery
  through bot/telegram/channel.py) and gets the RetryAfter at once: the batch pauses itself.
  Until that time has passed, no other batch request goes out either: the batch's other
  workers may already be past their turn (waiting here for a chat's slot), and sending
  them would only earn more 429s. Replies are not held.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

JSONDict = dict[str, Any]
CHATS_KEPT = 10_000  # per-chat limiters kept; idle ones are dropped beyond this


def retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        # PTB 22 warns that retry_after becomes a timedelta; either form is read here.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def is_group_id(chat_id: object) -> bool:
    """Telegram's group and channel ids are negative (or @names); people's are positive."""
    if isinstance(chat_id, str):
        return not chat_id.lstrip("-").isdigit() or chat_id.startswith("-")
    return isinstance(chat_id, int) and chat_id < 0


class Limiter(BaseRateLimiter[JSONDict]):
    """Overall, per-group and per-private-chat limits; replies retry, batches do not."""

    def __init__(
        self,
        *,
        overall_per_second: float = 30.0,
        group_per_minute: float = 20.0,
        private_per_second: float = 1.0,
        max_retries: int = 3,
        network_backoff: float = 0.5,
    ) -> None:
        self.overall = AsyncLimiter(overall_per_second, 1)
        # How a batch's pause is waited out; tests put a fake clock here.
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self.now: Callable[[], float] | None = None  # None: the event loop's clock
        self.network_backoff = network_backoff
        self.group_per_minute = group_per_minute
        self.private_per_second = private_per_second
        self.max_retries = max_retries
        self._chats: dict[str, AsyncLimiter] = {}
        self._batch_until = 0.0  # loop time before which no batch request goes out

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    def _chat(self, chat_id: object) -> AsyncLimiter:
        key = str(chat_id)
        found = self._chats.get(key)
        if found is None:
            if len(self._chats) >= CHATS_KEPT:
                self._chats = {k: v for k, v in self._chats.items() if not v.has_capacity()}
            if is_group_id(chat_id):
                found = AsyncLimiter(self.group_per_minute, 60)
            else:
                found = AsyncLimiter(1, 1 / self.private_per_second)
            self._chats[key] = found
        return found

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: JSONDict | None,
    ) -> bool | JSONDict | list[JSONDict]:
        batch = bool(rate_limit_args and rate_limit_args.get("batch"))
        chat_id = data.get("chat_id")
        attempt = failures = 0
        loop = asyncio.get_running_loop()
        now = self.now or loop.time
        while True:
            async with contextlib.AsyncExitStack() as stack:
                if chat_id is not None:
                    await stack.enter_async_context(self.overall)
                    if batch or is_group_id(chat_id):
                        await stack.enter_async_context(self._chat(chat_id))
                held = self._batch_until - now() if batch else 0.0
                if held > 0:
                    await self.sleep(held)
                try:
                    return await callback(*args, **kwargs)
                except RetryAfter as exc:
                    if batch:
                        self._batch_until = max(self._batch_until, now() + retry_seconds(exc))
                    if batch or attempt >= self.max_retries:
                        raise
                    attempt += 1
                    wait = retry_seconds(exc)
                except BadRequest:  # a NetworkError in PTB, but Telegram's final word
                    raise
                except NetworkError:
                    # A batch retries on its own schedule (handlers/delivery); a request
                    # naming no chat (start-up, polling) is PTB's to retry.
                    if batch or chat_id is None or failures >= self.max_retries:
                        raise
                    wait = self.network_backoff * 2**failures
                    failures += 1
            await asyncio.sleep(wait)
