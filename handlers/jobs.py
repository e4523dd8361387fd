"""Scheduled reminders and digests on Telegram: the tick the JobQueue runs every minute, the
paced batch sender, and the text of each message.

What is due and for whom is decided in services.reminders (and recorded in its ledger); this
module renders and sends it within Telegram's limits:

- overall: a batch goes out evenly at `Limits.per_second` (25/s by default), below Telegram's
  ~30/s, so replies to people keep the rest; every request also passes PTB's AIORateLimiter
  (30/s overall, 20/min per group), shared with the replies;
- per chat: one message per second to a private chat, one per 3 s to a group (20/min);
- RetryAfter: the batch pauses for the time Telegram asks and retries (the replies do not
  stop: see handlers/limits.py); network errors are retried with exponential backoff;
- Forbidden: the officer blocked the bot; they are marked unreachable and the chair told once.

The batch runs in a background task, so the bot keeps answering while it goes out. Time is
injected (`Runtime.monotonic`, `Runtime.sleep`, the Application's clock): tests never sleep.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
import warnings
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import Application, ExtBot
from telegram.warnings import PTBDeprecationWarning

from handlers import chair, leaderboard
from handlers.context import BotData, Context, UserData, utc_now
from handlers.i18n import Html, Texts, texts
from handlers.limits import batch_send
from handlers.render import period_label, short
from services import onboarding, reminders
from services.reminders import Due, Kind, Status
from services.uow import Session

log = logging.getLogger(__name__)

App = Application[ExtBot[None], Any, UserData, dict[Any, Any], BotData, Any]
JOB_ID = "reminders-tick"
TICK_SECONDS = 60
# Messages whose day ended while the bot was down are looked for at start-up, then hourly.
CATCH_UP_SECONDS = 3600.0
LIST_LIMIT = 10  # criteria listed in a private reminder
BUTTON_LIMIT = 6  # "report this criterion" buttons under it
CODES_LIMIT = 8  # criterion codes per unit in the chair's escalation


@dataclass
class Limits:
    """How a batch keeps to Telegram's limits."""

    per_second: float = 25.0  # Telegram allows about 30/s; the rest is left to replies
    private_gap: float = 1.0  # seconds between two messages to one private chat
    group_gap: float = 3.0  # 20 per minute in a group
    workers: int = 8  # requests in flight: Telegram answers in ~0.1 s, not 0.04
    retry_after_attempts: int = 5
    network_attempts: int = 4
    backoff: float = 1.0  # first wait after a network error, doubled each time
    max_backoff: float = 30.0


class BoardSender(Protocol):
    async def __call__(
        self, context: Context, session: Session, cluster_id: int, chat_id: int, now: datetime, /
    ) -> None: ...


class SummarySender(Protocol):
    async def __call__(
        self,
        context: Context,
        session: Session,
        cluster_id: int,
        period_id: int,
        chat_id: int,
        now: datetime,
        /,
    ) -> None: ...


class Pacer:
    """Hands out send times: evenly spaced overall, spaced per chat, none during a pause.

    A turn is reserved before sleeping, so concurrent workers never take the same slot."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._next = 0.0
        self._chat: dict[int, float] = {}
        self._paused_until = 0.0

    async def turn(self, chat_id: int) -> None:
        limits = self.rt.limits
        gap = limits.group_gap if chat_id < 0 else limits.private_gap
        for _ in range(3):  # a pause announced while waiting means one more turn
            now = self.rt.monotonic()
            at = max(now, self._next, self._chat.get(chat_id, 0.0), self._paused_until)
            self._next = at + 1.0 / limits.per_second
            self._chat[chat_id] = at + gap
            if len(self._chat) > 20_000:
                self._chat = {c: t for c, t in self._chat.items() if t > now}
            if at > now:
                await self.rt.sleep(at - now)
            if self.rt.monotonic() >= self._paused_until:
                return

    def pause(self, seconds: float) -> None:
        """Telegram said RetryAfter: no batch message goes out before it has passed."""
        self._paused_until = max(self._paused_until, self.rt.monotonic() + seconds)


@dataclass
class Runtime:
    """Per-Application state of the reminders: time sources, limits, the running batches."""

    limits: Limits = field(default_factory=Limits)
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    # The leaderboard and chair features' senders; tests may put their own.
    board_sender: BoardSender | None = None
    summary_sender: SummarySender | None = None
    # None: the JobQueue ticks on its own only when the Application runs on the real clock;
    # with an injected clock (tests, the benchmark) time is moved and run_tick called.
    autotick: bool | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    last_catch_up: float | None = None
    pacer: Pacer = field(init=False)

    def __post_init__(self) -> None:
        self.pacer = Pacer(self)

    def board(self) -> BoardSender:
        return self.board_sender or leaderboard.send_board

    def summary(self) -> SummarySender:
        return self.summary_sender or chair.send_period_summary

    def track(self, task: asyncio.Task[Any]) -> None:
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


_RUNTIMES: weakref.WeakKeyDictionary[Any, Runtime] = weakref.WeakKeyDictionary()


def runtime(app: App) -> Runtime:
    """The reminders' state of this Application (created on first use)."""
    found = _RUNTIMES.get(app)
    if found is None:
        found = _RUNTIMES[app] = Runtime()
    return found


