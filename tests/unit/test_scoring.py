"""Unit tests for the pure scoring engine (services/scoring.py)."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.tables import CriterionKind
from services.scoring import (
    NOT_COMPLETED,
    LeafRule,
    Node,
    RatingLevel,
    ScoringError,
    build_tree,
    group_total,
    rank,
    rate,
    score_leaf,
    total,
)

D = Decimal
K = CriterionKind

# The 2025 draft from DOMAIN.md: >= 90 / 85 %, >= 80 / 80 %, >= 70 / 70 %.
LEVELS = (
    RatingLevel("excellent", D(90), D("0.85")),
    RatingLevel("good", D(80), D("0.8")),
    RatingLevel("completed", D(70), D("0.7")),
)

# No example database: the run must leave nothing behind, and a modest default
# example count keeps the suite fast.
PROPERTY = settings(deadline=None, database=None)


def _error_key(rule: LeafRule, value: Decimal | bool | None, **kw: Decimal | None) -> str:
    with pytest.raises(ScoringError) as caught:
        score_leaf(rule, value, **kw)
    return caught.value.key


# --- quantitative -------------------------------------------------------------------------

REVENUE = LeafRule("1.1", K.QUANTITATIVE, D(10), target=D(105))


def test_quantitative_reaching_the_target_scores_the_maximum() -> None:
    # DOMAIN: revenue >= 105 % of the estimate; the value is the actual in % of estimate.
    assert score_leaf(REVENUE, D(105)) == D("10.00")


def test_quantitative_score_is_capped_at_maximum() -> None:
    assert score_leaf(REVENUE, D(130)) == D("10.00")


def test_quantitative_below_target_scores_in_proportion() -> None:
    # 10 * 100 / 105 = 9.5238...
    assert score_leaf(REVENUE, D(100)) == D("9.52")
    assert score_leaf(REVENUE, D(0)) == D(0)


def test_quantitative_rounds_half_up_to_two_places() -> None:
    # 1 * 1 / 8 = 0.125: half-up gives 0.13 where banker's rounding would give 0.12.
    rule = LeafRule("q", K.QUANTITATIVE, D(1), target=D(8))
    assert score_leaf(rule, D(1)) == D("0.13")


def test_scale_to_best_gives_the_leader_the_maximum_and_scales_the_others() -> None:
    rule = LeafRule("1.1", K.QUANTITATIVE, D(10), target=D(105), scale_to_best=True)
    assert score_leaf(rule, D(120), best=D(120)) == D("10.00")
    assert score_leaf(rule, D(90), best=D(120)) == D("7.50")


def test_scale_to_best_falls_back_to_target_when_nobody_scored() -> None:
    rule = LeafRule("1.1", K.QUANTITATIVE, D(10), target=D(50), scale_to_best=True)
    assert score_leaf(rule, D(0), best=D(0)) == D(0)
    assert score_leaf(rule, D(25), best=None) == D("5.00")


def test_best_is_ignored_unless_the_rule_scales_to_best() -> None:
    assert score_leaf(REVENUE, D(90), best=D(90)) == D("8.57")


def test_quantitative_without_target_is_an_error() -> None:
    rule = LeafRule("1.1", K.QUANTITATIVE, D(10))
    assert _error_key(rule, D(5)) == "score.missing_target"


def test_quantitative_with_zero_target_is_a_bad_rule() -> None:
    rule = LeafRule("1.1", K.QUANTITATIVE, D(10), target=D(0))
    assert _error_key(rule, D(5)) == "score.bad_rule"


def test_quantitative_negative_value_is_an_error() -> None:
    with pytest.raises(ScoringError) as caught:
        score_leaf(REVENUE, D(-1))
    assert caught.value.key == "score.negative_value"
    assert caught.value.params == {"code": "1.1", "value": D(-1)}


def test_numeric_criterion_rejects_a_yes_no_answer_and_nan() -> None:
    assert _error_key(REVENUE, True) == "score.not_a_number"
    assert _error_key(REVENUE, D("NaN")) == "score.not_a_number"
    assert _error_key(REVENUE, D("Infinity")) == "score.not_a_number"


# --- yes/no -------------------------------------------------------------------------------

PLAN = LeafRule("1.2", K.YES_NO, D(5))


def test_yes_no_done_scores_the_maximum_and_not_done_scores_zero() -> None:
    assert score_leaf(PLAN, True) == D("5.00")
    assert score_leaf(PLAN, False) == D(0)


def test_yes_no_accepts_one_and_zero() -> None:
    assert score_leaf(PLAN, D(1)) == D(5)
    assert score_leaf(PLAN, D(0)) == D(0)


def test_yes_no_rejects_other_numbers() -> None:
    assert _error_key(PLAN, D(2)) == "score.not_yes_no"


# --- count --------------------------------------------------------------------------------

MODELS = LeafRule("2.1", K.COUNT, D(10), points_each=D(2))


def test_count_scores_count_times_points_each() -> None:
    # DOMAIN: number of model examples spread, 2 points each.
    assert score_leaf(MODELS, D(3)) == D("6.00")


def test_count_score_is_capped_at_maximum() -> None:
    assert score_leaf(MODELS, D(7)) == D("10.00")


def test_count_must_be_a_whole_number() -> None:
    assert _error_key(MODELS, D("2.5")) == "score.not_whole"


def test_count_must_not_be_negative() -> None:
    assert _error_key(MODELS, D(-1)) == "score.negative_value"


def test_count_without_points_each_is_an_error() -> None:
    rule = LeafRule("2.1", K.COUNT, D(10))
    assert _error_key(rule, D(1)) == "score.missing_points_each"


# --- judged -------------------------------------------------------------------------------

JUDGED = LeafRule("3.1", K.JUDGED, D(10))


def test_judged_keeps_the_proposed_points() -> None:
    assert score_leaf(JUDGED, D("7.5")) == D("7.50")
    assert score_leaf(JUDGED, D(10)) == D(10)


def test_judged_rounds_half_up() -> None:
    assert score_leaf(JUDGED, D("2.345")) == D("2.35")


def test_judged_proposal_above_maximum_is_an_error() -> None:
    with pytest.raises(ScoringError) as caught:
        score_leaf(JUDGED, D("10.5"))
    assert caught.value.key == "score.above_max"
    assert caught.value.params["max"] == D(10)


def test_judged_negative_proposal_is_an_error() -> None:
    assert _error_key(JUDGED, D(-1)) == "score.negative_value"


# --- bonus and penalty --------------------------------------------------------------------


def test_bonus_without_points_each_adds_the_value_capped() -> None:
    # DOMAIN: +10 for a provincial flag, +15 for a Government flag.
    provincial = LeafRule("B.1", K.BONUS, D(10))
    government = LeafRule("B.2", K.BONUS, D(15))
    assert score_leaf(provincial, D(10)) == D(10)
    assert score_leaf(government, D(15)) == D(15)
    assert score_leaf(provincial, D(15)) == D(10)


def test_bonus_with_points_each_multiplies_then_caps() -> None:
    rule = LeafRule("B.3", K.BONUS, D(15), points_each=D(5))
    assert score_leaf(rule, D(2)) == D(10)
    assert score_leaf(rule, D(4)) == D(15)


def test_penalty_is_negative_and_capped() -> None:
    rule = LeafRule("P.1", K.PENALTY, D(5), points_each=D(1))
    assert score_leaf(rule, D(3)) == D(-3)
    assert score_leaf(rule, D(8)) == D(-5)


def test_penalty_of_nothing_is_a_plain_zero() -> None:
    rule = LeafRule("P.1", K.PENALTY, D(5))
    score = score_leaf(rule, D(0))
    assert score == 0
    assert not score.is_signed()


def test_negative_bonus_or_penalty_is_an_error() -> None:
    assert _error_key(LeafRule("B.1", K.BONUS, D(10)), D(-1)) == "score.negative_value"
    assert _error_key(LeafRule("P.1", K.PENALTY, D(10)), D(-1)) == "score.negative_value"


# --- common -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule",
    [REVENUE, PLAN, MODELS, JUDGED, LeafRule("B", K.BONUS, D(5)), LeafRule("P", K.PENALTY, D(5))],
    ids=lambda r: r.kind.value,
)
def test_unreported_value_scores_zero(rule: LeafRule) -> None:
    assert score_leaf(rule, None) == D(0)


def test_scoring_a_group_is_an_error() -> None:
    assert _error_key(LeafRule("1", K.GROUP, D(30)), D(1)) == "score.not_a_leaf"
    assert _error_key(LeafRule("1", K.GROUP, D(30)), None) == "score.not_a_leaf"


def test_negative_maximum_is_a_bad_rule() -> None:
    assert _error_key(LeafRule("x", K.JUDGED, D(-1)), D(0)) == "score.bad_rule"


def test_rounding_never_lifts_a_score_above_a_fractional_maximum() -> None:
    # A maximum of 0.125 rounded half-up would display 0.13, above the maximum.
    assert score_leaf(LeafRule("x", K.YES_NO, D("0.125")), True) == D("0.12")
    assert score_leaf(LeafRule("x", K.COUNT, D("0.125"), points_each=D(1)), D(1)) == D("0.12")


def test_scoring_error_is_a_value_error_carrying_key_and_params() -> None:
    error = ScoringError("score.above_max", code="1.1", max=D(10))
    assert isinstance(error, ValueError)
    assert error.key == "score.above_max"
    assert error.params == {"code": "1.1", "max": D(10)}


# --- tree ---------------------------------------------------------------------------------

FLAT = [
    ("1", K.GROUP, D(60)),
    ("1.1", K.QUANTITATIVE, D(30)),
    ("1.2", K.GROUP, D(30)),
    ("1.2.1", K.YES_NO, D(10)),
    ("1.2.2", K.JUDGED, D(20)),
    ("2", K.GROUP, D(40)),
    ("2.1", K.COUNT, D(40)),
    ("3", K.BONUS, D(15)),
]


def test_build_tree_nests_criteria_under_their_groups() -> None:
    roots = build_tree(FLAT)
    assert [r.code for r in roots] == ["1", "2", "3"]
    first = roots[0]
    assert [c.code for c in first.children] == ["1.1", "1.2"]
    assert [c.code for c in first.children[1].children] == ["1.2.1", "1.2.2"]
    assert first.children[1].kind is K.GROUP
    assert first.children[1].children[1] == Node("1.2.2", K.JUDGED, D(20))
    assert roots[2] == Node("3", K.BONUS, D(15))


def test_build_tree_rejects_a_criterion_before_its_group() -> None:
    with pytest.raises(ScoringError) as caught:
        build_tree([("1.1", K.YES_NO, D(5)), ("1", K.GROUP, None)])
    assert caught.value.key == "score.unknown_parent"
    assert caught.value.params == {"code": "1.1", "parent": "1"}


def test_build_tree_rejects_a_leaf_as_parent() -> None:
    with pytest.raises(ScoringError) as caught:
        build_tree([("1", K.YES_NO, D(5)), ("1.1", K.YES_NO, D(5))])
    assert caught.value.key == "score.parent_not_group"


def test_build_tree_rejects_a_duplicate_code() -> None:
    with pytest.raises(ScoringError) as caught:
        build_tree([("1", K.GROUP, None), ("1", K.GROUP, None)])
    assert caught.value.key == "score.duplicate_code"


def test_group_total_sums_nested_leaves_and_counts_missing_as_zero() -> None:
    first, second, _bonus = build_tree(FLAT)
    scores = {"1.1": D("25.50"), "1.2.1": D(10), "2.1": D(12)}
    assert group_total(first, scores) == D("35.50")
    assert group_total(first.children[1], scores) == D(10)
    assert group_total(second, scores) == D(12)


def test_group_total_of_a_leaf_is_its_own_score() -> None:
    assert group_total(Node("3", K.BONUS, D(15)), {"3": D(10)}) == D(10)
    assert group_total(Node("3", K.BONUS, D(15)), {}) == D(0)


def test_group_total_ignores_a_score_stored_on_the_group_itself() -> None:
    first = build_tree(FLAT)[0]
    assert group_total(first, {"1": D(99), "1.1": D(5)}) == D(5)


# --- total --------------------------------------------------------------------------------

RULES = [
    LeafRule("1.1", K.QUANTITATIVE, D(50), target=D(100)),
    LeafRule("1.2", K.JUDGED, D(50)),
    LeafRule("B.1", K.BONUS, D(15)),
    LeafRule("P.1", K.PENALTY, D(10)),
]


def test_total_is_base_plus_bonus_minus_penalty() -> None:
    scores = {"1.1": D(45), "1.2": D(40), "B.1": D(10), "P.1": D(-3)}
    assert total(RULES, scores) == D(92)


def test_total_can_exceed_100_with_bonus() -> None:
    scores = {"1.1": D(50), "1.2": D(50), "B.1": D(15)}
    assert total(RULES, scores) == D(115)


def test_total_is_clipped_at_zero() -> None:
    assert total(RULES, {"1.1": D(2), "P.1": D(-10)}) == D(0)


def test_total_subtracts_a_penalty_stored_as_positive() -> None:
    assert total(RULES, {"1.1": D(50), "P.1": D(4)}) == D(46)


def test_total_ignores_scores_of_unknown_codes() -> None:
    assert total(RULES, {"1.1": D(10), "9.9": D(50)}) == D(10)


def test_total_rejects_a_group_rule() -> None:
    with pytest.raises(ScoringError) as caught:
        total([LeafRule("1", K.GROUP, D(100))], {"1": D(50)})
    assert caught.value.key == "score.not_a_leaf"


# --- rating -------------------------------------------------------------------------------

TABLE = [
    LeafRule("1", K.JUDGED, D(20)),
    LeafRule("2", K.JUDGED, D(80)),
    LeafRule("B", K.BONUS, D(10)),
    LeafRule("P", K.PENALTY, D(5)),
]


def _rated(scores: dict[str, Decimal]) -> str:
    return rate(total(TABLE, scores), TABLE, scores, LEVELS)


def test_rate_excellent_when_total_and_every_floor_are_met() -> None:
    assert _rated({"1": D(19), "2": D(76)}) == "excellent"


def test_rate_a_95_point_unit_good_when_one_criterion_is_under_85_percent() -> None:
    # DOMAIN: 16.5 / 20 = 82.5 % misses the 85 % floor of "excellent" despite 95 points.
    scores = {"1": D("16.5"), "2": D("78.5")}
    assert total(TABLE, scores) == D(95)
    assert _rated(scores) == "good"


def test_rate_a_95_point_unit_completed_when_one_criterion_is_under_80_percent() -> None:
    assert _rated({"1": D(15), "2": D(80)}) == "completed"


def test_rate_by_total_when_every_criterion_is_high() -> None:
    assert _rated({"1": D(17), "2": D(68)}) == "good"  # 85 points, both at 85 %
    assert _rated({"1": D(15), "2": D(60)}) == "completed"  # 75 points, both at 75 %


def test_rate_not_completed_below_the_lowest_threshold() -> None:
    assert _rated({"1": D(20), "2": D(49)}) == NOT_COMPLETED


def test_rate_boundaries_are_inclusive() -> None:
    assert _rated({"1": D(17), "2": D(73)}) == "excellent"  # 90 points, 85 % exactly


def test_rate_ignores_bonus_and_penalty_floors() -> None:
    # 95 - 5 = 90 points; an unearned bonus and a full penalty are not criteria to floor.
    assert _rated({"1": D(19), "2": D(76), "B": D(0), "P": D(-5)}) == "excellent"


def test_rate_treats_an_unreported_base_criterion_as_zero() -> None:
    # A bonus lifts the total to 90, but criterion 1 was never reported.
    assert rate(D(90), TABLE, {"2": D(80), "B": D(10)}, LEVELS) == NOT_COMPLETED


def test_rate_skips_criteria_without_maximum() -> None:
    rules = [*TABLE, LeafRule("0", K.YES_NO, D(0))]
    scores = {"1": D(20), "2": D(80)}
    assert rate(D(100), rules, scores, LEVELS) == "excellent"


def test_rate_uses_cluster_specific_levels() -> None:
    levels = [RatingLevel("excellent", D(95), D(0)), RatingLevel("completed", D(50), D(0))]
    assert rate(D(94), TABLE, {"1": D(0), "2": D(94)}, levels) == "completed"


def test_rate_rejects_levels_not_ordered_high_to_low() -> None:
    with pytest.raises(ScoringError) as caught:
        rate(D(95), TABLE, {"1": D(20), "2": D(75)}, list(reversed(LEVELS)))
    assert caught.value.key == "score.levels_not_descending"


# --- ranking ------------------------------------------------------------------------------


def test_rank_ties_share_a_rank_and_skip_the_next() -> None:
    totals = {"a": D(90), "b": D(95), "c": D(90), "d": D(80)}
    assert rank(totals) == {"b": 1, "a": 2, "c": 2, "d": 4}


def test_rank_treats_equal_decimals_with_different_places_as_a_tie() -> None:
    assert rank({"a": D("90"), "b": D("90.00"), "c": D("89.99")}) == {"a": 1, "b": 1, "c": 3}


def test_rank_orders_the_result_by_rank() -> None:
    assert list(rank({"z": D(1), "y": D(3), "x": D(2)})) == ["y", "x", "z"]


def test_rank_of_no_units_is_empty() -> None:
    assert rank({}) == {}


# --- properties ---------------------------------------------------------------------------

maxima = st.decimals(min_value=0, max_value=1000, places=3, allow_nan=False, allow_infinity=False)
amounts = st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False, allow_infinity=False)
positive = st.decimals(
    min_value=D("0.001"), max_value=1000, places=3, allow_nan=False, allow_infinity=False
)
whole = st.integers(min_value=0, max_value=10**6).map(Decimal)


@st.composite
def rules_and_values(draw: st.DrawFn) -> tuple[LeafRule, Decimal, Decimal, Decimal | None]:
    """A non-yes/no leaf rule with two valid values (low <= high) and an optional best."""
    kind = draw(st.sampled_from([K.QUANTITATIVE, K.COUNT, K.JUDGED, K.BONUS, K.PENALTY]))
    maximum = draw(maxima)
    needs_each = kind is K.COUNT or (kind in (K.BONUS, K.PENALTY) and draw(st.booleans()))
    rule = LeafRule(
        code="x",
        kind=kind,
        max_points=maximum,
        points_each=draw(positive) if needs_each else None,
        target=draw(positive) if kind is K.QUANTITATIVE else None,
        scale_to_best=kind is K.QUANTITATIVE and draw(st.booleans()),
    )
    if kind is K.COUNT:
        values = st.integers(min_value=0, max_value=10**6).map(Decimal)
    elif kind is K.JUDGED:
        values = st.decimals(
            min_value=0, max_value=maximum, places=4, allow_nan=False, allow_infinity=False
        )
    else:
        values = amounts
    low, high = sorted((draw(values), draw(values)))
    best = draw(st.none() | amounts)
    return rule, low, high, best


@PROPERTY
@given(rules_and_values())
def test_leaf_score_stays_within_its_bounds(
    case: tuple[LeafRule, Decimal, Decimal, Decimal | None],
) -> None:
    rule, _low, value, best = case
    score = score_leaf(rule, value, best=best)
    if rule.kind is K.PENALTY:
        assert -rule.max_points <= score <= 0
    else:
        assert 0 <= score <= rule.max_points
    assert score == score.quantize(D("0.01"))


@PROPERTY
@given(maxima, st.booleans())
def test_yes_no_score_stays_within_its_bounds(maximum: Decimal, done: bool) -> None:
    score = score_leaf(LeafRule("x", K.YES_NO, maximum), done)
    assert 0 <= score <= maximum
    assert (score > 0) == (done and maximum >= D("0.01"))


@PROPERTY
@given(rules_and_values())
def test_leaf_score_never_gets_worse_when_the_value_improves(
    case: tuple[LeafRule, Decimal, Decimal, Decimal | None],
) -> None:
    rule, low, high, best = case
    at_low = score_leaf(rule, low, best=best)
    at_high = score_leaf(rule, high, best=best)
    if rule.kind is K.PENALTY:
        # More penalty items never make the score better.
        assert at_high <= at_low
    else:
        assert at_low <= at_high


@PROPERTY
@given(
    maxima.filter(lambda m: m > 0),
    positive,
    st.decimals(min_value=0, max_value=10**4, places=2, allow_nan=False, allow_infinity=False),
)
def test_quantitative_score_reaches_maximum_exactly_at_target(
    maximum: Decimal, target: Decimal, extra: Decimal
) -> None:
    rule = LeafRule("x", K.QUANTITATIVE, maximum, target=target)
    ceiling = maximum.quantize(D("0.01"), rounding=ROUND_DOWN)
    assert score_leaf(rule, target + extra) == ceiling


# A criteria tree as nested counts: per root group, its direct leaves and its subgroups'
# leaves, e.g. [(2, [1, 3])] is group 1 with leaves 1.1, 1.2 and subgroups 1.3, 1.4.
tree_shapes = st.lists(
    st.tuples(st.integers(0, 4), st.lists(st.integers(0, 3), max_size=3)), min_size=1, max_size=4
)
leaf_scores = st.none() | st.decimals(
    min_value=-20, max_value=20, places=2, allow_nan=False, allow_infinity=False
)


@PROPERTY
@given(tree_shapes, st.data())
def test_group_total_equals_the_sum_of_its_leaves(
    shape: list[tuple[int, list[int]]], data: st.DataObject
) -> None:
    flat: list[tuple[str, CriterionKind, Decimal | None]] = []
    for g, (direct, subgroups) in enumerate(shape, start=1):
        flat.append((f"{g}", K.GROUP, None))
        flat.extend((f"{g}.{i}", K.JUDGED, D(20)) for i in range(1, direct + 1))
        for s, size in enumerate(subgroups, start=direct + 1):
            flat.append((f"{g}.{s}", K.GROUP, None))
            flat.extend((f"{g}.{s}.{i}", K.PENALTY, D(20)) for i in range(1, size + 1))
    scores: dict[str, Decimal] = {}
    for code, kind, _max in flat:
        drawn = data.draw(leaf_scores, label=code)
        if kind is not K.GROUP and drawn is not None:
            scores[code] = drawn

    roots = build_tree(flat)
    assert [r.code for r in roots] == [str(g) for g in range(1, len(shape) + 1)]
    for root in roots:
        # Computed from the codes alone, independently of the tree.
        expected = sum((v for code, v in scores.items() if code.startswith(f"{root.code}.")), D(0))
        assert group_total(root, scores) == expected
    assert sum((group_total(r, scores) for r in roots), D(0)) == sum(scores.values(), D(0))


@st.composite
def tables_and_scores(draw: st.DrawFn) -> tuple[list[LeafRule], dict[str, Decimal]]:
    """Leaf rules of any kind with scores inside each rule's bounds (some unreported)."""
    kinds = draw(st.lists(st.sampled_from([k for k in K if k is not K.GROUP]), max_size=8))
    rules: list[LeafRule] = []
    scores: dict[str, Decimal] = {}
    for i, kind in enumerate(kinds):
        rule = LeafRule(str(i), kind, draw(maxima))
        rules.append(rule)
        bound = rule.max_points
        low, high = (-bound, D(0)) if kind is K.PENALTY else (D(0), bound)
        score = draw(st.none() | st.decimals(min_value=low, max_value=high, places=2))
        if score is not None:
            scores[rule.code] = score
    return rules, scores


@PROPERTY
@given(tables_and_scores())
def test_total_is_never_negative_and_otherwise_the_plain_sum(
    case: tuple[list[LeafRule], dict[str, Decimal]],
) -> None:
    rules, scores = case
    result = total(rules, scores)
    assert result >= 0
    plain = sum(scores.values(), D(0))
    assert result == (plain if plain > 0 else 0)


@PROPERTY
@given(st.dictionaries(st.text(min_size=1, max_size=3), st.integers(0, 5).map(Decimal)))
def test_rank_is_one_plus_the_number_of_strictly_better_units(
    totals: dict[str, Decimal],
) -> None:
    ranks = rank(totals)
    assert ranks.keys() == totals.keys()
    for code, amount in totals.items():
        assert ranks[code] == 1 + sum(1 for other in totals.values() if other > amount)
