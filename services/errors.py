"""Domain errors. Each carries a message-catalogue key and its parameters; the channel
adapter (handlers/, the CLI) turns it into text in the user's language."""

from __future__ import annotations


class DomainError(Exception):
    """A rule said no; nothing was changed."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class NotFound(DomainError):
    """The named cluster, unit, criterion or period does not exist (for this user)."""


class PermissionDenied(DomainError):
    """The user's role does not allow this."""


class InvalidInput(DomainError):
    """The input cannot be used as given."""
