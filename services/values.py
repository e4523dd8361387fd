"""Turning what a person typed into a value for a criterion, whichever way they write numbers.

Numbers are parsed by Babel in the person's locale first (Vietnamese `1.234,5`), then in the
other one (`1,234.5`), both strictly, so `105.5` and `105,5` both mean 105.5 and a
mistyped grouping is refused rather than misread.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal

from babel.numbers import NumberFormatError, parse_decimal

from models.tables import CriterionKind
from services.errors import InvalidInput

LOCALES = {"vi": ("vi_VN", "en_GB"), "en": ("en_GB", "vi_VN")}
# Beyond these a value is a typo (an extra zero, a phone number pasted), not a report.
MAX_PERCENT = Decimal(1000)
MAX_AMOUNT = Decimal(10) ** 12
MAX_COUNT = Decimal(10_000)

_YES = frozenset({"có", "co", "yes", "y", "đạt", "dat", "rồi", "roi", "x", "1", "ok", "true"})
_NO = frozenset({"không", "khong", "ko", "no", "n", "chưa", "chua", "0", "false"})


def _fold(text: str) -> str:
    # Vietnamese keyboards produce composed or decomposed accents; compare one form.
    return unicodedata.normalize("NFC", text).strip().lower()


def parse_number(text: str, language: str) -> Decimal:
    """A decimal from `1.234,5`, `1,234.5`, `105%`, `105 %`; InvalidInput otherwise."""
    cleaned = _fold(text).removesuffix("%").strip()
    if not cleaned:
        raise InvalidInput("error.value_empty")
    for locale in LOCALES.get(language, LOCALES["vi"]):
        try:
            value = parse_decimal(cleaned, locale=locale, strict=True)
        except NumberFormatError:
            continue
        if value.is_finite():
            return value
    raise InvalidInput("error.not_a_number", text=text.strip())


def parse_yes_no(text: str) -> bool:
    """Có / không (with or without accents), yes / no, 1 / 0."""
    folded = _fold(text)
    if folded in _YES:
        return True
    if folded in _NO:
        return False
    raise InvalidInput("error.not_yes_no", text=text.strip())


def parse_value(
    kind: CriterionKind, text: str, language: str, *, percent: bool, max_points: Decimal | None
) -> Decimal:
    """The stored value of a report: the number, 1/0 for yes/no, the proposed points."""
    if kind is CriterionKind.YES_NO:
        return Decimal(1) if parse_yes_no(text) else Decimal(0)
    value = parse_number(text, language)
    if value < 0:
        raise InvalidInput("error.value_negative", text=text.strip())
    if kind is CriterionKind.QUANTITATIVE:
        limit = MAX_PERCENT if percent else MAX_AMOUNT
        if value > limit:
            raise InvalidInput("error.value_absurd", text=text.strip(), limit=limit)
        return value
    if kind is CriterionKind.JUDGED:
        if max_points is not None and value > max_points:
            raise InvalidInput("error.value_above_max", text=text.strip(), max=max_points)
        return value
    # count, bonus and penalty: how many items (or points, when no points_each is set)
    if value != value.to_integral_value() and kind is CriterionKind.COUNT:
        raise InvalidInput("error.value_not_whole", text=text.strip())
    if value > MAX_COUNT:
        raise InvalidInput("error.value_absurd", text=text.strip(), limit=MAX_COUNT)
    return value
