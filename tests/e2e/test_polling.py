"""The bot as it runs in production (`thidua run`, long polling), over real HTTP against the
Bot API emulator, on a SQLite file and on PostgreSQL.

The secretariat's first day happens for real: `thidua cluster import` and `thidua invite`
prepare the database, then people join, report and read their progress through the emulator.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from tests.e2e.harness import (
    TZ,
    BotProcess,
    Emulator,
    Person,
    bot_env,
    bot_token,
    files_sent,
    prepare_cluster,
    wait_for,
)

pytestmark = pytest.mark.e2e

ADMIN = 9001


@dataclass
class World:
    emulator: Emulator
    token: str
    folder: Path
    bot: BotProcess
    invites: dict[str, str]

    def person(self, user_id: int, name: str = "Nguyễn Văn An") -> Person:
        return Person(self.emulator, self.token, user_id, name)

    def officer(self, user_id: int, unit: str, name: str = "Nguyễn Văn An") -> Person:
        """A person who has joined `unit` with its invitation link."""
        person = self.person(user_id, name)
        person.ask(f"/start {self.invites[unit]}", "Chào mừng")
        return person


@pytest.fixture(scope="module")
def world(
    emulator: Emulator, e2e_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("polling")
    token = bot_token("polling")
    env = bot_env(db_url=e2e_db_url, token=token, emulator=emulator, folder=folder, admins=[ADMIN])
    invites = prepare_cluster(env, folder, "E2E")
    bot = BotProcess("polling", ["run"], env, folder)
    bot.start()
    try:
        bot.wait_polling()
        yield World(emulator, token, folder, bot, invites)
    finally:
        code = bot.stop()
    assert code == 0, bot.log_tail()


def test_start_up_publishes_the_command_menus_in_both_languages(world: World) -> None:
    # Sent alongside the first getUpdates, not before it: wait for all seven.
    world.bot.wait_until("the command menus", lambda: len(world.bot.calls("setMyCommands")) >= 7)
    menus = world.bot.calls("setMyCommands")

    languages = {m["params"].get("language_code") for m in menus}
    assert {None, "vi", "en"} <= languages
    vietnamese = next(m for m in menus if m["params"].get("language_code") == "vi")
    assert "baocao" in {c["command"] for c in vietnamese["params"]["commands"]}


def test_an_officer_joins_with_the_invitation_link_and_the_bot_knows_their_unit(
    world: World,
) -> None:
    an = world.person(1001, "Nguyễn Văn An")

    welcome = an.ask(f"/start {world.invites['E2E-C']}", "Chào mừng")
    who = an.ask("/whoami", "Đơn vị")

    assert "Sở Tài chính tỉnh E2E C" in welcome.plain
    assert "Sở Tài chính tỉnh E2E C" in who.plain
    assert "Cụm thi đua E2E E2E" in who.plain


def test_a_wrong_invitation_link_is_refused_and_joins_nobody(world: World) -> None:
    stranger = world.person(1002, "Trần Thị Bình")

    stranger.ask("/start AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "Link mời không đúng")
    who = stranger.ask("/whoami", "chưa thuộc đơn vị nào")

    assert "1002" in who.plain


def test_a_one_line_report_then_a_correction_keeps_both_versions(world: World) -> None:
    officer = world.officer(1003, "E2E-C", "Lê Văn Cường")

    first = officer.ask("/baocao 1.1 80", "Đã lưu báo cáo tiêu chí 1.1")
    second = officer.ask("/baocao 1.1 95,5 đã rà soát số liệu", "Đã lưu báo cáo tiêu chí 1.1")
    history = officer.ask("/lichsu 1.1", "Lịch sử báo cáo 1.1")
    progress = officer.ask("/tiendo", "Tiến độ")

    assert "(lần 1)" in first.plain and "32" in first.plain  # 40 * 80 / 100
    assert "(lần 2)" in second.plain and "38,2" in second.plain
    assert "Lần 1" in history.plain and "Lần 2" in history.plain
    assert "đã rà soát số liệu" in history.plain
    assert "95,5" in progress.plain


def test_a_guided_report_with_buttons_and_an_evidence_file_is_stored(world: World) -> None:
    officer = world.officer(1004, "E2E-D", "Phạm Thị Dung")
    content = b"%PDF-1.4 ke hoach phat dong thi dua"

    officer.say("/baocao")
    officer.expect_button("rg:1")
    officer.press("rg:1")
    officer.expect_button("rc:1.2")
    officer.press("rc:1.2")
    officer.expect_button("rv:có")
    officer.press("rv:có")
    officer.expect("bắt buộc có minh chứng")
    officer.send_document(world.folder / "fixtures", "doc-kh-1", "ke-hoach.pdf", content)
    officer.expect_button("re:done")
    officer.press("re:done")
    officer.expect_button("rn:skip")
    officer.press("rn:skip")
    confirm = officer.expect_button("rk:ok")
    officer.press("rk:ok")
    saved = officer.expect("Đã lưu báo cáo tiêu chí 1.2")
    history = officer.ask("/lichsu 1.2", "Lịch sử báo cáo 1.2")

    assert "ke-hoach.pdf" in confirm.plain
    assert "20" in saved.plain and "(lần 1)" in saved.plain
    assert "ke-hoach.pdf" in history.plain
    year = datetime.now(TZ).year
    stored = list((world.folder / "storage" / "E2E" / str(year) / "E2E-D").iterdir())
    assert [p.read_bytes() for p in stored] == [content]
    assert [c["params"]["file_id"] for c in world.bot.calls("getFile")] == ["doc-kh-1"]


def test_a_report_with_a_missing_required_file_is_refused_in_one_line(world: World) -> None:
    officer = world.officer(1005, "E2E-B", "Võ Văn Em")

    officer.ask("/baocao 1.2 có", "minh chứng")
    history = officer.ask("/lichsu 1.2", "Lịch sử báo cáo 1.2")

    assert "Chưa có báo cáo nào" in history.plain


def test_the_chair_asks_for_the_leaderboard_and_gets_the_table_and_the_chart(
    world: World,
) -> None:
    reporter = world.officer(1006, "E2E-B", "Đỗ Văn Giang")
    reporter.ask("/baocao 1.1 100", "Đã lưu báo cáo tiêu chí 1.1")
    chair = world.officer(1010, "E2E-A", "Ngô Thị Hoa")

    board = chair.ask("/bxh", "Bảng xếp hạng")

    row_b = next(line for line in board.plain.splitlines() if "Tỉnh B" in line)
    assert "40,00" in row_b  # self-assessed: the full 40 points of 1.1
    chart = wait_for("the chart", lambda: files_sent(world.folder, 1010))
    assert chart[0].method == "sendPhoto"
    assert chart[0].content.startswith(b"\x89PNG")


def test_the_chair_asks_for_the_summary_and_the_scoring_workbook(world: World) -> None:
    chair = world.officer(1011, "E2E-A", "Ngô Thị Hoa")

    summary = chair.ask("/tonghop", "Tổng hợp")
    chair.say("/xuat")
    sent = wait_for("the workbook", lambda: files_sent(world.folder, 1011))

    assert "Tỉnh C" in summary.plain and "Chưa báo cáo đủ" in summary.plain
    assert sent[0].method == "sendDocument" and sent[0].name.endswith(".xlsx")
    workbook = openpyxl.load_workbook(io.BytesIO(sent[0].content), read_only=True)
    cells = {str(c) for ws in workbook.worksheets for row in ws.values for c in row if c}
    workbook.close()
    assert {"Sở Tài chính tỉnh E2E C", "1.1"} <= cells or {"Tỉnh C", "1.1"} <= cells
