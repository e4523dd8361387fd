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


COMMANDS: tuple[Command, ...] = (
    Command("start"),
    Command("help", group=True),
    Command("whoami"),
    Command("lang"),
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