@dataclass
class BatchResult:
    planned: int = 0
    sent: int = 0
    taken: int = 0  # already claimed, by another process or an earlier run
    failed: int = 0
    blocked: int = 0
    skipped: int = 0
    retry_after: int = 0
    network_retries: int = 0
    aborted: bool = False


# ------------------------------------------------------------------ texts


def _when(t: Texts, item: Due) -> str:
    period = item.period
    assert period is not None
    if item.days_left > 0 and period.deadline > item.due_at:
        return t.raw("remind.when.left").format(days=item.days_left)
    if period.deadline > item.due_at:
        return t.raw("remind.when.today")
    if item.days_left < 0:
        return t.raw("remind.when.late").format(days=-item.days_left)
    return t.raw("remind.when.passed")


def _period_line(t: Texts, item: Due) -> Html:
    period = item.period
    assert period is not None
    return t(
        "remind.period",
        period=period_label(t, period.code, period.year),
        deadline=t.datetime(period.deadline, ZoneInfo(item.timezone)),
        when=_when(t, item),
    )


def _private(t: Texts, item: Due) -> tuple[Html, InlineKeyboardMarkup]:
    period, gap = item.period, item.gaps[0]
    assert period is not None
    title = {
        Kind.BEFORE: "remind.before.title",
        Kind.OVERDUE: "remind.overdue.title",
        Kind.NUDGE: "remind.nudge.title",
    }[item.kind]
    lines: list[str] = [t(title, cluster=item.cluster_name), _period_line(t, item)]
    if period.deadline <= item.due_at:
        lines.append(t("remind.late_accepted"))
    lines.append(
        t("remind.unit_missing", unit=gap.unit_name, missing=len(gap.missing), total=gap.total)
    )
    for ref in gap.missing[:LIST_LIMIT]:
        lines.append(f"• <b>{html.escape(ref.code)}</b> {html.escape(short(ref.name, 60))}")
    if len(gap.missing) > LIST_LIMIT:
        lines.append(t("remind.more", count=len(gap.missing) - LIST_LIMIT))
    lines.append(t("remind.press"))
    buttons = [
        InlineKeyboardButton(f"📝 {ref.code}", callback_data=f"rr:{period.code}:{ref.code}")
        for ref in gap.missing[:BUTTON_LIMIT]
    ]
    rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    if item.kind is not Kind.OVERDUE:
        # /report opens on the current period, which a reminder before the deadline is about.
        rows.append([InlineKeyboardButton(t.raw("remind.report_all"), callback_data="rnow")])
    return Html("\n".join(lines)), InlineKeyboardMarkup(rows)


def _group(t: Texts, item: Due) -> Html:
    period = item.period
    assert period is not None
    lines: list[str] = [
        t("remind.group.title", period=period_label(t, period.code, period.year)),
        _period_line(t, item),
        t("remind.group.units", count=len(item.gaps), members=item.members),
    ]
    for gap in item.gaps:
        lines.append(
            t("remind.group.line", unit=gap.unit_name, missing=len(gap.missing), total=gap.total)
        )
    lines.append(t("remind.group.footer"))
    return Html("\n".join(lines))


def _escalation(t: Texts, item: Due) -> Html:
    period = item.period
    assert period is not None
    lines: list[str] = [
        t(
            "remind.escalate.title",
            period=period_label(t, period.code, period.year),
            cluster=item.cluster_name,
        ),
        _period_line(t, item),
        t("remind.escalate.units", count=len(item.gaps), members=item.members),
    ]
    for gap in item.gaps:
        codes = ", ".join(ref.code for ref in gap.missing[:CODES_LIMIT])
        if len(gap.missing) > CODES_LIMIT:
            codes += f" +{len(gap.missing) - CODES_LIMIT}"
        lines.append(
            t(
                "remind.escalate.line",
                unit=gap.unit_name,
                missing=len(gap.missing),
                total=gap.total,
                codes=codes,
            )
        )
    lines.append(t("remind.escalate.footer"))
    return Html("\n".join(lines))


