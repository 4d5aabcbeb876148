"""The billing records: number counters, issue requests and the issued invoices.

They share the store's declarative ``Base`` (one metadata, one migration history); the
migrations environment imports this module so Alembic sees these tables.

A number exists only together with its invoice: the counter of its series and period is
bumped in the transaction that inserts the ``IssuedInvoice`` row, so a rollback or a
killed robot takes the number back with the row (no gaps); the unique constraints on
(series, period, seq) and on the number are the last guard against duplicates.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.clock import utcnow
from backoffice.store.models import Base, LeaseMixin

#: IssuedInvoice.status: numbered (row and number committed, documents not yet made),
#: emailed (PDF/XML stored and the email queued in the outbox), failed (staff look),
#: paid (emailed and paid in full; see ``IssuedInvoice.paid_at``).
NUMBERED = "numbered"
EMAILED = "emailed"
FAILED = "failed"
PAID = "paid"

#: InvoiceRequest.status
QUEUED = "queued"
ISSUED = "issued"
REJECTED = "rejected"


class BillingCounter(Base):
    """The last number given in one series and period ("2026-11", "2026" or "all")."""

    __tablename__ = "billing_counters"

    series: Mapped[str] = mapped_column(String(32), primary_key=True)
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class IssuedInvoice(LeaseMixin, Base):
    """One invoice we issued: its number, the frozen seller/buyer/lines, and its documents.

    Seller and bank details are copied from the settings when the invoice is numbered, so a
    later change of the settings never changes an invoice already issued.
    """

    __tablename__ = "issued_invoices"
    __table_args__ = (
        UniqueConstraint("series", "period", "seq"),
        Index("ix_issued_invoices_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: ``request:<key>`` or ``contract:<id>``: issuing the same source twice gives this row.
    source_key: Mapped[str] = mapped_column(String(300), unique=True)
    contract_ref: Mapped[str] = mapped_column(String(200), default="")
    series: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(16))
    seq: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(100), unique=True)
    issue_date: Mapped[date]
    sale_date: Mapped[date]
    due_date: Mapped[date]
    currency: Mapped[str] = mapped_column(String(3))
    language: Mapped[str] = mapped_column(String(2))
    exchange_rate: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    vat_per_line: Mapped[bool] = mapped_column(default=False)
    seller: Mapped[dict[str, Any]] = mapped_column(default=dict)
    bank: Mapped[dict[str, Any]] = mapped_column(default=dict)
    buyer: Mapped[dict[str, Any]] = mapped_column(default=dict)
    buyer_email: Mapped[str] = mapped_column(String(500))
    #: PricedLine.to_json() each
    lines: Mapped[list[Any]] = mapped_column(default=list)
    #: RateTotal.to_json() each
    rates: Mapped[list[Any]] = mapped_column(default=list)
    total_net: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    total_vat: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    total_gross: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    #: numbered | emailed | failed | paid
    status: Mapped[str] = mapped_column(String(32), default=NUMBERED)
    reason_code: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    pdf_path: Mapped[str] = mapped_column(String(500), default="")
    pdf_sha256: Mapped[str] = mapped_column(String(64), default="")
    ksef_path: Mapped[str] = mapped_column(String(500), default="")
    outbox_key: Mapped[str] = mapped_column(String(200), default="")
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    emailed_at: Mapped[datetime | None]
    #: Sum of the payments allocated to it (``backoffice.payments``), at most total_gross:
    #: the excess of an overpayment stays unallocated, for staff.
    paid_total: Mapped[Decimal] = mapped_column(
        Numeric(18, 2), default=Decimal(0), server_default="0"
    )
    #: The contract other flows rely on: the invoice is paid in full when this is not null
    #: (set with the allocation that brought paid_total to total_gross; never unset by a robot).
    paid_at: Mapped[datetime | None]


class InvoiceRequest(LeaseMixin, Base):
    """A request to issue an invoice, waiting for the billing robot (issue what is due)."""

    __tablename__ = "invoice_requests"
    __table_args__ = (Index("ix_invoice_requests_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_key: Mapped[str] = mapped_column(String(300), unique=True)
    #: The IssueRequest as JSON (decimals as strings).
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: queued | issued | rejected
    status: Mapped[str] = mapped_column(String(32), default=QUEUED)
    reason_code: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    invoice_pk: Mapped[int | None] = mapped_column(
        ForeignKey("issued_invoices.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
