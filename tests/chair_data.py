"""A cluster with reports from several units, for the leaderboard, summary, review, export
and year-end tests (services and handlers)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import CriterionKind
from services import reporting
from services.access import Actor
from services.reporting import EvidenceIn, Submitted
from tests.conftest import NOW
from tests.factories import officer, seed_examples

CHAIR_ID, VICE_ID, BDINH_ID, PYEN_ID, KHOA_ID = 3101, 3102, 3103, 3104, 3105
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
