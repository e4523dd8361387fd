"""What the running bot loads at start-up: the heavy libraries wait for their first use.

Each check starts a fresh interpreter, because this test process has long imported them
all. The child does what `thidua run` does before its first getUpdates (settings, the
Application with its core and router, the menus' texts, the migration check on a database
already at head) and reports which of the heavy modules it holds.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from models.db import create_engine
from models.migrate import upgrade

REPO = Path(__file__).resolve().parents[2]
# Each is only needed by one command or one channel (and costs MB and tenths of a second):
# the workbook, the year-end documents, the leaderboard chart, the Zalo QR code, the
# webhook servers, the migrations themselves and the holiday calendar (the first reminder
# tick loads it, not the start).
HEAVY = (
    "openpyxl",
    "numpy",
    "PIL",
    "docx",
    "lxml",
    "matplotlib",
    "segno",
    "uvicorn",
    "starlette",
    "alembic",
    "mako",
    "holidays",
    # The command line is stdlib argparse; httpx's own CLI (click, rich, pygments) is kept
    # out by bot/__init__.py.
    "typer",
    "click",
    "rich",
    "pygments",
    # Settings are read by bot/settings.py itself (validated by pydantic).
    "pydantic_settings",
    "dotenv",
    # A bot on SQLite has no use for the PostgreSQL dialect (~2 MB).
    "sqlalchemy.dialects.postgresql",
)

CHILD = textwrap.dedent(
    """
    import asyncio, json, sys

    from bot.cli import _settings
    from bot.telegram.app import build_application
    from handlers.commands import menu
    from handlers.i18n import LANGUAGES, texts
    from models.db import create_engine
    from models.migrate import upgrade

    settings = _settings()
    app = build_application(settings)
    for language in LANGUAGES:
        for private in (True, False):
            [texts(language).raw(f"cmd.{c.name}") for c in menu(private=private)]
    texts("vi").number(1234.5)


    async def check():
        engine = create_engine(settings.database.url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()


    asyncio.run(check())
    for name in sys.argv[1:]:
        __import__(name)
    heavy = HEAVY
    print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
    """
)


def _loaded_at_start(tmp_path: Path, *also: str) -> list[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"

    async def migrate() -> None:
        engine = create_engine(url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(migrate())
    env = {k: v for k, v in os.environ.items() if not k.startswith("THIDUA_")}
    env.update(
        PYTHONPATH=str(REPO),
        THIDUA_DATABASE__URL=url,
        THIDUA_TELEGRAM__TOKEN="123456:STARTUP",
        THIDUA_TELEGRAM__BOT_USERNAME="startup_bot",
        THIDUA_APP__STORAGE_DIR=str(tmp_path / "storage"),
    )
    code = f"HEAVY = {HEAVY!r}\n{CHILD}"
    done = subprocess.run(
        [sys.executable, "-c", code, *also],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_the_start_path_loads_none_of_the_heavy_libraries(tmp_path: Path) -> None:
    assert _loaded_at_start(tmp_path) == []


def test_the_check_sees_a_heavy_library_once_its_module_is_used(tmp_path: Path) -> None:
    # The same child, then the modules that write a workbook page and a document page:
    # the check above is only worth something if it reports what is loaded.
    loaded = _loaded_at_start(tmp_path, "services.docx_layout", "openpyxl", "alembic.command")
    assert {"docx", "lxml", "openpyxl", "alembic", "mako"} <= set(loaded)
