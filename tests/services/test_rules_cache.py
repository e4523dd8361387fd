"""A year's rules (criteria, unit targets, periods) come from process memory, keyed by the
year's revision; every change of them renews the revision in the same transaction, and the
revision is read with the actor, so another process's import is seen at the next update."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from models.db import create_engine, session_factory
from models.tables import ClusterYear, Criterion, Period, Report, UnitTarget, YearStatus
from services import reporting, yearend
from services.access import Actor, resolve_actor
from services.cluster_file import load_cluster_file
from services.clusters import import_cluster
from services.errors import DomainError
from services.reporting import EvidenceIn
from tests.conftest import NOW
from tests.factories import CUM6, officer, seed_examples, tg

LIMIT = 20 * 1024 * 1024
PDF = EvidenceIn("telegram:file-1", "uniq-1", "Quyết toán.pdf", "application/pdf", 120_000)
OLD_113 = 'code = "1.1.3"\nname = "Tỷ lệ hồ sơ quyết toán dự án hoàn thành được thẩm tra đúng thời hạn"\nkind = "quantitative"\nmax_points = 4\n'  # noqa: E501
NEW_113 = OLD_113.replace("max_points = 4\n", "max_points = 8\nevidence_required = true\n")


@pytest.fixture
async def binh_dinh(session: AsyncSession) -> Actor:
    await seed_examples(session)
    return await officer(session, 3001, "STC-BDINH")


async def submit(
    session: AsyncSession, actor: Actor, code: str, raw: str, evidence: list[EvidenceIn]
) -> reporting.Submitted:
    return await reporting.submit(
        session,
        actor,
        criterion_code=code,
        period_code=None,
        raw_value=raw,
        note=None,
        evidence=evidence,
        evidence_limit=LIMIT,
        language="vi",
        now=NOW,
    )


async def revisions(session: AsyncSession) -> dict[tuple[int, int], int]:
    rows = await session.execute(
        select(ClusterYear.cluster_id, ClusterYear.year, ClusterYear.revision)
    )
    return {(cluster, year): revision for cluster, year, revision in rows}


def changed_file(tmp_path: Path) -> Path:
    text = CUM6.read_text(encoding="utf-8")
    assert text.count(OLD_113) == 1
    path = tmp_path / "cum6-changed.toml"
    path.write_text(text.replace(OLD_113, NEW_113), encoding="utf-8")
    return path


async def test_an_import_by_another_process_is_seen_by_the_next_report_at_once(
    db_url: str, engine: AsyncEngine, session: AsyncSession, binh_dinh: Actor, tmp_path: Path
) -> None:
    sessions = session_factory(engine)
    async with sessions() as unit_of_work:
        actor = await resolve_actor(unit_of_work, tg(3001), frozenset())
        first = await submit(unit_of_work, actor, "1.1.3", "95", [])
    assert first.preview.criterion.max_points == 4 and first.preview.proposed == Decimal("3.8")

    other = create_engine(db_url)  # another process, or another webhook worker
    try:
        async with session_factory(other)() as theirs:
            await import_cluster(theirs, load_cluster_file(changed_file(tmp_path)), now=NOW)
    finally:
        await other.dispose()

    async with sessions() as unit_of_work:
        actor = await resolve_actor(unit_of_work, tg(3001), frozenset())
        with pytest.raises(DomainError) as refused:
            await submit(unit_of_work, actor, "1.1.3", "95", [])
    assert refused.value.key == "error.evidence_required"
    async with sessions() as unit_of_work:
        actor = await resolve_actor(unit_of_work, tg(3001), frozenset())
        second = await submit(unit_of_work, actor, "1.1.3", "95", [PDF])
    assert second.preview.criterion.max_points == 8 and second.preview.proposed == Decimal("7.6")
    stored = await session.scalar(select(Report.max_points).where(Report.id == second.report_id))
    assert stored == 8


async def test_the_rules_are_read_once_per_revision(
    engine: AsyncEngine, session: AsyncSession, binh_dinh: Actor, tmp_path: Path
) -> None:
    sessions = session_factory(engine)

    async def report(value: str) -> None:
        async with sessions() as unit_of_work:
            actor = await resolve_actor(unit_of_work, tg(3001), frozenset())
            await submit(unit_of_work, actor, "1.1.3", value, [PDF])

    await report("90")
    before = reporting.rules_loads()
    await report("91")
    await report("92")
    assert reporting.rules_loads() == before  # from memory

    await import_cluster(session, load_cluster_file(changed_file(tmp_path)), now=NOW)
    await report("93")
    await report("94")
    assert reporting.rules_loads() == before + 1  # the new revision, read once


async def test_an_unchanged_import_keeps_the_revision_and_a_changed_one_renews_it(
    session: AsyncSession, binh_dinh: Actor, tmp_path: Path
) -> None:
    before = await revisions(session)
    await import_cluster(session, load_cluster_file(CUM6), now=NOW)
    assert await revisions(session) == before

    await import_cluster(session, load_cluster_file(changed_file(tmp_path)), now=NOW)
    after = await revisions(session)
    assert binh_dinh.seat is not None
    assert [key for key in before if after[key] != before[key]] == [
        (binh_dinh.seat.cluster_id, 2024)
    ]


async def cum6_year(session: AsyncSession, actor: Actor) -> tuple[int, int]:
    assert actor.seat is not None
    return actor.seat.cluster_id, 2024


@pytest.mark.parametrize(
    "change",
    ["criterion", "retired criterion", "unit target", "new unit target", "period", "year row"],
)
async def test_every_change_of_a_years_rules_renews_its_revision_and_no_other(
    session: AsyncSession, binh_dinh: Actor, change: str
) -> None:
    cluster_id, year = await cum6_year(session, binh_dinh)
    before = await revisions(session)
    criterion = await session.scalar(
        select(Criterion).where(
            Criterion.cluster_id == cluster_id, Criterion.year == year, Criterion.code == "1.1.3"
        )
    )
    assert criterion is not None
    if change == "criterion":
        criterion.evidence_required = True
    elif change == "retired criterion":
        criterion.active = False
    elif change == "unit target":
        target = await session.scalar(
            select(UnitTarget)
            .join(Criterion, Criterion.id == UnitTarget.criterion_id)
            .where(Criterion.cluster_id == cluster_id, Criterion.year == year)
            .limit(1)
        )
        assert target is not None
        target.target = target.target + 1
    elif change == "new unit target":
        session.add(
            UnitTarget(criterion_id=criterion.id, unit_id=binh_dinh.seat.unit_id, target=50)  # type: ignore[union-attr]
        )
    elif change == "period":
        period = await session.scalar(
            select(Period).where(
                Period.cluster_id == cluster_id, Period.year == year, Period.code == "Q4"
            )
        )
        assert period is not None
        await session.delete(period)
    else:
        row = await session.scalar(
            select(ClusterYear).where(
                ClusterYear.cluster_id == cluster_id, ClusterYear.year == year
            )
        )
        assert row is not None
        row.late_lock_days += 1
    await session.commit()

    after = await revisions(session)
    assert after[cluster_id, year] != before[cluster_id, year]
    assert {k: v for k, v in after.items() if k != (cluster_id, year)} == {
        k: v for k, v in before.items() if k != (cluster_id, year)
    }


async def test_a_flush_that_touches_no_rules_keeps_every_revision(
    session: AsyncSession, binh_dinh: Actor
) -> None:
    before = await revisions(session)
    criterion = await session.scalar(select(Criterion).where(Criterion.code == "1.1.3"))
    assert criterion is not None
    criterion.evidence_required = criterion.evidence_required  # set, not changed
    await submit(session, binh_dinh, "1.1.3", "95", [])
    await session.commit()
    assert await revisions(session) == before


async def test_a_bulk_statement_on_the_rules_renews_every_revision(
    session: AsyncSession, binh_dinh: Actor
) -> None:
    before = await revisions(session)
    await session.execute(update(Criterion).where(Criterion.code == "1.1.3").values(target=90))
    await session.execute(delete(UnitTarget).where(UnitTarget.id == -1))
    await session.commit()
    after = await revisions(session)
    assert all(after[key] != before[key] for key in before)


async def test_closing_a_year_and_handing_it_over_renew_the_rules_it_is_read_with(
    engine: AsyncEngine, session: AsyncSession, binh_dinh: Actor
) -> None:
    chair = await officer(session, 3002, "STC-QNAM")
    cluster_id, year = await cum6_year(session, chair)
    await submit(session, binh_dinh, "1.1.3", "95", [])  # the open year's rules in memory
    before = await revisions(session)

    await yearend.close_year(session, chair, cluster_id=cluster_id, year=year, now=NOW)
    closed = await revisions(session)
    assert closed[cluster_id, year] != before[cluster_id, year]
    async with session_factory(engine)() as unit_of_work:
        actor = await resolve_actor(unit_of_work, tg(3001), frozenset())
        with pytest.raises(DomainError) as refused:
            await submit(unit_of_work, actor, "1.1.3", "96", [])
    assert refused.value.key == "error.year_closed"

    chair = await resolve_actor(session, tg(3002), frozenset())
    await yearend.hand_over(
        session,
        chair,
        cluster_id=cluster_id,
        to_year=year + 1,
        chair_unit_id=binh_dinh.seat.unit_id,  # type: ignore[union-attr]
        vice_unit_id=None,
        now=NOW,
    )
    opened = await revisions(session)
    assert (cluster_id, year + 1) in opened
    status = await session.scalar(
        select(ClusterYear.status).where(
            ClusterYear.cluster_id == cluster_id, ClusterYear.year == year + 1
        )
    )
    assert status is YearStatus.OPEN


@pytest.mark.parametrize("how", ["statement", "flush"])
async def test_a_year_row_changed_in_the_same_unit_of_work_is_read_again(
    session: AsyncSession, binh_dinh: Actor, how: str
) -> None:
    actor = await resolve_actor(session, tg(3001), frozenset())  # reads the year's row
    if how == "statement":
        await session.execute(update(ClusterYear).values(status=YearStatus.CLOSED))
    else:
        for row in await session.scalars(select(ClusterYear)):
            row.status = YearStatus.CLOSED
        await session.flush()

    with pytest.raises(DomainError) as refused:
        await submit(session, actor, "1.1.3", "95", [])
    assert refused.value.key == "error.year_closed"
