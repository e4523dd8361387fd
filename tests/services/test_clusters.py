"""Importing cluster files into a real database: create, re-import, update, history kept."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import (
    AuditEntry,
    Cluster,
    ClusterYear,
    Criterion,
    Membership,
    Period,
    Pledge,
    Report,
    Role,
    Unit,
    UnitTarget,
    User,
    YearStatus,
)
from services.cluster_file import load_cluster_file, parse_cluster_text
from services.clusters import current_year, import_cluster, list_clusters
from tests.conftest import EXAMPLES, NOW

CUM6 = EXAMPLES / "cum6-stc-2024.toml"
TAYNINH = EXAMPLES / "khoi-tw-tayninh.toml"


async def count(session: AsyncSession, model: type) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_importing_the_cum6_example_creates_its_units_roles_criteria_and_periods(
    session: AsyncSession,
) -> None:
    spec = load_cluster_file(CUM6)
    result = await import_cluster(session, spec, now=NOW)

    assert result.changed
    cluster = await session.scalar(select(Cluster).where(Cluster.code == "CUM6-STC"))
    assert cluster is not None and cluster.kind.value == "cum"
    roles = dict(
        (
            await session.execute(
                select(Unit.code, Membership.role)
                .join(Membership, Membership.unit_id == Unit.id)
                .where(Membership.cluster_id == cluster.id, Membership.year == 2024)
            )
        ).all()
    )
    assert len(roles) == 6
    assert roles["STC-QNAM"] is Role.CHAIR
    assert roles["STC-QNGAI"] is Role.VICE_CHAIR
    assert "STC-DNANG" not in roles  # the 2025 successor is no member in 2024
    assert await count(session, Criterion) == len(spec.years[0].criteria)
    periods = list(await session.scalars(select(Period.code).order_by(Period.starts_on)))
    assert periods == ["Q1", "Q2", "Q3", "Q4"]
    assert await count(session, Pledge) == 6
    quang_nam = await session.scalar(select(Unit).where(Unit.code == "STC-QNAM"))
    da_nang = await session.scalar(select(Unit).where(Unit.code == "STC-DNANG"))
    assert quang_nam is not None and da_nang is not None
    assert quang_nam.successor_id == da_nang.id
    assert result.updated["unit"] == 0  # a unit's successor link is part of its creation


async def test_reimporting_the_same_file_changes_nothing(session: AsyncSession) -> None:
    spec = load_cluster_file(CUM6)
    await import_cluster(session, spec, now=NOW)
    audits = await count(session, AuditEntry)
    later = NOW + timedelta(days=3)

    again = await import_cluster(session, spec, now=later)

    assert not again.changed
    assert await count(session, AuditEntry) == audits
    stamps = await session.scalar(select(func.max(Criterion.updated_at)))
    assert stamps == NOW


async def test_both_examples_share_a_database_and_keep_their_years(session: AsyncSession) -> None:
    await import_cluster(session, load_cluster_file(CUM6), now=NOW)
    await import_cluster(session, load_cluster_file(TAYNINH), now=NOW)

    rows = {row.code: row for row in await list_clusters(session)}
    assert set(rows) == {"CUM6-STC", "KHOI-TW-TNINH"}
    assert rows["KHOI-TW-TNINH"].current_year == 2024  # 2023 is closed
    assert rows["KHOI-TW-TNINH"].units == 7
    assert rows["CUM6-STC"].units == 6
    cluster = await session.scalar(select(Cluster).where(Cluster.code == "KHOI-TW-TNINH"))
    assert cluster is not None
    chairs = dict(
        (
            await session.execute(
                select(Membership.year, Unit.code)
                .join(Unit, Unit.id == Membership.unit_id)
                .where(Membership.cluster_id == cluster.id, Membership.role == Role.CHAIR)
            )
        ).all()
    )
    assert chairs == {2023: "TN-NHNN", 2024: "TN-CTHUE"}  # who chaired when


MINIMAL = """
[cluster]
code = "MINI"
name = "Cụm thử"

[[units]]
code = "A"
name = "Đơn vị A"

[[units]]
code = "B"
name = "Đơn vị B"

[[years]]
year = 2024
chair = "A"
vice_chair = "B"

[[years.criteria]]
code = "1"
name = "Chuyên môn"
kind = "group"

[[years.criteria]]
code = "1.1"
name = "Thu ngân sách"
kind = "quantitative"
max_points = {max_1_1}
target = 105
targets = {{ A = 110 }}

