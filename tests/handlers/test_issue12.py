"""Small faults of issue 12 that show in what the bot says, through the neutral core."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select, update

from handlers.core import handle
from handlers.io import Incoming
from models.db import create_engine, session_factory
from models.tables import (
    Cluster,
    ClusterYear,
    Criterion,
    CriterionKind,
    Draft,
    Report,
    Unit,
    YearStatus,
)
from services.addresses import Address
from services.cluster_file import load_cluster_file
from services.clusters import import_cluster
from services.onboarding import Person
from services.rehearsal import seat
from tests.conftest import NOW
from tests.factories import TAYNINH
from tests.handlers.conftest import Opener, RecordingChannel, pressed, said

KHOI_OFFICER = Address("console", "officer-tn-hq")
TAYNINH_CODE = "KHOI-TW-TNINH"


async def count(url: str, table: type[Report] | type[Draft]) -> int:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        found = await session.scalar(select(func.count()).select_from(table))
    await engine.dispose()
    return int(found or 0)


async def close_year(url: str) -> None:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        await session.execute(update(ClusterYear).values(status=YearStatus.CLOSED))
        await session.commit()
    await engine.dispose()


async def base_criteria(url: str) -> int:
    """Cụm 6's 2024 criteria to report: active leaves, bonus and penalty items aside."""
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        found = await session.scalar(
            select(func.count())
            .select_from(Criterion)
            .join(Cluster, Cluster.id == Criterion.cluster_id)
            .where(
                Cluster.code == "CUM6-STC",
                Criterion.year == 2024,
                Criterion.active.is_(True),
                Criterion.kind.not_in(
                    [CriterionKind.GROUP, CriterionKind.BONUS, CriterionKind.PENALTY]
                ),
            )
        )
    await engine.dispose()
    return int(found or 0)


async def test_progress_counts_only_criteria_to_report(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    async with open_core() as core:
        await handle(core, said("/baocao 1.1.3 100"))
        await handle(core, said("/baocao 8.1 2"))  # a penalty item: not one "to report"
        await handle(core, said("/tiendo"))

    total = await base_criteria(seeded)
    assert f"Đã báo cáo 1/{total} tiêu chí" in channel.last()


async def test_a_period_code_that_is_no_period_of_the_year_is_named_as_such(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    async with open_core() as core:
        await handle(core, said("/baocao Q5 1.2 50"))

    assert "Không có kỳ <code>Q5</code>. Các kỳ: Q1, Q2, Q3, Q4." in channel.last()
    assert "tiêu chí" not in channel.last()
    assert await count(seeded, Report) == 0


async def test_a_closed_year_refuses_the_guided_report_at_the_start(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    await close_year(seeded)
    async with open_core() as core:
        await handle(core, said("/baocao"))
        assert channel.last() == "❌ Năm thi đua 2024 đã kết thúc, không nhận báo cáo nữa."
        assert channel.labels() == []  # no groups to walk into
        await handle(core, pressed("rr:Q2:1.1.1"))  # a reminder's criterion button, from before
        assert channel.last() == "❌ Năm thi đua 2024 đã kết thúc, không nhận báo cáo nữa."

    assert await count(seeded, Draft) == 0 and await count(seeded, Report) == 0


async def test_a_khois_locked_period_names_the_khoi_truong(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    engine = create_engine(seeded)
    async with session_factory(engine)() as session:
        await import_cluster(session, load_cluster_file(TAYNINH), now=NOW)
        await seat(
            session, Person(KHOI_OFFICER, "Cán bộ Hải quan", None), TAYNINH_CODE, "TN-HQ", NOW
        )
    await engine.dispose()
    asked = Incoming(
        sender=KHOI_OFFICER,
        chat=KHOI_OFFICER,
        private=True,
        full_name="Cán bộ Hải quan",
        text="/baocao T03 2.1 có",  # T03 was due 07/04 and locks 10 days later
    )
    async with open_core() as core:
        await handle(core, asked)
        await handle(core, said("/baocao Q1 2.1 có"))  # Cụm 6 never locks: no refusal

    [refusal] = channel.texts(KHOI_OFFICER)
    assert "Hãy liên hệ Khối trưởng." in refusal and "Cụm trưởng" not in refusal
    assert await count(seeded, Report) == 1  # Cụm 6's report only


CHAIR = Address("console", "chair-qnam")


def chair_said(text: str = "", button: str | None = None) -> Incoming:
    return Incoming(
        sender=CHAIR, chat=CHAIR, private=True, full_name="Cụm trưởng", text=text, button=button
    )


async def test_the_hand_over_says_which_merged_unit_leaves_and_who_replaces_it(
    open_core: Opener, channel: RecordingChannel, seeded: str
) -> None:
    engine = create_engine(seeded)
    async with session_factory(engine)() as session:
        await seat(session, Person(CHAIR, "Cụm trưởng", None), "CUM6-STC", "STC-QNAM", NOW)
        # Ninh Thuận ends with 2024; Khánh Hòa, already a member, takes it in.
        await session.execute(
            update(Unit).where(Unit.code == "STC-NTHUAN").values(valid_to=date(2024, 12, 31))
        )
        await session.execute(update(ClusterYear).values(status=YearStatus.CLOSED))
        await session.commit()
    await engine.dispose()
    line = "• Ninh Thuận không còn là thành viên (đã sáp nhập); Khánh Hòa thay thế."
    async with open_core() as core:
        await handle(core, chair_said("/bangiao"))
        assert line in channel.last(CHAIR)
        [chair_button] = [c.data for c in channel.labels() if c.label == "Quảng Ngãi"]
        await handle(core, chair_said(button=chair_button))
        [vice_button] = [c.data for c in channel.labels() if c.label == "Bình Định"]
        await handle(core, chair_said(button=vice_button))
        [confirm] = [c.data for c in channel.labels() if c.data.startswith("hok:")]
        await handle(core, chair_said(button=confirm))

    done = channel.last(CHAIR)
    assert "Đã mở năm thi đua 2025" in done and line in done
