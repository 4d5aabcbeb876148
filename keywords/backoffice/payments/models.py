"""The payments records: statement imports, bank transactions, allocations, payment mails.

They share the store's declarative ``Base``; the migrations environment imports this module.

- ``StatementImport``: one statement file taken in from one source (a mail attachment or a
  watch-folder file), with its sha256, the outcome and the reason. The same file from the
  same source is one row, so a second import is a no-op.
- ``BankTransactionRecord``: one booking on one of our accounts, stored once by its stable
  id (``backoffice.payments.identity``) whatever statement, notification or import brought
  it; the unique id is what makes overlapping statements change nothing.
- ``PaymentAllocation``: part of a transaction paid to one issued invoice; a transaction
  moves out of ``new`` in the same committed transaction that writes its allocations.
- ``PaymentMail``: the verdict on a mail that carried a statement or notification: which
  sender, whether its DKIM signature verified, and why it does not count when it does not.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.clock import utcnow
from backoffice.store.models import Base, LeaseMixin

#: StatementImport.status
IMPORTED = "imported"
REJECTED = "rejected"

#: BankTransactionRecord.status: new (a credit waiting to be matched), allocated (all of it
#: paid invoices), review (staff decide: unmatched, over-/underpaid, currency...),
#: not_payment (a debit or a reversal: nothing to match).
NEW = "new"
ALLOCATED = "allocated"
REVIEW = "review"
NOT_PAYMENT = "not_payment"

#: PaymentMail.verdict
TRUSTED = "trusted"
REFUSED = "refused"


class StatementImport(Base):
    """One statement file from one source, imported once."""

    __tablename__ = "statement_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: ``document:<id>`` for a mail attachment, ``file:<sha256>`` for a watch-folder file.
    source_key: Mapped[str] = mapped_column(String(200), unique=True)
    #: document | folder
    source: Mapped[str] = mapped_column(String(16))
    document_pk: Mapped[int | None] = mapped_column(
        ForeignKey("documents.id", ondelete="SET NULL"), index=True
    )
    #: The file's path when it came from the watch folder (as it was found there).
    path: Mapped[str] = mapped_column(Text, default="")
    filename: Mapped[str] = mapped_column(String(255), default="")
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer, default=0)
    #: imported | rejected
    status: Mapped[str] = mapped_column(String(32))
    reason_code: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    #: camt.053 | camt.054 | camt.052 | mt940 (of the first statement in the file)
    format: Mapped[str] = mapped_column(String(16), default="")
    #: [{"account", "currency", "opening_balance", "closing_balance", "transactions"}]
    statements: Mapped[list[Any]] = mapped_column(default=list)
    #: Problems that did not stop the import (BALANCE_MISMATCH...): [{"code", "message"}]
    problems: Mapped[list[Any]] = mapped_column(default=list)
    transactions: Mapped[int] = mapped_column(Integer, default=0)
    #: Of them, how many were not stored before (the rest came with an earlier statement).
    transactions_new: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BankTransactionRecord(LeaseMixin, Base):
    """One booked movement on one of our accounts, stored once by its stable id."""

    __tablename__ = "bank_transactions"
    __table_args__ = (Index("ix_bank_transactions_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The stable transaction id of the ``backoffice statement --json`` contract.
    tx_id: Mapped[str] = mapped_column(String(64), unique=True)
    #: Our account (IBAN, or the plain account number where there is none).
    account: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    #: Signed: credit positive, debit negative.
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    booking_date: Mapped[date | None]
    value_date: Mapped[date | None]
    counterparty_name: Mapped[str] = mapped_column(Text, default="")
    counterparty_iban: Mapped[str] = mapped_column(String(64), default="", index=True)
    remittance: Mapped[str] = mapped_column(Text, default="")
    bank_reference: Mapped[str] = mapped_column(String(200), default="")
    end_to_end_id: Mapped[str] = mapped_column(String(200), default="")
    reversal: Mapped[bool] = mapped_column(default=False)
    #: The import that first brought it.
    import_pk: Mapped[int | None] = mapped_column(
        ForeignKey("statement_imports.id", ondelete="SET NULL")
    )
    #: new | allocated | review | not_payment
    status: Mapped[str] = mapped_column(String(32), default=NEW)
    #: number | amount+iban | amount+name | amount+tax_id (how the invoices were found)
    matched_by: Mapped[str] = mapped_column(String(32), default="")
    #: Part of the amount not allocated to any invoice (an overpayment, an unmatched one).
    unallocated: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal(0))
    reason_code: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    matched_at: Mapped[datetime | None]


class PaymentAllocation(Base):
    """Part of a bank transaction paid to one issued invoice."""

    __tablename__ = "payment_allocations"
    __table_args__ = (UniqueConstraint("transaction_pk", "invoice_pk"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_pk: Mapped[int] = mapped_column(
        ForeignKey("bank_transactions.id", ondelete="CASCADE"), index=True
    )
    invoice_pk: Mapped[int] = mapped_column(
        ForeignKey("issued_invoices.id", ondelete="CASCADE"), index=True
    )
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    matched_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PaymentMail(Base):
    """Whether a mail carrying a statement or payment notification may count as a payment."""

    __tablename__ = "payment_mails"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_pk: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    sender: Mapped[str] = mapped_column(String(500), default="")
    #: The d= domain and s= selector of the signature that verified (or was tried).
    dkim_domain: Mapped[str] = mapped_column(String(255), default="")
    dkim_selector: Mapped[str] = mapped_column(String(255), default="")
    #: trusted | refused
    verdict: Mapped[str] = mapped_column(String(16))
    reason_code: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)
