"""Reporting on a real database: every criterion kind, versions, lateness, locks, and every
kind of bad input refused without a trace."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from models.db import session_factory
from models.tables import AuditEntry, ClusterYear, Criterion, EvidenceFile, Period, Report
from services import reporting
from services.access import Actor, resolve_actor
from services.calendar import PeriodState
from services.errors import DomainError
from services.reporting import EvidenceIn
from tests.conftest import NOW, statements_on
from tests.factories import officer, seed_examples, tg

LIMIT = 20 * 1024 * 1024
PDF = EvidenceIn("telegram:file-1", "uniq-1", "Báo cáo thu NSNN.pdf", "application/pdf", 120_000)


@pytest.fixture
async def binh_dinh(session: AsyncSession) -> Actor:
    await seed_examples(session)
    return await officer(session, 3001, "STC-BDINH")


async def submit(
    session: AsyncSession,
    actor: Actor,
    code: str,
    raw: str,
    *,
    note: str | None = None,
    evidence: list[EvidenceIn] | None = None,
    period: str | None = None,
    language: str = "vi",
    now: object = NOW,
) -> reporting.Submitted:
    return await reporting.submit(
        session,
        actor,
        criterion_code=code,
        period_code=period,
        raw_value=raw,
        note=note,
        evidence=evidence if evidence is not None else [],
        evidence_limit=LIMIT,
        language=language,
        now=now,  # type: ignore[arg-type]
    )


async def reports(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Report)) or 0)


async def test_the_default_period_is_the_one_being_reported_now(
    session: AsyncSession, binh_dinh: Actor
) -> None:
    periods = await reporting.periods(session, binh_dinh, NOW)

    assert [(p.code, p.state) for p in periods] == [
        ("Q1", PeriodState.LATE),
        ("Q2", PeriodState.OPEN),
        ("Q3", PeriodState.FUTURE),
        ("Q4", PeriodState.FUTURE),
    ]
    early_april = NOW.replace(month=4, day=2)
    sheet = await reporting.sheet(session, binh_dinh, period_code=None, now=early_april, year=False)
    assert sheet.period is not None and sheet.period.code == "Q1"  # still before its deadline


async def test_a_quantitative_report_is_scored_against_the_units_own_target(
    session: AsyncSession, binh_dinh: Actor
) -> None:
    khanh_hoa = await officer(session, 3002, "STC-KHOA")  # target 110 instead of 105

    done = await submit(session, binh_dinh, "1.1.1", "105,5%", evidence=[PDF])
    other = await submit(session, khanh_hoa, "1.1.1", "105.5", evidence=[PDF])

    assert done.preview.value == Decimal("105.5")
    assert done.preview.proposed == Decimal("8.00")  # capped at the maximum
    assert other.preview.proposed == Decimal("7.67")  # 8 x 105.5 / 110
    assert done.version == 1 and not done.preview.late
    stored = await session.get(Report, done.report_id)
    assert stored is not None and stored.max_points == Decimal(8)
    files = list(await session.scalars(select(EvidenceFile.file_name)))
    assert files == ["Báo cáo thu NSNN.pdf", "Báo cáo thu NSNN.pdf"]


@pytest.mark.parametrize(
    ("code", "raw", "note", "evidence", "proposed"),
    [
        ("1.2.2", "có", None, False, Decimal("4.00")),
        ("1.2.2", "Không", None, False, Decimal("0.00")),
        ("5.3", "3", None, True, Decimal("3.00")),
        ("5.3", "9", None, True, Decimal("5.00")),  # count x points, capped
        ("2.3", "2,5", "Tham mưu 3 đề án", False, Decimal("2.50")),
        ("7.3", "2", None, False, Decimal("2.00")),  # bonus
        ("8.1", "2", None, False, Decimal("-2.00")),  # penalty, stored negative
        ("1.4.2", "81", None, False, Decimal("1.80")),  # 2 x 81 / 90
    ],
)
async def test_each_kind_of_criterion_is_scored_by_its_rule(
    session: AsyncSession,
    binh_dinh: Actor,
    code: str,
    raw: str,
    note: str | None,
    evidence: bool,
    proposed: Decimal,
) -> None:
    done = await submit(
        session, binh_dinh, code, raw, note=note, evidence=[PDF] if evidence else []
    )

    assert done.preview.proposed == proposed


async def test_a_correction_is_a_new_version_and_history_keeps_both(
    session: AsyncSession, binh_dinh: Actor
) -> None:
    first = await submit(session, binh_dinh, "1.3.2", "80")
    second = await submit(
        session, binh_dinh, "1.3.2", "95", note="số liệu đã rà soát", now=NOW + timedelta(hours=2)
    )

    assert (first.version, second.version) == (1, 2)
    criterion, versions = await reporting.history(session, binh_dinh, criterion_code="1.3.2")
    assert criterion.code == "1.3.2"
    assert [(v.version, v.value, v.proposed) for v in versions] == [
        (2, Decimal("95.0000"), Decimal("3.80")),
        (1, Decimal("80.0000"), Decimal("3.20")),
    ]
    kept = await session.get(Report, first.report_id)
    assert kept is not None and kept.value == Decimal(80)
    sheet = await reporting.sheet(session, binh_dinh, period_code=None, now=NOW, year=False)
    [line] = [ln for ln in sheet.lines if ln.criterion.code == "1.3.2"]
    assert line.latest is not None and line.latest.version == 2


async def test_a_report_after_the_deadline_is_accepted_and_marked_late(
    session: AsyncSession, binh_dinh: Actor
) -> None:
    done = await submit(session, binh_dinh, "2.1", "có", period="Q1")

    assert done.preview.late
    stored = await session.get(Report, done.report_id)
    assert stored is not None and stored.late


async def test_progress_sums_proposed_scores_and_lists_what_is_missing(
    session: AsyncSession, binh_dinh: Actor
) -> None:
    await submit(session, binh_dinh, "2.1", "có", period="Q1")
    await submit(session, binh_dinh, "2.2", "có")
    await submit(session, binh_dinh, "8.1", "1")

    period = await reporting.sheet(session, binh_dinh, period_code="Q2", now=NOW, year=False)
    year = await reporting.sheet(session, binh_dinh, period_code=None, now=NOW, year=True)

    # The penalty 8.1 scores but is no criterion "to report": it is not counted as reported.
    assert period.reported == 1 and period.total(verified=False) == Decimal("2.00")  # 3 - 1
    assert year.reported == 2 and year.total(verified=False) == Decimal("6.00")  # 4 + 3 - 1
    assert period.to_report == year.to_report == 34  # what /tonghop counts: 8.1, 8.2 aside
    assert year.base_max == Decimal(100)
    missing = {line.criterion.code for line in year.missing}
    assert "2.1" not in missing and "1.1.1" in missing and "8.1" not in missing
    assert year.total(verified=True) == Decimal(0)


async def add_versions(
    session: AsyncSession, actor: Actor, code: str, period: str, versions: range
) -> None:
    """Versions of one criterion's report written directly (the service is not under test)."""
    assert actor.seat is not None and actor.user_id is not None
    cluster_id = actor.seat.cluster_id
    criterion_id = await session.scalar(
        select(Criterion.id).where(
            Criterion.cluster_id == cluster_id, Criterion.year == 2024, Criterion.code == code
        )
    )
    period_id = await session.scalar(
        select(Period.id).where(
            Period.cluster_id == cluster_id, Period.year == 2024, Period.code == period
        )
    )
    assert criterion_id is not None and period_id is not None
    session.add_all(
        Report(
            unit_id=actor.seat.unit_id,
            criterion_id=criterion_id,
            period_id=period_id,
            version=version,
            value=Decimal(version % 2),
            proposed_score=Decimal(version % 2),
            max_points=Decimal(1),
            note=None,
            late=False,
            reported_by=actor.user_id,
            reported_at=NOW,
        )
        for version in versions
    )
    await session.commit()


