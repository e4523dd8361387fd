"""The neutral core driven directly: no chat platform, a recording channel, a real database
(SQLite file and PostgreSQL), a clock the test moves. A "restart" is a second Core on its
own engine, as a new process (or another webhook worker) would be."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from handlers.channel import Pace
from handlers.core import Core, handle
from handlers.io import Attachment, Choice, Incoming, Outgoing, Text
from models.db import create_engine, session_factory
from services.addresses import Address
from services.cluster_file import load_cluster_file
from services.clusters import import_cluster
from services.onboarding import Person
from services.rehearsal import seat
from tests.conftest import EXAMPLES, NOW

OFFICER = Address("console", "officer-bdinh")


@dataclass
class RecordingChannel:
    """A channel that keeps what the core sends, and 'downloads' files as fixed bytes."""

    name: str = "console"
    buttons: bool = True
    text_limit: int = 4096
    pace: Pace = field(default_factory=lambda: Pace(1000.0, 0.0, 0.0))
    sent: list[tuple[Address, Outgoing]] = field(default_factory=list)

    def is_group(self, chat: Address) -> bool:
        return chat.id.startswith("group")

    async def send(self, chat: Address, message: Outgoing, *, batch: bool = False) -> None:
        self.sent.append((chat, message))

    async def fetch(self, attachment: Attachment, target: Path) -> None:
        content = b"evidence " + attachment.unique_id.encode()
        await asyncio.to_thread(target.write_bytes, content)

    def texts(self, to: Address = OFFICER) -> list[str]:
        return [m.body for a, m in self.sent if a == to and isinstance(m, Text)]

    def last(self, to: Address = OFFICER) -> str:
        return self.texts(to)[-1]

    def choices(self) -> list[str]:
        texts = [m for _, m in self.sent if isinstance(m, Text)]
        return [c.data for row in texts[-1].choices for c in row]

    def labels(self) -> list[Choice]:
        texts = [m for _, m in self.sent if isinstance(m, Text)]
        return [c for row in texts[-1].choices for c in row]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def seeded(db_url: str) -> str:
    engine = create_engine(db_url)
    async with session_factory(engine)() as session:
        await import_cluster(session, load_cluster_file(EXAMPLES / "cum6-stc-2024.toml"), now=NOW)
        await seat(
            session,
            Person(address=OFFICER, full_name="Cán bộ Bình Định", username=None),
            "CUM6-STC",
            "STC-BDINH",
            NOW,
        )
    await engine.dispose()
    return db_url


Opener = Callable[[], AbstractAsyncContextManager[Core]]


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def channel() -> RecordingChannel:
    return RecordingChannel()


@pytest.fixture
def open_core(seeded: str, clock: Clock, channel: RecordingChannel, tmp_path: Path) -> Opener:
    @asynccontextmanager
    async def opened() -> AsyncIterator[Core]:
        """A core on its own engine: what a (re)started process has."""
        engine = create_engine(seeded)
        core = Core(sessions=session_factory(engine), storage_dir=tmp_path / "storage", clock=clock)
        core.channels.add(channel)
        try:
            yield core
        finally:
            await engine.dispose()

    return opened


def said(text: str, *, attachments: tuple[Attachment, ...] = ()) -> Incoming:
    return Incoming(
        sender=OFFICER,
        chat=OFFICER,
        private=True,
        full_name="Cán bộ Bình Định",
        text=text,
        attachments=attachments,
    )


def pressed(data: str, by: Address = OFFICER) -> Incoming:
    return Incoming(sender=by, chat=by, private=True, full_name="Cán bộ Bình Định", button=data)


__all__ = ["OFFICER", "Clock", "RecordingChannel", "handle", "pressed", "said"]
