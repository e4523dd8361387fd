"""The batch pacer on an injected clock: on a channel without a window of its own (Zalo),
evenly spaced overall, a gap per private chat, a longer one per group, none during a
pause; on one with its own (Telegram's limiter), only the pause and lost claims' slots."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.channel import Pace
from handlers.core import Core
from handlers.delivery import Pacer, Runtime, _spread
from handlers.pacing import Window
from services.addresses import Address
from services.reminders import Due, Kind

EPS = 1e-9
MOMENT = datetime(2024, 7, 4, 1, 0, tzinfo=UTC)


class FakeTime:
    def __init__(self) -> None:
        self.now = 50.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


def tg(chat: int) -> Address:
    return Address("telegram", str(chat))


def pacer(time: FakeTime, pace: Pace) -> Pacer:
    rt = Runtime(Core(), monotonic=time.monotonic, sleep=time.sleep)
    return Pacer(rt, pace, lambda chat: int(chat.id) < 0)


TELEGRAM = Pace(per_second=25, private_gap=1.0, group_gap=3.0)  # the pace it had once


def paced(chats: list[int], pace: Pace) -> list[tuple[float, int]]:
    time = FakeTime()
    turns = pacer(time, pace)

    async def run() -> list[tuple[float, int]]:
        out = []
        for chat in chats:
            await turns.turn(tg(chat))
            out.append((time.now, chat))
        return out

    return asyncio.run(run())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([11, 12, 13, 14, -100, -200]), min_size=1, max_size=60))
def test_turns_respect_the_overall_and_per_chat_limits(chats: list[int]) -> None:
    limits = TELEGRAM
    turns = paced(chats, limits)
    for (t1, _), (t2, _) in pairwise(turns):
        assert t2 - t1 >= 1 / 25 - EPS
    last: dict[int, float] = {}
    for moment, chat in turns:
        if chat in last:
            gap = limits.group_gap if chat < 0 else limits.private_gap
            assert moment - last[chat] >= gap - EPS
        last[chat] = moment


def test_distinct_chats_go_out_at_the_overall_rate_and_no_slower() -> None:
    turns = paced(list(range(1, 101)), TELEGRAM)
    assert abs((turns[-1][0] - turns[0][0]) - 99 / 25) < 1e-6


def test_a_pause_holds_every_later_turn() -> None:
    time = FakeTime()
    turns = pacer(time, TELEGRAM)

    async def run() -> float:
        await turns.turn(tg(1))
        turns.pause(30)
        start = time.now
        await turns.turn(tg(2))
        return time.now - start

    assert asyncio.run(run()) >= 30


def test_messages_to_one_chat_are_spread_through_the_batch() -> None:
    def due(chat: int, n: int) -> Due:
        return Due(
            key=f"k{chat}-{n}",
            rule="r",
            kind=Kind.BEFORE,
            cluster_id=1,
            cluster_name="c",
            cluster_kind="cum",
            timezone="Asia/Ho_Chi_Minh",
            address=tg(chat),
            language="vi",
            due_at=MOMENT,
            until=MOMENT,
        )

    items = [due(1, 1), due(1, 2), due(1, 3), due(2, 1), due(3, 1)]
    assert [d.key for d in _spread(items)] == ["k1-1", "k2-1", "k3-1", "k1-2", "k1-3"]


def test_on_a_channel_with_its_own_window_a_turn_takes_no_slot_and_waits_only_a_pause() -> None:
    """Telegram: the limiter's window spaces every request; the pacer adds no spacing of
    its own (the same numbers twice would be two answers to one question)."""
    time = FakeTime()
    window = Window(per_second=2, private_gap=1.0, clock=time.monotonic, sleep=time.sleep)
    rt = Runtime(Core(), monotonic=time.monotonic, sleep=time.sleep)
    turns = Pacer(rt, Pace(2, 1.0, 3.0, window=window), lambda chat: False)

    async def run() -> list[float]:
        for chat in (1, 1, 2, 3):
            await turns.turn(tg(chat))
        before = time.now
        turns.pause(30)
        await turns.turn(tg(4))
        return [before, time.now]

    before, after = asyncio.run(run())
    assert before == 50.0  # four turns, one chat twice, at 2/s: none waited
    assert after >= before + 30
    assert window.in_window(time.now) == 0


def test_a_claim_lost_to_another_process_still_takes_its_slot_in_the_channels_window() -> None:
    time = FakeTime()
    window = Window(per_second=2, clock=time.monotonic, sleep=time.sleep)
    rt = Runtime(Core(), monotonic=time.monotonic, sleep=time.sleep)
    turns = Pacer(rt, Pace(2, 0.0, 0.0, window=window), lambda chat: False)

    async def run() -> None:
        for chat in range(1, 4):
            await turns.turn(tg(chat), sending=False)

    asyncio.run(run())
    # Three lost claims at 2/s: the third waited for the first to leave the window.
    assert time.now >= 51.0 and window.in_window(time.now) == 2