async def statements_of_sheets(
    session: AsyncSession, engine: AsyncEngine, actor: Actor
) -> tuple[int, int, tuple[str, int], tuple[str, int]]:
    """SQL statements issued by /tiendo for Q1 and for the year, and what each shows for 2.1."""
    # The year's rules come from process memory once loaded (services.cache): loaded here
    # first, so both counts are of the same, warm, path.
    await reporting.sheet(session, actor, period_code="Q1", now=NOW, year=False)
    with statements_on(engine) as seen:
        q1 = await reporting.sheet(session, actor, period_code="Q1", now=NOW, year=False)
        in_q1 = len(seen)
        year = await reporting.sheet(session, actor, period_code=None, now=NOW, year=True)

    def shown(sheet: reporting.Sheet) -> tuple[str, int]:
        [line] = [ln for ln in sheet.lines if ln.criterion.code == "2.1"]
        assert line.latest is not None
        return line.latest.period_code, line.latest.version

    return in_q1, len(seen) - in_q1, shown(q1), shown(year)


async def test_progress_costs_the_same_statements_at_20_and_at_200_versions(
    session: AsyncSession, engine: AsyncEngine, binh_dinh: Actor
) -> None:
    # Q1 has the higher version numbers, but Q2 is the later period: the year shows Q2's.
    await add_versions(session, binh_dinh, "2.1", "Q1", range(1, 16))
    await add_versions(session, binh_dinh, "2.1", "Q2", range(1, 6))
    few = await statements_of_sheets(session, engine, binh_dinh)

    await add_versions(session, binh_dinh, "2.1", "Q1", range(16, 191))
    await add_versions(session, binh_dinh, "2.1", "Q2", range(6, 11))
    many = await statements_of_sheets(session, engine, binh_dinh)

    assert few[2:] == (("Q1", 15), ("Q2", 5))
    assert many[2:] == (("Q1", 190), ("Q2", 10))
    assert many[:2] == few[:2]


