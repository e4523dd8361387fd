"""bench/goals.py: the issue's goals read off a run's figures (what run_all prints last)."""

from __future__ import annotations

from typing import Any

from bench import goals

X = goals.TIMES


def row(bench: str, case: str, metric: str, value: float, unit: str = "s") -> dict[str, Any]:
    return {"bench": bench, "case": case, "metric": metric, "value": value, "unit": unit}


def by_measure(rows: list[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    return {found[0]: found[1:] for found in goals.evaluate(rows)}


def test_a_goal_is_met_only_by_a_figure_the_run_produced() -> None:
    found = by_measure([row("update_path", "report_one_line", "sql_per_update", 4, "count")])

    assert found["one-line report: SQL statements"][-1] == "✅"
    assert found["one-line report: updates/s"] == ("not measured", "", "", "≥ 500", "—")
    # The floor is part of the figure: without it the ratio cannot be said.
    alone = by_measure([row("scale", "sqlite/leaderboard_one_cluster", "wall_s", 0.01)])
    assert alone["one cluster's board, sqlite: s"][0] == "not measured"


def test_ratios_are_against_the_floor_of_the_same_run() -> None:
    rows = [
        row("scale", "postgresql/leaderboard_all_clusters", "wall_s", 8.0),
        row("scale", "postgresql/leaderboard_all_clusters/sql_baseline", "wall_s", 5.0),
        row("scale", "sqlite/leaderboard_all_clusters", "wall_s", 7.0),
        row("scale", "sqlite/leaderboard_all_clusters/sql_baseline", "wall_s", 5.0),
    ]
    found = by_measure(rows)

    assert found["all boards, postgresql: s"][2:] == (f"1.60{X}", f"≤ 1.5{X}", "❌")
    assert found["all boards, sqlite: s"][2:] == (f"1.40{X}", f"≤ 1.5{X}", "✅")


def test_cases_named_by_their_size_are_found_at_any_size() -> None:
    rows = [
        row("fanout", "300 reminders, 300 private chats", "wall_s", 10.4),
        row("fanout", "theoretical minimum (count / 30 per s)", "wall_s", 10.0),
        row("fanout", "300 reminders, 300 private chats", "http_429", 1, "count"),
    ]
    found = by_measure(rows)

    wall = found["reminders against a 30/s stand-in: wall s"]
    assert wall[2:] == (f"1.04{X}", f"≤ 1.05{X}", "✅")
    assert found["the same: 429 answers"][-1] == "❌"


def test_at_least_goals_compare_upwards() -> None:
    rows = [
        row("update_path", "report_one_line", "updates_per_s", 520, "1/s"),
        row("update_path", "echo_application", "updates_per_s", 5000, "1/s"),
    ]

    assert by_measure(rows)["one-line report: updates/s"][-1] == "✅"
    rows[0]["value"] = 480
    assert by_measure(rows)["one-line report: updates/s"][-1] == "❌"