[[years.criteria]]
code = "1.2"
name = "Ban hành kế hoạch"
kind = "yes_no"
max_points = {max_1_2}
{extra}
"""


def minimal(max_1_1: int = 60, max_1_2: int = 40, extra: str = "") -> str:
    return MINIMAL.format(max_1_1=max_1_1, max_1_2=max_1_2, extra=extra)


async def _report_on(session: AsyncSession, code: str) -> Report:
    criterion = await session.scalar(select(Criterion).where(Criterion.code == code))
    unit = await session.scalar(select(Unit).where(Unit.code == "A"))
    period = await session.scalar(select(Period).where(Period.code == "Q1"))
    assert criterion and unit and period
    user = User(full_name="Cán bộ A", created_at=NOW, updated_at=NOW)
    session.add(user)
    await session.flush()
    report = Report(
        unit_id=unit.id,
        criterion_id=criterion.id,
        period_id=period.id,
        version=1,
        value=Decimal("1"),
        proposed_score=criterion.max_points,
        max_points=criterion.max_points,
        reported_by=user.id,
        reported_at=NOW,
    )
    session.add(report)
    await session.commit()
    return report


async def test_a_changed_file_updates_the_tree_without_losing_reports(
    session: AsyncSession,
) -> None:
    await import_cluster(session, parse_cluster_text(minimal()), now=NOW)
    report = await _report_on(session, "1.2")

    # 1.2 is dropped and 1.1 is worth more: the report and its maximum must survive.
    changed = minimal(max_1_1=100, max_1_2=0).split('[[years.criteria]]\ncode = "1.2"')[0]
    result = await import_cluster(session, parse_cluster_text(changed), now=NOW)

    assert result.retired["criterion"] == 1
    assert result.updated["criterion"] == 1
    dropped = await session.scalar(select(Criterion).where(Criterion.code == "1.2"))
    assert dropped is not None and dropped.active is False
    kept = await session.get(Report, report.id)
    assert kept is not None and kept.max_points == Decimal(40)
    revenue = await session.scalar(select(Criterion).where(Criterion.code == "1.1"))
    assert revenue is not None and revenue.max_points == Decimal(100)

    # Putting it back re-activates the same row: the report still points at it.
    await import_cluster(session, parse_cluster_text(minimal()), now=NOW)
    back = await session.scalar(select(Criterion).where(Criterion.code == "1.2"))
    assert back is not None and back.active and back.id == dropped.id


async def test_per_unit_targets_follow_the_file(session: AsyncSession) -> None:
    await import_cluster(session, parse_cluster_text(minimal()), now=NOW)
    assert [t.target for t in await session.scalars(select(UnitTarget))] == [Decimal(110)]

    without = minimal().replace("targets = { A = 110 }", "")
    result = await import_cluster(session, parse_cluster_text(without), now=NOW)

    assert result.retired["target"] == 1
    assert await count(session, UnitTarget) == 0


async def test_a_member_with_reports_is_kept_when_dropped_from_the_file(
    session: AsyncSession,
) -> None:
    three = minimal().replace("[[years]]", '[[units]]\ncode = "C"\nname = "Đơn vị C"\n\n[[years]]')
    await import_cluster(session, parse_cluster_text(three), now=NOW)
    await _report_on(session, "1.2")  # a report by unit A

    # Listing only B as member (A chairs, so A stays) drops C, which has no reports.
    only_ab = three.replace('vice_chair = "B"', 'vice_chair = "B"\nmembers = ["A", "B"]')
    result = await import_cluster(session, parse_cluster_text(only_ab), now=NOW)
    assert result.retired["membership"] == 1

    # Now make B the chair and drop A, which has a report: A's membership is kept.
    swapped = minimal().replace('chair = "A"\nvice_chair = "B"', 'chair = "B"\nmembers = ["B"]')
    swapped = swapped.replace("targets = { A = 110 }", "")
    result = await import_cluster(session, parse_cluster_text(swapped), now=NOW)
    assert [w.key for w in result.warnings] == ["import.note.membership_kept"]
    assert result.warnings[0].params == {"year": 2024, "unit": "A"}
    assert await count(session, Membership) == 2


async def test_a_closed_year_is_not_reopened_by_a_file(session: AsyncSession) -> None:
    closed = minimal().replace("year = 2024", 'year = 2024\nstatus = "closed"')
    await import_cluster(session, parse_cluster_text(closed), now=NOW)
    cluster = await session.scalar(select(Cluster))
    assert cluster is not None

    result = await import_cluster(session, parse_cluster_text(minimal()), now=NOW)

    year = await session.scalar(select(ClusterYear))
    assert year is not None and year.status is YearStatus.CLOSED
    assert [w.key for w in result.warnings] == ["import.note.year_closed"]
    current = await current_year(session, cluster.id)
    assert current is not None and current.year == 2024


async def test_changing_the_deadline_rule_moves_the_deadlines(session: AsyncSession) -> None:
    await import_cluster(session, parse_cluster_text(minimal()), now=NOW)
    q1 = await session.scalar(select(Period).where(Period.code == "Q1"))
    assert q1 is not None
    before = q1.deadline

    later = minimal(extra="").replace(
        'vice_chair = "B"', 'vice_chair = "B"\n\n[years.periods]\ndeadline_day = 10'
    )
    result = await import_cluster(session, parse_cluster_text(later), now=NOW)

    await session.refresh(q1)
    assert result.updated["period"] == 4
    assert q1.deadline - before == timedelta(days=5)