def render(item: Due) -> tuple[Html, InlineKeyboardMarkup | None]:
    """The text (and buttons) of a reminder, in the recipient's language."""
    t = texts(item.language)
    if item.kind in (Kind.BEFORE, Kind.OVERDUE, Kind.NUDGE):
        return _private(t, item)
    if item.kind in (Kind.GROUP_MISSING, Kind.NUDGE_GROUP):
        return _group(t, item), None
    if item.kind is Kind.ESCALATE:
        return _escalation(t, item), None
    if item.kind is Kind.UNREACHABLE:
        return t(
            "remind.unreachable", name=item.subject or "?", unit=item.subject_unit or "?"
        ), None
    raise ValueError(f"{item.kind} is sent by its own feature, not rendered here")


# ------------------------------------------------------------------ sending


def retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        # PTB 22 warns that retry_after becomes a timedelta; either form is read here.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _spread(items: Iterable[Due]) -> list[Due]:
    """Round-robin over chats, so two messages to one chat are as far apart as possible."""
    per_chat: dict[int, deque[Due]] = {}
    for item in items:
        per_chat.setdefault(item.chat_id, deque()).append(item)
    out: list[Due] = []
    while per_chat:
        for chat in list(per_chat):
            queue = per_chat[chat]
            out.append(queue.popleft())
            if not queue:
                del per_chat[chat]
    return out


async def _send(app: App, rt: Runtime, item: Due, now: datetime) -> None:
    if item.kind is Kind.LEADERBOARD:
        board = rt.board()
        async with app.bot_data.session_factory()() as session:
            await board(Context(app), session, item.cluster_id, item.chat_id, now)
        return
    if item.kind is Kind.PERIOD_SUMMARY:
        summary = rt.summary()
        assert item.period is not None
        async with app.bot_data.session_factory()() as session:
            await summary(Context(app), session, item.cluster_id, item.period.id, item.chat_id, now)
        return
    text, keyboard = render(item)
    with batch_send():
        await app.bot.send_message(item.chat_id, text, reply_markup=keyboard)


async def _attempt(
    app: App, rt: Runtime, item: Due, result: BatchResult, clock: Callable[[], datetime]
) -> tuple[Status, str | None]:
    """Send one claimed message, retrying what is worth retrying, within bounds."""
    limits = rt.limits
    throttled = failures = 0
    delay = limits.backoff
    target = item
    while True:
        try:
            await _send(app, rt, target, clock())
            return Status.SENT, None
        except Forbidden as exc:
            return Status.BLOCKED, exc.message
        except ChatMigrated as exc:
            if target is not item:
                return Status.FAILED, exc.message
            async with app.bot_data.session_factory()() as session:
                await onboarding.migrate_group(session, item.chat_id, exc.new_chat_id, clock())
            target = replace(item, chat_id=exc.new_chat_id)
        except RetryAfter as exc:
            result.retry_after += 1
            throttled += 1
            if throttled >= limits.retry_after_attempts:
                return Status.FAILED, f"still rate limited after {throttled} attempts"
            rt.pacer.pause(retry_seconds(exc))
            await rt.pacer.turn(target.chat_id)
        except BadRequest as exc:  # before NetworkError, of which it is a subclass
            return Status.FAILED, exc.message
        except NetworkError as exc:  # TimedOut included
            failures += 1
            if failures >= limits.network_attempts:
                return Status.FAILED, f"network: {exc.message}"
            result.network_retries += 1
            await rt.sleep(delay)
            delay = min(delay * 2, limits.max_backoff)
        except TelegramError as exc:
            return Status.FAILED, exc.message


