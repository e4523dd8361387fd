"""Updates of different people handled at once, each person's strictly in order.

PTB's own concurrent mode (`concurrent_updates(n)`) starts one task per update as soon as it
is fetched and lets them race: two messages of one officer — "/baocao", then the answer to
its first step — could be handled in either order, and a backlog of 10,000 updates after a
restart would be 10,000 tasks. So the Application gets this processor instead:

- every update has a key, its person (the effective user; the chat when there is no user,
  as for a channel post). Updates with the same key form a lane and run one after another,
  in the order they were fetched; lanes run side by side;
- at most `max_concurrent` lanes run at once (one task each, ended when its lane is empty),
  and at most `max_waiting` updates wait in the lanes. Beyond either, the hand-off waits:
  PTB's fetcher stops taking updates off `Application.update_queue` until there is room, so
  the number of tasks never grows with the backlog;
- PTB is told `max_concurrent_updates == 1`: its fetcher then awaits each hand-off instead of
  spawning a task per update. The hand-off is where the order is decided, so it has to be
  sequential; it only waits when the processor is full;
- `ThiduaApplication.stop` (bot/telegram/app.py) waits for every update handed off, after
  PTB's `Application.stop` handed off the last queued one: an update accepted (polled, or
  answered 200 by the webhook server) is handled before the process stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

log = logging.getLogger(__name__)

# Lanes (people) handled at once. Each holds at most one database connection at a time, and
# SQLAlchemy's default pool is 5 + 10 overflow: beyond ~15 an update waits for a connection
# instead of for its turn here, which costs the same and holds a task meanwhile. 32 keeps
# the pool busy while some lanes wait on Telegram's answers (most of an update's time).
MAX_CONCURRENT = 32
# Updates accepted but not started yet, in all lanes together (one person writing faster
# than the bot answers). Past this the fetcher waits: PTB's update_queue holds the rest.
MAX_WAITING = 1024

Key = Hashable


def person_key(update: object) -> Key:
    """Whose update this is: a person's updates are handled in the order they came."""
    if isinstance(update, Update):
        if update.effective_user is not None:
            return ("user", update.effective_user.id)
        if update.effective_chat is not None:
            return ("chat", update.effective_chat.id)
    # Anything else (a poll's results, an object put on the queue by hand): one lane.
    return ("other",)


class PerPersonUpdates(BaseUpdateProcessor):
    """Concurrent across people, sequential within one person, bounded overall."""

    def __init__(
        self,
        max_concurrent: int = MAX_CONCURRENT,
        *,
        max_waiting: int = MAX_WAITING,
        key: Callable[[object], Key] = person_key,
    ) -> None:
        # 1: PTB awaits each hand-off in turn (see the module's docstring).
        super().__init__(1)
        if max_concurrent < 1 or max_waiting < 1:
            raise ValueError("max_concurrent and max_waiting must be at least 1")
        self.max_concurrent = max_concurrent
        self.max_waiting = max_waiting
        self.key = key
        self._lanes: dict[Key, deque[Awaitable[Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiting = 0
        self._changed: asyncio.Condition | None = None

    @property
    def running(self) -> int:
        """Lanes being worked on now (a snapshot)."""
        return len(self._lanes)

    @property
    def waiting(self) -> int:
        """Updates handed off and not started yet (a snapshot)."""
        return self._waiting

    def _condition(self) -> asyncio.Condition:
        # Made on first use, inside the running loop (the processor is built before it).
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        # Application.shutdown comes after stop, which waited for every lane (join). Anything
        # left was started without stop (a test, a crash on the way out): wait for it here
        # rather than leave tasks running against a closed bot.
        await self.join()

    def _has_room(self, key: Key) -> bool:
        if key in self._lanes:
            return self._waiting < self.max_waiting
        return len(self._lanes) < self.max_concurrent

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Hand the update to its lane; wait only while there is no room."""
        key = self.key(update)
        changed = self._condition()
        async with changed:
            await changed.wait_for(lambda: self._has_room(key))
            lane = self._lanes.get(key)
            if lane is not None:
                lane.append(coroutine)
                self._waiting += 1
                return
            self._lanes[key] = deque([coroutine])
            self._waiting += 1
            task = asyncio.create_task(self._run(key), name=f"thidua:lane:{key}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, key: Key) -> None:
        lane = self._lanes[key]
        try:
            # Checking for more and dropping the lane happen with no await in between, so a
            # hand-off either lands in this lane before it ends or starts a new one.
            while lane:
                coroutine = lane.popleft()
                self._waiting -= 1
                await self._notify()  # room for one more waiting update
                try:
                    await coroutine
                except Exception:
                    # Application.process_update already gave it to the error handler; it
                    # must not end the lane and strand the person's next updates.
                    log.debug("an update of %s ended with an error", key, exc_info=True)
        finally:
            del self._lanes[key]
            # Whatever was still queued (only on cancellation) is closed, not left pending.
            for left in lane:
                self._waiting -= 1
                if asyncio.iscoroutine(left):
                    left.close()
            lane.clear()
            await self._notify()  # room for one more lane

    async def _notify(self) -> None:
        changed = self._condition()
        async with changed:
            changed.notify_all()

    async def join(self) -> None:
        """Wait until every update handed off so far has been handled."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
