"""The neutral shapes every channel speaks: what a person sent, and what the bot answers.

A channel adapter (bot/telegram, bot/console, …) turns its platform's update into an
`Incoming` and renders each `Outgoing`: a choice list becomes buttons where the platform
has them and numbered lines where it has not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from handlers.i18n import Html
from services.addresses import Address


@dataclass(frozen=True)
class Attachment:
    """A file that came with a message (evidence)."""

    kind: Literal["document", "photo"]
    ref: str  # the channel's way to fetch it again, e.g. "telegram:<file_id>"
    unique_id: str  # stable across re-sends; names the stored copy (never the user's name)
    name: str
    mime: str | None
    size: int


@dataclass(frozen=True)
class Incoming:
    """One thing a person did: a message (text, command, files) or a press on a choice."""

    sender: Address
    chat: Address
    private: bool
    full_name: str
    username: str | None = None
    text: str = ""  # the text, or a file's caption
    attachments: tuple[Attachment, ...] = ()
    button: str | None = None  # the data of the choice pressed
    update_id: str | None = None
    # Something the bot cannot read (a sticker, content the platform withholds): answered
    # with what it can read instead of silence.
    unsupported: bool = False

    @property
    def channel(self) -> str:
        return self.sender.channel

    @property
    def command(self) -> tuple[str, list[str]] | None:
        """("baocao", ["1.1.1", "105"]) for "/baocao@thidua_bot 1.1.1 105"; None for text."""
        if not self.text.startswith("/"):
            return None
        head, *args = self.text.split()
        name = head[1:].split("@", 1)[0].lower()
        return (name, args) if name else None


@dataclass(frozen=True)
class Choice:
    label: str
    data: str


Choices = tuple[tuple[Choice, ...], ...]


def choices(*rows: list[Choice] | tuple[Choice, ...]) -> Choices:
    return tuple(tuple(row) for row in rows if row)


@dataclass(frozen=True)
class Text:
    """A message: safe HTML, optionally with choices under it."""

    body: Html
    choices: Choices = ()


@dataclass(frozen=True)
class Document:
    content: bytes
    filename: str
    caption: Html = field(default_factory=lambda: Html(""))


@dataclass(frozen=True)
class Picture:
    png: bytes
    caption: Html = field(default_factory=lambda: Html(""))


Outgoing = Text | Document | Picture
