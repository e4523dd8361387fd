"""Unit tests for handlers/i18n.py and the message catalogues it reads."""

from __future__ import annotations

import re
import string
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from handlers.commands import COMMANDS
from handlers.i18n import (
    LANGUAGES,
    Html,
    Texts,
    catalogue,
    load_catalogue,
    placeholders,
    texts,
)
from models.tables import ClusterKind, Role
from services.access import AccessRole, Permission

ROOT = Path(__file__).resolve().parents[2]
HCM = ZoneInfo("Asia/Ho_Chi_Minh")
KEY_RE = re.compile(
    r"""["']((?:start|help|cmd|lang|whoami|linkgroup|group|unknown|role|perm|holders|error|cli)"""
    r"""\.[a-z_.]+)["']"""
)
# t("key"), t.raw("key"), t.plain(…), t.text(…), call.t(…): any literal key, any prefix.
CALL_RE = re.compile(r"""\bt(?:\.(?:raw|plain|text))?\(\s*["']([a-z_]+(?:\.[a-z_]+)*)["']""")
RAISED_RE = re.compile(r"""\(\s*["'](error\.[a-z_]+)["']""")
TELEGRAM_TAGS = {"b", "i", "u", "s", "code", "pre"}


def _sources(*folders: str) -> list[Path]:
    files = sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))
    assert files, f"no .py files under {folders}"
    return files


def _keys_in(files: list[Path], pattern: re.Pattern[str]) -> dict[str, str]:
    """Every catalogue key written as a whole string literal, with where it first appears.

    Keys built at run time (f"perm.{name}") never match: the literal must be the whole key.
    """
    found: dict[str, str] = {}
    for path in files:
        source = path.read_text(encoding="utf-8")
        for match in pattern.finditer(source):
            line = source.count("\n", 0, match.start()) + 1
            found.setdefault(match.group(1), f"{path.relative_to(ROOT)}:{line}")
    return found


# --- the catalogues ------------------------------------------------------------------------


def test_vi_and_en_have_exactly_the_same_keys() -> None:
    vi, en = load_catalogue("vi"), load_catalogue("en")

    assert len(vi) > 50
    assert sorted(set(vi) - set(en)) == []
    assert sorted(set(en) - set(vi)) == []


def test_each_key_has_the_same_placeholders_in_both_languages() -> None:
    vi, en = load_catalogue("vi"), load_catalogue("en")

    different = {
        key: (sorted(placeholders(vi[key])), sorted(placeholders(en[key])))
        for key in vi.keys() & en.keys()
        if placeholders(vi[key]) != placeholders(en[key])
    }

    assert different == {}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_placeholder_is_a_plain_name(language: str) -> None:
    bad: list[str] = []
    for key, text in load_catalogue(language).items():
        try:
            fields = list(string.Formatter().parse(text))
        except ValueError as exc:
            bad.append(f"{key}: {exc}")
            continue
        for _, name, spec, conversion in fields:
            if name is not None and (not name.isidentifier() or spec or conversion):
                bad.append(f"{key}: {{{name}}}")

    assert bad == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_formats_with_its_placeholders(language: str) -> None:
    t = texts(language)

    plurals = catalogue(language).plurals
    for key, text in load_catalogue(language).items():
        params = {name: f"<{name}>" for name in placeholders(text)}
        rendered = t(key, 2 if key in plurals else None, **params)
        for name in params:
            assert f"&lt;{name}&gt;" in rendered, key


@pytest.mark.parametrize("language", LANGUAGES)
def test_texts_use_only_tags_telegram_understands(language: str) -> None:
    tags = {
        tag
        for text in load_catalogue(language).values()
        for tag in re.findall(r"</?([A-Za-z][A-Za-z0-9]*)[^>]*>", text)
    }

    assert tags <= TELEGRAM_TAGS
    assert "b" in tags


