"""The receivables robot over a range of days under a pinned clock (BACKOFFICE_NOW), on
SQLite and PostgreSQL: the exact schedule, none for paid invoices, none twice a day."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from backoffice.billing.models import IssuedInvoice
from backoffice.receivables.models import ReceivableAction
from backoffice.receivables.service import (
    RECEIVABLE_ESCALATED,
    RECEIVABLE_OVERDUE,
    chase_receivables,
)
from backoffice.store import OutboxMessage, open_store
from backoffice.store.models import ReviewItem
from sqlalchemy import select

from tests.receivables.helpers import at, book_payment, issue

ISSUED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # Monday; due_days 14 -> due 2026-11-16
DUE = date(2026, 11, 16)


def _noon(day: date) -> str:
    return f"{day.isoformat()}T11:00:00+00:00"


def _rows(store, model, *where):
    with store.session() as session:
        return session.scalars(select(model).where(*where).order_by(model.id)).all()


def test_schedule_over_forty_days_none_for_paid_none_twice_a_day(
    seller_settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = seller_settings(
        "PL",
        receivables_account_manager="opiekun@example.test",
        receivables_manager="kierownik@example.test",
        receivables_escalation_days=10,
    )
    store = open_store(settings)
    at(monkeypatch, ISSUED.isoformat())
    late = issue(store, settings, "late-payer", email="late@example.test")
    paid_early = issue(store, settings, "paid-early", email="early@example.test")
    paid_after_task = issue(store, settings, "paid-later", email="later@example.test")
    russian = issue(store, settings, "ru-1", email="ru@example.test", language="ru")
    book_payment(store, paid_early, ISSUED + timedelta(days=3))

    day = ISSUED.date()
    while day <= DUE + timedelta(days=20):
        at(monkeypatch, _noon(day))
        if day == DUE + timedelta(days=2):
            book_payment(store, paid_after_task, datetime.fromisoformat(_noon(day)))
        # Twice a day (a second robot, a rerun): the second run takes no step.
        first = chase_receivables(store, settings, import_payments=None)
        second = chase_receivables(store, settings, import_payments=None)
        assert (second.reminders, second.tasks, second.escalations) == (0, 0, 0)
        if day == DUE + timedelta(days=2):
            assert first.closed == 1  # the paid invoice's overdue task is done
        day += timedelta(days=1)

    def taken(invoice_id: int) -> list[tuple[str, date, date]]:
        rows = _rows(store, ReceivableAction, ReceivableAction.invoice_pk == invoice_id)
        return [(r.kind, r.step_date, r.taken_on) for r in rows]

    expected = [
        ("reminder", DUE - timedelta(days=n), DUE - timedelta(days=n)) for n in (7, 3, 2, 1, 0)
    ]
    task = ("task", DUE + timedelta(days=1), DUE + timedelta(days=1))
    escalation = ("escalation", DUE + timedelta(days=10), DUE + timedelta(days=10))
    assert taken(late) == [*expected, task, escalation]
    assert taken(russian) == [*expected, task, escalation]
    assert taken(paid_early) == []
    assert taken(paid_after_task) == [*expected, task]

    # Every reminder is one outbox mail per invoice and day, a reply in the invoice's thread.
    mails = _rows(store, OutboxMessage)
    keys = Counter(m.idempotency_key for m in mails)
    assert all(count == 1 for count in keys.values())
    with store.session() as session:
        invoices = {i.id: i for i in session.scalars(select(IssuedInvoice))}
    by_key = {m.idempotency_key: m for m in mails}
    for invoice_id in (late, russian):
        invoice = invoices[invoice_id]
        original = by_key[invoice.outbox_key]
        reminders = [
            m for m in mails if m.idempotency_key.startswith(f"receivables/reminder/{invoice_id}/")
        ]
        assert len(reminders) == 5
        for mail in reminders:
            assert mail.in_reply_to == original.message_id
            assert original.message_id in mail.references
            assert mail.to_addrs == [invoice.buyer_email]
            assert mail.subject == f"Re: {original.subject}"
            assert mail.language == invoice.language
            assert invoice.number in mail.body_text
    late_bodies = [
        m.body_text for m in mails if m.idempotency_key.startswith(f"receivables/reminder/{late}/")
    ]
    assert "za 7 dni" in late_bodies[0] and "upływa dzisiaj" in late_bodies[-1]
    ru_bodies = [
        m.body_text
        for m in mails
        if m.idempotency_key.startswith(f"receivables/reminder/{russian}/")
    ]
    assert "через 7 дней" in ru_bodies[0] and "через 2 дня" in ru_bodies[2]
    assert "истекает сегодня" in ru_bodies[-1]

    # The account manager's task and the manager's escalation: an email and a review item.
    task_mail = by_key[f"receivables/task/{late}"]
    assert task_mail.to_addrs == ["opiekun@example.test"]
    assert task_mail.subject.startswith("Zadanie: zaległa faktura")
    assert "Wysłane przypomnienia: 5" in task_mail.body_text
    escalation_mail = by_key[f"receivables/escalation/{late}"]
    assert escalation_mail.to_addrs == ["kierownik@example.test"]
    assert "10 dni" in escalation_mail.subject
    assert f"receivables/escalation/{paid_after_task}" not in by_key
    items = _rows(store, ReviewItem, ReviewItem.subject_type == "issued_invoice")
    states = {(int(i.subject_ref), i.reason_code): i.status for i in items}
    assert states == {
        (late, RECEIVABLE_OVERDUE): "open",
        (late, RECEIVABLE_ESCALATED): "open",
        (russian, RECEIVABLE_OVERDUE): "open",
        (russian, RECEIVABLE_ESCALATED): "open",
        (paid_after_task, RECEIVABLE_OVERDUE): "done",
    }
    # Nothing at all was ever queued for the invoice paid early but its own invoice email.
    assert [m.idempotency_key for m in mails if m.subject_ref == str(paid_early)] == [
        invoices[paid_early].outbox_key
    ]
    store.dispose()


def test_a_robot_back_after_days_away_takes_only_what_is_still_due(
    seller_settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = seller_settings("PL")  # no account manager address: the task is a review item
    store = open_store(settings)
    at(monkeypatch, ISSUED.isoformat())
    invoice_id = issue(store, settings, "away", email="away@example.test")
    at(monkeypatch, _noon(DUE - timedelta(days=5)))
    report = chase_receivables(store, settings, import_payments=None)
    assert report.reminders == 1  # the 7-day reminder, two days late
    at(monkeypatch, _noon(DUE + timedelta(days=20)))
    report = chase_receivables(store, settings, import_payments=None)
    # No pre-due reminder after the due date; the task and the escalation, once each.
    assert (report.reminders, report.tasks, report.escalations) == (0, 1, 1)
    assert "BACKOFFICE_RECEIVABLES_ACCOUNT_MANAGER is not set" in report.reasons[0]
    rows = _rows(store, ReceivableAction, ReceivableAction.invoice_pk == invoice_id)
    assert [(r.kind, r.step_date, r.taken_on) for r in rows] == [
        ("reminder", DUE - timedelta(days=7), DUE - timedelta(days=5)),
        ("task", DUE + timedelta(days=1), DUE + timedelta(days=20)),
        ("escalation", DUE + timedelta(days=14), DUE + timedelta(days=20)),
    ]
    assert [r.outbox_key for r in rows] == [rows[0].outbox_key, "", ""]
    store.dispose()


def test_the_payments_import_runs_first_so_a_paid_invoice_is_not_chased(
    seller_settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = seller_settings("PL")
    store = open_store(settings)
    at(monkeypatch, ISSUED.isoformat())
    invoice_id = issue(store, settings, "paid-on-import", email="a@example.test")
    at(monkeypatch, _noon(DUE - timedelta(days=7)))

    def import_payments(store_, settings_) -> str:
        book_payment(store_, invoice_id, datetime.fromisoformat(_noon(DUE - timedelta(days=7))))
        return "1 statement imported"

    report = chase_receivables(store, settings, import_payments=import_payments)
    assert report.reminders == 0 and report.imported == "1 statement imported"
    assert _rows(store, ReceivableAction) == []
    store.dispose()


def test_four_robots_at_once_take_each_step_once(
    make_settings, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.billing.requests import PL_SELLER

    settings = make_settings(
        database_url=db_url, receivables_account_manager="am@example.test", **PL_SELLER
    )
    store = open_store(settings)
    at(monkeypatch, ISSUED.isoformat())
    ids = [issue(store, settings, f"race-{n}", email=f"c{n}@example.test") for n in range(12)]
    errors: list[BaseException] = []
    for day in (DUE - timedelta(days=3), DUE + timedelta(days=1)):
        at(monkeypatch, _noon(day))
        barrier = threading.Barrier(4)

        def robot(barrier: threading.Barrier = barrier) -> None:
            try:
                robot_store = open_store(settings)
                barrier.wait()
                chase_receivables(robot_store, settings, import_payments=None)
                robot_store.dispose()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=robot) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    rows = _rows(store, ReceivableAction)
    assert Counter((r.invoice_pk, r.kind) for r in rows) == {
        **{(i, "reminder"): 1 for i in ids},
        **{(i, "task"): 1 for i in ids},
    }
    mails = [m for m in _rows(store, OutboxMessage) if m.idempotency_key.startswith("receivables/")]
    assert len(mails) == 24 and len({m.idempotency_key for m in mails}) == 24
    store.dispose()
