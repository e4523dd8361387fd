"""Scheduled reminders and digests: what falls due when and for whom, and the ledger that lets
each one go out once, across restarts and across several bot processes on one database.

The schedule is data: the cluster year's `settings["reminders"]` and `settings["leaderboard"]`
(from the cluster file) and the periods' deadlines. Given `now`, `plan` lists every message
that is due and not yet in the ledger (`reminder_log`). A message is claimed by inserting its
dedup key (rule|period|unit|recipient) just before it is sent; the unique index makes a second
claim fail, so two processes, or one restarted, never send it twice. A claim that is never
finished (the process died mid-send) stays `claimed` and is not retried: at most once.

A message falls due at its time and stays due until the end of that working day; one whose
day ended while the bot was down is recorded as `skipped` (with a log line) and never sent.

The package, by job: `schedule` (rules → slots), `messages` (what a message carries),
`audience` (who gets it), `planner` (what is due now), `ledger` (once only), `commands`
(the chair's /nhacnho and everyone's /hanchot).
"""

from services.reminders.commands import DeadlineLine, Deadlines, Nudge, deadlines, nudge
from services.reminders.ledger import (
    Status,
    claim,
    existing_keys,
    finish,
    new_only,
    record_skipped,
)
from services.reminders.messages import (
    CriterionRef,
    Due,
    Gap,
    PeriodRef,
    dedup_key,
    group_recipient,
    period_ref,
)
from services.reminders.planner import Plan, mark_unreachable, plan
from services.reminders.schedule import (
    LOOKBACK,
    BoardRule,
    Kind,
    ReminderRules,
    Slot,
    board_slots,
    period_slots,
)

__all__ = [
    "LOOKBACK",
    "BoardRule",
    "CriterionRef",
    "DeadlineLine",
    "Deadlines",
    "Due",
    "Gap",
    "Kind",
    "Nudge",
    "PeriodRef",
    "Plan",
    "ReminderRules",
    "Slot",
    "Status",
    "board_slots",
    "claim",
    "deadlines",
    "dedup_key",
    "existing_keys",
    "finish",
    "group_recipient",
    "mark_unreachable",
    "new_only",
    "nudge",
    "period_ref",
    "period_slots",
    "plan",
    "record_skipped",
]