def test_the_catalogue_keys_used_in_handlers_and_bot_exist() -> None:
    vi = load_catalogue("vi")
    used = _keys_in(_sources("handlers", "bot"), KEY_RE)

    assert "start.welcome" in used
    assert "cli.settings_error" in used
    missing = sorted(f"{place}: {key}" for key, place in used.items() if key not in vi)
    assert missing == [], "not in the catalogue:\n" + "\n".join(missing)


def test_every_literal_key_passed_to_a_texts_call_exists() -> None:
    vi = load_catalogue("vi")
    used = _keys_in(_sources("handlers", "bot"), CALL_RE)

    assert "unknown" in used  # call.t("unknown")
    assert "cli.no_token" in used  # t.plain("cli.no_token")
    missing = sorted(f"{place}: {key}" for key, place in used.items() if key not in vi)
    assert missing == [], "not in the catalogue:\n" + "\n".join(missing)


def test_every_error_key_raised_by_the_services_exists() -> None:
    vi = load_catalogue("vi")
    raised = _keys_in(sorted((ROOT / "services").glob("*.py")), RAISED_RE)

    assert "error.forbidden" in raised  # raised on the line after its "("
    assert "error.invite_unknown" in raised
    missing = sorted(f"{place}: {key}" for key, place in raised.items() if key not in vi)
    assert missing == [], "not in the catalogue:\n" + "\n".join(missing)


def test_the_keys_built_at_run_time_exist() -> None:
    vi = load_catalogue("vi")
    built = (
        ["unknown", "role.none", "role.member"]
        + [f"cmd.{c.name}" for c in COMMANDS]
        + [f"perm.{p.value}" for p in Permission]
        + [f"holders.{r.value}" for r in AccessRole]
        + [f"role.{r.value}.{k.value}" for r in Role if r is not Role.MEMBER for k in ClusterKind]
    )

    missing = [key for key in built if key not in vi]
    assert missing == [], "not in the catalogue:\n" + "\n".join(missing)


# --- plurals (ngettext) -------------------------------------------------------------------


def test_plural_entries_are_the_same_in_both_languages_with_their_own_number_of_forms() -> None:
    vi, en = catalogue("vi"), catalogue("en")

    assert len(en.plurals) >= 20
    assert set(vi.plurals) == set(en.plurals)
    assert {len(forms) for forms in vi.plurals.values()} == {1}  # nplurals=1
    assert {len(forms) for forms in en.plurals.values()} == {2}  # nplurals=2
    for key, (one, other) in en.plurals.items():
        assert one != other, key
        assert placeholders(one) == placeholders(other) == placeholders(vi.plurals[key][0]), key


@pytest.mark.parametrize(
    ("count", "expected"),
    [(1, "1 day left"), (2, "2 days left"), (0, "0 days left"), (-1, "-1 day left")],
)
def test_english_agrees_with_the_count(count: int, expected: str) -> None:
    assert texts("en").plain("remind.when.left", count, days=count) == expected


def test_vietnamese_has_one_form_for_every_count() -> None:
    vi = texts("vi")

    assert vi.plain("remind.when.left", 1, days=1) == "còn 1 ngày"
    assert vi.plain("remind.when.left", 5, days=5) == "còn 5 ngày"


def test_a_fraction_takes_the_other_form() -> None:
    en = texts("en")

    assert en.plain("cli.exported", Decimal("1.5"), path="p", year=2024, units="1,5").endswith(
        "1,5 units."
    )
    assert en.plain("cli.exported", Decimal("1"), path="p", year=2024, units=1).endswith("1 unit.")


def test_a_plural_text_without_its_count_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError, match="plural"):
        texts("en")("lb.unreviewed", count=1)


def test_every_plural_key_written_in_the_code_is_given_its_count() -> None:
    plural_keys = set(catalogue("vi").plurals)
    uncounted = []
    for path in _sources("handlers", "bot"):
        source = path.read_text(encoding="utf-8")
        for key in plural_keys:
            # t("key", count, …) passes it; t("key", name=…) or t("key") does not.
            for match in re.finditer(rf'["\']{re.escape(key)}["\']\s*(\)|,\s*[a-z_]+=)', source):
                line = source.count("\n", 0, match.start()) + 1
                uncounted.append(f"{path.relative_to(ROOT)}:{line}: {key}")

    assert uncounted == []


