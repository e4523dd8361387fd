"""The `thidua` command line on a real SQLite file, as a secretariat would use it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.cli import app
from models.migrate import head_revision
from tests.cli_runner import CliRunner
from tests.conftest import EXAMPLES

runner = CliRunner()
CUM6 = str(EXAMPLES / "cum6-stc-2024.toml")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory without config.toml and a database file of its own."""
    monkeypatch.chdir(tmp_path)
    for name in [
        "THIDUA_CONFIG",
        "THIDUA_TELEGRAM__TOKEN",
        "THIDUA_TELEGRAM__BOT_USERNAME",
        "THIDUA_DATABASE__URL",
    ]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("THIDUA_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    return tmp_path


def test_import_then_reimport_reports_no_change() -> None:
    first = runner.invoke(app, ["cluster", "import", CUM6])
    assert first.exit_code == 0, first.output
    assert "Đã nhập Cụm CUM6-STC" in first.output
    assert re.search(r"unit: thêm 9, sửa 0", first.output)

    second = runner.invoke(app, ["cluster", "import", CUM6])
    assert second.exit_code == 0
    assert "CUM6-STC: không có gì thay đổi" in second.output


def test_a_bad_cluster_file_names_the_key_and_imports_nothing(isolated: Path) -> None:
    bad = isolated / "bad.toml"
    text = Path(CUM6).read_text(encoding="utf-8").replace('chair = "STC-QNAM"', 'chair = "STC-XX"')
    bad.write_text(text, encoding="utf-8")

    result = runner.invoke(app, ["cluster", "import", str(bad)])

    assert result.exit_code == 1
    assert "years[0] (2024).chair: 'STC-XX' is not a member unit that year" in result.output
    listed = runner.invoke(app, ["cluster", "list"])
    assert "Chưa có Cụm nào" in listed.output


def test_a_toml_syntax_error_names_the_line(isolated: Path) -> None:
    bad = isolated / "broken.toml"
    bad.write_text('[cluster]\ncode = "X"\nname = \n', encoding="utf-8")

    result = runner.invoke(app, ["cluster", "import", str(bad)])

    assert result.exit_code == 1
    assert "line 3" in result.output


def test_list_shows_each_cluster_with_its_year_size_and_chair() -> None:
    runner.invoke(app, ["cluster", "import", CUM6])
    runner.invoke(app, ["cluster", "import", str(EXAMPLES / "khoi-tw-tayninh.toml")])

    result = runner.invoke(app, ["cluster", "list"])

    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("CUM6-STC") and "6 đơn vị" in lines[0] and "Quảng Nam" in lines[0]
    assert lines[1].startswith("KHOI-TW-TNINH") and "năm 2024" in lines[1]


def test_invite_prints_one_deep_link_per_unit_and_revoke_revokes_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("THIDUA_TELEGRAM__BOT_USERNAME", "@thidua_bot")
    runner.invoke(app, ["cluster", "import", CUM6])

    result = runner.invoke(app, ["invite", "CUM6-STC", "--days", "3"])

    assert result.exit_code == 0, result.output
    links = re.findall(r"https://t\.me/thidua_bot\?start=([A-Za-z0-9_-]+)", result.output)
    assert len(links) == 6 and len(set(links)) == 6
    one = runner.invoke(app, ["invite", "CUM6-STC", "STC-PYEN", "--uses", "2"])
    assert one.output.count("https://t.me/") == 1 and "tối đa 2 lần" in one.output

    revoked = runner.invoke(app, ["revoke-invites", "CUM6-STC"])
    assert "Đã thu hồi 7 link mời" in revoked.output


def test_invite_tells_zalo_officers_what_to_send_and_writes_the_bot_qr(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("THIDUA_TELEGRAM__BOT_USERNAME", "thidua_bot")
    monkeypatch.setenv("THIDUA_ZALO__BOT_NAME", "Thi Đua Cụm 6")
    monkeypatch.setenv("THIDUA_ZALO__BOT_LINK", "https://zalo.me/1234567890")
    runner.invoke(app, ["cluster", "import", CUM6])

    result = runner.invoke(app, ["invite", "CUM6-STC", "STC-PYEN", "--qr-dir", str(tmp_path)])

    assert result.exit_code == 0, result.output
    [telegram] = re.findall(r"https://t\.me/thidua_bot\?start=([A-Za-z0-9_-]+)", result.output)
    # The same invitation works on either channel.
    assert f"Zalo: tìm bot “Thi Đua Cụm 6” trên Zalo, nhắn: /start {telegram}" in result.output
    qr = tmp_path / "zalo-bot-qr.png"
    assert str(qr) in result.output
    assert qr.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and qr.stat().st_size > 200


def test_invite_for_zalo_alone_needs_no_telegram_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THIDUA_ZALO__BOT_NAME", "Thi Đua Cụm 6")
    runner.invoke(app, ["cluster", "import", CUM6])

    result = runner.invoke(app, ["invite", "CUM6-STC", "STC-PYEN"])

    assert result.exit_code == 0, result.output
    assert "t.me" not in result.output and "nhắn: /start " in result.output


def test_invite_for_an_unknown_unit_says_so() -> None:
    runner.invoke(app, ["cluster", "import", CUM6])

    result = runner.invoke(
        app, ["invite", "CUM6-STC", "NOPE"], env={"THIDUA_TELEGRAM__BOT_USERNAME": "b"}
    )

    assert result.exit_code == 1
    assert "không có đơn vị mã NOPE" in result.output


def test_invite_without_a_bot_username_or_token_explains_what_to_set() -> None:
    result = runner.invoke(app, ["invite", "CUM6-STC"])

    assert result.exit_code == 2
    assert "bot_username" in result.output


def test_run_without_a_token_stops_with_a_clear_message() -> None:
    result = runner.invoke(app, ["run"])

    assert result.exit_code == 2
    assert "THIDUA_TELEGRAM__TOKEN" in result.output
    assert "Traceback" not in result.output


def test_a_bad_setting_stops_with_one_line_naming_the_key() -> None:
    result = runner.invoke(app, ["cluster", "list"], env={"THIDUA_APP__TIMEZONE": "Mars/Olympus"})

    assert result.exit_code == 2
    assert "app.timezone" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_db_upgrade_reports_the_revision() -> None:
    result = runner.invoke(app, ["db", "upgrade"])

    # The head as Alembic reads it (not a literal: "0001" used to pass only when an earlier
    # test had left logging on, and Alembic's "Running upgrade -> 0001" reached the output).
    assert result.exit_code == 0
    assert f"phiên bản {head_revision()}." in result.output


@pytest.mark.parametrize(
    "command",
    [[], ["run"], ["db", "upgrade"], ["cluster", "import"], ["cluster", "list"], ["invite"]],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])

    assert result.exit_code == 0
    assert "Usage" in result.output


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["nope"],
        ["cluster"],
        ["invite"],
        ["backup", "--keep", "0"],
        ["leaderboard", "CUM6-STC", "--year", "abc"],
        ["export", "CUM6-STC"],
    ],
)
def test_a_wrong_command_line_shows_the_usage_and_exits_2(command: list[str]) -> None:
    result = runner.invoke(app, command)

    assert result.exit_code == 2, result.output
    assert "Usage" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("vi", "Lưu ý: 2024: năm thi đua đã kết thúc; tệp không thể mở lại năm này"),
        ("en", "Note: 2024: the year is closed; the file cannot reopen it"),
    ],
)
def test_reimporting_a_closed_year_says_so_in_the_settings_language(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, language: str, expected: str
) -> None:
    monkeypatch.setenv("THIDUA_APP__LANGUAGE", language)
    closed = isolated / "closed.toml"
    closed.write_text(
        Path(CUM6).read_text(encoding="utf-8").replace('status = "open"', 'status = "closed"', 1),
        encoding="utf-8",
    )
    assert runner.invoke(app, ["cluster", "import", str(closed)]).exit_code == 0

    again = runner.invoke(app, ["cluster", "import", CUM6])  # the file says "open"

    assert again.exit_code == 0, again.output
    assert expected in again.output
    if language == "vi":
        assert "the year is closed" not in again.output
