"""The reminder schedule of a deadline, computed without a database: offsets from the cluster
file, moved to the previous working day and into office hours; overdue reminders, the
escalation and the period summary on working days after it; the weekly leaderboard."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from models.tables import ClusterYear
from services.cluster_file import LeaderboardRule, ReminderRule, year_settings
from services.reminders import BoardRule, Kind, ReminderRules, Slot, board_slots, period_slots
from services.reminders.schedule import MAX_DAYS

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=HCM)


def table(slots: list[Slot]) -> dict[str, tuple[datetime, datetime, int]]:
    return {s.rule: (s.due_at, s.until, s.days_left) for s in slots}


def reminder_rules(**file: object) -> ReminderRules:
    """The rules a `[years.reminders]` section gives, its defaults for what it leaves out."""
    return ReminderRules.of(ReminderRule.model_validate(file))


CUM6 = reminder_rules()  # before 7, 3, 1 at 08:00; overdue 3 days; escalate after 1
TAY_NINH = reminder_rules(before_days=[3, 1], at="07:30", overdue_days=2, escalate_after_days=3)


def test_cum6_second_quarter_schedule_around_a_friday_deadline() -> None:
    deadline = at(date(2024, 7, 5), 17)
    slots = table(period_slots(CUM6, deadline=deadline, starts_on=date(2024, 4, 1), tz=HCM))
    assert slots == {
        "before:1": (at(date(2024, 7, 4), 8), at(date(2024, 7, 4), 17), 1),
        "group_missing:1": (at(date(2024, 7, 4), 8), at(date(2024, 7, 4), 17), 1),
        "before:3": (at(date(2024, 7, 2), 8), at(date(2024, 7, 2), 17), 3),
        "group_missing:3": (at(date(2024, 7, 2), 8), at(date(2024, 7, 2), 17), 3),
        "before:7": (at(date(2024, 6, 28), 8), at(date(2024, 6, 28), 17), 7),
        "group_missing:7": (at(date(2024, 6, 28), 8), at(date(2024, 6, 28), 17), 7),
        "overdue:1": (at(date(2024, 7, 8), 8), at(date(2024, 7, 8), 17), -3),
        "overdue:2": (at(date(2024, 7, 9), 8), at(date(2024, 7, 9), 17), -4),
        "overdue:3": (at(date(2024, 7, 10), 8), at(date(2024, 7, 10), 17), -5),
        "escalate": (at(date(2024, 7, 8), 8), at(date(2024, 7, 8), 17), -3),
        "period_summary": (at(date(2024, 7, 8), 8), at(date(2024, 7, 8), 17), -3),
    }


def test_a_sunday_deadline_after_new_year_moves_every_reminder_to_a_working_day() -> None:
    deadline = at(date(2025, 1, 5), 17)  # Q4 2024, a Sunday
    slots = table(period_slots(CUM6, deadline=deadline, starts_on=date(2024, 10, 1), tz=HCM))
    assert slots["before:1"][0] == at(date(2025, 1, 3), 8)  # Saturday → Friday
    assert slots["before:3"][0] == at(date(2025, 1, 2), 8)  # 01/01 is a holiday, 02/01 is not
    assert slots["before:7"][0] == at(date(2024, 12, 27), 8)  # Sunday 29/12 → Friday 27/12
    assert slots["overdue:1"][0] == at(date(2025, 1, 6), 8)


def test_offsets_that_land_on_one_working_day_give_one_reminder_the_nearest() -> None:
    rules = reminder_rules(before_days=[1, 2, 3], overdue_days=0, escalate_after_days=0)
    deadline = at(date(2024, 4, 8), 17)  # a Monday: 1, 2 and 3 days before all become Friday
    slots = period_slots(rules, deadline=deadline, starts_on=date(2024, 1, 1), tz=HCM)
    before = [s for s in slots if s.kind is Kind.BEFORE]
    assert [(s.rule, s.due_at, s.days_left) for s in before] == [
        ("before:1", at(date(2024, 4, 5), 8), 3)
    ]


def test_tet_pushes_overdue_reminders_and_the_escalation_past_the_holiday() -> None:
    deadline = at(date(2024, 2, 7), 16, 30)  # Tây Ninh, January 2024, the eve of 29 Tết
    slots = table(period_slots(TAY_NINH, deadline=deadline, starts_on=date(2024, 1, 1), tz=HCM))
    assert slots["before:1"][0] == at(date(2024, 2, 6), 7, 30)
    assert slots["before:3"][0] == at(date(2024, 2, 2), 7, 30)  # Sunday 04/02 → Friday 02/02
    assert slots["overdue:1"][0] == at(date(2024, 2, 15), 7, 30)
    assert slots["overdue:2"][0] == at(date(2024, 2, 16), 7, 30)
    assert slots["escalate"][0] == at(date(2024, 2, 19), 7, 30)  # 3 working days after
    assert slots["period_summary"][0] == at(date(2024, 2, 15), 7, 30)


def test_a_saturday_worked_in_exchange_is_a_reminder_day() -> None:
    deadline = at(date(2024, 5, 7), 16, 30)  # Tây Ninh, April 2024
    slots = table(period_slots(TAY_NINH, deadline=deadline, starts_on=date(2024, 4, 1), tz=HCM))
    assert slots["before:3"][0] == at(date(2024, 5, 4), 7, 30)  # Saturday, worked for 29/04


def test_no_overdue_reminder_once_the_period_is_locked() -> None:
    rules = reminder_rules(before_days=[], overdue_days=5, escalate_after_days=0)
    deadline = at(date(2024, 7, 5), 17)
    slots = period_slots(
        rules,
        deadline=deadline,
        starts_on=date(2024, 4, 1),
        tz=HCM,
        lock_at=deadline + timedelta(days=4),  # locked Tuesday 09/07 17:00
    )
    assert [s.rule for s in slots if s.kind is Kind.OVERDUE] == ["overdue:1", "overdue:2"]


def test_no_reminder_before_the_period_starts_or_after_its_deadline() -> None:
    rules = reminder_rules(before_days=[0, 40], at="09:00", overdue_days=0)
    deadline = at(date(2024, 5, 7), 9)  # due at 09:00: a 09:00 reminder that day is too late
    slots = period_slots(rules, deadline=deadline, starts_on=date(2024, 4, 1), tz=HCM)
    assert [s for s in slots if s.kind is Kind.BEFORE] == []
    early = reminder_rules(before_days=[0], at="08:00", overdue_days=0)
    [before] = [
        s
        for s in period_slots(early, deadline=deadline, starts_on=date(2024, 4, 1), tz=HCM)
        if s.kind is Kind.BEFORE
    ]
    assert (before.due_at, before.until, before.days_left) == (at(date(2024, 5, 7), 8), deadline, 0)


def test_escalation_zero_means_none() -> None:
    rules = reminder_rules(escalate_after_days=0)
    slots = period_slots(
        rules, deadline=at(date(2024, 7, 5), 17), starts_on=date(2024, 4, 1), tz=HCM
    )
    assert "escalate" not in {s.rule for s in slots}


def test_a_slot_is_due_until_the_end_of_its_working_day_then_expired() -> None:
    slot = Slot("before:3", Kind.BEFORE, at(date(2024, 7, 2), 8), at(date(2024, 7, 2), 17), 3)
    assert slot.state(at(date(2024, 7, 2), 7, 59)) is None
    assert slot.state(at(date(2024, 7, 2), 8)) == "due"
    assert slot.state(at(date(2024, 7, 2), 16, 59)) == "due"
    assert slot.state(at(date(2024, 7, 2), 17)) == "expired"
    assert slot.state(at(date(2024, 7, 20), 8)) is None  # long past: history


def test_the_weekly_board_moves_off_a_holiday_monday_and_keeps_its_week() -> None:
    rule = BoardRule(enabled=True, weekday=0, at=time(8, 0))
    slots = board_slots(rule, date(2024, 4, 29), HCM)  # Monday 29/04/2024 is a day off
    by_rule = {s.rule: s.due_at for s in slots}
    assert by_rule["leaderboard:2024-W18"] == at(date(2024, 4, 26), 8)
    assert by_rule["leaderboard:2024-W19"] == at(date(2024, 5, 6), 8)
    assert board_slots(BoardRule.of(LeaderboardRule(enabled=False)), date(2024, 4, 29), HCM) == []


def test_rules_are_read_from_the_cluster_year_settings() -> None:
    settings = {
        "reminders": {"before_days": [1, 3, 3], "at": "07:30", "overdue_days": 2},
        "leaderboard": {"enabled": True, "weekday": "Friday", "at": "16:00"},
    }
    stored = year_settings(ClusterYear(settings=settings))
    assert ReminderRules.of(stored.reminders) == ReminderRules(
        before_days=(1, 3), at=time(7, 30), overdue_days=2, escalate_after_days=1
    )
    assert BoardRule.of(stored.leaderboard) == BoardRule(True, 4, time(16, 0))


def test_a_year_without_settings_gets_the_cluster_files_defaults() -> None:
    stored = year_settings(ClusterYear(settings={}))
    assert ReminderRules.of(stored.reminders) == ReminderRules(
        before_days=(1, 3, 7), at=time(8, 0), overdue_days=3, escalate_after_days=1
    )
    assert BoardRule.of(stored.leaderboard) == BoardRule(enabled=True, weekday=0, at=time(8, 0))


@settings(max_examples=300, deadline=None)
@given(
    deadline_day=st.dates(date(2024, 1, 1), date(2027, 12, 31)),
    before_days=st.lists(st.integers(0, MAX_DAYS), max_size=4),
    overdue_days=st.integers(0, MAX_DAYS),
    escalate_after_days=st.integers(0, MAX_DAYS),
    lock_days=st.integers(0, 30),
)
def test_every_slot_lies_within_the_rules_span_of_the_deadline(
    deadline_day: date,
    before_days: list[int],
    overdue_days: int,
    escalate_after_days: int,
    lock_days: int,
) -> None:
    """The planner skips a period outside `span` without working out its slots: no slot
    may lie outside it, whatever the rules (the cluster file's bounds) and the calendar
    (Tết of 2024 to 2027 included)."""
    rules = ReminderRules(
        tuple(sorted(set(before_days))), time(8), overdue_days, escalate_after_days
    )
    deadline = datetime.combine(deadline_day, time(17), tzinfo=HCM)
    before, after = rules.span()
    slots = period_slots(
        rules,
        deadline=deadline,
        starts_on=deadline_day - timedelta(days=365),
        tz=HCM,
        lock_at=deadline + timedelta(days=lock_days) if lock_days else None,
    )
    for slot in slots:
        assert deadline - before <= slot.due_at and slot.until <= deadline + after, slot
