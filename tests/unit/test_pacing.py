"""The sliding window (handlers/pacing.py) on a virtual clock: nothing sleeps for real, and
what is asserted is when each send was let through, in virtual seconds.

The clock only moves when every task is waiting on it: then it jumps to the earliest
wake-up, as an event loop with nothing else to do would."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from bisect import bisect_left
from collections.abc import Awaitable, Callable
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.pacing import HOLD_IN_PLACE, Held, Window

EPS = 1e-9


class VirtualTime:
    def __init__(self) -> None:
        self.now = 100.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(seconds, 0.0), next(self._seq), future))
        await future

    async def settle(self) -> None:
        for _ in range(50):  # every task runs until it waits on the clock (or a landing)
            await asyncio.sleep(0)

    async def run(self, *work: Awaitable[object]) -> None:
        tasks = [asyncio.ensure_future(w) for w in work]
        while True:
            await self.settle()
            if all(t.done() for t in tasks):
                break
            assert self._sleepers, "a task waits for something the clock cannot bring"
            at, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, at)
            future.set_result(None)
        for task in tasks:
            task.result()

    async def until(self, moment: float) -> None:
        """Let time pass to `moment` (for a task that waits on purpose)."""
        await self.sleep(moment - self.now)


def telegram(time: VirtualTime, **changes: float) -> Window:
    args: dict[str, float] = {"per_second": 30, "private_gap": 1.0, "group_per_minute": 20}
    args.update(changes)
    return Window(
        per_second=args["per_second"],
        private_gap=args["private_gap"],
        group_per_minute=int(args["group_per_minute"]),
        guard=args.get("guard", 0.0),
        clock=time.clock,
        sleep=time.sleep,
    )


def most_in_any(times: list[float], span: float) -> int:
    ordered = sorted(times)
    return max((bisect_left(ordered, t + span - EPS) - i for i, t in enumerate(ordered)), default=0)


def sender(
    time: VirtualTime, window: Window, log: list[tuple[float, str, bool]]
) -> Callable[..., Awaitable[None]]:
    async def send(chat: str, batch: bool, after: float = 0.0) -> None:
        if after:
            await time.until(after)
        await window.acquire(chat, batch=batch, group=chat.startswith("-"))
        log.append((time.now, chat, batch))

    return send


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["1", "2", "3", "4", "5", "-100"]),
            st.booleans(),
            st.floats(min_value=0.0, max_value=3.0),
        ),
        min_size=1,
        max_size=90,
    )
)
def test_no_more_than_the_limit_goes_out_in_any_second_replies_and_batches_together(
    sends: list[tuple[str, bool, float]],
) -> None:
    time = VirtualTime()
    window = telegram(time)
    log: list[tuple[float, str, bool]] = []
    send = sender(time, window, log)
    asyncio.run(time.run(*(send(c, b, 100.0 + at) for c, b, at in sends)))

    assert len(log) == len(sends)
    assert most_in_any([t for t, _, _ in log], 1.0) <= 30
    assert most_in_any([t for t, c, _ in log if c == "-100"], 60.0) <= 20
    batch = sorted(t for t, _, b in log if b)
    assert all(b - a >= 1 / 30 - EPS for a, b in pairwise(batch))  # spread, never bunched
    last: dict[str, float] = {}
    for moment, chat, is_batch in log:  # in the order they were let through
        if is_batch and not chat.startswith("-") and chat in last:
            assert moment - last[chat] >= 1.0 - EPS  # after any message to that person
        last[chat] = moment


def test_a_burst_of_replies_takes_the_whole_window_then_the_next_second() -> None:
    time = VirtualTime()
    window = telegram(time)
    log: list[tuple[float, str, bool]] = []
    send = sender(time, window, log)
    asyncio.run(time.run(*(send(str(n), False) for n in range(100))))
    moments = sorted(t - 100.0 for t, _, _ in log)
    # 30 at once, 30 a second later…: the 99th reply leaves 3 s after the first.
    assert moments[29] < EPS and abs(moments[30] - 1.0) < EPS and abs(moments[98] - 3.0) < EPS


def test_a_reply_goes_before_batch_sends_that_were_waiting_longer() -> None:
    time = VirtualTime()
    window = telegram(time)
    log: list[tuple[float, str, bool]] = []
    send = sender(time, window, log)

    async def scene() -> None:
        await time.run(
            *(send(f"b{n}", True) for n in range(60)),  # the batch: 30 a second, spread
            send("person", False, after=101.5),  # someone writes when the window is full
        )

    asyncio.run(scene())
    reply = next(t for t, c, _ in log if c == "person")
    batch_after = [t for t, _, b in log if b and t >= 101.5]
    assert most_in_any([t for t, _, _ in log if t < 101.5], 1.0) == 30  # it was full
    # The reply takes the first slot that frees, before every batch send still waiting
    # (queued long before it): at most one batch interval after it came.
    assert reply < min(batch_after)
    assert reply - 101.5 <= 1.0 / 30 + EPS


def test_the_batch_fills_only_what_the_replies_leave() -> None:
    time = VirtualTime()
    window = telegram(time)
    log: list[tuple[float, str, bool]] = []
    send = sender(time, window, log)
    replies = [send(f"r{n}", False, after=100.0 + n * 0.1) for n in range(20)]  # 10 a second
    asyncio.run(time.run(*(send(f"b{n}", True) for n in range(60)), *replies))
    second = [(t, b) for t, _, b in log if 101.0 <= t < 102.0 - EPS]
    assert len(second) == 30  # the window is used to the full…
    assert sum(1 for _, b in second if not b) == 10  # …the replies first, the batch the rest


def test_a_batch_message_waits_a_second_after_the_last_one_to_that_person_a_reply_not() -> None:
    time = VirtualTime()
    window = telegram(time)
    log: list[tuple[float, str, bool]] = []
    send = sender(time, window, log)

    async def scene() -> None:
        await send("7", False)
        await send("7", False)  # a reply right after a reply: at once
        await send("7", True)  # a batch message after them: a second later
        await send("7", True)

    asyncio.run(time.run(scene()))
    assert [round(t - 100.0, 6) for t, _, _ in log] == [0.0, 0.0, 1.0, 2.0]


def test_a_group_gets_twenty_messages_a_minute_replies_included() -> None:
    time = VirtualTime()
    window = telegram(time)
    log: list[tuple[float, str, bool]] = []
    send = sender(time, window, log)
    asyncio.run(time.run(*(send("-100", n % 2 == 0) for n in range(25))))
    moments = sorted(t - 100.0 for t, _, _ in log)
    assert moments[19] < 1.0 and moments[20] >= 60.0 - EPS


def test_a_send_in_flight_holds_its_slot_until_its_answer_and_a_second_after() -> None:
    time = VirtualTime()
    window = telegram(time, per_second=2, private_gap=0.0)
    went: list[float] = []

    async def request(chat: str, answer_after: float) -> None:
        async with window.slot(chat, batch=False, group=False):
            went.append(time.now)
            await time.sleep(answer_after)

    async def scene() -> None:
        await time.run(request("1", 0.3), request("2", 0.0), request("3", 0.0))

    asyncio.run(scene())
    # Two slots: "1" answered 0.3 s after it went, so its slot frees at 1.3 s, not 1.0.
    assert [round(t - 100.0, 6) for t in went] == [0.0, 0.0, 1.0]
    went.clear()
    time2 = VirtualTime()
    window2 = Window(per_second=1, clock=time2.clock, sleep=time2.sleep)

    async def held(chat: str) -> None:
        async with window2.slot(chat, batch=False, group=False):
            went.append(time2.now)
            await time2.sleep(0.3)

    asyncio.run(time2.run(held("1"), held("2")))
    assert [round(t - 100.0, 6) for t in went] == [0.0, 1.3]


def test_when_every_slot_is_in_flight_the_next_send_waits_for_an_answer() -> None:
    time = VirtualTime()
    window = Window(per_second=1, clock=time.clock, sleep=time.sleep)
    answered = asyncio.Event()
    went: list[str] = []

    async def first() -> None:
        async with window.slot("1", batch=False, group=False):
            went.append("first")
            await answered.wait()  # no clock involved: only the answer frees it

    async def second() -> None:
        await window.acquire("2", batch=False, group=False)
        went.append("second")

    async def scene() -> None:
        tasks = [asyncio.ensure_future(first()), asyncio.ensure_future(second())]
        await time.settle()
        assert went == ["first"]  # the window cannot tell when: it waits for the landing
        answered.set()
        await time.run(*tasks)

    asyncio.run(scene())
    assert went == ["first", "second"] and time.now >= 101.0 - EPS


def test_a_guard_widens_the_second() -> None:
    time = VirtualTime()
    window = telegram(time, guard=0.05)
    log: list[tuple[float, str, bool]] = []
    send = sender(time, window, log)
    asyncio.run(time.run(*(send(str(n), False) for n in range(31))))
    assert abs(max(t for t, _, _ in log) - 101.05) < 1e-6
    assert abs(window.per_second - 30 / 1.05) < 1e-9


def test_a_hold_keeps_batch_sends_already_waiting_but_not_replies_and_refuses_a_long_one() -> None:
    time = VirtualTime()
    window = telegram(time)
    log: list[tuple[float, str, bool]] = []
    send = sender(time, window, log)

    async def scene() -> None:
        await send("1", True)
        waiting = asyncio.ensure_future(send("2", True))  # waits for the batch's spacing
        await time.settle()
        window.hold(5.0)  # the first one's 429 came back meanwhile
        await time.run(waiting, send("3", False))
        with pytest.raises(Held) as refused:
            window.hold(HOLD_IN_PLACE + 1)
            await window.acquire("4", batch=True, group=False)
        assert refused.value.seconds > HOLD_IN_PLACE

    asyncio.run(scene())
    went = {chat: round(t - 100.0, 6) for t, chat, _ in log}
    assert went == {"1": 0.0, "3": 0.0, "2": 5.0}
