"""Scheduled messages on every channel: the tick, the paced batch sender, the retries.

What is due and for whom is decided in services.reminders (and recorded in its ledger);
this module renders each message (handlers/reminder_texts) and sends it to the channel
its address names, within that channel's pace (`Channel.pace`):

- overall and per chat: in a sliding window (handlers/pacing.py), the channel's own when
  it has one (Telegram: 30 in any second, shared with the replies, which go first), else
  one built from its pace (Zalo: 10/s, a second between two messages to one person);
- RetryLater: the batch pauses for the time the platform asks and retries (replies do not
  stop); network errors are retried with exponential backoff;
- Blocked: the person blocked the bot there; that identity is marked unreachable and the
  chair told once when no channel reaches them any more.

Each message is claimed in the ledger just before its turn, under this run's owner name
and a short lease (services/reminders/ledger.py), renewed before an attempt when it runs
low, and finished right after the platform answers: if the process dies, what it held goes
out again from another tick once the lease has passed.

The batch runs in a background task, so the bot keeps answering while it goes out. Time is
injected (`Runtime.monotonic`, `Runtime.sleep`, the core's clock): tests never sleep.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from handlers import ballot, chair, leaderboard, midyear
from handlers.channel import Blocked, Moved, Pace, Rejected, RetryLater, Transient
from handlers.core import Core, present, utc_now
from handlers.i18n import texts
from handlers.pacing import Window
from handlers.reminder_texts import render
from services import ballot as ballot_rules
from services import housekeeping, onboarding, reminders, scheduled
from services.addresses import Address
from services.reminders import Due, Kind, Status
from services.uow import Session

log = logging.getLogger(__name__)

# The scheduler's job (one, with a fixed id, whatever the channels): every minute.
JOB_ID = "reminders-tick"
TICK_SECONDS = 60


# Messages whose day ended while the bot was down are looked for at start-up, then hourly.
CATCH_UP_SECONDS = 3600.0


@dataclass
class Limits:
    """How a batch retries; the pace itself is the channel's."""

    workers: int = 8  # requests in flight: Telegram answers in ~0.1 s, not 0.04
    retry_after_attempts: int = 5
    network_attempts: int = 4
    backoff: float = 1.0  # first wait after a network error, doubled each time
    max_backoff: float = 30.0


class BoardSender(Protocol):
    async def __call__(
        self,
        core: Core,
        session: Session,
        cluster_id: int,
        to: Address,
        now: datetime,
        since: datetime | None = None,
        /,
    ) -> None: ...


class SummarySender(Protocol):
    async def __call__(
        self,
        core: Core,
        session: Session,
        cluster_id: int,
        period_id: int,
        to: Address,
        now: datetime,
        /,
    ) -> None: ...


class Pacer:
    """When a batch's next message may go out on one channel: after any pause, and in a
    slot of the channel's window (handlers/pacing.py).

    A channel whose every send passes a window of its own (Telegram's limiter, shared with
    the replies) names it in its pace: the send takes its slot there, and a turn here only
    waits out a pause, so one window alone decides "now". For any other channel the pacer
    keeps a window built from the pace, on the runtime's clock, and a turn takes its slot.
    A claim lost to another process takes a slot too: processes walking the same list then
    share one pace instead of adding theirs up."""

    def __init__(self, runtime: Runtime, pace: Pace, is_group: Callable[[Address], bool]) -> None:
        self.rt = runtime
        self.pace = pace
        self.is_group = is_group
        self.shared = pace.window is not None
        self.window = pace.window or Window(
            per_second=pace.per_second,
            private_gap=pace.private_gap,
            group_gap=pace.group_gap,
            clock=lambda: runtime.monotonic(),
            sleep=lambda seconds: runtime.sleep(seconds),
        )
        self._paused_until = 0.0

    async def turn(self, chat: Address, *, sending: bool = True) -> None:
        """Wait for this message's turn; `sending=False`: another process sends it, but
        it still uses its slot."""
        for _ in range(3):  # a pause announced while waiting means one more turn
            await self.paused()
            if not self.shared or not sending:
                await self.window.acquire(chat.id, batch=True, group=self.is_group(chat))
            if self.rt.monotonic() >= self._paused_until:
                return

    def pause(self, seconds: float) -> None:
        """The platform said "retry later": no batch message goes out before it has passed."""
        self._paused_until = max(self._paused_until, self.rt.monotonic() + seconds)

    async def paused(self) -> None:
        """Wait out the pause, if there is one (a retry after a network error too)."""
        held = self._paused_until - self.rt.monotonic()
        if held > 0:
            await self.rt.sleep(held)


