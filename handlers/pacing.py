"""The one answer to "may this message go out now?" for a channel: a sliding window.

A platform's limit is a count in any window of time ("30 messages in any second"), so
that is what is kept: the time of every send in the last window, shared by replies and
batches. Replies come first; a batch fills only the capacity replies leave:

- overall: at most `per_second` sends in any `span` seconds (1 s, plus `guard` for the
  jitter between the moment a send is let through here and the moment the platform
  counts it). A reply goes as soon as the window has room; a batch send only when the
  room left is more than the replies waiting for it;
- a batch is spread evenly, at most `batch_per_second`: bunched, it would fill the window
  in an instant and every reply in the next second would wait for it to drain;
- per chat, for a batch only: `private_gap` (`group_gap`) seconds since the last message of
  any kind to that person (group). A reply does not wait for it: it answers someone who
  just wrote;
- per group, for every send: at most `group_per_minute` in any 60 seconds (if set).

A wait is reserved nowhere: a waiter sleeps until the window can change, looks again and
takes its slot only if it is still free, so a reply arriving meanwhile is never behind
sends that were queued before it. After "retry later" to a batch (`hold`), no batch send
leaves before that time, those already waiting here included; one held longer than
HOLD_IN_PLACE is refused (`Held`), so that the batch waits it out itself, where the
ledger's claims are renewed. The clock and the sleep are injectable (tests move time by
hand).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

# A batch's send held by a pause longer than this is refused (`Held`) rather than kept
# waiting inside its send: the batch waits it out where the claims' lease is looked after.
HOLD_IN_PLACE = 30.0
CHATS_KEPT = 10_000  # per-chat entries kept; those that no longer matter go beyond this
GROUP_SPAN = 60.0
YIELD = 0.001  # a batch waiting only for replies to take what is free: look again soon


class Held(Exception):
    """A batch's send asked for during a long pause: retry after `seconds`."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the batch is paused for {seconds:.1f} s more")
        self.seconds = seconds


class Window:
    """Sends of one channel in a sliding window; see the module's docstring."""

    def __init__(
        self,
        *,
        per_second: float,
        batch_per_second: float | None = None,
        private_gap: float = 0.0,
        group_gap: float = 0.0,
        group_per_minute: int | None = None,
        guard: float = 0.0,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.limit = max(1, math.ceil(per_second))  # a fractional rate: the gap binds
        self.span = 1.0 + guard
        self.batch_gap = 1.0 / (batch_per_second or per_second)
        self.private_gap = private_gap
        self.group_gap = group_gap
        self.group_limit = group_per_minute
        self.sleep: Callable[[float], Awaitable[None]] = sleep or asyncio.sleep
        self._flying = 0  # sends let through whose answer has not come back yet
        self._landed: asyncio.Event | None = None  # set when one comes back
        self._replies_waiting = 0
        self.clock = clock  # None: the running event loop's clock

    @property
    def clock(self) -> Callable[[], float] | None:
        return self._clock

    @clock.setter
    def clock(self, clock: Callable[[], float] | None) -> None:
        """Another clock: the times kept so far mean nothing on it, and are forgotten."""
        self._clock = clock
        self._sent: deque[float] = deque()  # the last span's sends (landed), oldest first
        self._next_batch = -math.inf
        self._held_until = -math.inf  # no batch send before this ("retry later")
        self._last: dict[str, float] = {}  # chat → its last send
        self._groups: dict[str, deque[float]] = {}  # group → its sends in the last minute

    @property
    def per_second(self) -> float:
        return self.limit / self.span

    def now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def in_window(self, now: float) -> int:
        """Sends counted at `now`: those in flight and those of the last span."""
        sent = self._sent
        while sent and sent[0] <= now - self.span:
            sent.popleft()
        return self._flying + len(sent)

    def _next_leaving(self, now: float) -> float:
        """How long until a send leaves the window (inf: all are in flight)."""
        return self._sent[0] + self.span - now if self._sent else math.inf

    def _group_wait(self, chat: str, now: float) -> float:
        found = self._groups.get(chat)
        if self.group_limit is None or found is None:
            return 0.0
        while found and found[0] <= now - GROUP_SPAN:
            found.popleft()
        if len(found) < self.group_limit:
            return 0.0
        return found[0] + GROUP_SPAN - now

    def _batch_wait(self, chat: str, group: bool, now: float) -> float:
        gap = self.group_gap if group else self.private_gap
        last = self._last.get(chat)
        chat_wait = last + gap - now if last is not None else 0.0
        return max(self._next_batch - now, chat_wait)

    def hold(self, seconds: float) -> None:
        """The platform said "retry later" to a batch: no batch send goes out before that
        time has passed, including those already waiting here for a slot (they were past
        the batch's own pause when it began). Replies are not held."""
        self._held_until = max(self._held_until, self.now() + seconds)

    async def acquire(self, chat: str, *, batch: bool, group: bool) -> None:
        """Wait until a message to `chat` may go out, and count it as sent from now."""
        await self._wait(chat, batch=batch, group=group)
        self._take(chat, batch=batch, group=group, landed=True)

    @contextlib.asynccontextmanager
    async def slot(self, chat: str, *, batch: bool, group: bool) -> AsyncIterator[None]:
        """Wait as `acquire`, then count the send from the moment its answer comes back
        (the block's end): the platform counted it at some moment before that, so the
        window holds whatever the jitter on the way there was."""
        await self._wait(chat, batch=batch, group=group)
        self._take(chat, batch=batch, group=group, landed=False)
        try:
            yield
        finally:
            self._land(chat)

    async def _wait(self, chat: str, *, batch: bool, group: bool) -> None:
        counted = False  # as a reply waiting for room in the overall window
        try:
            while True:
                now = self.now()
                full = self.in_window(now) >= self.limit
                wait = self._next_leaving(now) if full else 0.0
                if group:
                    wait = max(wait, self._group_wait(chat, now))
                if batch:
                    held = self._held_until - now
                    if held > HOLD_IN_PLACE:
                        raise Held(held)
                    wait = max(wait, held, self._batch_wait(chat, group, now))
                    if wait <= 0 and self.in_window(now) + self._replies_waiting >= self.limit:
                        # What is free is for the replies waiting; look again when the
                        # next send leaves the window.
                        wait = max(self._next_leaving(now), YIELD)
                elif full != counted:  # counted only while the window is full
                    counted = full
                    self._replies_waiting += 1 if counted else -1
                if wait <= 0:
                    return
                if wait == math.inf:
                    await self._landing()
                else:
                    await self.sleep(wait)
        finally:
            if counted:
                self._replies_waiting -= 1

    async def _landing(self) -> None:
        if self._landed is None:
            self._landed = asyncio.Event()
        await self._landed.wait()

    def _take(self, chat: str, *, batch: bool, group: bool, landed: bool) -> None:
        now = self.now()
        if landed:
            self._sent.append(now)
        else:
            self._flying += 1
        if batch:
            self._next_batch = now + self.batch_gap
        self._last[chat] = now
        if group and self.group_limit is not None:
            self._groups.setdefault(chat, deque()).append(now)
        if len(self._last) > CHATS_KEPT:
            keep = max(self.private_gap, self.group_gap)
            self._last = {c: t for c, t in self._last.items() if t > now - keep}
            self._groups = {c: q for c, q in self._groups.items() if q and q[-1] > now - GROUP_SPAN}

    def _land(self, chat: str) -> None:
        now = self.now()
        self._flying -= 1
        self._sent.append(now)
        self._last[chat] = now  # the later of the two moments, for the chat's gap too
        landed, self._landed = self._landed, None
        if landed is not None:
            landed.set()
