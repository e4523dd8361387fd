"""`thidua leaderboard` and `thidua export` on a real SQLite file, as a secretariat would."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.cli import app
from models.db import create_engine, session_factory
from tests.chair_data import cum6_reports
from tests.cli_runner import CliRunner
from tests.conftest import EXAMPLES

runner = CliRunner()


async def _reports(url: str) -> None:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            await cum6_reports(session)
    finally:
        await engine.dispose()


@pytest.fixture(autouse=True)
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with Cụm 6 imported and several units' reports."""
    monkeypatch.chdir(tmp_path)
    for name in ["THIDUA_CONFIG", "THIDUA_TELEGRAM__TOKEN", "THIDUA_TELEGRAM__BOT_USERNAME"]:
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("THIDUA_DATABASE__URL", url)
    for path in ("cum6-stc-2024.toml", "khoi-tw-tayninh.toml"):
        assert runner.invoke(app, ["cluster", "import", str(EXAMPLES / path)]).exit_code == 0
    asyncio.run(_reports(url))
    return tmp_path


def test_leaderboard_prints_the_ranked_table() -> None:
    result = runner.invoke(app, ["leaderboard", "cum6-stc"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "🏆 Bảng xếp hạng năm 2024" in lines
    assert "theo điểm thẩm định (TĐ)" in result.output and "<b>" not in result.output
    # Only the table's lines: the runner also catches any log lines another test enabled.
    table = [line for line in lines if re.match(r"^(# |\d+ )", line)]
    assert table[0].split() == ["#", "Đơn", "vị", "TĐ", "TC", "HT"]
    assert table[1].split()[:5] == ["1", "Quảng", "Nam", "0,00", "11,00"]
    assert len(table) == 7


def test_export_writes_a_workbook_for_the_year_or_a_period(database: Path) -> None:
    year = runner.invoke(app, ["export", "CUM6-STC", "--year", "2024", "-o", "bang-diem.xlsx"])
    period = runner.invoke(app, ["export", "CUM6-STC", "--period", "Q1", "-o", "q1.xlsx"])

    assert year.exit_code == 0, year.output
    assert "Đã ghi bang-diem.xlsx: bảng điểm năm 2024, 6 đơn vị." in year.output
    book = load_workbook(database / "bang-diem.xlsx")
    assert book.sheetnames[:2] == ["Tổng hợp", "Quảng Nam"]
    assert book["Tổng hợp"]["B7"].value == "STC-QNAM"
    assert period.exit_code == 0
    q1 = load_workbook(database / "q1.xlsx")
    assert str(q1["Tổng hợp"]["A3"].value).startswith("Phạm vi: Kỳ Q1")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["leaderboard", "NOPE"], "Không có Cụm nào mã NOPE"),
        (["leaderboard", "CUM6-STC", "--year", "2019"], "không có năm thi đua 2019"),
        (["export", "CUM6-STC", "--period", "Q9", "-o", "x.xlsx"], "Không có kỳ Q9"),
    ],
)
def test_a_wrong_cluster_year_or_period_says_so_and_writes_nothing(
    database: Path, args: list[str], expected: str
) -> None:
    result = runner.invoke(app, args)

    assert result.exit_code == 1
    assert expected in result.output
    assert not (database / "x.xlsx").exists()


@pytest.mark.parametrize("command", [["leaderboard"], ["export"]])
def test_the_new_commands_have_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])

    assert result.exit_code == 0 and "Usage" in result.output