BAD_INPUT = [
    ("1.1.1", "abc", {}, "error.not_a_number"),
    ("1.1.1", "-5", {}, "error.value_negative"),
    ("1.1.1", "105000", {}, "error.value_absurd"),
    ("1.1.1", "105", {"evidence": []}, "error.evidence_required"),
    ("1.2.2", "có lẽ", {}, "error.not_yes_no"),
    ("5.3", "2,5", {"evidence": [PDF]}, "error.value_not_whole"),
    ("2.3", "5", {"note": "vượt"}, "error.value_above_max"),
    ("2.3", "2", {}, "error.judged_needs_note"),
    ("9.9", "1", {}, "error.criterion_not_found"),
    ("1", "1", {}, "error.criterion_is_group"),
    ("2.1", "có", {"period": "Q3"}, "error.period_not_started"),
    ("2.1", "có", {"period": "Q9"}, "error.period_not_found"),
    (
        "1.1.1",
        "105",
        {"evidence": [EvidenceIn("telegram:f", "u", "big.zip", None, LIMIT + 1)]},
        "error.file_too_large",
    ),
    ("2.1", "có", {"note": "x" * 2001}, "error.note_too_long"),
]


@pytest.mark.parametrize(("code", "raw", "options", "key"), BAD_INPUT)
async def test_bad_input_is_refused_with_its_reason_and_changes_nothing(
    session: AsyncSession,
    binh_dinh: Actor,
    code: str,
    raw: str,
    options: dict[str, object],
    key: str,
) -> None:
    audits = await session.scalar(select(func.count()).select_from(AuditEntry))
    evidence = options.get("evidence", [PDF])

    with pytest.raises(DomainError) as refused:
        await submit(
            session,
            binh_dinh,
            code,
            raw,
            note=options.get("note"),  # type: ignore[arg-type]
            evidence=evidence,  # type: ignore[arg-type]
            period=options.get("period"),  # type: ignore[arg-type]
        )

    assert refused.value.key == key
    await session.rollback()
    assert await reports(session) == 0
    assert await session.scalar(select(func.count()).select_from(AuditEntry)) == audits


async def test_a_stranger_cannot_report(session: AsyncSession, binh_dinh: Actor) -> None:
    stranger = await resolve_actor(session, tg(9999), frozenset())

    with pytest.raises(DomainError) as refused:
        await submit(session, stranger, "2.1", "có")

    assert refused.value.key == "error.not_registered"


async def test_an_officer_reports_only_on_their_own_clusters_criteria(
    session: AsyncSession, binh_dinh: Actor
) -> None:
    tay_ninh = await officer(session, 3003, "TN-KBNN", "KHOI-TW-TNINH")

    # "1.4" is a yes/no item in the Tây Ninh bloc but a group in Cụm 6; "1.1.1" is Cụm 6's.
    done = await submit(session, tay_ninh, "1.4", "có", evidence=[PDF])
    assert done.preview.criterion.kind.value == "yes_no"
    with pytest.raises(DomainError) as refused:
        await submit(session, tay_ninh, "1.1.1", "105", evidence=[PDF])
    assert refused.value.key == "error.criterion_not_found"
    with pytest.raises(DomainError) as group:
        await submit(session, binh_dinh, "1.4", "có")
    assert group.value.key == "error.criterion_is_group"


async def test_a_cluster_lock_refuses_reports_long_after_the_deadline(
    session: AsyncSession, binh_dinh: Actor
) -> None:
    tay_ninh = await officer(session, 3004, "TN-HQ", "KHOI-TW-TNINH")
    lock = await session.scalar(
        select(ClusterYear.late_lock_days).where(
            ClusterYear.year == 2024, ClusterYear.deadline_day == 7
        )
    )
    assert lock == 10

    with pytest.raises(DomainError) as refused:
        await submit(session, tay_ninh, "4.1", "có", period="T01")
    assert refused.value.key == "error.period_locked"

    recent = await submit(session, tay_ninh, "4.1", "có", period="T04")  # due 07/05, 3 days ago
    assert recent.preview.late


async def test_a_closed_year_takes_no_more_reports(session: AsyncSession, binh_dinh: Actor) -> None:
    await session.execute(update(ClusterYear).values(status="closed"))
    await session.commit()
    actor = await resolve_actor(session, tg(3001), frozenset())

    with pytest.raises(DomainError) as refused:
        await submit(session, actor, "2.1", "có")

    assert refused.value.key == "error.year_closed"


async def test_officers_of_one_unit_reporting_at_the_same_instant_both_keep_their_version(
    engine: AsyncEngine, session: AsyncSession, binh_dinh: Actor
) -> None:
    others = [await officer(session, 3100 + i, "STC-BDINH") for i in range(5)]
    sessions = session_factory(engine)

    async def one(actor: Actor, value: str) -> int:
        async with sessions() as own:
            return (await submit(own, actor, "1.1.3", value)).version

    versions = await asyncio.gather(
        *(one(a, str(50 + i)) for i, a in enumerate([binh_dinh, *others]))
    )

    assert sorted(versions) == [1, 2, 3, 4, 5, 6]  # nobody's report lost, none refused
    stored = list(await session.scalars(select(Report).where(Report.criterion_id.isnot(None))))
    assert sorted(r.version for r in stored) == [1, 2, 3, 4, 5, 6]
    assert len({r.value for r in stored}) == 6
