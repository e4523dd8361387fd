"""Scheduled reminders and digests: what falls due when and for whom, and the ledger that lets
each one go out once, across restarts and across several bot processes on one database.

The schedule is data: the cluster year's `settings["reminders"]` and `settings["leaderboard"]`
(from the cluster file) and the periods' deadlines. Given `now`, `plan` lists every message
that is due and not yet in the ledger (`reminder_log`). A message is claimed by inserting its
dedup key (rule|period|unit|recipient) just before it is sent; the unique index makes a second
claim fail, so two processes, or one restarted, never both hold it. A claim names its owner
(the process) and is held for a short lease; one never finished (the process died) is
offered again once its lease has passed and taken over by one process: nothing is lost, and
a message goes out twice only if its process died between the platform's answer and the
ledger's update.

A message falls due at its time and stays due until the end of that working day; one whose
day ended while the bot was down is recorded as `skipped` (with a log line) and never sent.

The package, by job: `schedule` (rules → slots), `messages` (what a message carries),
`audience` (who gets it), `planner` (what is due now), `ledger` (once only), `commands`
(the chair's /nhacnho and everyone's /hanchot).
"""

from services.reminders.commands import DeadlineLine, Deadlines, Nudge, deadlines, nudge
from services.reminders.ledger import (
    LEASE,
    RENEW_BELOW,
    Status,
    claim,
    finish,
    held_keys,
    new_only,
    new_owner,
    record_skipped,
    renew,
)
from services.reminders.messages import (
    BallotRef,
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
    "LEASE",
    "LOOKBACK",
    "RENEW_BELOW",
    "BallotRef",
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
    "finish",
    "group_recipient",
    "held_keys",
    "mark_unreachable",
    "new_only",
    "new_owner",
    "nudge",
    "period_ref",
    "period_slots",
    "plan",
    "record_skipped",
    "renew",
]
