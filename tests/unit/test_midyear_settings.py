"""`[years.midyear]` in the cluster file: defaults, and a rate that is no quantitative
criterion named as the mistake it is."""

from __future__ import annotations

import pytest

from services.cluster_file import ClusterFileError, load_cluster_file, parse_cluster_text
from tests.factories import CUM6

FILE = """
[cluster]
code = "CUM-DEMO"
name = "Cụm thi đua mẫu"

[[units]]
code = "A"
name = "Sở Tài chính tỉnh A"

[[years]]
year = 2024
chair = "A"
{midyear}

[[years.criteria]]
code = "1"
name = "Tỷ lệ hồ sơ giải quyết đúng hạn"
kind = "quantitative"
max_points = 60
target = 98
measure_unit = "%"

[[years.criteria]]
code = "2"
name = "Ban hành kế hoạch đúng hạn"
kind = "yes_no"
max_points = 40
"""


def test_without_the_section_the_review_covers_h1_and_is_sent() -> None:
    [year] = parse_cluster_text(FILE.format(midyear="")).years
    rule = year.settings().midyear
    assert (rule.enabled, rule.month, rule.rates) == (True, 6, [])


def test_the_example_cluster_names_its_rates() -> None:
    [year] = load_cluster_file(CUM6).years
    assert "1.1.3" in year.settings().midyear.rates
    assert "1.1.1" not in year.settings().midyear.rates  # revenue grows from January


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('[years.midyear]\nrates = ["2"]', "midyear.rates: '2' is not a quantitative criterion"),
        ('[years.midyear]\nrates = ["9"]', "midyear.rates: '9' is not a quantitative criterion"),
        ("[years.midyear]\nmonth = 12", "midyear.month"),
        ("[years.midyear]\nsend = true", "unknown key"),
    ],
)
def test_a_wrong_setting_is_named(section: str, message: str) -> None:
    with pytest.raises(ClusterFileError) as refused:
        parse_cluster_text(FILE.format(midyear=section))
    assert message in str(refused.value)


def test_a_rate_that_is_quantitative_is_kept() -> None:
    [year] = parse_cluster_text(FILE.format(midyear='[years.midyear]\nrates = ["1"]')).years
    assert year.settings().midyear.rates == ["1"]
