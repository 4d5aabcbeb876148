"""The receivables record: one row per step taken for an unpaid invoice.

A step (a reminder on its day, the account manager's task, the escalation) is inserted in
the transaction that queues its email and opens its review item, under a unique
(invoice, kind, day) key, so two robots or a restarted one never take the same step twice.
The migrations environment imports this module so Alembic sees the table.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.clock import utcnow
from backoffice.store.models import Base

#: ReceivableAction.kind
REMINDER = "reminder"
TASK = "task"
ESCALATION = "escalation"

#: ReceivableAction.status: done (mail queued, review item opened), failed (staff look).
DONE = "done"
FAILED = "failed"


class ReceivableAction(Base):
    """One step taken for an unpaid issued invoice."""

    __tablename__ = "receivable_actions"
    __table_args__ = (
        UniqueConstraint("invoice_pk", "kind", "step_date"),
        Index("ix_receivable_actions_taken_on", "taken_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_pk: Mapped[int] = mapped_column(ForeignKey("issued_invoices.id", ondelete="CASCADE"))
    #: reminder | task | escalation
    kind: Mapped[str] = mapped_column(String(16))
    #: The day the schedule put the step on (in the invoicing time zone's calendar).
    step_date: Mapped[date]
    #: The day it was taken (later than step_date when a run was missed).
    taken_on: Mapped[date]
    #: Days to the due date on step_date (negative: days overdue).
    days_to_due: Mapped[int] = mapped_column(Integer)
    #: The outbox idempotency key of its email ("" when none was sent).
    outbox_key: Mapped[str] = mapped_column(String(200), default="")
    #: done | failed
    status: Mapped[str] = mapped_column(String(16), default=DONE)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
