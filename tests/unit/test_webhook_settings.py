"""Webhook-mode settings and `thidua run`'s webhook options: every mistake stops start-up with
one line naming the key, before anything listens."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

from bot import cli
from bot.cli import app
from bot.settings import SettingsError, load_settings
from bot.telegram.webhook import WebhookConfig
from tests.cli_runner import CliRunner

runner = CliRunner()
TOKEN = "123456789:AAH-very-secret-token-value"
SECRET = "Abc_123-xyz"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("THIDUA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    # `thidua run` sets up the process's logging; keep pytest's.
    monkeypatch.setattr(cli, "setup_logging", lambda *_: None)


def _config(**options: object) -> WebhookConfig:
    return WebhookConfig.from_settings(load_settings(), **options)  # type: ignore[arg-type]


def test_the_settings_and_the_secret_from_the_environment_make_the_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("THIDUA_TELEGRAM__WEBHOOK_URL", "https://bot.example.vn/telegram")
    monkeypatch.setenv("THIDUA_TELEGRAM__WEBHOOK_SECRET", SECRET)

    config = _config()

    assert config == WebhookConfig(
        url="https://bot.example.vn/telegram",
        listen="127.0.0.1",
        port=8443,
        path="/telegram",
        secret=SECRET,
    )


def test_command_line_options_override_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THIDUA_TELEGRAM__WEBHOOK_URL", "https://old.example.vn/telegram")
    monkeypatch.setenv("THIDUA_TELEGRAM__WEBHOOK_SECRET", SECRET)

    config = _config(url="https://new.example.vn/hook", listen="0.0.0.0", port=9000, path="/hook")

    assert (config.url, config.listen, config.port, config.path) == (
        "https://new.example.vn/hook",
        "0.0.0.0",
        9000,
        "/hook",
    )


def test_without_a_secret_webhook_mode_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THIDUA_TELEGRAM__WEBHOOK_URL", "https://bot.example.vn/telegram")

    with pytest.raises(SettingsError, match=r"^telegram\.webhook_secret: not set"):
        _config()


def test_without_a_public_url_webhook_mode_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("THIDUA_TELEGRAM__WEBHOOK_SECRET", SECRET)

    with pytest.raises(SettingsError, match=r"^telegram\.webhook_url: not set"):
        _config()


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"url": "http://bot.example.vn/telegram"}, "webhook_url"),
        ({"path": "telegram"}, "webhook_path"),
        ({"path": "/healthz"}, "webhook_path"),
        ({"port": 70000}, "webhook_port"),
    ],
)
def test_a_bad_option_is_named(
    monkeypatch: pytest.MonkeyPatch, options: dict[str, object], key: str
) -> None:
    monkeypatch.setenv("THIDUA_TELEGRAM__WEBHOOK_URL", "https://bot.example.vn/telegram")
    monkeypatch.setenv("THIDUA_TELEGRAM__WEBHOOK_SECRET", SECRET)

    with pytest.raises(SettingsError, match=rf"^telegram\.{key}: "):
        _config(**options)


@pytest.mark.parametrize("secret", ["has space", "ünïcode", "x" * 257, "semi;colon"])
def test_a_secret_telegram_would_refuse_is_refused_here(
    monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.setenv("THIDUA_TELEGRAM__WEBHOOK_SECRET", secret)

    with pytest.raises(SettingsError, match="webhook_secret: must be 1-256 characters"):
        load_settings()


def test_the_secret_is_refused_in_a_settings_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[telegram]\nwebhook_secret = "{SECRET}"\n', encoding="utf-8")

    with pytest.raises(SettingsError, match="THIDUA_TELEGRAM__WEBHOOK_SECRET"):
        load_settings(path)


def test_run_with_webhook_options_but_without_webhook_stops_with_a_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("THIDUA_TELEGRAM__TOKEN", TOKEN)

    result = runner.invoke(app, ["run", "--port", "9000"])

    assert result.exit_code == 2
    assert "--webhook" in result.output


def test_run_webhook_without_the_secret_stops_before_listening(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("THIDUA_TELEGRAM__TOKEN", TOKEN)

    result = runner.invoke(
        app, ["run", "--webhook", "--webhook-url", "https://bot.example.vn/telegram"]
    )

    assert result.exit_code == 2
    assert "telegram.webhook_secret: not set" in result.output


def test_a_run_that_stops_before_the_bot_starts_leaves_the_collector_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `thidua run` pauses the garbage collector for its start (bot/__init__.py); a run that
    # ends early must not leave it off (here: in the test process itself).
    monkeypatch.setenv("THIDUA_TELEGRAM__TOKEN", TOKEN)

    result = runner.invoke(
        app, ["run", "--webhook", "--webhook-url", "https://bot.example.vn/telegram"]
    )

    assert result.exit_code == 2
    assert gc.isenabled()
