"""`thidua try`: the console channel's loop, on a throw-away SQLite file or the configured
database, with a clock that may be moved to rehearse a deadline."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.console import ConsoleChannel
from bot.settings import Settings
from handlers import delivery
from handlers.core import Core, error_text, handle, utc_now
from handlers.i18n import texts, to_plain
from handlers.io import Incoming
from models.db import create_engine, session_factory
from models.migrate import upgrade
from services import rehearsal
from services.addresses import Address
from services.cluster_file import ClusterFileError, load_cluster_file
from services.clusters import import_cluster
from services.errors import DomainError
from services.onboarding import Person

ME = Address("console", "me")
TIME_FORMAT = "%Y-%m-%d %H:%M"


class MovableClock:
    """Real time, shifted: `--at` and `:at` move it, and it keeps running from there."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utc_now() + self.offset

    def move_to(self, moment: datetime) -> None:
        self.offset = moment - utc_now()


def same_moment_in(year: int, now: datetime, tz: ZoneInfo) -> datetime:
    """Today's date and time in the cluster's working year: a file for another year is
    rehearsed inside that year, where its units and periods are."""
    local = now.astimezone(tz)
    if local.year == year:
        return now
    day = 28 if (local.month, local.day) == (2, 29) else local.day
    return local.replace(year=year, day=day)


def parse_moment(text: str, tz: ZoneInfo) -> datetime:
    """ "2025-03-28 08:00" in the cluster's time zone."""
    return datetime.strptime(text.strip(), TIME_FORMAT).replace(tzinfo=tz)


async def rehearse(
    settings: Settings,
    *,
    cluster_file: Path | None,
    who: str,
    at: datetime | None,
    configured_db: bool,
    stdin: TextIO,
    stdout: TextIO,
) -> int:
    """Run the chat until end of input or `:quit`; 0, or 1 when it could not start."""
    with tempfile.TemporaryDirectory(prefix="thidua-try-") as scratch:
        folder = Path(scratch)
        url = settings.database.url if configured_db else f"sqlite+aiosqlite:///{folder}/try.db"
        engine = create_engine(url)
        try:
            return await _session(
                settings,
                engine_url=url,
                folder=folder,
                cluster_file=cluster_file,
                who=who,
                at=at,
                stdin=stdin,
                stdout=stdout,
                engine=engine,
            )
        finally:
            await engine.dispose()


async def _session(
    settings: Settings,
    *,
    engine_url: str,
    folder: Path,
    cluster_file: Path | None,
    who: str,
    at: datetime | None,
    stdin: TextIO,
    stdout: TextIO,
    engine: AsyncEngine,
) -> int:
    t = texts(settings.app.language)
    clock = MovableClock()
    if at is not None:
        clock.move_to(at)
    await upgrade(engine)
    sessions = session_factory(engine)
    console = ConsoleChannel(stdout, Path.cwd() / "thidua-try-files")
    core = Core(
        sessions=sessions,
        tz=settings.app.tz,
        default_language=settings.app.language,
        storage_dir=folder / "storage",
        clock=clock,
    )
    core.channels.add(console)
    person = Person(address=ME, full_name="Thư ký (thử)", username=None)
    try:
        async with sessions() as session:
            code = None
            if cluster_file is not None:
                spec = load_cluster_file(cluster_file)
                await import_cluster(session, spec, now=clock(), actor="try")
                code = spec.cluster.code
            cluster_code, unit_code, year = await rehearsal.unit_for(session, code, who)
            if at is None:
                clock.move_to(same_moment_in(year, clock(), settings.app.tz))
            joined = await rehearsal.seat(session, person, cluster_code, unit_code, clock())
    except DomainError as err:
        stdout.write(to_plain(error_text(t, err)) + "\n")
        return 1
    except ClusterFileError as err:
        stdout.write(f"{err}\n")
        return 1
    stdout.write(
        t.text(
            "try.banner",
            unit=joined.seat.unit_name,
            cluster=joined.seat.cluster_name,
            now=t.datetime(clock(), settings.app.tz),
            database=engine_url if engine_url.startswith("postgresql") else "SQLite (tạm)",
        )
        + "\n\n"
    )
    stdout.flush()
    # What would fire at this moment goes out first, as the scheduler would send it.
    await delivery.run_tick(core)
    interactive = stdin.isatty()
    loop = asyncio.get_running_loop()
    while True:
        if interactive:
            stdout.write("> ")
            stdout.flush()
        line = await loop.run_in_executor(None, stdin.readline)
        if not line:
            break
        typed = line.strip()
        if not typed:
            continue
        if typed in (":quit", ":q"):
            break
        if typed == ":tick":
            result = await delivery.run_tick(core)
            stdout.write(t.text("try.ticked", result.sent, sent=result.sent) + "\n\n")
            continue
        if typed.startswith(":at "):
            try:
                clock.move_to(parse_moment(typed[4:], settings.app.tz))
            except ValueError:
                stdout.write(t.text("try.bad_time", example="2025-03-28 08:00") + "\n\n")
                continue
            stdout.write(t.text("try.moved", now=t.datetime(clock(), settings.app.tz)) + "\n\n")
            await delivery.run_tick(core)
            continue
        incoming = Incoming(
            sender=ME, chat=ME, private=True, full_name=person.full_name, text=typed
        )
        await handle(core, incoming)
        await delivery.settle(core)
    return 0


def main(
    settings: Settings,
    *,
    cluster_file: Path | None,
    who: str,
    at: str | None,
    configured_db: bool,
) -> int:
    moment = parse_moment(at, settings.app.tz) if at else None
    return asyncio.run(
        rehearse(
            settings,
            cluster_file=cluster_file,
            who=who,
            at=moment,
            configured_db=configured_db,
            stdin=sys.stdin,
            stdout=sys.stdout,
        )
    )
