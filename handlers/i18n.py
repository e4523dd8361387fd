"""Message catalogues (gettext .po, read with Babel) and locale-aware formatting.

Texts are keyed (`start.welcome`), Vietnamese first: a key missing in English falls back to
Vietnamese. Every parameter is HTML-escaped unless wrapped in `Html`, because texts go out
with parse_mode=HTML and user input must never become markup.
"""

from __future__ import annotations

import gettext
import html
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from services.errors import Term

LOCALES = Path(__file__).with_name("locales")
DEFAULT_LANGUAGE = "vi"
LANGUAGES = ("vi", "en")
DATE_PATTERN = "dd/MM/yyyy"  # Vietnamese civil-service form, e.g. 05/04/2024
DATETIME_PATTERN = "HH:mm dd/MM/yyyy"
_TAG_RE = re.compile(r"</?(?:b|i|u|s|code|pre)>|<a\s[^>]*>|</a>")


class Html(str):
    """Already-safe HTML that must not be escaped again (e.g. a rendered table)."""

    __slots__ = ()


@dataclass(frozen=True)
class Catalogue:
    """One language's texts. A plural entry (msgid_plural in the .po) keeps all its forms;
    `choose` is the catalogue's own Plural-Forms rule (gettext's, not ours)."""

    texts: dict[str, str]  # a plural entry's last form ("other"): shown when no count is given
    plurals: dict[str, tuple[str, ...]]
    choose: Callable[[int], int]

    def form(self, key: str, count: Decimal | int | float) -> str:
        forms = self.plurals[key]
        # gettext's rules are for whole numbers; 1,5 points takes the "other" form (the last)
        # in both our languages, as CLDR says for English and Vietnamese.
        if count != int(count):
            return forms[-1]
        return forms[min(self.choose(abs(int(count))), len(forms) - 1)]


@cache
def catalogue(language: str) -> Catalogue:
    path = LOCALES / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    texts: dict[str, str] = {}
    plurals: dict[str, tuple[str, ...]] = {}
    for m in catalog:
        if not m.id:
            continue
        if isinstance(m.id, tuple | list):
            strings = m.string if isinstance(m.string, tuple | list) else ()
            forms = tuple(str(f) for f in strings if f)
            if forms:
                plurals[str(m.id[0])] = forms
                texts[str(m.id[0])] = forms[-1]
        elif m.string:
            texts[str(m.id)] = str(m.string)
    return Catalogue(texts, plurals, gettext.c2py(catalog.plural_expr))


@cache
def _locale(name: str) -> Locale:
    # Parsed once: given a name, Babel parses it again at every number and date (a dozen
    # times in one report's answer).
    return Locale.parse(name)


def load_catalogue(language: str) -> dict[str, str]:
    return catalogue(language).texts


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
    def babel_locale(self) -> Locale:
        return _locale("vi_VN" if self.language == "vi" else "en_GB")

    def raw(self, key: str, plural: Decimal | int | float | None = None) -> str:
        """The text for `key`; for a plural entry, the form for the count `plural`
        (ngettext). A key with plural forms must be given its count: the English "1 reports"
        comes from forgetting it, so that is an error, not a guess."""
        own = catalogue(self.language)
        source = own if key in own.texts else catalogue(DEFAULT_LANGUAGE)
        if key in source.plurals:
            if plural is None:
                raise ValueError(f"text {key!r} has plural forms: give its count as plural=")
            return source.form(key, plural)
        return source.texts.get(key, key)

    def __call__(
        self, key: str, plural: Decimal | int | float | None = None, /, **params: object
    ) -> Html:
        """The text for `key` as safe HTML, parameters escaped; a `Term` parameter is said
        in this language (its own catalogue text)."""
        params = {k: self.raw(v) if isinstance(v, Term) else v for k, v in params.items()}
        return Html(self.raw(key, plural).format(**{k: _escape(v) for k, v in params.items()}))

    def plain(
        self, key: str, plural: Decimal | int | float | None = None, /, **params: object
    ) -> str:
        """The text for `key` as plain text (CLI output), parameters as given."""
        return self.raw(key, plural).format(**params)

    def text(
        self, key: str, plural: Decimal | int | float | None = None, /, **params: object
    ) -> str:
        """The text for `key` without markup, for a terminal or a log."""
        return to_plain(self.plain(key, plural, **params))

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
