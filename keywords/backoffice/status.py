"""Records per state: what the ``status`` command and the robots' summaries show."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from backoffice.store import Document, Message, OutboxMessage, ReviewItem, Store
from backoffice.store.models import InvoiceCase, InvoiceEffect


@dataclass(frozen=True)
class StatusRow:
    """How many records of one kind sit in one state."""

    area: str
    state: str
    count: int


def status_rows(store: Store) -> list[StatusRow]:
    """Count messages, documents (by kind), invoice cases and their effects, outgoing mail
    and review items per state."""
    rows: list[StatusRow] = []
    with store.session() as session:
        for area, column in (
            ("messages", Message.status),
            ("invoice cases", InvoiceCase.state),
            ("invoice exports and hooks", InvoiceEffect.status),
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
