"""Unit tests for standings.totals: the one scoring of a unit's newest versions, shared by the
boards and the unit's own /tiendo sheet."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from models.tables import CriterionKind
from services.scoring import LeafRule
from services.standings import totals


@dataclass(frozen=True)
class Newest:
    proposed: Decimal | None
    verified: Decimal | None = None
    late: bool = False


def rule(code: str, kind: CriterionKind, maximum: str) -> LeafRule:
    return LeafRule(code=code, kind=kind, max_points=Decimal(maximum))


YES_NO = rule("1.1", CriterionKind.YES_NO, "3")
JUDGED = rule("1.2", CriterionKind.JUDGED, "5")
BONUS = rule("9.1", CriterionKind.BONUS, "2")
PENALTY = rule("9.2", CriterionKind.PENALTY, "2")


def test_only_reviewed_versions_count_towards_the_verified_total() -> None:
    t = totals(
        [
            (YES_NO, Newest(Decimal(3), verified=Decimal(3))),
            (JUDGED, Newest(Decimal(4), late=True)),  # not reviewed yet
            (BONUS, Newest(Decimal(1), verified=Decimal(1))),
            (PENALTY, None),
        ]
    )

    assert (t.proposed, t.verified) == (Decimal("8.00"), Decimal("4.00"))
    assert t.verified_scores == {"1.1": Decimal(3), "9.1": Decimal(1)}
    assert (t.reported, t.base_leaves, t.unreviewed, t.late) == (2, 2, 1, 1)


def test_a_penalty_lowers_the_total_whatever_its_sign_but_never_below_zero() -> None:
    t = totals(
        [
            (YES_NO, Newest(Decimal(1), verified=Decimal(1))),
            (PENALTY, Newest(Decimal(2), verified=Decimal(-2))),  # typed positive, stored negative
        ]
    )

    assert (t.proposed, t.verified) == (Decimal("0.00"), Decimal("0.00"))
    assert t.reported == 1 and t.base_leaves == 1  # a penalty is not a base criterion


def test_a_report_without_a_proposed_score_counts_as_zero() -> None:
    t = totals([(YES_NO, Newest(None)), (JUDGED, None)])

    assert (t.proposed, t.verified, t.reported, t.unreviewed) == (
        Decimal("0.00"),
        Decimal("0.00"),
        1,
        1,
    )
