"""The command registry: what /help lists and what the Telegram menu shows, per role and
chat type. Later features add their commands here."""

from __future__ import annotations

from dataclasses import dataclass

from services.access import Permission


@dataclass(frozen=True)
class Command:
    name: str
    permission: Permission | None = None  # None: anyone may use it
    private: bool = True
    group: bool = False
    # The Vietnamese alias (Telegram command names are Latin letters without accents).
    vi: str | None = None

    def shown(self, language: str) -> str:
        """The name to show: the Vietnamese alias in Vietnamese menus and help."""
        return self.vi if language == "vi" and self.vi else self.name

    @property
    def names(self) -> list[str]:
        return [self.name, self.vi] if self.vi else [self.name]


COMMANDS: tuple[Command, ...] = (
    Command("start"),
    Command("help", group=True),
    Command("report", Permission.REPORT, vi="baocao"),
    Command("progress", Permission.VIEW_PROGRESS, vi="tiendo"),
    Command("history", Permission.VIEW_PROGRESS, vi="lichsu"),
    Command("cancel"),
    # the chair's work
    Command("leaderboard", Permission.VIEW_LEADERBOARD, group=True, vi="bxh"),
    Command("summary", Permission.VIEW_SUMMARY, vi="tonghop"),
    Command("review", Permission.REVIEW, vi="thamdinh"),
    Command("explain", Permission.REPORT, vi="giaitrinh"),
    Command("export", Permission.EXPORT, vi="xuat"),
    Command("midyear", Permission.VIEW_SUMMARY, vi="soket"),
    Command("closeyear", Permission.CLOSE_YEAR, vi="ketthucnam"),
    Command("handover", Permission.HANDOVER, vi="bangiao"),
    Command("vote", Permission.VIEW_LEADERBOARD, vi="bophieu"),
    Command("minutes", Permission.DOCUMENTS, vi="bienban"),
    Command("proposal", Permission.DOCUMENTS, vi="totrinh"),
    # deadlines and reminders
    Command("remind", Permission.REMIND, group=True, vi="nhacnho"),
    Command("deadlines", Permission.VIEW_PROGRESS, group=True, vi="hanchot"),
    Command("whoami"),
    Command("lang"),
    Command("channel", vi="kenh"),
    Command("link", vi="lienket"),
    Command("linkgroup", Permission.LINK_GROUP, private=False, group=True),
)


def commands_for(permissions: frozenset[Permission], *, private: bool) -> list[Command]:
    """The commands a person with these permissions can use in this kind of chat."""
    return [
        c
        for c in COMMANDS
        if (c.private if private else c.group)
        and (c.permission is None or c.permission in permissions)
    ]


def menu(*, private: bool) -> list[Command]:
    """The menu of a chat type. Telegram menus cannot follow roles per person, so it lists
    every command of the chat type; /help lists what the person's role allows."""
    return [c for c in COMMANDS if (c.private if private else c.group)]
