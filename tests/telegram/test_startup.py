"""Start-up of the Telegram Application: what `thidua run` pauses, the start resumes."""

from __future__ import annotations

import gc
from pathlib import Path

from bot import pause_collector, resume_collector
from bot.settings import Settings
from bot.telegram.app import build_application
from tests.telegram.conftest import Clock
from tests.telegram.harness import RecordingRequest


async def test_the_started_application_has_the_collector_back_on_and_its_menus_sent(
    seeded: str, recorder: RecordingRequest, clock: Clock, tmp_path: Path
) -> None:
    settings = Settings.model_validate(
        {
            "database": {"url": seeded},
            "telegram": {"token": "123456:TEST", "bot_username": "thidua_test_bot"},
            "app": {"storage_dir": str(tmp_path / "storage")},
        }
    )
    pause_collector()  # as `thidua run` does before importing and building the bot
    try:
        app = build_application(settings, request=recorder, clock=clock)
        await app.initialize()
        assert app.post_init is not None
        await app.post_init(app)
        assert not gc.isenabled()  # still starting
        await app.start()
        assert gc.isenabled()
        assert len(recorder.sent("setMyCommands")) == 7  # start-up is complete with them
        await app.stop()
        assert app.post_shutdown is not None
        await app.post_shutdown(app)
        await app.shutdown()
    finally:
        resume_collector()
        gc.enable()
