"""Small faults of issue 12 that show in what the bot says, through the neutral core."""

from __future__ import annotations

from sqlalchemy import func, select

from handlers.core import handle
from models.db import create_engine, session_factory
from models.tables import Cluster, Criterion, CriterionKind
from tests.handlers.conftest import Opener, RecordingChannel, said


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
