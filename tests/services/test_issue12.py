"""Small faults of issue 12, each where its rule lives (services), on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Unit
from services import export, onboarding, reminders, review, summary
from services.access import Actor
from services.onboarding import Person
from services.reminders import Kind
from tests.chair_data import cum6_with_reports
from tests.conftest import NOW
from tests.factories import officer, seed_examples, tg

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
CHAIR, VICE, BDINH = 3401, 3402, 3403
GROUP = -100_777


def local(y: int, m: int, d: int, hh: int = 8, mm: int = 30) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=HCM)


@pytest.fixture
async def cum6(session: AsyncSession) -> dict[str, Actor]:
    """Cụm 6 2024 with its group linked, and Ninh Thuận closed on 31/03/2024 (merged away
    after Q1): it exists during Q1 only."""
    await seed_examples(session)
    actors = {
        "chair": await officer(session, CHAIR, "STC-QNAM"),
        "vice": await officer(session, VICE, "STC-QNGAI"),
        "bdinh": await officer(session, BDINH, "STC-BDINH"),
    }
    await onboarding.link_group(
        session, actors["chair"], chat=tg(GROUP), cluster_code=None, now=local(2024, 5, 10)
    )
    await session.execute(
        update(Unit).where(Unit.code == "STC-NTHUAN").values(valid_to=date(2024, 3, 31))
    )
    await session.commit()
    return actors


# ------------------------------------------- 2, 3: a member unit existing during the period


async def test_the_group_reminder_counts_only_units_existing_during_the_period(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    plan = await reminders.plan(session, local(2024, 6, 28))  # Q2, 7 days before

    [group] = [d for d in plan.due if d.kind is Kind.GROUP_MISSING]
    assert "Ninh Thuận" not in [g.unit_name for g in group.gaps]
    assert (len(group.gaps), group.members) == (5, 5)  # "5/5 units", not "5/6"


async def test_summary_reminders_and_deadlines_agree_on_a_unit_closed_before_the_period(
    session: AsyncSession, cum6: dict[str, Actor]
) -> None:
    now = local(2024, 6, 28)
    q2 = await summary.summary(session, cum6["chair"], words=["Q2"], now=now)
    q1 = await summary.summary(session, cum6["chair"], words=["Q1"], now=now)
    deadlines = await reminders.deadlines(session, cum6["chair"], now)
    plan = await reminders.plan(session, now)

    assert "STC-NTHUAN" not in [u.member.code for u in q2.units]
    assert all(c.units == 5 for c in q2.criteria)
    assert "STC-NTHUAN" in [u.member.code for u in q1.units]  # it existed during Q1
    [group] = [d for d in plan.due if d.kind is Kind.GROUP_MISSING]
    [q2_line] = [ln for ln in deadlines.lines if ln.period.code == "Q2"]
    missing_in_summary = sum(1 for u in q2.units if not u.complete)
    assert missing_in_summary == len(group.gaps) == q2_line.late_units == 5


# ------------------------------------------------- 5: a period's summary counts its reviews


async def test_a_period_summary_counts_the_reviews_waiting_in_that_period(
    session: AsyncSession,
) -> None:
    actors = await cum6_with_reports(session)  # 11 reports in Q2, Bình Định's late one in Q1
    chair = actors["QNAM"]

    q2 = await summary.summary(session, chair, words=["Q2"], now=NOW)
    q1 = await summary.summary(session, chair, words=["Q1"], now=NOW)

    assert (q2.pending_reviews, q1.pending_reviews) == (11, 1)  # not 12 and 12
    [bdinh] = [u for u in q1.units if u.member.code == "STC-BDINH"]
    assert bdinh.pending_reviews == 1


# ----------------------------------------- 7: the explanation column after a revised review


async def test_the_workbook_keeps_the_explanations_after_a_revised_review(
    session: AsyncSession,
) -> None:
    actors = await cum6_with_reports(session)
    chair, ngai = actors["QNAM"], actors["QNGAI"]

    async def judge(score: str, reason: str, at: datetime) -> None:
        await review.submit(
            session,
            chair,
            cluster_code=None,
            unit_code="STC-QNGAI",
            criterion_code="2.3",
            score_text=score,
            reason=reason,
            report_id=None,
            reviewer=Person(chair.address, "Cụm trưởng", None),
            language="vi",
            now=at,
        )

    await judge("1", "Thiếu văn bản", NOW)
    await review.explain(session, ngai, criterion_code="2.3", text="Đã bổ sung", now=NOW)
    await judge("2", "Đã xem giải trình", NOW + timedelta(hours=1))  # the revised review

    made = await export.export(session, chair, words=[], now=NOW + timedelta(hours=2))

    rows = {
        r[0].value: r for r in load_workbook(io.BytesIO(made.content))["Quảng Ngãi"].iter_rows()
    }
    assert rows["2.3"][10].value == "Đã xem giải trình"
    assert rows["2.3"][11].value == "Đã bổ sung"  # was empty: it answered the first review
