"""Shared by receivables, access and payments: the issued invoice's email thread (so later
mail about it is a reply in it), inserting a record once under its unique key, and taking
back the reminders of an invoice that got paid."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backoffice.billing.models import IssuedInvoice
from backoffice.billing.service import INVOICE_SUBJECT
from backoffice.outbox.service import withdraw
from backoffice.store.models import OutboxMessage

#: How the outbox keys of payment reminders start (``service._outbox_key``).
REMINDER_KEY_PREFIX = "receivables/reminder/"


@dataclass(frozen=True)
class InvoiceThread:
    """Where a reply about the invoice goes: its email's Message-ID, chain and subject."""

    in_reply_to: str
    references: tuple[str, ...]
    subject: str


def invoice_thread(
    session: Session, invoice: IssuedInvoice, fallback_subject: str
) -> InvoiceThread:
    """The invoice email's thread (from its outbox row, by the invoice's outbox key).

    An invoice whose email was never queued has no thread: the mail then starts one with
    ``fallback_subject``.
    """
    row = None
    if invoice.outbox_key:
        row = session.scalar(
            select(OutboxMessage).where(OutboxMessage.idempotency_key == invoice.outbox_key)
        )
    if row is None:
        return InvoiceThread("", (), fallback_subject)
    return InvoiceThread(row.message_id, tuple(row.references or ()), row.subject)


def insert_once(session: Session, model: Any, values: dict[str, Any]) -> int | None:
    """Insert a row unless one with the same unique key exists; its id, or None if it did.

    ``ON CONFLICT DO NOTHING`` waits for a concurrent insert of the same key to commit and
    then does nothing, so the caller's transaction lives on and two robots never both win.
    """
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        make = pg_insert if dialect == "postgresql" else sqlite_insert
        return session.scalar(
            make(model).values(**values).on_conflict_do_nothing().returning(model.id)
        )
    try:  # pragma: no cover - other databases
        with session.begin_nested():
            return session.scalar(insert(model).values(**values).returning(model.id))
    except IntegrityError:  # pragma: no cover
        return None


def withdraw_reminders(session: Session, invoice_ids: Iterable[int], *, worker: str = "") -> int:
    """Take back the reminders queued for these invoices and not yet being sent: they were
    paid in full meanwhile. In the caller's transaction, the one that records the payment."""
    return withdraw(
        session,
        subject_type=INVOICE_SUBJECT,
        subject_refs=[str(invoice_id) for invoice_id in invoice_ids],
        key_prefix=REMINDER_KEY_PREFIX,
        why="the invoice was paid in full before the reminder went out",
        worker=worker,
    )
