"""Unit tests for services/cluster_file.py: parsing, validation and error messages."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from models.tables import Cadence, ClusterKind, ClusterYear
from services.cluster_file import (
    ClusterFile,
    ClusterFileError,
    Notice,
    YearSettings,
    load_cluster_file,
    parse_cluster_text,
    year_settings,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CUM6 = EXAMPLES / "cum6-stc-2024.toml"
TAYNINH = EXAMPLES / "khoi-tw-tayninh.toml"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "cluster-file.md"
SOURCE = "cum.toml"

# --- building small files ------------------------------------------------------------------

TomlValue = str | int | bool | Decimal | date | list[str] | dict[str, int]


def _value(value: TomlValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()  # a bare TOML date
    if isinstance(value, dict):
        inner = ", ".join(f"{json.dumps(k)} = {v}" for k, v in value.items())
        return "{ " + inner + " }"
    return json.dumps(value, ensure_ascii=False)


def _table(header: str, **fields: TomlValue) -> str:
    lines = [header] + [f"{key} = {_value(value)}" for key, value in fields.items()]
    return "\n".join(lines) + "\n\n"


def unit(code: str, **fields: TomlValue) -> str:
    return _table("[[units]]", code=code, name=f"Sở Tài chính {code}", **fields)


def criterion(code: str, kind: str, **fields: TomlValue) -> str:
    return _table("[[years.criteria]]", code=code, name=f"Tiêu chí {code}", kind=kind, **fields)


def year(year: int = 2024, **fields: TomlValue) -> str:
    fields.setdefault("chair", "A")
    fields.setdefault("vice_chair", "B")
    return _table("[[years]]", year=year, **fields)


# A valid 100-point table: one group with two leaves.
TABLE = (
    criterion("1", "group")
    + criterion("1.1", "quantitative", max_points=60, target=105, measure_unit="%")
    + criterion("1.2", "yes_no", max_points=40)
)


def cluster_text(
    *,
    units: str | None = None,
    years: str | None = None,
    criteria: str = TABLE,
    after_year: str = "",
) -> str:
    """A minimal valid file: units A and B, year 2024 (chair A, vice-chair B), `TABLE`.

    `criteria` and `after_year` (e.g. a [years.periods] table) go under the default year;
    passing `years` replaces that year and its criteria entirely.
    """
    head = _table("[cluster]", code="CUM-DEMO", name="Cụm thi đua mẫu")
    body = units if units is not None else unit("A") + unit("B")
    if years is None:
        years = year() + after_year + criteria
    return head + body + years


def parse(text: str) -> ClusterFile:
    return parse_cluster_text(text, SOURCE)


def error_of(text: str) -> str:
    with pytest.raises(ClusterFileError) as caught:
        parse(text)
    return str(caught.value)


# --- the examples --------------------------------------------------------------------------


def test_the_minimal_helper_file_is_valid() -> None:
    spec = parse(cluster_text())

    assert spec.cluster.code == "CUM-DEMO"
    assert [u.code for u in spec.units] == ["A", "B"]
    assert spec.warnings() == []
    assert spec.years[0].base_total() == Decimal(100)


def test_the_minimal_example_in_the_docs_is_valid() -> None:
    doc = DOCS.read_text(encoding="utf-8")
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]

    spec = parse(example)

    assert spec.cluster.code == "CUM-DEMO"
    assert spec.members_of(spec.years[0]) == ["A", "B"]
    assert spec.years[0].base_total() == Decimal(100)
    assert spec.warnings() == []


@pytest.mark.parametrize("path", [CUM6, TAYNINH], ids=["cum6", "tayninh"])
def test_the_example_files_parse_without_warnings(path: Path) -> None:
    spec = load_cluster_file(path)

    assert spec.warnings() == []
    assert spec.years != []


def test_the_cum6_example_has_six_members_in_2024_with_its_chair_and_vice_chair() -> None:
    spec = load_cluster_file(CUM6)
    (year_2024,) = spec.years

    assert spec.cluster.code == "CUM6-STC"
    assert spec.cluster.kind is ClusterKind.CUM
    assert year_2024.year == 2024
    assert spec.members_of(year_2024) == [
        "STC-QNAM",
        "STC-QNGAI",
        "STC-BDINH",
        "STC-PYEN",
        "STC-KHOA",
        "STC-NTHUAN",
    ]
    assert year_2024.chair == "STC-QNAM"
    assert year_2024.vice_chair == "STC-QNGAI"
    assert year_2024.base_total() == Decimal(100)
    assert year_2024.periods.cadence is Cadence.QUARTERLY
    assert year_2024.periods.deadline_day == 5
    assert year_2024.periods.deadline_time == "17:00"


def test_the_cum6_example_records_the_2025_mergers() -> None:
    spec = load_cluster_file(CUM6)
    by_code = {u.code: u for u in spec.units}

    assert len(spec.units) == 9
    assert by_code["STC-QNAM"].successor == "STC-DNANG"
    assert str(by_code["STC-QNAM"].valid_to) == "2025-06-30"
    assert str(by_code["STC-DNANG"].valid_from) == "2025-07-01"
    assert by_code["STC-NTHUAN"].successor == "STC-KHOA"


def test_the_tayninh_example_has_seven_units_and_two_years_with_their_chairs() -> None:
    spec = load_cluster_file(TAYNINH)
    y2023, y2024 = spec.years
    units = [u.code for u in spec.units]

    assert spec.cluster.kind is ClusterKind.KHOI
    assert units == ["TN-CTHUE", "TN-BHXH", "TN-HQ", "TN-KBNN", "TN-NHNN", "TN-CTK", "TN-QLTT"]
    assert (y2023.year, y2023.status, y2023.chair, y2023.vice_chair) == (
        2023,
        "closed",
        "TN-NHNN",
        "TN-CTHUE",
    )
    assert (y2024.year, y2024.status, y2024.chair, y2024.vice_chair) == (
        2024,
        "open",
        "TN-CTHUE",
        "TN-BHXH",
    )
    # No `members` key: every unit is a member in both years.
    assert spec.members_of(y2023) == units
    assert spec.members_of(y2024) == units
    assert y2023.base_total() == Decimal(100)
    assert y2024.base_total() == Decimal(100)


# --- members -------------------------------------------------------------------------------


def test_members_default_to_the_units_valid_during_the_year() -> None:
    units = (
        unit("A")
        + unit("B")
        + unit("GONE", valid_to=date(2023, 12, 31))
        + unit("LAST-DAY", valid_to=date(2024, 1, 1))
        + unit("NEW", valid_from=date(2025, 1, 1))
        + unit("LATE", valid_from=date(2024, 12, 31))
    )

    spec = parse(cluster_text(units=units))

    assert spec.members_of(spec.years[0]) == ["A", "B", "LAST-DAY", "LATE"]


def test_explicit_members_replace_the_default() -> None:
    spec = parse(
        cluster_text(
            units=unit("A") + unit("B") + unit("C"), years=year(members=["A", "B"]) + TABLE
        )
    )

    assert spec.members_of(spec.years[0]) == ["A", "B"]


def test_a_sum_other_than_100_is_a_warning_not_an_error() -> None:
    table = (
        criterion("1", "yes_no", max_points=60)
        + criterion("2", "yes_no", max_points=35)
        + criterion("3", "bonus", max_points=5, points_each=1)
        + criterion("4", "penalty", max_points=5, points_each=1)
    )

    spec = parse(cluster_text(criteria=table))

    assert spec.years[0].base_total() == Decimal(95)
    assert spec.warnings() == [Notice("import.note.maxima", {"year": 2024, "total": Decimal(95)})]


def test_a_year_without_criteria_gives_no_warning() -> None:
    assert parse(cluster_text(criteria="")).warnings() == []


def test_per_unit_targets_covering_every_member_need_no_common_target() -> None:
    table = criterion("1", "quantitative", max_points=100, targets={"A": 105, "B": 110})

    spec = parse(cluster_text(criteria=table))

    assert spec.years[0].criteria[0].targets == {"A": Decimal(105), "B": Decimal(110)}


def test_weekday_is_case_insensitive_and_times_are_normalised() -> None:
    extra = _table("[years.leaderboard]", weekday="Friday", at="07:30") + _table(
        "[years.periods]", deadline_time="16:30:00"
    )

    year_spec = parse(cluster_text(after_year=extra)).years[0]

    assert year_spec.leaderboard.weekday == "friday"
    assert year_spec.leaderboard.at == "07:30"
    assert year_spec.periods.deadline_time == "16:30"


# --- errors --------------------------------------------------------------------------------


def test_a_toml_syntax_error_names_the_line() -> None:
    text = cluster_text().replace("year = 2024", "year = = 2024")

    line = text.splitlines().index("year = = 2024") + 1

    message = error_of(text)

    assert line > 1
    assert message.startswith(f"{SOURCE}: not valid TOML")
    assert f"(at line {line}, column 8)" in message


def test_an_unknown_key_names_its_path() -> None:
    table = criterion("1", "group") + criterion("1.1", "yes_no", max_points=100, mx=3)

    message = error_of(cluster_text(criteria=table))

    assert message == f"{SOURCE}: years[0].criteria[1].mx: unknown key (see docs/cluster-file.md)"


def test_each_problem_gets_its_own_line() -> None:
    table = criterion("1", "yes_no", max_points=-1, mx=3)

    lines = error_of(cluster_text(criteria=table)).splitlines()

    assert lines == [
        f"{SOURCE}: years[0].criteria[0].max_points: Input should be greater than or equal to 0",
        f"{SOURCE}: years[0].criteria[0].mx: unknown key (see docs/cluster-file.md)",
    ]


def test_a_file_without_units_is_refused() -> None:
    text = _table("[cluster]", code="C", name="x")

    assert error_of(text) == f"{SOURCE}: units: Field required"


@pytest.mark.parametrize(
    ("units", "years", "fragment"),
    [
        pytest.param(
            None,
            year(chair="X") + TABLE,
            "years[0] (2024).chair: 'X' is not a member unit that year",
            id="chair-not-member",
        ),
        pytest.param(
            None,
            year(vice_chair="Z") + TABLE,
            "years[0] (2024).vice_chair: 'Z' is not a member unit that year",
            id="vice-chair-not-member",
        ),
        pytest.param(
            None,
            year(chair="A", vice_chair="A") + TABLE,
            "years[0] (2024): chair and vice_chair must be different units",
            id="chair-is-vice-chair",
        ),
        pytest.param(
            unit("A") + unit("B") + unit("A"),
            None,
            "units: code used twice: A",
            id="duplicate-unit",
        ),
        pytest.param(
            None,
            year() + year() + TABLE,
            "years: a year is listed twice",
            id="year-twice",
        ),
        pytest.param(
            None,
            year(members=["A", "B", "Q"]) + TABLE,
            "years[0] (2024).members: unknown unit 'Q'",
            id="member-unknown",
        ),
    ],
)
def test_a_whole_file_check_names_its_place(
    units: str | None, years: str | None, fragment: str
) -> None:
    message = error_of(cluster_text(units=units, years=years))

    assert message == f"{SOURCE}: {fragment}"


def test_an_explicit_member_must_exist_during_the_year() -> None:
    units = unit("A") + unit("B") + unit("OLD", valid_to=date(2023, 6, 30))

    message = error_of(cluster_text(units=units, years=year(members=["A", "B", "OLD"]) + TABLE))

    assert "years[0] (2024).members: 'OLD' does not exist during 2024" in message


def test_an_explicit_member_that_starts_after_the_year_is_refused() -> None:
    units = unit("A") + unit("B") + unit("NEW", valid_from=date(2025, 7, 1))

    message = error_of(cluster_text(units=units, years=year(members=["A", "B", "NEW"]) + TABLE))

    assert "'NEW' does not exist during 2024" in message


@pytest.mark.parametrize(
    ("criteria", "fragment"),
    [
        pytest.param(
            TABLE + criterion("1.2", "yes_no", max_points=1),
            "years[0]: criteria[3] (code '1.2'): code used twice",
            id="duplicate-criterion",
        ),
        pytest.param(
            criterion("1.1", "yes_no", max_points=50) + criterion("1", "group"),
            "years[0]: criteria[0] (code '1.1'): its group '1' must come before it",
            id="child-before-group",
        ),
        pytest.param(
            criterion("1", "yes_no", max_points=50) + criterion("1.1", "yes_no", max_points=50),
            "years[0]: criteria[1] (code '1.1'): '1' is not a group",
            id="parent-not-group",
        ),
        pytest.param(
            criterion("1", "quantitative", max_points=100),
            "years[0].criteria[0]: a quantitative criterion needs target (or targets per unit)",
            id="quantitative-without-target",
        ),
        pytest.param(
            criterion("1", "quantitative", max_points=100, targets={"A": 105, "X": 100}),
            "years[0] (2024).criteria[0] (code '1').targets: 'X' is not a member that year",
            id="target-for-non-member",
        ),
        pytest.param(
            criterion("1", "quantitative", max_points=100, targets={"A": 105}),
            "years[0] (2024).criteria[0] (code '1').targets: no target for B",
            id="targets-missing-a-member",
        ),
        pytest.param(
            criterion("1", "count", max_points=100),
            "years[0].criteria[0]: a count criterion needs points_each",
            id="count-without-points-each",
        ),
        pytest.param(
            criterion("1", "yes_no", max_points=100, points_each=1),
            "years[0].criteria[0]: points_each applies to count, bonus and penalty criteria only",
            id="points-each-on-yes-no",
        ),
        pytest.param(
            criterion("1", "yes_no"),
            "years[0].criteria[0]: a yes_no criterion needs max_points",
            id="leaf-without-max-points",
        ),
        pytest.param(
            criterion("1", "yes_no", max_points=100, target=5),
            "years[0].criteria[0]: only quantitative criteria have targets",
            id="target-on-yes-no",
        ),
        pytest.param(
            criterion("1", "judged", max_points=100, scale_to_best=True),
            "years[0].criteria[0]: scale_to_best applies to quantitative criteria only",
            id="scale-to-best-on-judged",
        ),
        pytest.param(
            criterion("1", "group", measure_unit="%"),
            "years[0].criteria[0]: a group is scored by the sum of its children",
            id="group-with-measure-unit",
        ),
        pytest.param(
            criterion("1 .1", "yes_no", max_points=100),
            "years[0].criteria[0].code: String should match pattern",
            id="bad-criterion-code",
        ),
    ],
)
def test_a_bad_criterion_is_refused_with_its_place(criteria: str, fragment: str) -> None:
    message = error_of(cluster_text(criteria=criteria))

    assert fragment in message
    assert message.startswith(f"{SOURCE}: ")


@pytest.mark.parametrize(
    ("units", "fragment"),
    [
        pytest.param(
            unit("A", successor="Z", valid_to=date(2024, 6, 30)) + unit("B"),
            "units[0].successor: unknown unit 'Z'",
            id="unknown-successor",
        ),
        pytest.param(
            unit("A", successor="A", valid_to=date(2024, 6, 30)) + unit("B"),
            "units[0].successor: a unit cannot succeed itself",
            id="self-successor",
        ),
        pytest.param(
            unit("A") + unit("B", successor="A"),
            "units[1]: a unit with a successor needs valid_to",
            id="successor-without-valid-to",
        ),
        pytest.param(
            unit("A") + unit("B", valid_from=date(2024, 6, 30), valid_to=date(2024, 1, 1)),
            "units[1]: valid_to is before valid_from",
            id="valid-to-before-valid-from",
        ),
        pytest.param(
            unit("A") + unit("B b"),
            "units[1].code: String should match pattern",
            id="bad-unit-code",
        ),
    ],
)
def test_a_bad_unit_is_refused_with_its_place(units: str, fragment: str) -> None:
    message = error_of(cluster_text(units=units))

    assert f"{SOURCE}: {fragment}" in message


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        pytest.param(
            _table("[years.periods]", deadline_time="25:00"),
            "years[0].periods.deadline_time: must be a time of day like 08:00",
            id="bad-time",
        ),
        pytest.param(
            _table("[years.reminders]", at="8h"),
            "years[0].reminders.at: must be a time of day like 08:00",
            id="bad-reminder-time",
        ),
        pytest.param(
            _table("[years.leaderboard]", weekday="funday"),
            "years[0].leaderboard.weekday: must be one of monday, tuesday",
            id="bad-weekday",
        ),
        pytest.param(
            _table("[years.periods]", deadline_day=29),
            "years[0].periods.deadline_day: Input should be less than or equal to 28",
            id="deadline-day-29",
        ),
        pytest.param(
            _table("[years.periods]", cadence="weekly"),
            "years[0].periods.cadence: Input should be",
            id="bad-cadence",
        ),
        pytest.param(
            _table("[years.rating]")
            + _table("[[years.rating.levels]]", code="good", min_total=80)
            + _table("[[years.rating.levels]]", code="excellent", min_total=90),
            "years[0].rating: levels must go from the highest min_total down",
            id="levels-not-descending",
        ),
    ],
)
def test_a_bad_rule_is_refused_with_its_place(extra: str, fragment: str) -> None:
    message = error_of(cluster_text(after_year=extra, criteria=""))

    assert f"{SOURCE}: {fragment}" in message


def test_a_bad_cluster_time_zone_is_refused() -> None:
    text = cluster_text().replace(
        'name = "Cụm thi đua mẫu"', 'name = "x"\ntimezone = "Asia/Hanoi_X"'
    )

    assert error_of(text) == f"{SOURCE}: cluster.timezone: unknown time zone 'Asia/Hanoi_X'"


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cum.toml"
    path.write_bytes(cluster_text().replace("Cụm thi đua mẫu", "Tai chinh").encode() + b"# \xe0\n")

    with pytest.raises(ClusterFileError) as caught:
        load_cluster_file(path)

    assert str(caught.value) == f"{path}: not UTF-8 text"


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"

    with pytest.raises(ClusterFileError) as caught:
        load_cluster_file(path)

    assert str(caught.value).startswith(f"{path}: cannot read:")
    assert "No such file" in str(caught.value)


def test_load_cluster_file_names_the_file_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "cum.toml"
    path.write_text(cluster_text(years=year(chair="X") + TABLE), encoding="utf-8")

    with pytest.raises(ClusterFileError) as caught:
        load_cluster_file(path)

    assert str(caught.value) == f"{path}: years[0] (2024).chair: 'X' is not a member unit that year"


# --- bugs found by these tests, now fixed --------------------------------------------


@pytest.mark.parametrize(
    "field",
    [
        pytest.param({"max_points": 10}, id="max_points"),
        pytest.param({"evidence_required": True}, id="evidence_required"),
        pytest.param({"scale_to_best": True}, id="scale_to_best"),
    ],
)
def test_a_group_with_a_leaf_only_field_is_refused(field: dict[str, TomlValue]) -> None:
    table = criterion("1", "group", **field) + criterion("1.1", "yes_no", max_points=100)

    message = error_of(cluster_text(criteria=table))

    assert "years[0].criteria[0]" in message


# --- the year settings: written by the import, read back by every service -----------------


@pytest.mark.parametrize("path", [CUM6, TAYNINH], ids=["cum6", "tayninh"])
def test_year_settings_read_back_exactly_what_the_import_writes(path: Path) -> None:
    for year in load_cluster_file(path).years:
        # What services.clusters stores: through JSON, as the database keeps it.
        stored = json.loads(json.dumps(year.settings().model_dump(mode="json")))

        assert year_settings(ClusterYear(settings=stored)) == year.settings()


def test_year_settings_follow_an_edited_row_not_a_cached_copy() -> None:
    row = ClusterYear(settings={"rating": {"tie_rule": "ballot"}})
    assert year_settings(row).rating.tie_rule == "ballot"

    row.settings["rating"]["tie_rule"] = "shared"

    assert year_settings(row).rating.tie_rule == "shared"
    assert year_settings(row).rating.levels == YearSettings().rating.levels  # the defaults


def test_stored_year_settings_that_the_file_would_refuse_are_refused() -> None:
    with pytest.raises(ValidationError):
        year_settings(ClusterYear(settings={"leaderboard": {"weekday": "someday"}}))
    with pytest.raises(ValidationError):
        year_settings(ClusterYear(settings={"reminders": {"before_day": [1]}}))  # a typo
