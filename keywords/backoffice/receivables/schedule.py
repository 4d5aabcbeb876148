"""Which receivables steps are due for one invoice on one day (pure: dates in, steps out).

The schedule (settings): customer reminders on given days before the due date (default
7, 3, 2, 1 and 0 days before: one a week ahead, then daily from 3 days before), a task for
the account manager ``task_days`` after the due date, and an escalation to the manager
``escalation_days`` after it.

A run that missed a day still takes a step whose window is open: a reminder stays due until
the next reminder's day (the last one only on its own day), so no reminder is ever sent
after a later one and never two on one day; the task and the escalation stay due until
taken. No reminder goes out on or before the invoice's issue day: the invoice is the notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from backoffice.receivables.models import ESCALATION, REMINDER, TASK


@dataclass(frozen=True)
class Schedule:
    """The receivables schedule from the settings."""

    #: Days before the due date of each customer reminder (negative: days overdue).
    reminder_days: tuple[int, ...] = (7, 3, 2, 1, 0)
    task_days: int = 1
    escalation_days: int = 14

    @classmethod
    def from_settings(cls, settings: object) -> Schedule:
        """The schedule of ``Settings`` (``receivables_*``)."""
        return cls(
            reminder_days=tuple(getattr(settings, "receivables_reminder_days", cls.reminder_days)),
            task_days=int(getattr(settings, "receivables_task_days", cls.task_days)),
            escalation_days=int(getattr(settings, "receivables_escalation_days", 14)),
        )


@dataclass(frozen=True)
class Step:
    """One step of the schedule for one invoice."""

    kind: str
    #: The day the schedule puts it on.
    on: date
    #: Days to the due date on that day (negative: overdue).
    days_to_due: int


def steps_due(due: date, issued: date, today: date, schedule: Schedule) -> list[Step]:
    """The steps to take today for an invoice due on ``due``, issued on ``issued``."""
    steps: list[Step] = []
    reminder = current_reminder(due, issued, today, schedule)
    if reminder is not None:
        steps.append(reminder)
    task_on = due + timedelta(days=max(schedule.task_days, 1))
    if today >= task_on:
        steps.append(Step(TASK, task_on, -(task_on - due).days))
    escalate_on = due + timedelta(days=max(schedule.escalation_days, 1))
    if today >= escalate_on:
        steps.append(Step(ESCALATION, escalate_on, -(escalate_on - due).days))
    return steps


def current_reminder(due: date, issued: date, today: date, schedule: Schedule) -> Step | None:
    """The reminder whose window holds ``today``, if any."""
    days = sorted(set(schedule.reminder_days), reverse=True)
    dates = [due - timedelta(days=d) for d in days]
    for index, (before, on) in enumerate(zip(days, dates, strict=True)):
        window_end = dates[index + 1] if index + 1 < len(dates) else on + timedelta(days=1)
        if on <= today < window_end and on > issued:
            return Step(REMINDER, on, before)
    return None
