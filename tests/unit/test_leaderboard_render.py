"""Rendering the leaderboard (table, message, chart) without Telegram or a database."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

from PIL import Image

from handlers.i18n import texts
from handlers.leaderboard import board_message, board_table, chart_png, movement
from models.tables import Role
from services.standings import Board, Member, UnitStanding

NOW = datetime(2024, 5, 10, 3, 0, tzinfo=UTC)


def standing(
    code: str, name: str, rank: int, verified: str, proposed: str, previous: int | None
) -> UnitStanding:
    return UnitStanding(
        member=Member(hash(code) % 1000, code, f"Sở Tài chính tỉnh {name}", name, Role.MEMBER),
        proposed=Decimal(proposed),
        verified=Decimal(verified),
        reported=17,
        base_leaves=34,
        unreviewed=2,
        late=0,
        rank=rank,
        rating="good",
        previous_rank=previous,
    )


def board(*, previous: bool = True, closed: bool = False) -> Board:
    return Board(
        cluster_id=1,
        cluster_code="CUM6-STC",
        cluster_name="Cụm thi đua số 6 — Sở Tài chính",
        cluster_kind="cum",
        language="vi",
        timezone="Asia/Ho_Chi_Minh",
        year=2024,
        closed=closed,
        tie_rule="shared",
        standings=[
            standing("STC-KHOA", "Khánh Hòa", 1, "85.5", "90", 3),
            standing("STC-QNGAI", "Quảng Ngãi", 2, "80", "1234.5", 1),
            standing("STC-BDINH", "Bình Định", 2, "80", "82", 2),
            standing("STC-DLAK", "Đắk Lắk mới sáp nhập", 4, "0", "0", None),
        ],
        previous_at=NOW if previous else None,
        computed_at=NOW,
    )


def test_movement_reads_up_down_same_and_new() -> None:
    t = texts("vi")
    shown = [movement(t, s) for s in board().standings]

    assert shown == ["↑2", "↓1", "=", "mới"]


def test_the_table_lines_up_numbers_and_cuts_long_names() -> None:
    table = board_table(texts("vi"), board())

    lines = table.splitlines()
    assert lines[0].split() == ["#", "Đơn", "vị", "TĐ", "TC", "HT", "±"]
    assert lines[1] == "1 Khánh Hòa    85,50    90,00 50%  ↑2"
    assert lines[2] == "2 Quảng Ngãi   80,00 1.234,50 50%  ↓1"
    assert "Đắk Lắk mới…" in lines[4]
    assert len({len(line) for line in lines[1:4]}) == 1  # the columns line up


def test_without_a_previous_board_there_is_no_movement_column() -> None:
    t = texts("en")

    table = board_table(t, board(previous=False))
    message = board_message(t, board(previous=False))

    assert "±" not in table
    assert table.splitlines()[1].endswith("90.00  50%")
    assert "No earlier board was posted" in message
    assert "Units with equal scores share a rank." in message


def test_a_closed_year_shows_ratings_instead() -> None:
    t = texts("vi")

    table = board_table(t, board(closed=True), ratings=True)
    message = board_message(t, board(closed=True))

    assert table.splitlines()[0].split() == ["#", "Đơn", "vị", "TĐ", "Xếp", "loại"]
    assert table.splitlines()[1].endswith("85,50 HTT")
    assert "(chính thức)" in message and "HTXS" in message and "hoàn thành xuất sắc" in message
    assert "chưa được thẩm định" not in message


def test_names_are_escaped_in_the_message() -> None:
    sneaky = board()
    sneaky.standings[0] = standing("X", "<b>A & B</b>", 1, "1", "1", None)

    message = board_message(texts("vi"), sneaky)

    assert "&lt;b&gt;A &amp; B" in message and "<b>A & B" not in message


def test_the_chart_is_a_png_with_a_bar_per_unit() -> None:
    png = chart_png(texts("vi"), board())

    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.width == 880 and image.height > 300
