"""The receivables robot: chase issued invoices that are not paid, step by step, once each.

``chase_receivables(store, settings)``:

1. imports pending bank statements first (the payments robot's own use case), so an
   invoice paid since the last run is never chased;
2. closes the open overdue review items of invoices paid meanwhile;
3. for each unpaid invoice takes the steps its schedule has due today (``schedule``): a
   reminder to the customer in the invoice's language, as a reply in the invoice's thread;
   the account manager's task (a review item and an email); the escalation to the manager.

Each step is one transaction that locks the invoice row (PostgreSQL), checks again that
it is unpaid (a payment booked meanwhile wins), inserts the step under its unique
(invoice, kind, day) key, queues its email in the outbox (idempotency key per invoice and
day) and opens its review item. A second robot, or the same one run again on the same day,
finds the step taken and does nothing: never two reminders on one day.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from backoffice.billing.document import IssuedDocument
from backoffice.billing.mail import SUBJECTS
from backoffice.billing.models import FAILED as INVOICE_FAILED
from backoffice.billing.models import NUMBERED, IssuedInvoice
from backoffice.billing.service import INVOICE_SUBJECT
from backoffice.clock import utcnow
from backoffice.config import Settings
from backoffice.invoices.service import open_review
from backoffice.outbox.compose import InvalidOutgoingMail
from backoffice.outbox.service import enqueue
from backoffice.receivables.mail import (
    Mail,
    Overdue,
    Reminder,
    reminder_mail,
    staff_language,
    staff_mail,
)
from backoffice.receivables.models import (
    DONE,
    ESCALATION,
    FAILED,
    REMINDER,
    TASK,
    ReceivableAction,
)
from backoffice.receivables.records import REMINDER_KEY_PREFIX, insert_once, invoice_thread
from backoffice.receivables.schedule import Schedule, Step, steps_due
from backoffice.store.db import Store
from backoffice.store.models import ReviewItem

log = logging.getLogger(__name__)

#: Review reason codes (subject: the issued invoice).
RECEIVABLE_OVERDUE = "RECEIVABLE_OVERDUE"
RECEIVABLE_ESCALATED = "RECEIVABLE_ESCALATED"
REMINDER_UNDELIVERABLE = "REMINDER_UNDELIVERABLE"
_STAFF_CODES = {TASK: RECEIVABLE_OVERDUE, ESCALATION: RECEIVABLE_ESCALATED}

Progress = Callable[[int], None]
#: Imports pending statements; returns one line for the report.
PaymentsImport = Callable[[Store, Settings], str]


@dataclass
class ReceivablesReport:
    """What one run of the receivables robot did."""

    #: What the statement import before the run said.
    imported: str = ""
    invoices: int = 0
    reminders: int = 0
    tasks: int = 0
    escalations: int = 0
    #: Steps not taken because the invoice turned out paid at the last moment.
    paid_meanwhile: int = 0
    #: Overdue review items closed because the invoice is paid now.
    closed: int = 0
    failed: int = 0
    #: One line per thing that now waits for staff: ``CODE: invoice: why``.
    reasons: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs."""
        return (
            f"receivables: {self.invoices} unpaid invoices looked at, {self.reminders} "
            f"reminders, {self.tasks} account manager tasks, {self.escalations} escalations, "
            f"{self.closed} overdue items closed as paid, {self.failed} failed"
            + (f"; statements: {self.imported}" if self.imported else "")
        )


def import_pending_statements(store: Store, settings: Settings) -> str:
    """The seam to payments: import the statements that wait and match what they brought
    (``backoffice.payments.service.run_payments``) before anyone is chased."""
    try:
        from backoffice.payments.service import run_payments
    except ImportError:  # pragma: no cover - payments not installed with this build
        return "no payments import available"
    return run_payments(store, settings).summary()


def chase_receivables(
    store: Store,
    settings: Settings,
    *,
    import_payments: PaymentsImport | None = import_pending_statements,
    progress: Progress | None = None,
) -> ReceivablesReport:
    """Import pending statements, then take every receivables step due today, once each."""
    report = ReceivablesReport()
    if import_payments is not None:
        report.imported = import_payments(store, settings)
    schedule = Schedule.from_settings(settings)
    today = utcnow().astimezone(settings.invoice_zone()).date()
    _close_paid(store, report)
    horizon = today + timedelta(days=max(schedule.reminder_days, default=0))
    with store.session() as session:
        due = session.execute(
            select(IssuedInvoice.id, IssuedInvoice.due_date, IssuedInvoice.issue_date)
            .where(
                IssuedInvoice.paid_at.is_(None),
                IssuedInvoice.status.not_in((NUMBERED, INVOICE_FAILED)),
                IssuedInvoice.due_date <= horizon,
            )
            .order_by(IssuedInvoice.due_date, IssuedInvoice.id)
        ).all()
    for invoice_id, due_date, issue_date in due:
        report.invoices += 1
        for step in steps_due(due_date, issue_date, today, schedule):
            if not _taken(store, invoice_id, step):
                _take(store, settings, invoice_id, step, today, report)
        if progress is not None:
            progress(1)
    return report


