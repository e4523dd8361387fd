"""An Application wired exactly as in production, on a real database, talking to a
RecordingRequest instead of Telegram, with a clock the test controls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.telegram.app import ThiduaApp, build_application
from models.db import create_engine, session_factory
from services import invites
from services.cluster_file import load_cluster_file
from services.clusters import import_cluster
from tests.conftest import EXAMPLES, NOW
from tests.telegram.harness import RecordingRequest

ADMIN_ID = 777


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def recorder() -> RecordingRequest:
    return RecordingRequest()


@pytest.fixture
async def seeded(db_url: str) -> str:
    """The database with both example clusters imported."""
    engine = create_engine(db_url)
    async with session_factory(engine)() as session:
        await import_cluster(session, load_cluster_file(EXAMPLES / "cum6-stc-2024.toml"), now=NOW)
        await import_cluster(session, load_cluster_file(EXAMPLES / "khoi-tw-tayninh.toml"), now=NOW)
    await engine.dispose()
    return db_url


@pytest.fixture
async def app(
    seeded: str, recorder: RecordingRequest, clock: Clock, tmp_path: Path
) -> AsyncIterator[ThiduaApp]:
    settings = Settings.model_validate(
        {
            "database": {"url": seeded},
            "telegram": {"token": "123456:TEST", "bot_username": "thidua_test_bot"},
            "app": {"admins": [ADMIN_ID], "storage_dir": str(tmp_path / "storage")},
        }
    )
    application = build_application(settings, request=recorder, clock=clock)
    await application.initialize()
    assert application.post_init is not None
    await application.post_init(application)
    # Starts the JobQueue as in production (conversation time-outs need it); no polling.
    await application.start()
    yield application
    await application.stop()
    assert application.post_shutdown is not None
    await application.post_shutdown(application)
    await application.shutdown()


@pytest.fixture
def invite(seeded: str) -> InviteMaker:
    return InviteMaker(seeded)


class InviteMaker:
    def __init__(self, url: str) -> None:
        self.url = url

    async def __call__(self, unit: str, cluster: str = "CUM6-STC") -> str:
        engine = create_engine(self.url)
        try:
            async with session_factory(engine)() as session:
                issued = await invites.create_invites(
                    session,
                    cluster_code=cluster,
                    unit_code=unit,
                    now=NOW,
                    days=14,
                    max_uses=None,
                    actor="test",
                )
        finally:
            await engine.dispose()
        return issued[0].token
