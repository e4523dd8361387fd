"""Unit tests for bot/settings.py: the TOML file, THIDUA_… overrides and one-line errors."""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from bot.settings import Settings, SettingsError, load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"
TOKEN = "123456789:AAH-very-secret-token-value"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No THIDUA_* variable from the real environment, and an empty working directory."""
    for name in list(os.environ):
        if name.upper().startswith("THIDUA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _error(config: Path | None = None) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    return str(caught.value)


# --- where the settings come from ----------------------------------------------------------


def test_the_example_file_loads_with_the_documented_defaults() -> None:
    settings = load_settings(EXAMPLE)

    assert settings.database.url == "sqlite+aiosqlite:///thidua.db"
    assert settings.database.migrate_on_start is True
    assert settings.telegram.token is None
    assert settings.telegram.base_url == "https://api.telegram.org/bot"
    assert settings.telegram.base_file_url == "https://api.telegram.org/file/bot"
    assert settings.telegram.bot_username == ""
    assert settings.app.timezone == "Asia/Ho_Chi_Minh"
    assert settings.app.language == "vi"
    assert settings.app.admins == []
    assert settings.app.storage_dir == Path("storage")
    assert settings.app.invite_days == 14
    assert settings.app.log_level == "INFO"


def test_the_example_file_states_exactly_the_built_in_defaults() -> None:
    assert load_settings(EXAMPLE) == load_settings()


def test_without_a_file_every_setting_has_its_default() -> None:
    settings = load_settings()

    assert isinstance(settings, Settings)
    assert settings.database.url == "sqlite+aiosqlite:///thidua.db"
    assert settings.app.timezone == "Asia/Ho_Chi_Minh"
    assert settings.app.tz == ZoneInfo("Asia/Ho_Chi_Minh")
    assert settings.app.language == "vi"
    assert settings.app.admins == []
    assert settings.telegram.token is None


def test_config_toml_in_the_working_directory_is_read_by_default(tmp_path: Path) -> None:
    _write(tmp_path / "config.toml", '[app]\nlanguage = "en"\n')

    assert load_settings().app.language == "en"


def test_thidua_config_names_the_file_to_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _write(tmp_path / "config.toml", '[app]\nlanguage = "vi"\n')
    other = _write(tmp_path / "other.toml", '[app]\nlanguage = "en"\ninvite_days = 30\n')
    monkeypatch.setenv("THIDUA_CONFIG", str(other))

    settings = load_settings()

    assert settings.app.language == "en"
    assert settings.app.invite_days == 30


def test_an_explicit_path_wins_over_thidua_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(
        "THIDUA_CONFIG", str(_write(tmp_path / "env.toml", "[app]\ninvite_days = 2\n"))
    )
    explicit = _write(tmp_path / "explicit.toml", "[app]\ninvite_days = 3\n")

    assert load_settings(explicit).app.invite_days == 3


def test_thidua_config_naming_a_missing_file_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("THIDUA_CONFIG", str(tmp_path / "nowhere.toml"))

    message = _error()

    assert "THIDUA_CONFIG" in message
    assert "nowhere.toml" in message
    assert "not found" in message
    assert "\n" not in message


def test_the_environment_overrides_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = _write(
        tmp_path / "config.toml",
        '[database]\nurl = "sqlite+aiosqlite:///from-file.db"\n'
        '[app]\nadmins = [9]\nlanguage = "en"\n',
    )
    monkeypatch.setenv("THIDUA_DATABASE__URL", "postgresql+asyncpg://u:p@db:5432/thidua")
    monkeypatch.setenv("THIDUA_APP__ADMINS", "[1,2]")

    settings = load_settings(config)

    assert settings.database.url == "postgresql+asyncpg://u:p@db:5432/thidua"
    assert settings.app.admins == [1, 2]
    # Keys the environment does not set still come from the file.
    assert settings.app.language == "en"


def test_keyword_overrides_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THIDUA_APP__LANGUAGE", "vi")
    monkeypatch.setenv("THIDUA_APP__ADMINS", "[7]")

    settings = load_settings(app={"language": "en"})

    assert settings.app.language == "en"
    assert settings.app.admins == [7]


def test_log_level_is_case_insensitive_and_stored_upper_case(tmp_path: Path) -> None:
    config = _write(tmp_path / "config.toml", '[app]\nlog_level = "debug"\n')

    assert load_settings(config).app.log_level == "DEBUG"


# --- the token -----------------------------------------------------------------------------


def test_the_token_comes_from_the_environment_as_a_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("THIDUA_TELEGRAM__TOKEN", TOKEN)

    settings = load_settings()

    assert isinstance(settings.telegram.token, SecretStr)
    assert settings.telegram.token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings)
    assert TOKEN not in str(settings)
    assert TOKEN not in repr(settings.telegram)
    assert "AAH" not in repr(settings)


def test_a_token_in_the_file_is_refused(tmp_path: Path) -> None:
    config = _write(tmp_path / "config.toml", f'[telegram]\ntoken = "{TOKEN}"\n')

    message = _error(config)

    assert "telegram.token" in message
    assert "THIDUA_TELEGRAM__TOKEN" in message
    assert TOKEN not in message
    assert "\n" not in message


def test_a_token_without_a_colon_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("THIDUA_TELEGRAM__TOKEN", "AAHnocolonsecret")

    message = _error()

    assert "telegram.token" in message
    assert "@BotFather" in message
    assert "AAHnocolonsecret" not in message
    assert "\n" not in message


def test_the_zalo_token_comes_from_the_environment_and_is_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("THIDUA_ZALO__TOKEN", "1234:zalo-secret")
    assert load_settings().zalo.token == SecretStr("1234:zalo-secret")

    monkeypatch.setenv("THIDUA_ZALO__TOKEN", "nocolonzalosecret")
    message = _error()
    assert "zalo.token" in message and "nocolonzalosecret" not in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("webhook_secret", "short", "8-256 characters"),
        ("webhook_url", "http://bot.example.vn/zalo", "https://"),
        ("webhook_path", "/media", "/media"),
        ("per_second", "0", "greater than 0"),
    ],
)
def test_bad_zalo_settings_name_the_key(
    monkeypatch: pytest.MonkeyPatch, key: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(f"THIDUA_ZALO__{key.upper()}", value)

    message = _error()

    assert f"zalo.{key}" in message and expected in message


def test_media_links_start_at_the_public_url_else_the_webhook_origin() -> None:
    assert load_settings().zalo.media_base() == "http://127.0.0.1:8444"
    hooked = load_settings(zalo={"webhook_url": "https://bot.stc.gov.vn/zalo"})
    assert hooked.zalo.media_base() == "https://bot.stc.gov.vn"
    public = load_settings(
        zalo={"webhook_url": "https://a.vn/zalo", "public_url": "https://media.stc.gov.vn/"}
    )
    assert public.zalo.media_base() == "https://media.stc.gov.vn"


# --- bad files and values: one line naming the key -----------------------------------------


def test_an_unknown_key_is_named_with_its_section(tmp_path: Path) -> None:
    config = _write(tmp_path / "config.toml", '[app]\ntimezon = "Asia/Ho_Chi_Minh"\n')

    message = _error(config)

    assert "app.timezon: unknown key" in message
    assert "\n" not in message


def test_an_unknown_section_is_refused(tmp_path: Path) -> None:
    config = _write(tmp_path / "config.toml", "[databse]\nurl = 1\n")

    message = _error(config)

    assert "databse: unknown key" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("toml", "key", "fragment"),
    [
        ('[app]\ntimezone = "Mars/Olympus_Mons"\n', "app.timezone", "unknown time zone"),
        ('[app]\nlanguage = "fr"\n', "app.language", "vi, en"),
        ('[database]\nurl = "sqlite:///x.db"\n', "database.url", "async drivers"),
        ("[app]\ninvite_days = 0\n", "app.invite_days", "greater than or equal to 1"),
        ("[app]\ninvite_days = 366\n", "app.invite_days", "less than or equal to 365"),
        ('[app]\nlog_level = "verbose"\n', "app.log_level", "DEBUG, INFO, WARNING or ERROR"),
        ('[app]\nadmins = ["me"]\n', "app.admins", "'me' is not an address"),
    ],
    ids=[
        "timezone",
        "language",
        "sync-driver",
        "invite-days-0",
        "invite-days-366",
        "log-level",
        "admins",
    ],
)
def test_a_bad_value_gives_one_line_naming_the_key(
    tmp_path: Path, toml: str, key: str, fragment: str
) -> None:
    config = _write(tmp_path / "config.toml", toml)

    message = _error(config)

    assert f"{key}: " in message
    assert fragment in message
    assert "\n" not in message
    assert "more)" not in message


def test_a_bad_value_from_the_environment_names_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("THIDUA_APP__LANGUAGE", "fr")

    message = _error()

    assert "app.language: " in message
    assert "\n" not in message


def test_several_bad_values_name_the_first_and_count_the_rest(tmp_path: Path) -> None:
    config = _write(tmp_path / "config.toml", '[app]\nlanguage = "fr"\ninvite_days = 0\n')

    message = _error(config)

    assert "app.language: " in message
    assert message.endswith("(+1 more)")
    assert "\n" not in message


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    config = _write(tmp_path / "config.toml", '[app]\nlanguage = "vi"\ninvite_days = = 3\n')

    message = _error(config)

    assert "not valid TOML" in message
    assert "line 3" in message
    assert "\n" not in message


# --- bugs found by these tests, now fixed --------------------------------------------


def test_a_telegram_key_that_is_not_a_table_is_a_settings_error(tmp_path: Path) -> None:
    config = _write(tmp_path / "config.toml", "telegram = 5\n")

    assert "telegram" in _error(config)


def test_a_file_that_is_not_utf8_is_a_settings_error(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_bytes(b'[app]\nlanguage = "vi"\n# S\xf4 T\xe0i ch\xednh\n')  # Latin-1

    assert "UTF-8" in _error(config)


def test_thidua_config_naming_a_directory_is_a_settings_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("THIDUA_CONFIG", str(tmp_path))

    assert "THIDUA_CONFIG" in _error()


def test_an_environment_value_that_is_not_json_is_a_settings_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("THIDUA_APP__ADMINS", "123,456")

    assert _error().startswith("environment: THIDUA_APP__ADMINS: not valid JSON")


# --- the environment, read by bot/settings.py itself (was pydantic-settings) ---------------


def test_variable_names_are_read_without_regard_to_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("thidua_App__Language", "en")

    assert load_settings().app.language == "en"


def test_a_section_may_be_one_json_variable_and_a_key_variable_wins_over_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = _write(tmp_path / "config.toml", "[app]\nadmins = [3]\ninvite_days = 5\n")
    monkeypatch.setenv("THIDUA_APP", '{"language": "en", "invite_days": 9}')
    monkeypatch.setenv("THIDUA_APP__INVITE_DAYS", "3")

    settings = load_settings(config)

    assert settings.app.language == "en"
    assert settings.app.invite_days == 3
    assert settings.app.admins == [3]  # the file's, table by table


def test_an_unknown_key_in_the_environment_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THIDUA_APP__TIMEZON", "Asia/Ho_Chi_Minh")
    monkeypatch.setenv("THIDUA_NOT_A_SECTION", "1")  # not ours to judge: ignored

    assert _error() == (
        "environment: app.timezon: unknown key (check its spelling against config.example.toml)"
    )


def test_a_section_variable_that_is_not_json_is_a_settings_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("THIDUA_DATABASE", "url=sqlite+aiosqlite:///x.db")

    message = _error()

    assert message.startswith("environment: THIDUA_DATABASE: not valid JSON")
    assert "must be JSON" in message and "\n" not in message


def test_plain_values_stay_text_for_pydantic_to_convert(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THIDUA_DATABASE__MIGRATE_ON_START", "false")
    monkeypatch.setenv("THIDUA_TELEGRAM__WEBHOOK_PORT", "8080")
    monkeypatch.setenv("THIDUA_APP__STORAGE_DIR", "/srv/thidua")

    settings = load_settings()

    assert settings.database.migrate_on_start is False
    assert settings.telegram.webhook_port == 8080
    assert settings.app.storage_dir == Path("/srv/thidua")