def _taken(store: Store, invoice_id: int, step: Step) -> bool:
    """A cheap look first; the unique key in ``_take`` is what really decides."""
    with store.session() as session:
        return (
            session.scalar(
                select(ReceivableAction.id).where(
                    ReceivableAction.invoice_pk == invoice_id,
                    ReceivableAction.kind == step.kind,
                    ReceivableAction.step_date == step.on,
                )
            )
            is not None
        )


def _take(
    store: Store,
    settings: Settings,
    invoice_id: int,
    step: Step,
    today: date,
    report: ReceivablesReport,
) -> None:
    with store.session() as session:
        invoice = _lock_invoice(session, store, invoice_id)
        if invoice is None:
            return
        if invoice.paid_at is not None:
            report.paid_meanwhile += 1
            return
        key = _outbox_key(invoice.id, step)
        action_id = insert_once(
            session,
            ReceivableAction,
            {
                "invoice_pk": invoice.id,
                "kind": step.kind,
                "step_date": step.on,
                "taken_on": today,
                "days_to_due": step.days_to_due,
                "outbox_key": "",
                "status": DONE,
                "reason": "",
                "created_at": utcnow(),
            },
        )
        if action_id is None:
            return  # another robot took this step
        action = session.get(ReceivableAction, action_id)
        assert action is not None
        if step.kind == REMINDER:
            _remind(session, store, settings, invoice, action, key, report)
        else:
            _tell_staff(session, store, settings, invoice, action, step, key, report)


def _lock_invoice(session: Session, store: Store, invoice_id: int) -> IssuedInvoice | None:
    """The invoice, locked until we commit, so a payment booked at the same moment waits for
    us or we see its paid_at (PostgreSQL: FOR UPDATE; SQLite: a no-op write takes the
    database's write lock first, as its reads outside a write see no lock)."""
    query = select(IssuedInvoice).where(IssuedInvoice.id == invoice_id)
    if store.dialect == "postgresql":
        return session.scalar(query.with_for_update())
    session.execute(
        update(IssuedInvoice)
        .where(IssuedInvoice.id == invoice_id)
        .values(lease_owner=IssuedInvoice.lease_owner)
        .execution_options(synchronize_session=False)
    )
    return session.scalar(query)


def _outbox_key(invoice_id: int, step: Step) -> str:
    if step.kind == REMINDER:
        return f"{REMINDER_KEY_PREFIX}{invoice_id}/{step.on.isoformat()}"
    return f"receivables/{step.kind}/{invoice_id}"


def _outstanding(invoice: IssuedInvoice) -> Decimal:
    paid = Decimal(invoice.paid_total or 0)
    return (Decimal(invoice.total_gross) - paid).quantize(Decimal("0.01"))


def _remind(
    session: Session,
    store: Store,
    settings: Settings,
    invoice: IssuedInvoice,
    action: ReceivableAction,
    key: str,
    report: ReceivablesReport,
) -> None:
    doc = IssuedDocument.from_row(invoice)
    language = invoice.language
    fallback = SUBJECTS.get(language, SUBJECTS["en"]).format(number=invoice.number)
    thread = invoice_thread(session, invoice, fallback)
    mail = reminder_mail(
        Reminder(
            language=language,
            number=invoice.number,
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
            days_to_due=action.days_to_due,
            outstanding=_outstanding(invoice),
            currency=invoice.currency,
            account=doc.bank.account,
            reference=doc.payment_reference,
            seller=doc.seller.name,
        ),
        thread.subject,
    )
    try:
        enqueue(
            store,
            settings,
            key=key,
            to=[invoice.buyer_email],
            subject=mail.subject,
            body_text=mail.body,
            in_reply_to=thread.in_reply_to,
            references=thread.references,
            language=language,
            subject_type=INVOICE_SUBJECT,
            subject_ref=str(invoice.id),
            session=session,
        )
    except InvalidOutgoingMail as exc:
        reason = f"the reminder for invoice {invoice.number} cannot be sent: {exc}"
        action.status, action.reason = FAILED, reason
        open_review(
            session, INVOICE_SUBJECT, invoice.id, REMINDER_UNDELIVERABLE, reason, _evidence(invoice)
        )
        report.failed += 1
        report.reasons.append(f"{REMINDER_UNDELIVERABLE}: {invoice.number}: {exc}")
        return
    action.outbox_key = key
    report.reminders += 1
    log.info("invoice %s: reminder queued (%s days to due)", invoice.number, action.days_to_due)


