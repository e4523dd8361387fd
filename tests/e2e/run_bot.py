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

Zalo alone (`thidua run` with only a Zalo token, `bot.zalo_service.run_zalo`) builds its core
with `bot.zalo_service.make_core`; that is wrapped the same way, so E2E_CLOCK places a
Zalo-only process too. With E2E_ZALO_CEILING set, the Zalo channel's overall ceiling on
sends (15/s, a constant of bot/zalo/channel.py) follows `zalo.per_second` instead, so a
crash test can run its 300-message batches at 100/s: pacing is not what it checks.
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
import bot.zalo_service
from bot import cli
from bot.settings import Settings
from bot.zalo.channel import ZaloPacing
from bot.zalo_service import ZaloService
from handlers.core import Core, utc_now
from tests.e2e.fixing import FixingRequest

_build = bot.telegram.app.build_application
_make_core = bot.zalo_service.make_core


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


def _make_core_with_clock(settings: Settings, clock: Callable[[], datetime] = utc_now) -> Core:
    core = _make_core(settings, _clock() if clock is utc_now else clock)
    if os.environ.get("E2E_CLOCK"):
        from handlers.delivery import runtime

        runtime(core).autotick = True  # as above: the scheduler drives this clock's ticks
    return core


def _pacing_at_per_second(per_second: float = 10.0, private_gap: float = 1.0) -> ZaloPacing:
    return ZaloPacing(per_second, private_gap, ceiling_per_second=per_second)


bot.telegram.app.build_application = _build_with_fixing
bot.zalo_service.make_core = _make_core_with_clock
if os.environ.get("E2E_ZALO_CEILING"):
    bot.zalo_service.ZaloPacing = _pacing_at_per_second  # type: ignore[attr-defined,assignment]

if __name__ == "__main__":
    sys.argv[0] = "thidua"
    cli.main()
