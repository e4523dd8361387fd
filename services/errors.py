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


class Term(str):
    """A parameter that is itself a catalogue key (e.g. "role.chair.khoi"): the text shows
    the key's text in the reader's language, so a service can name "the Khối trưởng" in an
    error without wording it (handlers/i18n resolves it)."""

    __slots__ = ()


def chair_term(cluster_kind: str) -> Term:
    """The chair's title by the cluster's kind: Cụm trưởng for a Cụm, Khối trưởng for a Khối."""
    return Term(f"role.chair.{cluster_kind}")
