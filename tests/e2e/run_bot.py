"""`thidua` as installed, talking to the Bot API emulator through FixingRequest. Tests only.

    python tests/e2e/run_bot.py run               # what `thidua run` does
    python tests/e2e/run_bot.py run --webhook …   # what `thidua run --webhook …` does

The one difference from the `thidua` entry point: `bot.telegram.app.build_application` is wrapped so
the Application it builds talks through `FixingRequest` (tests/e2e/fixing.py) and, when
E2E_CLOCK is set, runs on a clock that starts at that instant and then advances in real time
(build_application's `clock` parameter, the seam the handler tests use too). Settings from
the environment, logging, migrations, command menus, the scheduler, polling and the webhook
server are the production code paths, unchanged. Production code has no test switch: nothing
a user could set moves a production bot's clock.

Why a clock at all: reminders go out on Vietnamese working days in office hours only, so a
test on the real clock could only pass at certain hours. With E2E_CLOCK the test puts the
process just before or just after a reminder's time, whatever the hour in CI.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from telegram.request import BaseRequest

import bot.telegram.app
from bot import cli
from bot.settings import Settings
from bot.zalo_service import ZaloService
from handlers.core import utc_now
from tests.e2e.fixing import FixingRequest

_build = bot.telegram.app.build_application


def _clock() -> Callable[[], datetime]:
    start = os.environ.get("E2E_CLOCK")
    if not start:
        return utc_now
    origin = datetime.fromisoformat(start).astimezone(UTC)
    began = time.monotonic()
    return lambda: origin + timedelta(seconds=time.monotonic() - began)


def _build_with_fixing(
    settings: Settings,
    *,
    request: BaseRequest | None = None,
    clock: Callable[[], datetime] = utc_now,
    zalo: ZaloService | None = None,
    zalo_http: bool = True,
) -> bot.telegram.app.ThiduaApp:
    app = _build(
        settings,
        request=request or FixingRequest.from_env(),
        clock=_clock() if clock is utc_now else clock,
        zalo=zalo,
        zalo_http=zalo_http,
    )
    if os.environ.get("E2E_CLOCK"):
        # The reminders tick only runs by itself on the real clock (in-process tests drive it
        # by hand); this clock advances in real time, so let the JobQueue drive it.
        from handlers.delivery import runtime

        runtime(app.bot_data).autotick = True
    return app


bot.telegram.app.build_application = _build_with_fixing

if __name__ == "__main__":
    sys.argv[0] = "thidua"
    cli.main()
