"""Records per state: what the ``status`` command and the robots' summaries show."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from backoffice.access.models import AccessGrant, ProvisioningCall
from backoffice.billing.models import InvoiceRequest, IssuedInvoice
from backoffice.contracts.store import Contract
from backoffice.payments.models import BankTransactionRecord, StatementImport
from backoffice.receivables.models import ReceivableAction
from backoffice.store import Document, Message, OutboxMessage, ReviewItem, Store
from backoffice.store.models import InvoiceCase, InvoiceEffect


@dataclass(frozen=True)
class StatusRow:
    """How many records of one kind sit in one state."""

    area: str
    state: str
    count: int


def status_rows(store: Store) -> list[StatusRow]:
    """Count the records of every flow per state: mail in, documents (by kind), invoice
    cases, contracts, issued invoices, payments, access, reminders, mail out, review."""
    rows: list[StatusRow] = []
    with store.session() as session:
        for area, column in (
            ("messages", Message.status),
            ("invoice cases", InvoiceCase.state),
            ("invoice exports and hooks", InvoiceEffect.status),
            ("contracts", Contract.status),
            ("invoices to issue", InvoiceRequest.status),
            ("issued invoices", IssuedInvoice.status),
            ("bank statements", StatementImport.status),
            ("bank transactions", BankTransactionRecord.status),
            ("access grants", AccessGrant.status),
            ("provisioning calls", ProvisioningCall.status),
            ("receivable actions", ReceivableAction.status),
            ("outbox", OutboxMessage.status),
            ("review items", ReviewItem.status),
        ):
            model = column.class_
            for state, count in session.execute(
                select(column, func.count(model.id)).group_by(column).order_by(column)
            ):
                rows.append(StatusRow(area, state, count))
        for kind, state, count in session.execute(
            select(Document.kind, Document.status, func.count(Document.id))
            .group_by(Document.kind, Document.status)
            .order_by(Document.kind, Document.status)
        ):
            rows.append(StatusRow(f"documents: {kind}", state, count))
    return rows