# --- formatting ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "value", "expected"),
    [
        ("vi", 1234.5, "1.234,5"),
        ("en", 1234.5, "1,234.5"),
        ("vi", Decimal("105.00"), "105"),
        ("en", Decimal("105.00"), "105"),
        ("vi", Decimal("1234567.891"), "1.234.567,89"),
        ("vi", 0, "0"),
        ("vi", Decimal("0.5"), "0,5"),
    ],
)
def test_numbers_use_the_language_separators_and_drop_trailing_zeros(
    language: str, value: Decimal | float, expected: str
) -> None:
    assert texts(language).number(value) == expected


def test_number_places_can_be_zero() -> None:
    assert texts("vi").number(Decimal("1234.4"), places=0) == "1.234"


def test_dates_are_day_month_year() -> None:
    assert texts("vi").date(date(2024, 4, 5)) == "05/04/2024"
    assert texts("en").date(date(2024, 4, 5)) == "05/04/2024"


def test_datetimes_are_shown_in_the_given_time_zone() -> None:
    utc_morning = datetime(2024, 4, 5, 3, 0, tzinfo=UTC)

    assert texts("vi").datetime(utc_morning, HCM) == "10:00 05/04/2024"
    assert texts("en").datetime(utc_morning, HCM) == "10:00 05/04/2024"


def test_a_datetime_late_in_utc_is_the_next_day_in_vietnam() -> None:
    utc_evening = datetime(2024, 12, 31, 20, 30, tzinfo=UTC)

    assert texts("vi").datetime(utc_evening, HCM) == "03:30 01/01/2025"


# --- escaping ------------------------------------------------------------------------------


def test_a_user_supplied_parameter_is_escaped() -> None:
    text = texts("vi")("start.moved", unit="<b>Sở</b> & Co")

    assert isinstance(text, Html)
    assert "&lt;b&gt;Sở&lt;/b&gt; &amp; Co" in text
    assert "<b>Sở</b>" not in text
    # The catalogue's own markup stays.
    assert text.startswith("Bạn không còn báo cáo cho <b>")


def test_an_html_parameter_is_not_escaped() -> None:
    text = texts("vi")("start.moved", unit=Html("<i>Sở</i>"))

    assert "<b><i>Sở</i></b>" in text
    assert "&lt;" not in text


def test_non_string_parameters_are_formatted_as_they_are() -> None:
    text = texts("en")("cli.invites_revoked", 3, count=3)

    assert text == "Revoked 3 invitations."


def test_plain_does_not_escape() -> None:
    text = texts("vi").plain("start.moved", unit="A & B <x>")

    assert text == "Bạn không còn báo cáo cho <b>A & B <x></b> nữa (lịch sử vẫn được giữ)."


def test_text_strips_tags_and_unescapes() -> None:
    vi = texts("vi")

    assert vi.raw("start.moved").startswith("Bạn không còn báo cáo cho <b>{unit}</b>")
    assert vi.text("start.moved", unit="Sở Tài chính") == (
        "Bạn không còn báo cáo cho Sở Tài chính nữa (lịch sử vẫn được giữ)."
    )
    assert vi.text("cli.settings_error", detail="a &amp; b") == "Cấu hình sai — a & b"


# --- languages -----------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["fr", "", None, "VI"])
def test_an_unknown_language_falls_back_to_vietnamese(language: str | None) -> None:
    t = texts(language)

    assert t == Texts("vi")
    assert t.plain("cli.yes") == "có"


def test_english_is_used_when_asked_for() -> None:
    assert texts("en").plain("cli.yes") == "yes"
    assert str(texts("en").babel_locale) == "en_GB"
    assert str(texts("vi").babel_locale) == "vi_VN"


def test_an_unknown_key_is_shown_as_itself() -> None:
    assert texts("en").raw("no.such.key") == "no.such.key"
