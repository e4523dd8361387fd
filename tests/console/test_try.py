"""`thidua try`: a chat in the terminal, scripted through standard input, on a scratch
database; choices are answered by number, files are saved and their paths printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import app
from tests.cli_runner import CliRunner
from tests.conftest import EXAMPLES

CUM6 = str(EXAMPLES / "cum6-stc-2024.toml")


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)  # the saved files land in the test's own folder
    monkeypatch.delenv("THIDUA_CONFIG", raising=False)  # defaults: no config.toml there
    return CliRunner()


def test_help_and_a_one_line_report_as_an_officer(runner: CliRunner) -> None:
    script = "/help\n/baocao 2.1 có Đã ban hành\n/lichsu 2.1\n"
    result = runner.invoke(
        app, ["try", CUM6, "--as", "STC-BDINH", "--at", "2024-05-10 09:00"], input=script
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "bạn là cán bộ của Sở Tài chính tỉnh Bình Định" in out
    assert "09:00 10/05/2024" in out
    assert "/baocao (/report)" in out and "/thamdinh" not in out  # an officer's help
    assert "Đã lưu báo cáo tiêu chí 2.1" in out
    assert "Phiên bản 1" in out or "v1" in out or "1 ·" in out
    assert "<b>" not in out  # plain text on a terminal


def test_choices_are_numbered_and_answered_by_number(runner: CliRunner) -> None:
    result = runner.invoke(app, ["try", CUM6], input="/lang\n2\n/help\n")
    assert result.exit_code == 0, result.output
    assert "[1] 🇻🇳 Tiếng Việt" in result.output and "[2] 🇬🇧 English" in result.output
    assert "Commands you can use" in result.output or "commands" in result.output.lower()


def test_the_chair_gets_the_board_chart_and_the_workbook_as_files(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["try", CUM6, "--as", "chair"], input="/bxh\n/xuat\n")
    assert result.exit_code == 0, result.output
    assert "Quảng Nam" in result.output and "Bảng xếp hạng" in result.output
    saved = sorted(p.name for p in (tmp_path / "thidua-try-files").iterdir())
    assert saved[0].endswith("chart.png") and saved[1].endswith(".xlsx")
    assert (tmp_path / "thidua-try-files" / saved[0]).read_bytes().startswith(b"\x89PNG")


def test_moving_the_clock_past_a_reminder_shows_what_would_be_sent(runner: CliRunner) -> None:
    script = ":at 2024-06-28 08:05\n"
    result = runner.invoke(app, ["try", CUM6, "--as", "STC-BDINH"], input=script)
    assert result.exit_code == 0, result.output
    assert "giờ của bot: 08:05 28/06/2024" in result.output
    assert "Quý 2/2024" in result.output and "hạn" in result.output


def test_a_unit_that_is_not_a_member_is_refused_with_the_list(runner: CliRunner) -> None:
    result = runner.invoke(app, ["try", CUM6, "--as", "NOPE"], input="")
    assert result.exit_code == 1
    assert "«NOPE» không phải là đơn vị thành viên" in result.output
    assert "STC-BDINH" in result.output


def test_a_wrong_time_is_refused(runner: CliRunner) -> None:
    result = runner.invoke(app, ["try", CUM6, "--at", "28/03/2025"], input="")
    assert result.exit_code == 2
    assert "ví dụ" in result.output
