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
    # Telegram lets bots download files up to 20 MB.
    evidence_limit: int = 20 * 1024 * 1024
    bot_username: str = ""
    # Injected so tests move time instead of sleeping.
    clock: Callable[[], datetime] = utc_now

    def session_factory(self) -> SessionFactory:
        if self.sessions is None:
            raise RuntimeError(
                "the database is opened in post_init; the application is not started"
            )
        return self.sessions


@dataclass
class ReportDraft:
    """A report being composed in the guided flow; nothing is stored until it is confirmed."""

    period_code: str | None = None
    group_code: str | None = None
    criterion_code: str | None = None
    value_text: str | None = None
    note: str | None = None
    # (file_id, file_unique_id, file_name, mime_type, size) of files sent in the flow
    evidence: list[tuple[str, str, str, str | None, int]] = field(default_factory=list)


@dataclass
class ReviewDraft:
    """A chair's review being composed; nothing is stored until it is confirmed."""

    cluster_code: str
    unit_code: str | None = None
    criterion_code: str | None = None
    report_id: int | None = None  # the version shown: a newer one makes the review stale
    score_text: str | None = None  # None: verify as proposed
    reason: str | None = None
    page: int = 0


@dataclass
class UserData:
    """Per-user conversation state (in memory: an abandoned draft is simply forgotten)."""

    draft: ReportDraft | None = None
    review: ReviewDraft | None = None


Context = CallbackContext[ExtBot[None], UserData, dict[Any, Any], BotData]
