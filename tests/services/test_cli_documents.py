"""`thidua document minutes|proposal` on a real SQLite file, as a secretariat would."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from docx import Document as open_docx

from bot.cli import app
from models.db import create_engine, session_factory
from tests.chair_data import close_cum6, cum6_reports
from tests.cli_runner import CliRunner
from tests.conftest import EXAMPLES

runner = CliRunner()


async def _close(url: str, *, close: bool) -> None:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            actors = await cum6_reports(session)
            if close:
                await close_cum6(session, actors)
    finally:
        await engine.dispose()


def _database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, close: bool) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ["THIDUA_CONFIG", "THIDUA_TELEGRAM__TOKEN", "THIDUA_TELEGRAM__BOT_USERNAME"]:
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("THIDUA_DATABASE__URL", url)
    assert (
        runner.invoke(app, ["cluster", "import", str(EXAMPLES / "cum6-stc-2024.toml")]).exit_code
        == 0
    )
    asyncio.run(_close(url, close=close))
    return tmp_path


def test_the_minutes_and_the_proposal_are_written_for_a_closed_year(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _database(tmp_path, monkeypatch, close=True)

    minutes = runner.invoke(
        app, ["document", "minutes", "cum6-stc", "--year", "2024", "-o", "bb.docx"]
    )
    proposal = runner.invoke(app, ["document", "proposal", "CUM6-STC", "--unit", "STC-BDINH"])

    assert minutes.exit_code == 0, minutes.output
    assert "Đã ghi bb.docx: biên bản họp bình xét năm 2024." in minutes.output
    text = [p.text for p in open_docx(str(folder / "bb.docx")).paragraphs]
    assert "HỌP BÌNH XÉT THI ĐUA NĂM 2024" in text
    assert proposal.exit_code == 0, proposal.output
    written = folder / "to-trinh-khen-thuong-CUM6-STC-2024.docx"  # the default name
    assert f"Đã ghi {written.name}" in proposal.output
    table = open_docx(str(written)).tables[-2]  # the proposal's table; the last is the signature
    assert [c.text for c in table.rows[1].cells][1] == "Sở Tài chính tỉnh Bình Định"


@pytest.mark.parametrize(
    ("args", "expected", "code"),
    [
        (["document", "minutes", "CUM6-STC", "-o", "x.docx"], "chưa kết thúc", 1),
        (["document", "letter", "CUM6-STC", "-o", "x.docx"], "minutes (biên bản) hoặc proposal", 2),
        (["document", "minutes", "NOPE", "-o", "x.docx"], "Không có Cụm nào mã NOPE", 1),
    ],
)
def test_an_open_year_a_wrong_kind_or_cluster_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], expected: str, code: int
) -> None:
    folder = _database(tmp_path, monkeypatch, close=False)

    result = runner.invoke(app, args)

    assert result.exit_code == code
    assert expected in result.output
    assert not (folder / "x.docx").exists()


def test_the_document_command_has_help() -> None:
    result = runner.invoke(app, ["document", "--help"])

    assert result.exit_code == 0 and "minutes" in result.output
