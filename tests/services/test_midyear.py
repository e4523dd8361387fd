"""The mid-year review (services/midyear) on a real database: the board's figures, the
behind and projection rules, the cut-off of each cadence, and the scheduled send (its day
shifted past weekends and holidays, and sent once through the reminders' ledger)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Cadence, Cluster, ClusterYear, Period, YearResult
from services import midyear, reminders, review, standings
from services.calendar import plan_periods
from services.errors import InvalidInput, PermissionDenied
from services.midyear import PeriodSpan, Review, UnitReview, send_day, window
from services.onboarding import Person
from services.reminders import Kind, Status
from tests.chair_data import (
    CHAIR_ID,
    CLOSED_AT,
    PDF_EVIDENCE,
    VICE_ID,
    close_cum6,
    cum6_with_reports,
    report,
    report_everything,
)
from tests.conftest import NOW
from tests.factories import tg

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=HCM)


async def cum6(session: AsyncSession) -> tuple[Cluster, ClusterYear]:
    cluster = await session.scalar(select(Cluster).where(Cluster.code == "CUM6-STC"))
    assert cluster is not None
    year = await session.scalar(
        select(ClusterYear).where(ClusterYear.cluster_id == cluster.id, ClusterYear.year == 2024)
    )
    assert year is not None
    return cluster, year


async def set_midyear(session: AsyncSession, **rule: Any) -> None:
    _, year = await cum6(session)
    year.settings = {**year.settings, "midyear": {**year.settings.get("midyear", {}), **rule}}
    await session.commit()


async def built(session: AsyncSession, now: datetime = NOW) -> Review:
    cluster, year = await cum6(session)
    return await midyear.build(session, cluster, year, now)


def unit(r: Review, code: str) -> UnitReview:
    return next(u for u in r.units if u.standing.member.code == code)


def line(r: Review, unit_code: str, criterion: str) -> midyear.CriterionLine:
    return next(x for x in unit(r, unit_code).lines if x.leaf.code == criterion)


# ---------------------------------------------------------------- the figures


async def test_the_review_shows_the_boards_figures_for_every_unit(session: AsyncSession) -> None:
    await cum6_with_reports(session)
    cluster, _ = await cum6(session)
    r = await built(session)
    board = (await standings.boards(session, 2024, [cluster.id], NOW))[cluster.id]

    def figures(s: standings.UnitStanding) -> tuple[object, ...]:
        return (s.member.code, s.proposed, s.verified, s.rank, s.rating, s.reported)

    assert [figures(u.standing) for u in r.units] == [figures(s) for s in board.standings]
    assert len(r.units) == 6
    # The value is the unit's newest year-to-date report, for the period it was sent in.
    qngai = line(r, "STC-QNGAI", "1.1.3")
    assert qngai.value == Decimal(90) and qngai.entry is not None
    assert qngai.entry.period_code == "Q2"
    assert r.window.periods == ("Q1", "Q2") and r.window.through == date(2024, 6, 30)
    assert r.provisional  # 10/05: H1 is not due before 05/07 17:00


async def test_a_closed_years_review_has_its_published_results(session: AsyncSession) -> None:
    actors = await cum6_with_reports(session)
    await close_cum6(session, actors)
    r = await midyear.review(session, actors["QNAM"], words=["2024"], now=CLOSED_AT)

    published = {
        row.unit_id: (row.proposed_total, row.verified_total, row.rank, row.rating)
        for row in await session.scalars(select(YearResult))
    }
    assert {
        u.standing.member.unit_id: (
            u.standing.proposed,
            u.standing.verified,
            u.standing.rank,
            u.standing.rating,
        )
        for u in r.units
    } == published
    assert not r.provisional


# ---------------------------------------------------------------- behind and projection


async def test_behind_is_below_the_pro_rata_share_and_the_projection_is_linear(
    session: AsyncSession,
) -> None:
    actors = await cum6_with_reports(session)
    # Khánh Hòa pledged 110 on 1.1.1, Bình Định has the cluster's 105 (cluster file).
    await report(session, actors["KHOA"], "1.1.1", "50", evidence=[PDF_EVIDENCE])
    await report(session, actors["BDINH"], "1.1.1", "60", evidence=[PDF_EVIDENCE])
    await report(session, actors["PYEN"], "1.4.1", "50")
    r = await built(session)

    khoa = line(r, "STC-KHOA", "1.1.1")
    assert (khoa.target, khoa.expected, khoa.months) == (Decimal(110), Decimal(55), 6)
    assert khoa.behind  # 50 < 110 * 6/12
    assert khoa.projected_value == Decimal(100)
    assert khoa.projected == Decimal("7.27")  # 8 * 100/110, the engine's rounding
    assert not khoa.verified

    bdinh = line(r, "STC-BDINH", "1.1.1")
    assert bdinh.expected == Decimal("52.5") and not bdinh.behind
    assert bdinh.projected == Decimal(8)  # 120 projected: capped at the maximum

    # Exactly the share is on track; not reported at all is behind.
    pyen = line(r, "STC-PYEN", "1.4.1")
    assert pyen.value == Decimal(50) and pyen.expected == Decimal(50) and not pyen.behind
    nthuan = unit(r, "STC-NTHUAN")
    quantitative = [x.leaf.code for x in nthuan.lines if x.target is not None]
    assert len(quantitative) >= 5
    assert [x.leaf.code for x in nthuan.behind] == quantitative
    assert nthuan.projected_total == 0

    # Non-quantitative criteria keep their score: Quảng Nam's judged 2.3 stays at 3.
    assert line(r, "STC-QNAM", "2.3").projected == Decimal(3)
    khoa_unit = unit(r, "STC-KHOA")
    assert khoa_unit.projected_total == Decimal("7.27")  # 1.2.2 "không" stays 0
    assert khoa_unit.standing.proposed == Decimal("3.64")  # 8 * 50/110 now


async def test_a_verified_score_counts_and_an_adjusted_one_is_not_extended(
    session: AsyncSession,
) -> None:
    actors = await cum6_with_reports(session)
    vice = actors["QNGAI"]
    await report(session, actors["KHOA"], "1.1.1", "50", evidence=[PDF_EVIDENCE])
    await review.submit(
        session,
        vice,
        cluster_code=None,
        unit_code="STC-KHOA",
        criterion_code="1.1.1",
        score_text="2",
        reason="Số liệu chưa khớp báo cáo quyết toán",
        report_id=None,
        reviewer=Person(vice.address, "Cụm phó", None),
        language="vi",
        now=NOW,
    )
    r = await built(session)

    khoa = line(r, "STC-KHOA", "1.1.1")
    assert khoa.verified and khoa.score == Decimal(2)
    assert khoa.projected == Decimal(2)
    assert unit(r, "STC-KHOA").verified == 1
    assert unit(r, "STC-KHOA").reported == 2  # 1.1.1 and 1.2.2


async def test_a_rate_is_neither_pro_rated_nor_projected(session: AsyncSession) -> None:
    await cum6_with_reports(session)  # the cluster file lists 1.1.3 among its rates
    r = await built(session)

    pyen = line(r, "STC-PYEN", "1.1.3")  # 50 % against a 100 % rate
    assert pyen.rate and pyen.expected == Decimal(100) and pyen.behind
    assert pyen.projected_value == Decimal(50) and pyen.projected == Decimal(2)

    await set_midyear(session, rates=[])
    amount = line(await built(session), "STC-PYEN", "1.1.3")
    assert not amount.rate and amount.expected == Decimal(50) and not amount.behind
    assert amount.projected == Decimal(4)  # 50 x 2 = 100 %: the maximum


async def test_the_projected_rating_uses_the_years_thresholds(session: AsyncSession) -> None:
    actors = await cum6_with_reports(session)
    khoa = actors["KHOA"]
    await report_everything(session, khoa, skip=frozenset({"1.1.1"}))
    await report(session, khoa, "1.1.1", "55", evidence=[PDF_EVIDENCE])  # half of 110
    r = await built(session)

    u = unit(r, "STC-KHOA")
    assert u.standing.proposed == Decimal(96)  # 1.1.1 scores 4 of 8 now
    assert u.standing.rating == "not_completed"  # nothing is verified yet
    assert u.behind == []
    assert u.projected_total == Decimal(100)
    assert u.projected_rating == "excellent"  # ≥ 90 and every criterion ≥ 85 %


async def test_an_officer_is_refused_and_a_bad_word_is_named(session: AsyncSession) -> None:
    actors = await cum6_with_reports(session)
    with pytest.raises(PermissionDenied):
        await midyear.review(session, actors["BDINH"], words=[], now=NOW)
    with pytest.raises(InvalidInput) as refused:
        await midyear.review(session, actors["QNAM"], words=["Q2"], now=NOW)
    assert refused.value.key == "error.midyear_usage"


# ---------------------------------------------------------------- the cut-off


def spans(cadence: Cadence) -> list[PeriodSpan]:
    plans = plan_periods(2024, cadence, 5, "17:00", HCM)
    return [
        PeriodSpan(i, p.code, p.starts_on, p.ends_on, p.deadline) for i, p in enumerate(plans, 1)
    ]


@pytest.mark.parametrize(
    ("cadence", "month", "periods", "through", "deadline"),
    [
        (Cadence.MONTHLY, 6, ("T01", "T02", "T03", "T04", "T05", "T06"), (6, 30), (7, 5)),
        (Cadence.QUARTERLY, 6, ("Q1", "Q2"), (6, 30), (7, 5)),
        (Cadence.HALF_YEARLY, 6, ("H1",), (6, 30), (7, 5)),
        (Cadence.QUARTERLY, 5, ("Q1",), (3, 31), (4, 5)),
    ],
)
def test_the_cut_off_is_the_end_of_the_last_period_ending_by_the_month(
    cadence: Cadence,
    month: int,
    periods: tuple[str, ...],
    through: tuple[int, int],
    deadline: tuple[int, int],
) -> None:
    cut = window(spans(cadence), 2024, month)
    assert cut.periods == periods
    assert cut.through == date(2024, *through) and cut.months == through[0]
    assert cut.deadline == local(2024, *deadline, 17, 0)


def test_a_yearly_cadence_has_no_h1_deadline() -> None:
    cut = window(spans(Cadence.YEARLY), 2024)
    assert (cut.periods, cut.through, cut.months, cut.deadline) == ((), date(2024, 6, 30), 6, None)


def test_the_send_day_is_the_first_working_day_after_the_deadline() -> None:
    assert send_day(local(2024, 7, 5, 17, 0), HCM) == date(2024, 7, 8)  # Friday → Monday
    # Giỗ Tổ Hùng Vương, Thursday 18/04/2024, is a holiday.
    assert send_day(local(2024, 4, 17, 17, 0), HCM) == date(2024, 4, 19)


# ---------------------------------------------------------------- the scheduled send


async def test_the_chair_and_vice_chair_get_it_once_on_the_first_working_day(
    session: AsyncSession,
) -> None:
    await cum6_with_reports(session)
    assert (await midyear.scheduled(session, local(2024, 7, 5, 18, 0))).due == []
    assert (await midyear.scheduled(session, local(2024, 7, 8, 7, 59))).due == []
    at = local(2024, 7, 8, 8, 5)  # Monday, at the reminders' 08:00
    plan = await midyear.scheduled(session, at)
    assert {d.address for d in plan.due} == {tg(CHAIR_ID), tg(VICE_ID)}
    assert {d.kind for d in plan.due} == {Kind.MIDYEAR}
    assert all(d.period is not None and d.period.code == "Q2" for d in plan.due)

    for item in plan.due:
        assert await reminders.claim(session, item, at, owner="test")
        assert await reminders.finish(session, item.key, Status.SENT, at, owner="test")
    assert (await midyear.scheduled(session, local(2024, 7, 8, 9, 0))).due == []
    # The next day nothing is due and nothing is left to record as skipped.
    later = await midyear.scheduled(session, local(2024, 7, 9, 8, 5))
    assert later.due == [] and later.expired == []


async def test_a_holiday_moves_the_send_and_a_missed_day_is_skipped_not_sent_late(
    session: AsyncSession,
) -> None:
    await cum6_with_reports(session)
    await set_midyear(session, month=3)  # a review of Q1
    cluster, _ = await cum6(session)
    q1 = await session.scalar(
        select(Period).where(Period.cluster_id == cluster.id, Period.code == "Q1")
    )
    assert q1 is not None
    q1.deadline = local(2024, 4, 17, 17, 0)  # the day before Giỗ Tổ Hùng Vương
    await session.commit()

    assert (await midyear.scheduled(session, local(2024, 4, 18, 8, 30))).due == []
    due = (await midyear.scheduled(session, local(2024, 4, 19, 8, 30))).due
    assert {d.address for d in due} == {tg(CHAIR_ID), tg(VICE_ID)}
    missed = await midyear.scheduled(session, local(2024, 4, 22, 8, 30))
    assert missed.due == [] and {d.address for d in missed.expired} == {tg(CHAIR_ID), tg(VICE_ID)}
    assert (
        await midyear.scheduled(session, local(2024, 4, 22, 8, 30), catch_up=False)
    ).expired == []


async def test_nothing_is_sent_when_the_cluster_turned_it_off_or_the_year_is_closed(
    session: AsyncSession,
) -> None:
    actors = await cum6_with_reports(session)
    at = local(2024, 7, 8, 8, 5)
    await set_midyear(session, enabled=False)
    assert (await midyear.scheduled(session, at)).due == []
    await set_midyear(session, enabled=True)
    assert (await midyear.scheduled(session, at)).due != []
    await close_cum6(session, actors)
    assert (await midyear.scheduled(session, at)).due == []
