"""Typed application state (no `context.bot_data["x"]`) and the context type handlers use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from telegram.ext import CallbackContext, ExtBot

from services.uow import SessionFactory


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class BotData:
    """Shared, read-mostly state. Never a session: sessions are per update."""

    sessions: SessionFactory | None = None
    admins: frozenset[int] = frozenset()
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Ho_Chi_Minh"))
    default_language: str = "vi"
    storage_dir: Path = Path("storage")
    bot_username: str = ""
    # Injected so tests move time instead of sleeping.
    clock: Callable[[], datetime] = utc_now

    def session_factory(self) -> SessionFactory:
        if self.sessions is None:
            raise RuntimeError(
                "the database is opened in post_init; the application is not started"
            )
        return self.sessions


Context = CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]
