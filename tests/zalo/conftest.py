"""The stand-in Zalo Bot API for this tier: one server per module, reset before each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from bot.zalo.client import ZaloClient
from tests.zalo.standin import StandinControl, ZaloStandin


@pytest.fixture(scope="module")
def standin() -> Iterator[ZaloStandin]:
    server = ZaloStandin().start()
    yield server
    server.stop()


@pytest.fixture
async def control(standin: ZaloStandin) -> StandinControl:
    """The stand-in's test side, with nothing queued or sent, no rate limit, empty polls."""
    found = StandinControl(standin.url)
    await found.reset()
    await found.configure(rate_limit_per_second=0, empty_poll="empty")
    return found


@pytest.fixture
async def client(standin: ZaloStandin, control: StandinControl) -> AsyncIterator[ZaloClient]:
    async with ZaloClient(standin.token, base_url=standin.url) as found:
        yield found
