"""Channel addresses: a person's account or a chat on one channel, as one typed value.

Stored as text, "telegram:123456" or "zalo:8f3a…", so the domain never depends on what a
channel's ids look like (Telegram's are integers, Zalo's are strings)."""

from __future__ import annotations

from dataclasses import dataclass

from services.errors import InvalidInput

CHANNELS = ("telegram", "zalo", "console")


@dataclass(frozen=True, order=True)
class Address:
    """Where a person or a chat is reached: the channel and the channel's own id."""

    channel: str
    id: str

    def __str__(self) -> str:
        return f"{self.channel}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> Address:
        """ "telegram:123" → Address("telegram", "123"); a bare number is a Telegram id,
        the form settings files used before there was a second channel."""
        channel, sep, rest = text.strip().partition(":")
        if not sep:
            if channel.lstrip("-").isdigit():
                return cls("telegram", channel)
            raise InvalidInput("error.address", address=text)
        if channel not in CHANNELS or not rest:
            raise InvalidInput("error.address", address=text)
        return cls(channel, rest)


def stored(text: str | None) -> Address | None:
    """An address read back from a column (None stays None)."""
    return Address.parse(text) if text else None