def _tell_staff(
    session: Session,
    store: Store,
    settings: Settings,
    invoice: IssuedInvoice,
    action: ReceivableAction,
    step: Step,
    key: str,
    report: ReceivablesReport,
) -> None:
    code = _STAFF_CODES[step.kind]
    reminders = session.scalar(
        select(func.count(ReceivableAction.id)).where(
            ReceivableAction.invoice_pk == invoice.id,
            ReceivableAction.kind == REMINDER,
            ReceivableAction.status == DONE,
        )
    )
    overdue = Overdue(
        language=staff_language(str(invoice.seller.get("country", ""))),
        number=invoice.number,
        buyer=str(invoice.buyer.get("name", "")),
        buyer_email=invoice.buyer_email,
        contract_ref=invoice.contract_ref,
        due_date=invoice.due_date,
        days_overdue=-step.days_to_due,
        outstanding=_outstanding(invoice),
        currency=invoice.currency,
        reminders=reminders or 0,
    )
    if step.kind == TASK:
        address, setting = settings.receivables_account_manager, "RECEIVABLES_ACCOUNT_MANAGER"
        who = "the account manager"
    else:
        address, setting = settings.receivables_manager, "RECEIVABLES_MANAGER"
        who = "the manager"
    reason = (
        f"invoice {invoice.number} to {overdue.buyer} is {overdue.days_overdue} days overdue "
        f"({overdue.outstanding} {invoice.currency} unpaid, due {invoice.due_date}, "
        f"{overdue.reminders} reminders sent)"
    )
    reason += "; contact the customer" if step.kind == TASK else "; decide how to collect it"
    if address.strip():
        mail = staff_mail(step.kind, overdue)
        try:
            _queue_staff_mail(session, store, settings, invoice, key, address, mail)
        except InvalidOutgoingMail as exc:
            action.status = FAILED
            reason += f"; the email to {who} cannot be sent: {exc}"
        else:
            action.outbox_key = key
            reason += f"; {who} was emailed at {address}"
    else:
        reason += f"; no email to {who}: BACKOFFICE_{setting} is not set"
    action.reason = reason
    open_review(session, INVOICE_SUBJECT, invoice.id, code, reason, _evidence(invoice))
    report.reasons.append(f"{code}: {invoice.number}: {reason}")
    if step.kind == TASK:
        report.tasks += 1
    else:
        report.escalations += 1


def _queue_staff_mail(
    session: Session,
    store: Store,
    settings: Settings,
    invoice: IssuedInvoice,
    key: str,
    address: str,
    mail: Mail,
) -> None:
    enqueue(
        store,
        settings,
        key=key,
        to=[address],
        subject=mail.subject,
        body_text=mail.body,
        language=staff_language(str(invoice.seller.get("country", ""))),
        subject_type=INVOICE_SUBJECT,
        subject_ref=str(invoice.id),
        session=session,
    )


def _evidence(invoice: IssuedInvoice) -> dict[str, object]:
    return {
        "invoice_id": invoice.id,
        "number": invoice.number,
        "buyer": invoice.buyer.get("name", ""),
        "buyer_email": invoice.buyer_email,
        "contract_ref": invoice.contract_ref,
        "due_date": invoice.due_date.isoformat(),
        "total_gross": str(invoice.total_gross),
        "paid_total": str(invoice.paid_total or 0),
        "currency": invoice.currency,
    }


def _close_paid(store: Store, report: ReceivablesReport) -> None:
    """Overdue and escalation items of invoices paid meanwhile are done: nobody chases them."""
    with store.session() as session:
        items = session.scalars(
            select(ReviewItem).where(
                ReviewItem.subject_type == INVOICE_SUBJECT,
                ReviewItem.reason_code.in_(tuple(_STAFF_CODES.values())),
                ReviewItem.status == "open",
            )
        ).all()
        for item in items:
            invoice = session.get(IssuedInvoice, int(item.subject_ref))
            if invoice is not None and invoice.paid_at is not None:
                item.status, item.closed_at = "done", utcnow()
                report.closed += 1
