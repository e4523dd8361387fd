"""Leaderboard, summary, review and explanation, export, year close and hand-over on a real
database (SQLite and PostgreSQL), for Cụm 6 with reports from several units."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import (
    AuditEntry,
    ClusterYear,
    Criterion,
    Explanation,
    LeaderboardPost,
    Membership,
    Period,
    Review,
    Role,
    Unit,
    UnitTarget,
    YearResult,
    YearStatus,
)
from services import export, leaderboard, reporting, review, summary, yearend
from services.access import Actor, resolve_actor
from services.errors import DomainError
from services.onboarding import Person
from services.standings import Board, boards
from tests.chair_data import cum6_with_reports, report, report_everything
from tests.conftest import NOW
from tests.factories import officer, tg

LATER = NOW + timedelta(days=1)


@pytest.fixture
async def cum6(session: AsyncSession) -> dict[str, Actor]:
    return await cum6_with_reports(session)


async def do_review(
    session: AsyncSession,
    actor: Actor,
    unit: str,
    code: str,
    score: str | None = None,
    reason: str | None = None,
    *,
    report_id: int | None = None,
) -> review.Reviewed:
    return await review.submit(
        session,
        actor,
        cluster_code=None,
        unit_code=unit,
        criterion_code=code,
        score_text=score,
        reason=reason,
        report_id=report_id,
        reviewer=Person(actor.address, "Người thẩm định", None),
        language="vi",
        now=NOW,
    )


async def review_round(session: AsyncSession, cum6: dict[str, Actor]) -> None:
    """Verified totals after it: Bình Định 6, Quảng Nam 4, Phú Yên 2, Quảng Ngãi 1.5,
    Khánh Hòa 0, Ninh Thuận 0."""
    chair, vice = cum6["QNAM"], cum6["QNGAI"]
    await do_review(session, vice, "STC-QNAM", "1.1.3")
    for code in ("1.1.3", "1.2.2", "8.1"):
        await do_review(session, chair, "STC-BDINH", code)
    await do_review(session, chair, "STC-QNGAI", "2.3", "1,5", "Thiếu văn bản tham mưu")
    await do_review(session, chair, "STC-PYEN", "1.1.3")
    await do_review(session, chair, "STC-KHOA", "1.2.2")


async def board_of(session: AsyncSession, actor: Actor) -> Board:
    return await leaderboard.board(session, actor, cluster_code=None, group=None, now=LATER)


def ranks(board: Board) -> list[tuple[str, int, str, str]]:
    return [(s.member.code, s.rank, str(s.verified), str(s.proposed)) for s in board.standings]


async def count(session: AsyncSession, model: type) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


# ---------------------------------------------------------------- standings


async def test_the_board_ranks_by_verified_total_and_ties_share_a_rank(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    await review_round(session, cum6)

    board = await board_of(session, cum6["PYEN"])

    assert ranks(board) == [
        ("STC-BDINH", 1, "6.00", "9.00"),
        ("STC-QNAM", 2, "4.00", "11.00"),
        ("STC-PYEN", 3, "2.00", "2.00"),
        ("STC-QNGAI", 4, "1.50", "10.10"),
        ("STC-KHOA", 5, "0.00", "0.00"),
        ("STC-NTHUAN", 5, "0.00", "0.00"),
    ]
    assert board.shared_ranks and board.tie_rule == "ballot"
    by_code = {s.member.code: s for s in board.standings}
    assert by_code["STC-QNAM"].unreviewed == 2  # 1.2.2 and 2.3 are not reviewed
    assert by_code["STC-BDINH"].late == 1
    assert by_code["STC-NTHUAN"].completion == 0
    base = by_code["STC-QNAM"].base_leaves
    assert base == 34  # 39 leaves less 3 bonus and 2 penalty items
    assert by_code["STC-BDINH"].completion == Decimal(3) / Decimal(34)  # 8.1 is a penalty
    assert all(s.rating == "not_completed" for s in board.standings)


async def test_one_query_serves_every_cluster_of_the_year(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    everything = await boards(session, 2024, None, NOW)

    assert sorted(b.cluster_code for b in everything.values()) == ["CUM6-STC", "KHOI-TW-TNINH"]
    tayninh = next(b for b in everything.values() if b.cluster_code == "KHOI-TW-TNINH")
    assert len(tayninh.standings) == 7 and all(s.proposed == 0 for s in tayninh.standings)


async def test_a_new_version_after_a_review_needs_a_new_review(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    await review_round(session, cum6)
    await report(session, cum6["BDINH"], "1.1.3", "80", evidence=[], now=LATER)

    board = await board_of(session, cum6["BDINH"])

    bdinh = next(s for s in board.standings if s.member.code == "STC-BDINH")
    assert (bdinh.verified, bdinh.proposed) == (Decimal("2.00"), Decimal("8.20"))
    assert bdinh.unreviewed == 2  # the new 1.1.3 and the Q1 1.3.1
    assert await count(session, Review) == 7  # the old review stays in history


async def test_every_units_progress_sheet_totals_agree_with_the_board(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    await review_round(session, cum6)
    # A correction after the review: its old review must count on neither screen.
    await report(session, cum6["BDINH"], "1.1.3", "80", evidence=[], now=LATER)

    board = await board_of(session, cum6["PYEN"])

    by_code = {s.member.code: s for s in board.standings}
    for key in ("QNAM", "QNGAI", "BDINH", "PYEN", "KHOA"):
        sheet = await reporting.sheet(session, cum6[key], period_code=None, now=LATER, year=True)
        standing = by_code[f"STC-{key}"]
        assert (sheet.total(verified=False), sheet.total(verified=True)) == (
            standing.proposed,
            standing.verified,
        ), key
    bdinh = await reporting.sheet(session, cum6["BDINH"], period_code=None, now=LATER, year=True)
    assert (bdinh.total(verified=False), bdinh.total(verified=True)) == (
        Decimal("8.20"),
        Decimal("2.00"),
    )
    [line] = [ln for ln in bdinh.lines if ln.criterion.code == "1.1.3"]
    assert line.latest is not None and line.latest.version == 2 and line.latest.verified is None


async def test_history_shows_the_newest_review_of_each_version(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    chair, bdinh = cum6["QNAM"], cum6["BDINH"]
    await do_review(session, chair, "STC-BDINH", "1.1.3", "1", "Thiếu chứng từ")
    # Same instant as the first review: the later row still stands.
    await do_review(session, chair, "STC-BDINH", "1.1.3", "2", "Đã xem bổ sung")
    await report(session, bdinh, "1.1.3", "80", evidence=[], now=LATER)
    await do_review(session, cum6["QNGAI"], "STC-QNAM", "1.1.3", "1", "Một đơn vị khác")

    _, versions = await reporting.history(session, bdinh, criterion_code="1.1.3")

    assert [(v.version, v.verified, v.review_reason) for v in versions] == [
        (2, None, None),
        (1, Decimal("2.00"), "Đã xem bổ sung"),
    ]


async def test_movement_is_measured_against_the_last_posted_board(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    first = await board_of(session, cum6["QNAM"])
    await leaderboard.record_post(session, first, tg(-100), NOW, actor="test")
    assert all(s.previous_rank == 1 for s in (await board_of(session, cum6["QNAM"])).standings)

    await review_round(session, cum6)
    post = await session.scalar(select(LeaderboardPost))
    assert post is not None
    # A unit missing from the posted board (it joined later) shows as new.
    late_joiner = next(s.member for s in first.standings if s.member.code == "STC-NTHUAN")
    post.standings = {k: v for k, v in post.standings.items() if k != str(late_joiner.unit_id)}
    await session.commit()
    board = await board_of(session, cum6["QNAM"])

    moves = {s.member.code: s.movement for s in board.standings}
    assert board.previous_at == NOW
    assert moves["STC-BDINH"] == 0 and moves["STC-QNAM"] == -1 and moves["STC-QNGAI"] == -3
    assert moves["STC-KHOA"] == -4 and moves["STC-NTHUAN"] is None
    audit = await session.scalar(select(AuditEntry).where(AuditEntry.action == "leaderboard.post"))
    assert audit is not None and audit.details["chat"] == "telegram:-100"


async def test_a_rating_needs_the_total_and_every_criterion_floor(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    khoa, vice = cum6["KHOA"], cum6["QNGAI"]
    reported = await report_everything(session, khoa, skip=frozenset())
    items = await review.items(session, vice, cluster_code=None, unit_code="STC-KHOA")
    for item in items.items:
        await do_review(session, vice, "STC-KHOA", item.leaf.code)
    assert reported == 34
    full = next(s for s in (await board_of(session, khoa)).standings if s.rating != "not_completed")
    assert (full.member.code, full.verified, full.rating) == (
        "STC-KHOA",
        Decimal("100.00"),
        "excellent",
    )

    # 94 points, but 2.1 at 1 of 4 (25 %) is under every floor but "completed" needs 70 %.
    await do_review(session, vice, "STC-KHOA", "2.1", "1", "Triển khai chậm")
    await do_review(session, vice, "STC-KHOA", "1.1.3", "1", "Chưa đạt")
    board = await board_of(session, khoa)
    khoa_now = next(s for s in board.standings if s.member.code == "STC-KHOA")
    assert khoa_now.verified == Decimal("94.00")
    assert khoa_now.rating == "not_completed"


# ---------------------------------------------------------------- review and explanation


async def test_review_round_trip_is_told_explained_revised_and_audited(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    chair, vice = cum6["QNAM"], cum6["QNGAI"]
    second_officer = await officer(session, 3202, "STC-QNGAI")

    done = await do_review(session, chair, "STC-QNGAI", "2.3", "1,5", "Thiếu văn bản tham mưu")

    assert done.adjusted and done.verified == Decimal("1.50") and done.previous is None
    assert sorted(r.address for r in done.recipients) == [vice.address, tg(3202)]
    explained = await review.explain(
        session, second_officer, criterion_code="2.3", text="Đã bổ sung 2 văn bản", now=LATER
    )
    assert explained.text == "Đã bổ sung 2 văn bản"
    # The chair's and the vice-chair's officers are told (the vice-chair is the unit itself).
    assert sorted(r.address for r in explained.recipients) == [tg(3101), tg(3102), tg(3202)]
    detail = await review.item(
        session, chair, cluster_code=None, unit_code="stc-qngai", criterion_code="2.3"
    )
    assert [a.text for a in detail.explanations] == ["Đã bổ sung 2 văn bản"]

    revised = await do_review(session, chair, "STC-QNGAI", "2.3", "2", "Đã xem giải trình")

    assert revised.previous == Decimal("1.50") and revised.verified == Decimal("2.00")
    assert await count(session, Review) == 2 and await count(session, Explanation) == 1
    actions = list(
        await session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.action.like("review.%"))
            .order_by(AuditEntry.id)
        )
    )
    assert actions == ["review.adjust", "review.explain", "review.adjust"]
    board = await board_of(session, chair)
    assert next(s for s in board.standings if s.member.code == "STC-QNGAI").verified == 2


async def test_keeping_the_proposal_needs_no_reason_and_a_penalty_is_deducted_either_sign(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    chair = cum6["QNAM"]
    kept = await do_review(session, chair, "STC-BDINH", "1.2.2", "=")
    assert not kept.adjusted and kept.verified == Decimal("4.00") and kept.reason is None

    plus = await do_review(session, chair, "STC-BDINH", "8.1", "3", "Thêm 1 báo cáo muộn")
    minus = await do_review(session, chair, "STC-BDINH", "8.1", "-3", "Như trên")

    assert plus.verified == minus.verified == Decimal("-3.00")


@pytest.mark.parametrize(
    ("who", "unit", "code", "score", "reason", "key"),
    [
        ("BDINH", "STC-PYEN", "1.1.3", "=", None, "error.forbidden"),
        ("QNAM", "STC-NOPE", "1.1.3", "=", None, "error.unit_not_found"),
        ("QNAM", "STC-QNGAI", "9.9", "1", "x", "error.review_criterion_not_found"),
        ("QNAM", "STC-QNGAI", "1.1", "1", "x", "error.criterion_is_group"),
        ("QNAM", "STC-QNGAI", "2.3", "3,5", "x", "error.review_above_max"),
        ("QNAM", "STC-QNGAI", "2.3", "ba", "x", "error.not_a_number"),
        ("QNAM", "STC-QNGAI", "2.3", "-1", "x", "error.review_negative"),
        ("QNAM", "STC-QNGAI", "2.3", "1", None, "error.review_needs_reason"),
        ("QNAM", "STC-NTHUAN", "1.1.3", "=", None, "error.review_not_reported"),
        ("QNAM", "STC-QNAM", "1.1.3", "=", None, "error.review_own_unit"),
        ("QNAM", "STC-BDINH", "8.1", "6", "x", "error.review_above_max"),
    ],
)
async def test_a_bad_review_is_refused_and_changes_nothing(
    session: AsyncSession,
    cum6: dict[str, Actor],
    who: str,
    unit: str,
    code: str,
    score: str,
    reason: str | None,
    key: str,
) -> None:
    with pytest.raises(DomainError) as refused:
        await do_review(session, cum6[who], unit, code, score, reason)

    assert refused.value.key == key
    await session.rollback()
    assert await count(session, Review) == 0


async def test_a_stranger_cannot_review(session: AsyncSession, cum6: dict[str, Actor]) -> None:
    stranger = await resolve_actor(session, tg(999), frozenset())

    with pytest.raises(DomainError) as refused:
        await do_review(session, stranger, "STC-PYEN", "1.1.3")

    assert refused.value.key == "error.not_registered"


async def test_a_review_of_a_version_the_chair_did_not_see_is_stale(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    seen = await review.item(
        session, cum6["QNAM"], cluster_code=None, unit_code="STC-PYEN", criterion_code="1.1.3"
    )
    await report(session, cum6["PYEN"], "1.1.3", "60", now=LATER)

    with pytest.raises(DomainError) as refused:
        await do_review(session, cum6["QNAM"], "STC-PYEN", "1.1.3", report_id=seen.entry.report_id)

    assert refused.value.key == "error.review_stale" and refused.value.params["version"] == 2


async def test_an_explanation_needs_a_review_and_some_text(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    with pytest.raises(DomainError) as unreviewed:
        await review.explain(session, cum6["PYEN"], criterion_code="1.1.3", text="x", now=NOW)
    await do_review(session, cum6["QNAM"], "STC-PYEN", "1.1.3", "1", "Thấp")
    with pytest.raises(DomainError) as empty:
        await review.explain(session, cum6["PYEN"], criterion_code="1.1.3", text="  ", now=NOW)

    assert unreviewed.value.key == "error.explain_no_review"
    assert empty.value.key == "error.explain_usage"


# ---------------------------------------------------------------- summary


async def test_the_summary_shows_who_reported_what_and_what_waits(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    await review_round(session, cum6)

    q2 = await summary.summary(session, cum6["QNGAI"], words=[], now=LATER)
    q1 = await summary.summary(session, cum6["QNGAI"], words=["q1"], now=LATER)

    assert q2.period.code == "Q2" and not q2.deadline_passed
    units = {u.member.code: u for u in q2.units}
    assert (units["STC-QNAM"].reported, units["STC-QNAM"].base_leaves) == (3, 34)
    assert units["STC-NTHUAN"].reported == 0 and len(units["STC-NTHUAN"].missing) == 34
    assert units["STC-QNAM"].pending_reviews == 2
    assert q2.pending_reviews == 2 + 2  # QNAM 1.2.2, 2.3; QNGAI 1.1.3, 1.2.2
    assert q1.pending_reviews == 1  # BDINH's late 1.3.1 is a Q1 report
    assert q2.completion == (3 + 3 + 2 + 1 + 1, 6 * 34)
    assert q1.deadline_passed
    assert [(u.member.code, u.reported, u.late) for u in q1.units if u.reported] == [
        ("STC-BDINH", 1, 1)
    ]
    lowest = min(q2.criteria, key=lambda c: c.reported_units)
    assert lowest.reported_units == 0 and lowest.units == 6


async def test_the_summary_names_the_biggest_movers_and_counts_explanations(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    first = await board_of(session, cum6["QNAM"])
    await leaderboard.record_post(session, first, None, NOW, actor="test")
    await review_round(session, cum6)
    await review.explain(
        session, cum6["QNGAI"], criterion_code="2.3", text="Xin xem lại", now=LATER
    )

    result = await summary.summary(session, cum6["QNAM"], words=["CUM6-STC", "Q2"], now=LATER)

    # Everyone shared rank 1 on the posted board; biggest moves first, then by code.
    assert [(m.code, moved) for m, moved in result.movers()] == [
        ("STC-KHOA", -4),
        ("STC-NTHUAN", -4),
        ("STC-QNGAI", -3),
    ]
    assert result.explanations == 1


@pytest.mark.parametrize(("words", "key"), [(["Q9"], "error.period_not_found")])
async def test_the_summary_refuses_a_wrong_period(
    session: AsyncSession, cum6: dict[str, Actor], words: list[str], key: str
) -> None:
    with pytest.raises(DomainError) as refused:
        await summary.summary(session, cum6["QNAM"], words=words, now=NOW)

    assert refused.value.key == key


async def test_an_officer_gets_no_summary(session: AsyncSession, cum6: dict[str, Actor]) -> None:
    with pytest.raises(DomainError) as refused:
        await summary.summary(session, cum6["BDINH"], words=[], now=NOW)

    assert refused.value.key == "error.forbidden"


# ---------------------------------------------------------------- export


async def test_the_export_has_a_summary_sheet_and_a_sheet_per_unit_with_the_right_cells(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    await review_round(session, cum6)
    await review.explain(
        session, cum6["QNGAI"], criterion_code="2.3", text="Xin xem lại", now=LATER
    )

    made = await export.export(session, cum6["QNGAI"], words=[], now=LATER)

    assert made.filename == "bang-diem-CUM6-STC-2024.xlsx" and made.units == 6
    book = load_workbook(io.BytesIO(made.content))
    assert book.sheetnames == [
        "Tổng hợp",
        "Bình Định",
        "Quảng Nam",
        "Phú Yên",
        "Quảng Ngãi",
        "Khánh Hòa",
        "Ninh Thuận",
    ]
    top = book["Tổng hợp"]
    assert top["A1"].value == "BẢNG TỔNG HỢP ĐIỂM THI ĐUA NĂM 2024"
    assert top["A5"].value == "Hạng" and top["D5"].value.startswith("1. Thực hiện nhiệm vụ")
    assert top["D6"].value == "Tự chấm" and top["E6"].value == "Thẩm định"
    assert (top["A7"].value, top["B7"].value) == (1, "STC-BDINH")
    headers = [c.value for c in top[5]]
    total_col = headers.index("Tổng thẩm định") + 1
    assert top.cell(row=7, column=total_col).value == 6
    assert top.cell(row=7, column=total_col).number_format == "#,##0.00"
    assert top.cell(row=7, column=total_col - 1).value == 9  # proposed
    assert top.cell(row=8, column=3).value == "Sở Tài chính tỉnh Quảng Nam (Cụm trưởng)"
    assert (
        top.cell(row=7, column=headers.index("Xếp loại") + 1).value == "Không hoàn thành nhiệm vụ"
    )
    assert top.freeze_panes == "D7"
    assert top.print_title_rows == "$5:$6"
    assert top.page_setup.orientation == "landscape" and top.page_setup.fitToWidth == 1

    ngai = book["Quảng Ngãi"]
    assert [c.value for c in ngai[5]][:10] == [
        "Mã",
        "Tiêu chí",
        "Điểm chuẩn",
        "Chỉ tiêu",
        "Đơn vị tính",
        "Kết quả",
        "Kỳ",
        "Lần",
        "Điểm tự chấm",
        "Điểm thẩm định",
    ]
    rows = {row[0].value: row for row in ngai.iter_rows(min_row=6)}
    assert rows["1"][1].value == "Thực hiện nhiệm vụ chuyên môn"  # a group row
    judged = rows["2.3"]
    assert (judged[8].value, judged[9].value) == (2.5, 1.5)
    assert judged[10].value == "Thiếu văn bản tham mưu"
    assert judged[11].value == "Xin xem lại"
    assert judged[14].value == "Tham mưu 3 cơ chế"
    assert rows["1.1.3"][5].value == 90 and rows["1.1.3"][3].value == 100
    assert rows["1.2.2"][5].value == "Có"
    assert rows["1.1.1"][5].value is None  # not reported
    assert ngai.freeze_panes == "C6"

    binh_dinh = {row[0].value: row for row in book["Bình Định"].iter_rows(min_row=6)}
    assert binh_dinh["1.1.3"][12].value == "Bien ban kiem tra.pdf"
    assert binh_dinh["1.3.1"][13].value == "Có" and binh_dinh["1.3.1"][6].value == "Q1"
    assert binh_dinh["8.1"][8].value == -2
    assert book["Khánh Hòa"]["D"][0].value is None


async def test_a_period_export_holds_only_that_periods_reports(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    made = await export.export(session, cum6["QNAM"], words=["q1"], now=LATER)

    assert made.filename == "bang-diem-CUM6-STC-2024-Q1.xlsx" and made.period_code == "Q1"
    book = load_workbook(io.BytesIO(made.content))
    assert book["Tổng hợp"]["A3"].value.startswith("Phạm vi: Kỳ Q1")
    reported = {
        ws.title: [r[0].value for r in ws.iter_rows(min_row=6) if r[6].value]
        for ws in book.worksheets[1:]
    }
    assert reported["Bình Định"] == ["1.3.1"] and reported["Quảng Nam"] == []


@pytest.mark.parametrize(
    ("who", "words", "key"),
    [
        ("BDINH", [], "error.forbidden"),
        ("QNAM", ["Q7"], "error.period_not_found"),
        ("QNAM", ["2019"], "error.year_not_found"),
        ("QNAM", ["Q1", "Q2"], "error.export_usage"),
        ("QNAM", ["KHOI-TW-TNINH"], "error.other_cluster"),
    ],
)
async def test_a_wrong_export_is_refused(
    session: AsyncSession, cum6: dict[str, Actor], who: str, words: list[str], key: str
) -> None:
    with pytest.raises(DomainError) as refused:
        await export.export(session, cum6[who], words=words, now=NOW)

    assert refused.value.key == key


def test_sheet_titles_are_what_excel_accepts() -> None:
    taken: set[str] = set()

    first = export.sheet_title("Sở Tài chính: tỉnh [Quảng Nam]/Đà Nẵng và các đơn vị khác", taken)
    second = export.sheet_title("Sở Tài chính: tỉnh [Quảng Nam]/Đà Nẵng và các đơn vị khác", taken)

    assert len(first) <= 31 and not set("[]:*?/\\") & set(first)
    assert second != first and second.endswith("(2)") and len(second) <= 31


# ---------------------------------------------------------------- the year's close


async def test_closing_the_year_keeps_the_final_results_and_freezes_the_year(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    await review_round(session, cum6)
    chair = cum6["QNAM"]
    assert chair.seat is not None
    preview = await yearend.close_preview(session, chair, cluster_code=None, now=LATER)
    assert preview.unreviewed == 5

    closed = await yearend.close_year(
        session, chair, cluster_id=chair.seat.cluster_id, year=2024, now=LATER
    )

    assert closed.board.closed
    results = {
        code: (rank, str(total), rating)
        for code, rank, total, rating in await session.execute(
            select(Unit.code, YearResult.rank, YearResult.verified_total, YearResult.rating).join(
                Unit, Unit.id == YearResult.unit_id
            )
        )
    }
    assert results["STC-BDINH"] == (1, "6.0000", "not_completed")
    assert results["STC-NTHUAN"][0] == 5 and len(results) == 6
    year = await session.scalar(
        select(ClusterYear).where(
            ClusterYear.year == 2024, ClusterYear.cluster_id == chair.seat.cluster_id
        )
    )
    assert year is not None and year.status is YearStatus.CLOSED and year.closed_at == LATER
    assert (
        await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "year.close")
        )
        == 1
    )

    for attempt in (
        yearend.close_preview(session, chair, cluster_code=None, now=LATER),
        do_review(session, chair, "STC-PYEN", "1.1.3", "1", "x"),
        report(session, cum6["PYEN"], "1.1.3", "70", now=LATER),
    ):
        with pytest.raises(DomainError) as refused:
            await attempt
        assert refused.value.key in {
            "error.year_already_closed",
            "error.review_year_closed",
            "error.year_closed",
        }
    board = await board_of(session, cum6["PYEN"])
    assert board.closed and ranks(board)[0][0] == "STC-BDINH"


async def test_only_the_chair_vice_chair_or_an_admin_closes_the_year(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    with pytest.raises(DomainError) as refused:
        await yearend.close_preview(session, cum6["KHOA"], cluster_code=None, now=NOW)
    admin = await resolve_actor(session, tg(777), frozenset({"telegram:777"}))
    with pytest.raises(DomainError) as unnamed:
        await yearend.close_preview(session, admin, cluster_code=None, now=NOW)
    preview = await yearend.close_preview(session, admin, cluster_code="cum6-stc", now=NOW)

    assert refused.value.key == "error.forbidden"
    assert unnamed.value.key == "error.needs_cluster_code"
    assert preview.board.cluster_code == "CUM6-STC"


# ---------------------------------------------------------------- hand-over


async def close(session: AsyncSession, actor: Actor) -> None:
    assert actor.seat is not None
    await yearend.close_year(session, actor, cluster_id=actor.seat.cluster_id, year=2024, now=LATER)


async def test_hand_over_opens_next_year_with_new_roles_and_a_copied_tree(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    chair = cum6["QNAM"]
    assert chair.seat is not None
    cluster_id = chair.seat.cluster_id
    # Phú Yên ends with 2024 and Đắk Lắk takes its place from 2025.
    await session.execute(
        update(Unit)
        .where(Unit.code == "STC-PYEN")
        .values(valid_to=NOW.date().replace(month=12, day=31))
    )
    await session.execute(update(Unit).where(Unit.code == "STC-DLAK").values(valid_from=None))
    await session.commit()
    await close(session, chair)
    plan = await yearend.handover_plan(session, chair)
    codes = [c.code for c in plan.candidates]
    assert "STC-PYEN" not in codes and "STC-DLAK" in codes
    assert next(c for c in plan.candidates if c.code == "STC-DLAK").replaces == "Phú Yên"
    ngai = next(c for c in plan.candidates if c.code == "STC-QNGAI")
    bdinh = next(c for c in plan.candidates if c.code == "STC-BDINH")

    done = await yearend.hand_over(
        session,
        chair,
        cluster_id=cluster_id,
        to_year=2025,
        chair_unit_id=ngai.unit_id,
        vice_unit_id=bdinh.unit_id,
        now=LATER,
    )

    assert (done.chair.code, done.vice_chair and done.vice_chair.code) == ("STC-QNGAI", "STC-BDINH")
    roles = dict(
        (
            await session.execute(
                select(Unit.code, Membership.role)
                .join(Unit, Unit.id == Membership.unit_id)
                .where(Membership.cluster_id == cluster_id, Membership.year == 2025)
            )
        ).all()
    )
    assert roles == {
        "STC-QNGAI": Role.CHAIR,
        "STC-BDINH": Role.VICE_CHAIR,
        "STC-QNAM": Role.MEMBER,
        "STC-KHOA": Role.MEMBER,
        "STC-NTHUAN": Role.MEMBER,
        "STC-DLAK": Role.MEMBER,
    }
    old = {
        c.code: c
        for c in await session.scalars(
            select(Criterion).where(Criterion.year == 2024, Criterion.cluster_id == cluster_id)
        )
    }
    new = {
        c.code: c
        for c in await session.scalars(
            select(Criterion).where(Criterion.year == 2025, Criterion.cluster_id == cluster_id)
        )
    }
    assert set(new) == set(old) and done.criteria == len(old)
    new_by_id = {c.id: c for c in new.values()}
    assert new_by_id[new["1.1.1"].parent_id].code == "1.1"  # type: ignore[index]
    assert new["1.1.1"].target == old["1.1.1"].target == Decimal("105.0000")
    targets = dict(
        (
            await session.execute(
                select(Unit.code, UnitTarget.target)
                .join(Unit, Unit.id == UnitTarget.unit_id)
                .where(UnitTarget.criterion_id == new["1.1.1"].id)
            )
        ).all()
    )
    assert targets == {"STC-KHOA": Decimal("110.0000"), "STC-NTHUAN": Decimal("102.0000")}
    periods = list(
        await session.scalars(
            select(Period.code)
            .where(Period.year == 2025, Period.cluster_id == cluster_id)
            .order_by(Period.starts_on)
        )
    )
    assert periods == ["Q1", "Q2", "Q3", "Q4"]
    year = await session.scalar(
        select(ClusterYear).where(ClusterYear.year == 2025, ClusterYear.cluster_id == cluster_id)
    )
    assert (
        year is not None
        and year.status is YearStatus.OPEN
        and year.settings["rating"]["tie_rule"] == "ballot"
    )

    # Roles follow the working year: Quảng Ngãi now chairs, Quảng Nam is a member.
    ngai_officer = await resolve_actor(session, cum6["QNGAI"].address, frozenset())
    nam_officer = await resolve_actor(session, chair.address, frozenset())
    assert ngai_officer.seat is not None and ngai_officer.seat.role is Role.CHAIR
    assert ngai_officer.seat.year == 2025
    assert nam_officer.seat is not None and nam_officer.seat.role is Role.MEMBER
    audit = await session.scalar(select(AuditEntry).where(AuditEntry.action == "year.handover"))
    assert audit is not None and audit.details["previous_chair"] == "Quảng Nam"


@pytest.mark.parametrize(
    ("who", "closed", "pick", "key"),
    [
        ("QNAM", False, ("STC-QNGAI", "STC-BDINH"), "error.handover_year_open"),
        ("QNGAI", True, ("STC-QNGAI", "STC-BDINH"), "error.forbidden"),
        ("QNAM", True, ("STC-QNGAI", "STC-QNGAI"), "error.handover_same_unit"),
        ("QNAM", True, ("STC-DNANG", "STC-BDINH"), "error.handover_not_candidate"),
    ],
)
async def test_a_wrong_hand_over_is_refused_and_opens_nothing(
    session: AsyncSession,
    cum6: dict[str, Actor],
    who: str,
    closed: bool,
    pick: tuple[str, str],
    key: str,
) -> None:
    if closed:
        await close(session, cum6["QNAM"])
    ids = dict((await session.execute(select(Unit.code, Unit.id))).all())
    actor = cum6[who]
    assert actor.seat is not None

    with pytest.raises(DomainError) as refused:
        await yearend.hand_over(
            session,
            actor,
            cluster_id=actor.seat.cluster_id,
            to_year=2025,
            chair_unit_id=ids[pick[0]],
            vice_unit_id=ids[pick[1]],
            now=LATER,
        )

    assert refused.value.key == key
    await session.rollback()
    assert (
        await session.scalar(
            select(func.count()).select_from(ClusterYear).where(ClusterYear.year == 2025)
        )
        == 0
    )
