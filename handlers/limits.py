"""Telegram's rate limits, shared by replies and scheduled batches.

PTB's AIORateLimiter keeps every request under 30 messages/s and each group under 20/min, and
on a RetryAfter it halts *every* request and retries. That is right for a reply, wrong for a
batch of 3,000 reminders: one flood answer in the batch would freeze the replies to everyone.
So requests sent inside `batch_send()` share the same overall and per-group limiters but are
not retried here; the batch sender (handlers/jobs.py) obeys RetryAfter itself, pausing only
the batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine, Iterator
from contextvars import ContextVar
from typing import Any

from telegram.ext import AIORateLimiter, BaseRateLimiter

JSONDict = dict[str, Any]

_in_batch: ContextVar[bool] = ContextVar("thidua_batch_send", default=False)


@contextlib.contextmanager
def batch_send() -> Iterator[None]:
    """Requests made inside this block belong to a batch: a RetryAfter is raised at once."""
    token = _in_batch.set(True)
    try:
        yield
    finally:
        _in_batch.reset(token)


class BatchAwareLimiter(BaseRateLimiter[int]):
    """AIORateLimiter for replies; the same limiters without its retry for batch sends."""

    def __init__(self, inner: AIORateLimiter) -> None:
        self.inner = inner

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        if not _in_batch.get():
            return await self.inner.process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )
        chat_id = data.get("chat_id")
        with contextlib.suppress(ValueError, TypeError):
            chat_id = int(chat_id)  # type: ignore[arg-type]
        group: int | str | bool = False
        if (isinstance(chat_id, int) and chat_id < 0) or isinstance(chat_id, str):
            group = chat_id
        # AIORateLimiter's own limiter step, once: it still waits while a reply's RetryAfter
        # halts everything, as Telegram asks.
        return await self.inner._run_request(
            chat=chat_id is not None,
            group=group,
            allow_paid_broadcast=bool(data.get("allow_paid_broadcast", False)),
            callback=callback,
            args=args,
            kwargs=kwargs,
        )


def batch_aware(inner: AIORateLimiter) -> BatchAwareLimiter:
    """The rate limiter of the Application (bot/app.py)."""
    return BatchAwareLimiter(inner)
