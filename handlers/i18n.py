"""Message catalogues (gettext .po, read with Babel) and locale-aware formatting.

Texts are keyed (`start.welcome`), Vietnamese first: a key missing in English falls back to
Vietnamese. Every parameter is HTML-escaped unless wrapped in `Html`, because texts go out
with parse_mode=HTML and user input must never become markup.
"""

from __future__ import annotations

import html
import re
import string
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LOCALES = Path(__file__).with_name("locales")
DEFAULT_LANGUAGE = "vi"
LANGUAGES = ("vi", "en")
DATE_PATTERN = "dd/MM/yyyy"  # Vietnamese civil-service form, e.g. 05/04/2024
DATETIME_PATTERN = "HH:mm dd/MM/yyyy"
_TAG_RE = re.compile(r"</?(?:b|i|u|s|code|pre)>|<a\s[^>]*>|</a>")


class Html(str):
    """Already-safe HTML that must not be escaped again (e.g. a rendered table)."""

    __slots__ = ()


@cache
def load_catalogue(language: str) -> dict[str, str]:
    path = LOCALES / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _escape(value: object) -> object:
    if isinstance(value, Html):
        return value
    if isinstance(value, str):
        return html.escape(value, quote=False)
    return value


@dataclass(frozen=True)
class Texts:
    """The texts and number/date forms of one language."""

    language: str

    @property
    def babel_locale(self) -> str:
        return "vi_VN" if self.language == "vi" else "en_GB"

    def raw(self, key: str) -> str:
        own = load_catalogue(self.language)
        if key in own:
            return own[key]
        fallback = load_catalogue(DEFAULT_LANGUAGE)
        return fallback.get(key, key)

    def __call__(self, key: str, **params: object) -> Html:
        """The text for `key` as safe HTML, parameters escaped."""
        return Html(self.raw(key).format(**{k: _escape(v) for k, v in params.items()}))

    def plain(self, key: str, **params: object) -> str:
        """The text for `key` as plain text (CLI output), parameters as given."""
        return self.raw(key).format(**params)

    def text(self, key: str, **params: object) -> str:
        """The text for `key` without markup, for a terminal or a log."""
        return to_plain(self.plain(key, **params))

    def number(self, value: Decimal | int | float, places: int = 2) -> str:
        """1.234,5 in Vietnamese, 1,234.5 in English; trailing zeros dropped."""
        pattern = "#,##0." + "#" * places if places else "#,##0"
        text = format_decimal(value, format=pattern, locale=self.babel_locale)
        return "0" if text == "-0" else text  # a tiny negative rounds to zero, not "-0"

    def date(self, value: date) -> str:
        return format_date(value, DATE_PATTERN, locale=self.babel_locale)

    def datetime(self, value: datetime, tz: ZoneInfo) -> str:
        return format_datetime(value, DATETIME_PATTERN, tzinfo=tz, locale=self.babel_locale)


def to_plain(text: str) -> str:
    """Safe HTML as plain text: tags dropped, entities decoded (a terminal, a log)."""
    return html.unescape(_TAG_RE.sub("", text))


def texts(language: str | None) -> Texts:
    return Texts(language if language in LANGUAGES else DEFAULT_LANGUAGE)
