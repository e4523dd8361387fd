"""What the core needs of a chat channel, and the errors a channel reports in neutral terms.

A channel sends the core's messages to an address and fetches a file a person sent; when
the platform refuses, it raises one of the `Undeliverable` errors below, so the reminder
sender and the notices decide the same way on every channel."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from handlers.io import Attachment, Outgoing
from handlers.pacing import Window
from services.addresses import Address


class Undeliverable(Exception):
    """The channel did not deliver the message."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Blocked(Undeliverable):
    """The person blocked the bot (or the bot was removed from the group)."""


class RetryLater(Undeliverable):
    """Rate limited: try again after `seconds`."""

    def __init__(self, detail: str, seconds: float) -> None:
        super().__init__(detail)
        self.seconds = seconds


class Moved(Undeliverable):
    """The chat has a new address (a Telegram group upgraded to a supergroup)."""

    def __init__(self, detail: str, new: Address) -> None:
        super().__init__(detail)
        self.new = new


class Rejected(Undeliverable):
    """The platform refused this message; sending it again would not help."""


class Transient(Undeliverable):
    """A network error or a time-out: worth another try."""


@dataclass(frozen=True)
class Pace:
    """How fast a batch may go to this channel."""

    per_second: float
    private_gap: float  # seconds between two messages to one person
    group_gap: float  # seconds between two messages to one group
    # The channel's own window, when every send of it passes one (Telegram's limiter):
    # then that window alone spaces the batch, and the numbers above only describe it.
    window: Window | None = field(default=None, compare=False)


class Channel(Protocol):
    name: str
    pace: Pace
    # Where a choice list becomes buttons; elsewhere it is numbered lines to answer by typing.
    buttons: bool
    # The longest text the platform accepts in one message.
    text_limit: int

    def is_group(self, chat: Address) -> bool: ...

    async def send(self, chat: Address, message: Outgoing, *, batch: bool = False) -> None:
        """Deliver one message; raise an Undeliverable error when the platform refuses."""

    async def fetch(self, attachment: Attachment, target: Path) -> None:
        """Download a file the person sent into `target`."""


@dataclass
class Channels:
    """The channels this process serves, by name: messages are routed by address."""

    by_name: dict[str, Channel] = field(default_factory=dict)

    def add(self, channel: Channel) -> None:
        self.by_name[channel.name] = channel

    def get(self, name: str) -> Channel:
        try:
            return self.by_name[name]
        except KeyError:
            raise Rejected(f"no channel {name!r} in this process") from None

    async def send(self, to: Address, message: Outgoing, *, batch: bool = False) -> None:
        await self.get(to.channel).send(to, message, batch=batch)