@dataclass(eq=False)
class Runtime:
    """Per-core state of the scheduled messages: time sources, limits, the running batches."""

    core: Core
    limits: Limits = field(default_factory=Limits)
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    # The leaderboard and chair features' senders; tests may put their own.
    board_sender: BoardSender | None = None
    summary_sender: SummarySender | None = None
    # None: ticks run on their own only on the real clock; with an injected clock (tests,
    # the benchmark) time is moved and run_tick called.
    autotick: bool | None = None
    # Set by the channel adapter when the process stops: what is queued stays unclaimed.
    stopping: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    last_catch_up: float | None = None
    pacers: dict[str, Pacer] = field(default_factory=dict)
    # This run's name on its claims in the ledger (host:pid:random).
    owner: str = field(default_factory=reminders.new_owner)

    def pacer(self, channel: str) -> Pacer:
        found = self.pacers.get(channel)
        if found is None:
            target = self.core.channels.get(channel)
            found = self.pacers[channel] = Pacer(self, target.pace, target.is_group)
        return found

    def board(self) -> BoardSender:
        return self.board_sender or leaderboard.send_board

    def summary(self) -> SummarySender:
        return self.summary_sender or chair.send_period_summary

    def start(self, work: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


_RUNTIMES: weakref.WeakKeyDictionary[Core, Runtime] = weakref.WeakKeyDictionary()


def runtime(core: Core) -> Runtime:
    """The scheduled messages' state of this core (created on first use)."""
    found = _RUNTIMES.get(core)
    if found is None:
        found = _RUNTIMES[core] = Runtime(core)
    return found


@dataclass
class BatchResult:
    planned: int = 0
    sent: int = 0
    taken: int = 0  # held by another process, finished by an earlier run, or lost mid-way
    failed: int = 0
    blocked: int = 0
    skipped: int = 0
    retry_after: int = 0
    network_retries: int = 0
    aborted: bool = False


def _spread(items: Iterable[Due]) -> list[Due]:
    """Round-robin over chats, so two messages to one chat are as far apart as possible."""
    per_chat: dict[Address, deque[Due]] = {}
    for item in items:
        per_chat.setdefault(item.address, deque()).append(item)
    out: list[Due] = []
    while per_chat:
        for chat in list(per_chat):
            queue = per_chat[chat]
            out.append(queue.popleft())
            if not queue:
                del per_chat[chat]
    return out


async def _send(rt: Runtime, item: Due, now: datetime, session: Session) -> None:
    """One attempt. Writes that belong with the send (a numbered menu) go into `session`,
    which the caller commits with the ledger's update."""
    core = rt.core
    if item.kind is Kind.LEADERBOARD:
        async with core.session_factory()() as session:
            # To officers one by one (no group): all measured against the week before.
            since = None if item.to_group else item.due_at
            await rt.board()(core, session, item.cluster_id, item.address, now, since)
        return
    if item.kind is Kind.PERIOD_SUMMARY:
        assert item.period is not None
        async with core.session_factory()() as session:
            await rt.summary()(core, session, item.cluster_id, item.period.id, item.address, now)
        return
    if item.kind is Kind.MIDYEAR:
        async with core.session_factory()() as session:
            await midyear.send_scheduled(core, session, item, now)
        return
    message = render(item)
    if core.channels.get(item.address.channel).buttons or not message.choices:
        await core.channels.send(item.address, message, batch=True)
        return
    # Numbered choices: the chat's menu is written with the send (committed by the caller).
    await present(core, session, item.address, message, texts(item.language), now=now, batch=True)


class Lost(Exception):
    """The claim lapsed and another process took it over: this one must not send."""


async def _hold(rt: Runtime, item: Due, held_until: datetime, now: datetime) -> datetime:
    """The claim's lease, renewed if less than RENEW_BELOW is left (a long pause or
    retries), so it never lapses while this process is alive and sending. Raises Lost."""
    if held_until - now >= reminders.RENEW_BELOW:
        return held_until
    async with rt.core.session_factory()() as session:
        if not await reminders.renew(session, item.key, rt.owner, now):
            raise Lost(item.key)
    return now + reminders.LEASE


async def _attempt(
    rt: Runtime,
    item: Due,
    result: BatchResult,
    clock: Callable[[], datetime],
    held_until: datetime,
) -> tuple[Status, str | None]:
    """Send one claimed message, retrying what is worth retrying, within bounds. A message
    that went out is recorded `sent` here, in the commit right after the platform's answer
    (with the chat's menu): the only moment a crash can still double it. Raises Lost."""
    limits = rt.limits
    throttled = failures = 0
    delay = limits.backoff
    target = item
    pacer = rt.pacer(item.address.channel)
    sessions = rt.core.session_factory()
    while True:
        now = clock()
        if now >= item.until:  # its day ended while it waited (pauses, retries): never late
            return Status.SKIPPED, "its working day ended before it could be sent"
        held_until = await _hold(rt, item, held_until, now)
        try:
            async with sessions() as session:
                await _send(rt, target, now, session)
                # Sent: recorded before anything else (nothing in between but the commit).
                # If the claim was taken over meanwhile, finish logs the possible double.
                await reminders.finish(session, item.key, Status.SENT, clock(), owner=rt.owner)
            return Status.SENT, None
        except Blocked as exc:
            return Status.BLOCKED, exc.detail
        except Moved as exc:
            if target is not item:
                return Status.FAILED, exc.detail
            async with rt.core.session_factory()() as session:
                await onboarding.migrate_group(session, item.address, exc.new, clock())
            target = replace(item, address=exc.new)
        except RetryLater as exc:
            result.retry_after += 1
            throttled += 1
            if throttled >= limits.retry_after_attempts:
                return Status.FAILED, f"still rate limited after {throttled} attempts"
            pacer.pause(exc.seconds)
            await pacer.turn(target.address)
        except Rejected as exc:
            return Status.FAILED, exc.detail
        except Transient as exc:
            failures += 1
            if failures >= limits.network_attempts:
                return Status.FAILED, f"network: {exc.detail}"
            result.network_retries += 1
            await rt.sleep(delay)
            delay = min(delay * 2, limits.max_backoff)
            await pacer.paused()  # another message's 429 meanwhile holds this one too


async def _deliver(
    rt: Runtime,
    item: Due,
    result: BatchResult,
    queue: deque[Due],
    clock: Callable[[], datetime],
) -> None:
    sessions = rt.core.session_factory()
    now = clock()
    async with sessions() as session:
        if now >= item.until:
            result.skipped += await reminders.record_skipped(session, [item], now, owner=rt.owner)
            return
        # Claimed just before its turn: if the process dies, what is still queued is
        # unclaimed and goes out from the next tick (or from the other process), and what
        # it claimed goes out again once the lease has passed.
        claimed = await reminders.claim(session, item, now, owner=rt.owner)
    # The turn is taken even when another process won the claim: processes walking the
    # same list then share one pace instead of adding theirs up.
    await rt.pacer(item.address.channel).turn(item.address, sending=claimed)
    if not claimed:
        result.taken += 1
        return
    try:
        status, detail = await _attempt(rt, item, result, clock, now + reminders.LEASE)
    except Lost:
        result.taken += 1
        log.warning("reminder %s: the claim lapsed and was taken over; not sent here", item.key)
        return
    if status is not Status.SENT:  # a sent one is recorded by _attempt already
        async with sessions() as session:
            await reminders.finish(session, item.key, status, clock(), detail, owner=rt.owner)
            if status is Status.BLOCKED and not item.to_group:
                queue.extend(await reminders.mark_unreachable(session, item.address, clock()))
    if status is Status.SENT:
        result.sent += 1
    elif status is Status.SKIPPED:
        result.skipped += 1
        log.info("reminder %s to %s skipped: %s", item.key, item.address, detail)
    elif status is Status.BLOCKED:
        result.blocked += 1
        log.info("reminder %s: %s blocked the bot", item.key, item.address)
    else:
        result.failed += 1
        log.warning("reminder %s to %s failed: %s", item.key, item.address, detail)


async def send_batch(
    core: Core, items: Iterable[Due], *, clock: Callable[[], datetime] | None = None
) -> BatchResult:
    """Send messages within each channel's limits, each at most once (claimed in the ledger)."""
    rt = runtime(core)
    queue = deque(_spread(items))
    result = BatchResult(planned=len(queue))
    now = clock or core.clock

    async def worker() -> None:
        while queue:
            if rt.stopping:
                result.aborted = True  # shutting down: the rest stays unclaimed for next time
                return
            await _deliver(rt, queue.popleft(), result, queue, now)

    await asyncio.gather(*(worker() for _ in range(max(1, min(rt.limits.workers, len(queue))))))
    return result


async def _run(rt: Runtime, now: datetime | None, catch_up: bool) -> BatchResult:
    async with rt.lock:
        core = rt.core
        clock: Callable[[], datetime] = core.clock if now is None else (lambda: now)
        current = clock()
        async with core.session_factory()() as session:
            found = await scheduled.plan(session, current, catch_up=catch_up)
            skipped = await reminders.record_skipped(
                session, found.expired, current, owner=rt.owner
            )
            for closed in await ballot_rules.close_due(session, current):
                await ballot.announce_result(core, session, closed)
            if catch_up:  # hourly, with the catch-up: drop what has expired
                removed = await housekeeping.tidy(session, current)
                if any(removed.values()):
                    log.info("housekeeping: removed %s", removed)
        items = [d for d in found.due if d.address.channel in core.channels.by_name]
        result = await send_batch(core, items, clock=clock) if items else BatchResult()
        result.skipped += skipped
        if items or skipped:
            log.info(
                "reminders: %d due, %d sent, %d taken elsewhere, %d failed, %d blocked, "
                "%d skipped, %d rate-limit waits",
                result.planned,
                result.sent,
                result.taken,
                result.failed,
                result.blocked,
                result.skipped,
                result.retry_after,
            )
        return result


async def run_tick(
    core: Core, now: datetime | None = None, *, catch_up: bool = True
) -> BatchResult:
    """One tick at `now` (default: the core's clock), awaited to its end: what tests and the
    benchmark call instead of waiting for the scheduler."""
    return await _run(runtime(core), now, catch_up)


def tick(core: Core) -> None:
    """The scheduler's minute: start sending what has fallen due, in the background."""
    rt = runtime(core)
    auto = rt.autotick if rt.autotick is not None else core.clock is utc_now
    if not auto or rt.lock.locked() or rt.stopping:
        return  # time is driven by hand, or the previous batch is still going out
    catch_up = rt.last_catch_up is None or rt.monotonic() - rt.last_catch_up >= CATCH_UP_SECONDS
    if catch_up:
        rt.last_catch_up = rt.monotonic()
    rt.start(_run(rt, None, catch_up), name="reminders-batch")


def dispatch(core: Core, items: list[Due]) -> None:
    """Send messages in the background (the chair's /remind), paced like the schedule."""
    if items:
        runtime(core).start(send_batch(core, items), name="reminders-nudge")


async def settle(core: Core) -> None:
    """Wait for every batch this core has started (tests; shutdown)."""
    rt = runtime(core)
    while rt.tasks:
        await asyncio.gather(*list(rt.tasks), return_exceptions=True)
