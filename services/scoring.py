"""The scoring engine: leaf scores, group and unit totals, ratings and ranks.

Pure functions on `Decimal`: no database, no Telegram, no I/O. Callers load the criteria
and the reported values, call these functions, and store or show the results.
Scores carry 2 decimal places, rounded half-up, because that is how Vietnamese scoring
tables are filled in by hand; the stored value (4 places) is never more precise than that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from models.tables import CriterionKind
from services.errors import InvalidInput

__all__ = [
    "NOT_COMPLETED",
    "LeafRule",
    "Node",
    "RatingLevel",
    "ScoringError",
    "build_tree",
    "final_total",
    "group_total",
    "rank",
    "rate",
    "rate_by",
    "score_leaf",
    "total",
]

NOT_COMPLETED = "not_completed"

_ZERO = Decimal("0.00")
_CENT = Decimal("0.01")
# Bonus and penalty sit outside the 100-point table: they never count towards a
# criterion floor in `rate`.
_EXTRA_KINDS = frozenset({CriterionKind.BONUS, CriterionKind.PENALTY})


class ScoringError(InvalidInput, ValueError):
    """Invalid input to the scoring engine, named by a message-catalogue key; a DomainError,
    so every adapter turns it into a message the same way."""


@dataclass(frozen=True)
class LeafRule:
    """How one leaf criterion turns a reported value into points."""

    code: str
    kind: CriterionKind
    max_points: Decimal
    points_each: Decimal | None = None
    target: Decimal | None = None
    scale_to_best: bool = False


@dataclass(frozen=True)
class Node:
    """A criterion in the criteria tree; only groups have children."""

    code: str
    kind: CriterionKind
    max_points: Decimal | None
    children: tuple[Node, ...] = ()


@dataclass(frozen=True)
class RatingLevel:
    """A rating ("excellent", ...) with its minimum total and per-criterion floor."""

    code: str
    min_total: Decimal
    # Every scored base criterion must reach this share of its maximum (0.85 = 85 %).
    min_share: Decimal


def _cents(amount: Decimal, maximum: Decimal) -> Decimal:
    # The ceiling is the maximum rounded *down*: a 0.125-point criterion must never show
    # 0.13, and half-up rounding of a capped amount would otherwise get there.
    ceiling = maximum.quantize(_CENT, rounding=ROUND_DOWN)
    rounded = amount.quantize(_CENT, rounding=ROUND_HALF_UP)
    return min(max(rounded, _ZERO), ceiling)


def _check_rule(rule: LeafRule) -> None:
    # Cluster files are validated on import, but rules also come from the database and
    # from tests; a negative maximum would silently invert every cap below.
    for name in ("max_points", "points_each", "target"):
        amount = getattr(rule, name)
        if amount is not None and (not amount.is_finite() or amount < 0):
            raise ScoringError("score.bad_rule", code=rule.code, field=name, value=amount)


def _number(rule: LeafRule, value: Decimal | bool) -> Decimal:
    # bool is not a Decimal subclass, but a yes/no answer reaching a numeric criterion is
    # a caller mix-up worth stopping, not a 1.
    if isinstance(value, bool) or not isinstance(value, Decimal) or not value.is_finite():
        raise ScoringError("score.not_a_number", code=rule.code, value=value)
    if value < 0:
        raise ScoringError("score.negative_value", code=rule.code, value=value)
    return value


def _quantitative(rule: LeafRule, value: Decimal, best: Decimal | None) -> Decimal:
    if rule.scale_to_best and best is not None:
        if not best.is_finite():
            raise ScoringError("score.not_a_number", code=rule.code, value=best)
        # The cluster's leader (best > 0) gets the maximum and the others scale to it.
        # With best == 0 nobody achieved anything, so we fall back to the fixed target
        # rather than divide by zero or hand everyone the maximum.
        if best > 0:
            return rule.max_points * min(value / best, Decimal(1))
    if rule.target is None:
        raise ScoringError("score.missing_target", code=rule.code)
    if rule.target == 0:
        raise ScoringError("score.bad_rule", code=rule.code, field="target", value=rule.target)
    return rule.max_points * min(value / rule.target, Decimal(1))


def score_leaf(
    rule: LeafRule, value: Decimal | bool | None, *, best: Decimal | None = None
) -> Decimal:
    """Score one leaf criterion: 0..max_points, or -max_points..0 for a penalty."""
    if rule.kind is CriterionKind.GROUP:
        raise ScoringError("score.not_a_leaf", code=rule.code)
    _check_rule(rule)
    if value is None:
        # Not reported yet: no points, and no error, so a half-filled table still sums.
        return _ZERO
    maximum = rule.max_points

    if rule.kind is CriterionKind.YES_NO:
        # Accept 1/0 as well: imported spreadsheets write yes/no that way.
        if isinstance(value, Decimal) and value.is_finite() and value in (0, 1):
            value = value == 1
        if not isinstance(value, bool):
            raise ScoringError("score.not_yes_no", code=rule.code, value=value)
        return _cents(maximum, maximum) if value else _ZERO

    amount = _number(rule, value)
    if rule.kind is CriterionKind.QUANTITATIVE:
        return _cents(_quantitative(rule, amount, best), maximum)
    if rule.kind is CriterionKind.COUNT:
        if amount != amount.to_integral_value():
            raise ScoringError("score.not_whole", code=rule.code, value=amount)
        if rule.points_each is None:
            raise ScoringError("score.missing_points_each", code=rule.code)
        return _cents(min(amount * rule.points_each, maximum), maximum)
    if rule.kind is CriterionKind.JUDGED:
        # The unit proposes and the chair decides; a proposal above the maximum is a
        # typo to send back, not something to cap quietly.
        if amount > maximum:
            raise ScoringError("score.above_max", code=rule.code, value=amount, max=maximum)
        return _cents(amount, maximum)

    # Bonus and penalty: either a count of items times points each, or points directly.
    raw = amount * rule.points_each if rule.points_each is not None else amount
    magnitude = _cents(min(raw, maximum), maximum)
    if rule.kind is CriterionKind.BONUS:
        return magnitude
    # Penalties are stored negative so that a plain sum gives the total.
    return -magnitude


def _leaves(node: Node) -> Iterable[Node]:
    if not node.children and node.kind is not CriterionKind.GROUP:
        yield node
    for child in node.children:
        yield from _leaves(child)


def group_total(node: Node, leaf_scores: Mapping[str, Decimal]) -> Decimal:
    """Sum the scores of the leaves below a node (a leaf gives its own score)."""
    # Leaves without a score were not reported and count 0. The sum is not capped at the
    # group's max_points: each leaf is already capped, and a bonus or penalty group must
    # be able to show its real (possibly negative) sum.
    return sum((leaf_scores.get(leaf.code, _ZERO) for leaf in _leaves(node)), _ZERO)


def build_tree(
    codes_kinds_max: Sequence[tuple[str, CriterionKind, Decimal | None]],
) -> list[Node]:
    """Build the criteria tree from a flat, parents-first list of (code, kind, max)."""
    kinds: dict[str, CriterionKind] = {}
    children: dict[str, list[str]] = {}
    roots: list[str] = []
    for code, kind, _maximum in codes_kinds_max:
        if code in kinds:
            raise ScoringError("score.duplicate_code", code=code)
        parent, dot, _ = code.rpartition(".")
        if dot:
            # Same rule as the cluster file: a group is listed before its criteria, so a
            # missing parent is a typo in the code, not something to guess around.
            if parent not in kinds:
                raise ScoringError("score.unknown_parent", code=code, parent=parent)
            if kinds[parent] is not CriterionKind.GROUP:
                raise ScoringError("score.parent_not_group", code=code, parent=parent)
            children[parent].append(code)
        else:
            roots.append(code)
        kinds[code] = kind
        children[code] = []

    maxima = {code: maximum for code, _kind, maximum in codes_kinds_max}

    def make(code: str) -> Node:
        return Node(code, kinds[code], maxima[code], tuple(make(c) for c in children[code]))

    return [make(code) for code in roots]


def total(leaf_rules: Sequence[LeafRule], leaf_scores: Mapping[str, Decimal]) -> Decimal:
    """Sum a unit's leaf scores (base + bonus - penalties), never below 0."""
    running = _ZERO
    for rule in leaf_rules:
        if rule.kind is CriterionKind.GROUP:
            # A group's own score would count its leaves twice.
            raise ScoringError("score.not_a_leaf", code=rule.code)
        score = leaf_scores.get(rule.code, _ZERO)
        # A penalty always lowers the total, whether it was stored negative (as
        # score_leaf returns it) or entered by hand as a positive amount.
        running += -abs(score) if rule.kind is CriterionKind.PENALTY else score
    return final_total(running)


