"""The year's last mile over real HTTP (`thidua run`, long polling, the Bot API emulator), on
a SQLite file and on PostgreSQL: six units report, the chair verifies and closes the year,
the units vote by secret ballot through their officers, the ballot breaks the tie on the
board and in the workbook, and the minutes and the proposal come out with the same figures.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
from docx import Document

from tests.e2e.harness import (
    BotProcess,
    Emulator,
    Person,
    Reply,
    SentFile,
    bot_env,
    bot_token,
    files_sent,
    prepare_cluster,
    wait_for,
)

pytestmark = pytest.mark.e2e

CODE = "E2Y"
UNITS = "ABCDEF"
# Equal verified totals are ranked by the ballot; the ballot needs half of all units.
RULES = """[years.rating]
tie_rule = "ballot"

[years.ballot]
candidates = "all"
threshold = 0.5
"""
CHAIR_ID = 5100  # officer of E2Y-A, the chair; E2Y-B is the vice-chair


@dataclass
class World:
    emulator: Emulator
    token: str
    folder: Path
    bot: BotProcess
    officers: dict[str, Person]

    def files(self, chat_id: int, suffix: str, count: int = 1) -> list[SentFile]:
        """Files of this kind sent to a chat so far; waits for at least `count`."""

        def found() -> list[SentFile] | None:
            sent = [f for f in files_sent(self.folder, chat_id) if f.name.endswith(suffix)]
            return sent if len(sent) >= count else None

        return wait_for(f"{count} {suffix} file(s)", found)


@pytest.fixture(scope="module")
def world(
    emulator: Emulator, e2e_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("yearend")
    token = bot_token("yearend")
    env = bot_env(db_url=e2e_db_url, token=token, emulator=emulator, folder=folder, admins=[])
    invites = prepare_cluster(env, folder, CODE, units=UNITS, rules=RULES)
    bot = BotProcess("yearend", ["run"], env, folder)
    bot.start()
    try:
        bot.wait_polling()
        officers = {}
        for n, letter in enumerate(UNITS):
            person = Person(emulator, token, CHAIR_ID + n, f"Cán bộ {letter}")
            person.ask(f"/start {invites[f'{CODE}-{letter}']}", "Chào mừng")
            officers[letter] = person
        yield World(emulator, token, folder, bot, officers)
    finally:
        code = bot.stop()
    assert code == 0, bot.log_tail()


def ranks_in(text: str) -> dict[str, int]:
    """Unit short name → rank, from the lines of a board ("1. Tỉnh B …")."""
    found: dict[str, int] = {}
    for line in text.splitlines():
        match = re.search(r"(\d+)\W+.*?(Tỉnh [A-F])\b", line)
        if match:
            found.setdefault(match.group(2), int(match.group(1)))
    return found


def test_the_units_vote_and_the_ballot_breaks_the_tie_down_to_the_documents(
    world: World,
) -> None:
    units = world.officers
    chair = units["A"]
    # A and B report the same, C half: after the chair's review A and B tie at 40.
    for letter, value in (("A", "100"), ("B", "100"), ("C", "50")):
        units[letter].ask(f"/baocao 1.1 {value}", "Đã lưu báo cáo tiêu chí 1.1")
    for letter, score in (("A", "40"), ("B", "40"), ("C", "20")):
        reviewer = units["B"] if letter == "A" else chair  # nobody reviews their own unit
        reviewer.ask(f"/thamdinh {CODE}-{letter} 1.1 {score}", "Đã xác nhận 1.1")

    closing = chair.ask("/ketthucnam", "Kết thúc năm")
    [confirm] = [b for b in closing.buttons() if b.startswith("yc:")]
    chair.press(confirm)
    chair.expect("Đã kết thúc năm")

    opened = chair.ask("/bophieu mo dandau", "Đã mở bỏ phiếu")
    assert "6 đơn vị bỏ phiếu" in opened.plain
    # B gets four votes, A two (a unit may not vote for itself): B ranks before A.
    votes = {"A": "B", "B": "A", "C": "B", "D": "B", "E": "B", "F": "A"}
    for letter, choice in votes.items():
        officer = units[letter]
        screen = officer.ask("/bophieu", "Chọn tối đa 1 đơn vị")
        [toggle] = [
            data
            for data, label in _buttons(screen)
            if data.startswith("bv:") and label.endswith(f"Tỉnh {choice}")
        ]
        officer.press(toggle, screen)
        picked = officer.expect_button(f"bvok:{toggle.split(':')[1]}")
        officer.press(f"bvok:{toggle.split(':')[1]}", picked)
        officer.expect("Đã ghi nhận phiếu của đơn vị")

    result = chair.expect("Kết quả bỏ phiếu kín")
    assert "6/6 đơn vị đã bỏ phiếu" in result.plain
    assert "1. Tỉnh B: 4 phiếu (66,7%) ✅" in result.plain
    assert "2. Tỉnh A: 2 phiếu (33,3%) —" in result.plain

    board = chair.ask("/bxh", "Kết quả thi đua năm")
    on_board = ranks_in(board.plain)
    assert on_board["Tỉnh B"] == 1 and on_board["Tỉnh A"] == 2 and on_board["Tỉnh C"] == 3

    chair.say("/xuat")
    [workbook] = world.files(CHAIR_ID, ".xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content)).worksheets[0]
    in_export = {
        str(row[1]): row[0]
        for row in sheet.iter_rows(values_only=True)
        if isinstance(row[0], int) and str(row[1]).startswith(f"{CODE}-")
    }
    assert in_export[f"{CODE}-B"] == 1 and in_export[f"{CODE}-A"] == 2
    assert in_export[f"{CODE}-C"] == 3 and set(in_export) == {f"{CODE}-{u}" for u in UNITS}

    chair.say("/bienban")
    [minutes] = world.files(CHAIR_ID, ".docx")
    words = _words(minutes)
    assert "Số phiếu phát ra: 6; số phiếu thu về: 6; số phiếu hợp lệ: 6" in words
    assert "Sở Tài chính tỉnh E2E B được bình xét là đơn vị dẫn đầu" in words
    # The scoring table: self-assessed, verified and rank of every unit, in the ballot's order.
    [table] = [t for t in Document(io.BytesIO(minutes.content)).tables if len(t.rows) == 7]
    rows = [[c.text for c in r.cells] for r in table.rows[1:]]
    assert [(r[1].split(" (")[0][-1], r[2], r[3], r[4]) for r in rows] == [
        ("B", "40", "40", "1"), ("A", "40", "40", "2"), ("C", "20", "20", "3"),
        ("D", "0", "0", "4"), ("E", "0", "0", "4"), ("F", "0", "0", "4"),
    ]  # fmt: skip

    chair.say("/totrinh")
    proposal = world.files(CHAIR_ID, ".docx", count=2)[1]
    assert "Sở Tài chính tỉnh E2E B" in _words(proposal)


def _buttons(reply: Reply) -> list[tuple[str, str]]:
    """(data, label) of each inline button under a message."""
    markup = reply.markup or {}
    return [
        (b.get("callback_data", ""), b.get("text", ""))
        for row in markup.get("inline_keyboard", [])
        for b in row
    ]


def _words(sent: SentFile) -> str:
    doc = Document(io.BytesIO(sent.content))
    words = [p.text for p in doc.paragraphs]
    words += [c.text for t in doc.tables for r in t.rows for c in r.cells]
    return "\n".join(words)
