"""The schedule as a pure function: which step is due on which day."""

from __future__ import annotations

from datetime import date, timedelta

from backoffice.receivables.schedule import Schedule, Step, steps_due

DUE = date(2026, 11, 16)
ISSUED = date(2026, 11, 2)


def _plan(schedule: Schedule, issued: date = ISSUED, days: int = 40) -> dict[date, list[Step]]:
    """Run the schedule once a day: the steps taken each day (a step is taken once)."""
    taken: set[tuple[str, date]] = set()
    plan = {}
    for n in range(days):
        today = issued + timedelta(days=n)
        new = [s for s in steps_due(DUE, issued, today, schedule) if (s.kind, s.on) not in taken]
        taken.update((s.kind, s.on) for s in new)
        plan[today] = new
    return plan


def test_default_schedule_day_by_day() -> None:
    plan = _plan(Schedule())
    reminders = [d for d, steps in plan.items() if any(s.kind == "reminder" for s in steps)]
    assert reminders == [DUE - timedelta(days=n) for n in (7, 3, 2, 1, 0)]
    taken = {day: sorted(s.kind for s in steps) for day, steps in plan.items() if steps}
    assert taken == {
        DUE - timedelta(days=7): ["reminder"],
        DUE - timedelta(days=3): ["reminder"],
        DUE - timedelta(days=2): ["reminder"],
        DUE - timedelta(days=1): ["reminder"],
        DUE: ["reminder"],
        DUE + timedelta(days=1): ["task"],
        DUE + timedelta(days=14): ["escalation"],
    }
    task = plan[DUE + timedelta(days=1)][0]
    assert (task.on, task.days_to_due) == (DUE + timedelta(days=1), -1)


def test_a_missed_reminder_goes_late_until_the_next_one_is_due() -> None:
    schedule = Schedule()
    # Not run on D-7: on D-6..D-4 that reminder is still due (its step day stays D-7).
    late = steps_due(DUE, ISSUED, DUE - timedelta(days=5), schedule)
    assert late == [Step("reminder", DUE - timedelta(days=7), 7)]
    # On D-3 the D-3 one is due, never the missed one as well.
    assert steps_due(DUE, ISSUED, DUE - timedelta(days=3), schedule) == [
        Step("reminder", DUE - timedelta(days=3), 3)
    ]
    # The due-day reminder is not sent late: after the due date no pre-due reminder goes.
    after = steps_due(DUE, ISSUED, DUE + timedelta(days=1), schedule)
    assert [s.kind for s in after] == ["task"]


def test_no_reminder_on_or_before_the_issue_day() -> None:
    # Issued 3 days before the due date: the 7- and 3-day reminders are skipped.
    issued = DUE - timedelta(days=3)
    reminders = [d for d, steps in _plan(Schedule(), issued, 10).items() if steps and d <= DUE]
    assert reminders == [DUE - timedelta(days=2), DUE - timedelta(days=1), DUE]


def test_configured_schedule_with_an_overdue_reminder() -> None:
    schedule = Schedule(reminder_days=(5, 0, -3), task_days=2, escalation_days=10)
    plan = _plan(schedule)
    reminders = [(d, s.days_to_due) for d, st in plan.items() for s in st if s.kind == "reminder"]
    assert reminders == [(DUE - timedelta(days=5), 5), (DUE, 0), (DUE + timedelta(days=3), -3)]
    firsts = {}
    for day, steps in plan.items():
        for step in steps:
            firsts.setdefault(step.kind, day)
    assert firsts["task"] == DUE + timedelta(days=2)
    assert firsts["escalation"] == DUE + timedelta(days=10)