async def _deliver(
    app: App,
    rt: Runtime,
    item: Due,
    result: BatchResult,
    queue: deque[Due],
    clock: Callable[[], datetime],
) -> None:
    sessions = app.bot_data.session_factory()
    now = clock()
    async with sessions() as session:
        if now >= item.until:
            result.skipped += await reminders.record_skipped(session, [item], now)
            return
        # Claimed just before its turn: if the process dies, what is still queued is
        # unclaimed and goes out from the next tick (or from the other process).
        claimed = await reminders.claim(session, item, now)
    # The turn is taken even when another process won the claim: processes walking the
    # same list then share one pace instead of adding theirs up.
    await rt.pacer.turn(item.chat_id)
    if not claimed:
        result.taken += 1
        return
    status, detail = await _attempt(app, rt, item, result, clock)
    async with sessions() as session:
        await reminders.finish(session, item.key, status, clock(), detail)
        if status is Status.BLOCKED and not item.to_group:
            queue.extend(await reminders.mark_unreachable(session, item.chat_id, clock()))
    if status is Status.SENT:
        result.sent += 1
    elif status is Status.BLOCKED:
        result.blocked += 1
        log.info("reminder %s: chat %s blocked the bot", item.key, item.chat_id)
    else:
        result.failed += 1
        log.warning("reminder %s to %s failed: %s", item.key, item.chat_id, detail)


async def send_batch(
    app: App, items: Iterable[Due], *, clock: Callable[[], datetime] | None = None
) -> BatchResult:
    """Send messages within Telegram's limits, each at most once (claimed in the ledger)."""
    rt = runtime(app)
    queue = deque(_spread(items))
    result = BatchResult(planned=len(queue))
    now = clock or app.bot_data.clock
    was_running = app.running

    async def worker() -> None:
        while queue:
            if was_running and not app.running:
                result.aborted = True  # shutting down: the rest stays unclaimed for next time
                return
            await _deliver(app, rt, queue.popleft(), result, queue, now)

    await asyncio.gather(*(worker() for _ in range(max(1, min(rt.limits.workers, len(queue))))))
    return result


# ------------------------------------------------------------------ the schedule


async def _run(app: App, rt: Runtime, now: datetime | None, catch_up: bool) -> BatchResult:
    async with rt.lock:
        clock: Callable[[], datetime] = app.bot_data.clock if now is None else (lambda: now)
        current = clock()
        async with app.bot_data.session_factory()() as session:
            found = await reminders.plan(session, current, catch_up=catch_up)
            skipped = await reminders.record_skipped(session, found.expired, current)
        items = found.due
        result = await send_batch(app, items, clock=clock) if items else BatchResult()
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


async def run_tick(app: App, now: datetime | None = None, *, catch_up: bool = True) -> BatchResult:
    """One tick at `now` (default: the Application's clock), awaited to its end: what tests
    and the benchmark call instead of waiting for the JobQueue."""
    return await _run(app, runtime(app), now, catch_up)


async def tick(context: Context) -> None:
    """The JobQueue's minute: start sending what has fallen due, in the background."""
    app: App = context.application
    rt = runtime(app)
    auto = rt.autotick if rt.autotick is not None else app.bot_data.clock is utc_now
    if not auto or rt.lock.locked():
        return  # time is driven by hand, or the previous batch is still going out
    catch_up = rt.last_catch_up is None or rt.monotonic() - rt.last_catch_up >= CATCH_UP_SECONDS
    if catch_up:
        rt.last_catch_up = rt.monotonic()
    rt.track(app.create_task(_run(app, rt, None, catch_up), name="reminders-batch"))


def schedule(app: App) -> None:
    """Register the tick under a fixed id: at start-up (so what fell due while the bot was
    down goes out if still useful), then every minute. The schedules themselves are rows in
    our tables, so a restart re-creates exactly this job and nothing is ever pickled."""
    if app.job_queue is None:
        raise RuntimeError("reminders need the JobQueue (python-telegram-bot[job-queue])")
    app.job_queue.run_repeating(
        tick,
        interval=TICK_SECONDS,
        first=0,
        name=JOB_ID,
        job_kwargs={
            "id": JOB_ID,
            "replace_existing": True,
            # The first run as soon as the scheduler starts, however long after this call
            # (migrations run in between): without it APScheduler would wait one interval.
            "next_run_time": datetime.now(UTC),
            "misfire_grace_time": None,
            "coalesce": True,
            "max_instances": 1,
        },
    )


def dispatch(app: App, items: list[Due]) -> None:
    """Send messages in the background (the chair's /remind), paced like the schedule."""
    if items:
        rt = runtime(app)
        rt.track(app.create_task(send_batch(app, items), name="reminders-nudge"))


async def settle(app: App) -> None:
    """Wait for every batch this Application has started (tests; shutdown)."""
    rt = runtime(app)
    while rt.tasks:
        await asyncio.gather(*list(rt.tasks), return_exceptions=True)
