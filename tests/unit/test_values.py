"""Parsing what officers type: numbers written the Vietnamese or the English way, yes/no."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.i18n import texts
from models.tables import CriterionKind
from services.errors import InvalidInput
from services.values import parse_number, parse_value, parse_yes_no


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("1.234,5", "vi", Decimal("1234.5")),
        ("1,234.5", "vi", Decimal("1234.5")),  # English form understood in Vietnamese too
        ("105,5", "vi", Decimal("105.5")),
        ("105.5", "vi", Decimal("105.5")),
        ("105%", "vi", Decimal(105)),
        ("105 %", "en", Decimal(105)),
        ("  7 ", "en", Decimal(7)),
        ("1,234.5", "en", Decimal("1234.5")),
        ("1.234,5", "en", Decimal("1234.5")),
        ("1.234", "vi", Decimal(1234)),  # ambiguous: the person's own locale decides
        ("1.234", "en", Decimal("1.234")),
    ],
)
def test_numbers_are_read_in_either_form(text: str, language: str, expected: Decimal) -> None:
    assert parse_number(text, language) == expected


@pytest.mark.parametrize("text", ["abc", "1 234,5", "12a", "1,2,3.4,5", "NaN", "%"])
def test_what_is_not_a_number_is_refused_with_the_text(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_number(text, "vi")

    assert refused.value.key in ("error.not_a_number", "error.value_empty")


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("có", True),
        ("Có", True),
        ("co", True),
        ("yes", True),
        ("Đạt", True),
        ("1", True),
        ("không", False),
        ("KHÔNG", False),
        ("khong", False),
        ("no", False),
        ("chưa", False),
    ],
)
def test_yes_and_no_in_both_languages(text: str, answer: bool) -> None:
    assert parse_yes_no(text) is answer


def test_decomposed_vietnamese_accents_are_understood() -> None:
    decomposed = "kho\u0302ng"  # "không" typed with a combining circumflex
    assert parse_yes_no(decomposed) is False


@pytest.mark.parametrize(
    ("kind", "text", "key"),
    [
        (CriterionKind.QUANTITATIVE, "-1", "error.value_negative"),
        (CriterionKind.QUANTITATIVE, "1001%", "error.value_absurd"),
        (CriterionKind.COUNT, "2,5", "error.value_not_whole"),
        (CriterionKind.COUNT, "100000", "error.value_absurd"),
        (CriterionKind.JUDGED, "11", "error.value_above_max"),
        (CriterionKind.YES_NO, "maybe", "error.not_yes_no"),
    ],
)
def test_values_outside_what_a_kind_accepts_are_refused(
    kind: CriterionKind, text: str, key: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_value(kind, text, "vi", percent=True, max_points=Decimal(10))

    assert refused.value.key == key


def test_a_large_amount_is_fine_when_it_is_not_a_percentage() -> None:
    value = parse_value(
        CriterionKind.QUANTITATIVE, "12.500.000", "vi", percent=False, max_points=Decimal(10)
    )

    assert value == Decimal(12_500_000)


@given(st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False))
def test_what_the_bot_prints_it_reads_back(value: Decimal) -> None:
    for language in ("vi", "en"):
        printed = texts(language).number(value)
        assert parse_number(printed, language) == value
