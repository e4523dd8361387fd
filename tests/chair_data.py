"""A cluster with reports from several units, for the leaderboard, summary, review, export
and year-end tests (services and handlers)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import CriterionKind, Role
from services import reporting, review, yearend
from services.access import Actor
from services.documents import UnitResult, YearRecord
from services.onboarding import Person
from services.reporting import EvidenceIn, Submitted
from tests.conftest import NOW
from tests.factories import officer, seed_examples

CHAIR_ID, VICE_ID, BDINH_ID, PYEN_ID, KHOA_ID = 3101, 3102, 3103, 3104, 3105
CLOSED_AT = NOW + timedelta(days=1)
PDF_EVIDENCE = EvidenceIn("file-9", "uniq-9", "Bien ban kiem tra.pdf", "application/pdf", 9_000)


async def report(
    session: AsyncSession,
    actor: Actor,
    code: str,
    raw: str,
    *,
    note: str | None = None,
    period: str | None = None,
    evidence: list[EvidenceIn] | None = None,
    now: datetime = NOW,
) -> Submitted:
    """A report through the real reporting service (a new version each time)."""
    return await reporting.submit(
        session,
        actor,
        criterion_code=code,
        period_code=period,
        raw_value=raw,
        note=note,
        evidence=evidence or [],
        evidence_limit=20 * 1024 * 1024,
        language="vi",
        now=now,
    )


async def cum6_with_reports(session: AsyncSession) -> dict[str, Actor]:
    """Cụm 6 with officers in five units and Q1/Q2 reports (Ninh Thuận reports nothing).

    Proposed totals: Quảng Nam 11, Quảng Ngãi 10.1, Bình Định 9 (with a 2-point penalty and
    a late Q1 report), Phú Yên 2, Khánh Hòa 0, Ninh Thuận 0. Nothing is reviewed yet.
    """
    await seed_examples(session)
    return await cum6_reports(session)


async def cum6_reports(session: AsyncSession) -> dict[str, Actor]:
    """The officers and reports of `cum6_with_reports`, on an already imported database."""
    actors = {
        "QNAM": await officer(session, CHAIR_ID, "STC-QNAM"),
        "QNGAI": await officer(session, VICE_ID, "STC-QNGAI"),
        "BDINH": await officer(session, BDINH_ID, "STC-BDINH"),
        "PYEN": await officer(session, PYEN_ID, "STC-PYEN"),
        "KHOA": await officer(session, KHOA_ID, "STC-KHOA"),
    }
    q, g, b = actors["QNAM"], actors["QNGAI"], actors["BDINH"]
    await report(session, q, "1.1.3", "100")
    await report(session, q, "1.2.2", "có")
    await report(session, q, "2.3", "3", note="Tham mưu 5 cơ chế tài chính")
    await report(session, g, "1.1.3", "90")
    await report(session, g, "1.2.2", "có")
    await report(session, g, "2.3", "2,5", note="Tham mưu 3 cơ chế")
    await report(session, b, "1.1.3", "100", evidence=[PDF_EVIDENCE])
    await report(session, b, "1.2.2", "có")
    await report(session, b, "8.1", "2")
    await report(session, b, "1.3.1", "có", period="Q1")  # after 05/04: late
    await report(session, actors["PYEN"], "1.1.3", "50")
    await report(session, actors["KHOA"], "1.2.2", "không")
    return actors


def full_value(kind: CriterionKind, maximum: Decimal | None) -> str:
    """A value that earns a criterion's maximum."""
    if kind is CriterionKind.YES_NO:
        return "có"
    if kind is CriterionKind.JUDGED:
        return str(maximum)
    if kind is CriterionKind.QUANTITATIVE:
        return "200"  # well above any target: the maximum
    return "5"  # counts, bonus and penalty items


async def report_everything(session: AsyncSession, actor: Actor, *, skip: frozenset[str]) -> int:
    """Report every base criterion of the actor's cluster at its maximum; returns how many."""
    sheet = await reporting.sheet(session, actor, period_code=None, now=NOW, year=False)
    count = 0
    for line in sheet.lines:
        c = line.criterion
        if c.kind in (CriterionKind.BONUS, CriterionKind.PENALTY) or c.code in skip:
            continue
        await report(
            session,
            actor,
            c.code,
            full_value(c.kind, c.max_points),
            note="Đạt" if c.kind is CriterionKind.JUDGED else None,
            evidence=[PDF_EVIDENCE] if c.evidence_required else None,
        )
        count += 1
    return count


async def verify(session: AsyncSession, reviewer: Actor, unit: str, code: str) -> None:
    """The reviewer keeps the unit's proposed score on a criterion."""
    await review.submit(
        session,
        reviewer,
        cluster_code=None,
        unit_code=unit,
        criterion_code=code,
        score_text=None,
        reason=None,
        report_id=None,
        reviewer=Person(reviewer.address, "Người thẩm định", None),
        language="vi",
        now=NOW,
    )


async def close_cum6(session: AsyncSession, actors: dict[str, Actor]) -> None:
    """Review and close Cụm 6's 2024 on top of `cum6_reports`. Published: Khánh Hòa 100
    (excellent, rank 1), Bình Định 6, Quảng Nam 4, then Phú Yên, Quảng Ngãi and Ninh Thuận
    at 0 sharing rank 4 (their reports are not reviewed: they do not count)."""
    chair, vice = actors["QNAM"], actors["QNGAI"]
    await report_everything(session, actors["KHOA"], skip=frozenset())
    for item in (await review.items(session, vice, cluster_code=None, unit_code="STC-KHOA")).items:
        await verify(session, vice, "STC-KHOA", item.leaf.code)
    for code in ("1.1.3", "1.2.2", "8.1"):
        await verify(session, chair, "STC-BDINH", code)
    await verify(session, vice, "STC-QNAM", "1.1.3")
    assert chair.seat is not None
    await yearend.close_year(
        session, chair, cluster_id=chair.seat.cluster_id, year=2024, now=CLOSED_AT
    )


def sample_record() -> YearRecord:
    """Cụm 6's 2024 as `close_cum6` publishes it, without a database: for the pure layout,
    ballot and rendering tests."""

    def unit(
        code: str, name: str, role: Role, proposed: str, verified: str, rank: int
    ) -> UnitResult:
        rating = "excellent" if verified == "100" else "not_completed"
        short = name.removeprefix("Sở Tài chính tỉnh ")
        return UnitResult(
            code, name, short, role, Decimal(proposed), Decimal(verified), rank, rating
        )

    return YearRecord(
        cluster_code="CUM6-STC",
        cluster_name="Cụm thi đua số 6 — Sở Tài chính",
        cluster_kind="cum",
        year=2024,
        closed_on=date(2024, 5, 11),
        results=[
            unit("STC-KHOA", "Sở Tài chính tỉnh Khánh Hòa", Role.MEMBER, "100", "100", 1),
            unit("STC-BDINH", "Sở Tài chính tỉnh Bình Định", Role.MEMBER, "9", "6", 2),
            unit("STC-QNAM", "Sở Tài chính tỉnh Quảng Nam", Role.CHAIR, "11", "4", 3),
            unit("STC-QNGAI", "Sở Tài chính tỉnh Quảng Ngãi", Role.VICE_CHAIR, "10.1", "0", 4),
            unit("STC-PYEN", "Sở Tài chính tỉnh Phú Yên", Role.MEMBER, "2", "0", 4),
            unit("STC-NTHUAN", "Sở Tài chính tỉnh Ninh Thuận", Role.MEMBER, "0", "0", 4),
        ],
    )
