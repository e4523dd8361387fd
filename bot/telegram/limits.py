"""Telegram's rate limits, shared by replies and scheduled batches, in one limiter of ours.

Telegram allows about 30 messages in any second overall, 20 a minute in a group and about
one a second in a private chat. PTB's AIORateLimiter has no private-chat limit, lets a
burst of 30 through on top of 30/s (up to 60 in one second: the 429s of a long batch) and,
on a RetryAfter, halts *every* request: right for a reply, wrong for a batch of 3,000
reminders, where one flood answer would freeze the replies to everyone. So:

- every request that names a chat takes its slot in one sliding window (handlers/pacing.py:
  30 in any second, a group's 20 in any minute), replies and batches alike, replies first:
  a batch's request only takes what the replies waiting leave, evenly spread. This window
  is the only place that says "now" for Telegram: the batch (handlers/delivery.Pacer) does
  not space Telegram's messages itself, it orders them, claims them and waits out pauses;
- a batch's message to a private chat waits a second after the last message to that chat.
  A reply does not: it answers someone who just wrote, and a guided step answered quickly
  must not wait;
- a reply retries a RetryAfter here, after the time Telegram asks, and a network error, a
  time-out, a 5xx or a spoilt answer after 0.5, 1, 2 s (each fault was logged where it was
  met, bot/telegram/request.py). A time-out Telegram did act on may show the reply twice:
  better than not at all, and the work behind it is never done twice (it was committed
  before the reply);
- a request of a batch is marked with `rate_limit_args={"batch": True}` (handlers/delivery
  through bot/telegram/channel.py) and gets the RetryAfter at once: the batch pauses
  itself, before its next turn, where a long pause renews the claims' lease. Until that
  time no other batch request goes out either (the window holds them: they were past the
  batch's turn already, and sending them would only earn more 429s); one that would wait
  longer than 30 s inside its send gets a RetryAfter of its own instead, so its claim is
  renewed too. Replies are not held.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

from handlers.pacing import Held, Window

JSONDict = dict[str, Any]
OVERALL_PER_SECOND = 30
GROUP_PER_MINUTE = 20
PRIVATE_GAP = 1.0
# Added to the window's second, beyond counting each send from its answer (pacing.slot).
GUARD = 0.0


def retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        # PTB 22 warns that retry_after becomes a timedelta; either form is read here.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _retry_after(seconds: float) -> RetryAfter:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        return RetryAfter(timedelta(seconds=math.ceil(seconds)))


def is_group_id(chat_id: object) -> bool:
    """Telegram's group and channel ids are negative (or @names); people's are positive."""
    if isinstance(chat_id, str):
        return not chat_id.lstrip("-").isdigit() or chat_id.startswith("-")
    return isinstance(chat_id, int) and chat_id < 0


def telegram_window(guard: float = GUARD) -> Window:
    """Telegram's limits as one window: 30 in any second, 20 a minute per group, a second
    between a batch's message and the last one to that person."""
    return Window(
        per_second=OVERALL_PER_SECOND,
        private_gap=PRIVATE_GAP,
        group_per_minute=GROUP_PER_MINUTE,
        guard=guard,
    )


class Limiter(BaseRateLimiter[JSONDict]):
    """Every request naming a chat through one window; replies retry, batches do not."""

    def __init__(
        self,
        *,
        window: Window | None = None,
        max_retries: int = 3,
        network_backoff: float = 0.5,
    ) -> None:
        self.window = window or telegram_window()
        self.network_backoff = network_backoff
        self.max_retries = max_retries

    # The window's time, for tests that move it by hand.
    @property
    def now(self) -> Callable[[], float] | None:
        return self.window.clock

    @now.setter
    def now(self, clock: Callable[[], float] | None) -> None:
        self.window.clock = clock

    @property
    def sleep(self) -> Callable[[float], Awaitable[None]]:
        return self.window.sleep

    @sleep.setter
    def sleep(self, sleep: Callable[[float], Awaitable[None]]) -> None:
        self.window.sleep = sleep

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

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
        while True:
            try:
                async with contextlib.AsyncExitStack() as stack:
                    if chat_id is not None:
                        # Each attempt is a message Telegram counts, a retry too.
                        group = is_group_id(chat_id)
                        slot = self.window.slot(str(chat_id), batch=batch, group=group)
                        await stack.enter_async_context(slot)
                    return await callback(*args, **kwargs)
            except Held as exc:  # asked for during a batch's long pause: not sent
                raise _retry_after(exc.seconds) from None
            except RetryAfter as exc:
                if batch:
                    self.window.hold(retry_seconds(exc))
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