def final_total(running: Decimal) -> Decimal:
    """A unit's sum of leaf scores (penalties deducted) as the tables show it: to the cent,
    half up, never below 0."""
    # Bonus may lift a total past 100; penalties may not push it below 0, since no
    # table publishes a negative total and ratings start at 0.
    return max(running.quantize(_CENT, rounding=ROUND_HALF_UP), _ZERO)


def rate(
    total: Decimal,
    leaf_rules: Sequence[LeafRule],
    leaf_scores: Mapping[str, Decimal],
    levels: Sequence[RatingLevel],
) -> str:
    """Return the first level (high to low) whose total and per-criterion floor are met."""
    # Only base criteria with a maximum have a floor; an unreported one scores 0 and so
    # fails any floor above 0.
    floored = [r for r in leaf_rules if r.kind not in _EXTRA_KINDS and r.max_points > 0]
    return rate_by(
        total,
        levels,
        lambda share: all(leaf_scores.get(r.code, _ZERO) >= share * r.max_points for r in floored),
    )


def rate_by(
    total: Decimal, levels: Sequence[RatingLevel], floors_met: Callable[[Decimal], bool]
) -> str:
    """`rate` for a caller that knows, for a share, whether every floored criterion reaches
    that share of its maximum (a board that summed its units in the database)."""
    mins = [level.min_total for level in levels]
    if mins != sorted(mins, reverse=True):
        # Taking the first match of an ascending list would rate everyone the lowest.
        raise ScoringError("score.levels_not_descending")
    for level in levels:
        if total < level.min_total:
            continue
        if floors_met(level.min_share):
            return level.code
    return NOT_COMPLETED


def rank(
    totals: Mapping[str, Decimal], tiebreak: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Rank units by total, highest first; equal totals share a rank (1, 1, 3) — unless a
    `tiebreak` (the secret ballot's votes, tie_rule = "ballot") orders them: more votes
    first, and equal totals with equal votes still share. Codes order the result within a
    shared rank so it is stable."""
    votes = tiebreak or {}

    def key(code: str) -> tuple[Decimal, int]:
        return (totals[code], votes.get(code, 0))

    ordered = sorted(totals, key=lambda code: (-totals[code], -votes.get(code, 0), code))
    ranks: dict[str, int] = {}
    previous: tuple[Decimal, int] | None = None
    current = 0
    for position, code in enumerate(ordered, start=1):
        if previous is None or key(code) != previous:
            current = position
            previous = key(code)
        ranks[code] = current
    return ranks
