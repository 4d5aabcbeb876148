"""The records the robots move forward, as SQLAlchemy 2 ORM classes.

Every table change goes through an Alembic migration in ``migrations/versions``;
``tests/test_store.py`` checks that the migrations and these classes agree.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from backoffice.clock import as_utc, utcnow


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC")
        return as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return as_utc(value)


class Base(DeclarativeBase):
    """Base class of all records."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class LeaseMixin:
    """Columns that let one robot claim a record for a while (see ``store.lease``)."""

    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]


class NamedLease(Base):
    """A lease on a shared thing that is not a record, e.g. one mailbox folder."""

    __tablename__ = "named_leases"

    name: Mapped[str] = mapped_column(String(500), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    until: Mapped[datetime]
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Base):
    """One email as received, stored once whatever folder or UID it came under."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: sha256 over Message-ID and the attachments' sha256s: the dedupe key.
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    message_id: Mapped[str] = mapped_column(String(998))
    message_id_synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(500))
    sender: Mapped[str] = mapped_column(String(500), default="")
    sender_name: Mapped[str] = mapped_column(String(500), default="")
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None]
    in_reply_to: Mapped[str] = mapped_column(String(998), default="")
    references: Mapped[list[Any]] = mapped_column(default=list)
    #: Message-ID of the first message of the thread (References[0] or own).
    thread_id: Mapped[str] = mapped_column(String(998), default="", index=True)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    body_text: Mapped[str] = mapped_column(Text, default="")
    raw_sha256: Mapped[str] = mapped_column(String(64))
    raw_size: Mapped[int] = mapped_column(BigInteger)
    raw_path: Mapped[str] = mapped_column(String(500))
    #: stored | rejected
    status: Mapped[str] = mapped_column(String(32), default="stored", index=True)
    reason_code: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    #: Problems met while reading that did not stop the message (per part).
    problems: Mapped[list[Any]] = mapped_column(default=list)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)

    documents: Mapped[list[Document]] = relationship(
        back_populates="message", order_by="Document.position"
    )


class Document(LeaseMixin, Base):
    """One attachment (or file unpacked from one) that later robots work on."""

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("message_pk", "position"),
        Index("ix_documents_status_kind", "status", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    #: Where it sat: "2" for the second attachment, "2/invoice.pdf" inside a zip.
    part_path: Mapped[str] = mapped_column(String(1000), default="")
    filename: Mapped[str] = mapped_column(String(255))
    original_filename: Mapped[str] = mapped_column(Text, default="")
    content_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="", index=True)
    blob_path: Mapped[str] = mapped_column(String(500), default="")
    #: invoice | signed_contract | bank_statement | other
    kind: Mapped[str] = mapped_column(String(32), default="other")
    kind_confidence: Mapped[float] = mapped_column(default=0.0)
    kind_reasons: Mapped[list[Any]] = mapped_column(default=list)
    #: new | rejected | (later stages add their own)
    status: Mapped[str] = mapped_column(String(32), default="new")
    reason_code: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    message: Mapped[Message] = relationship(back_populates="documents")


class OutboxMessage(LeaseMixin, Base):
    """One logical email: a row first, then sent at most once."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    from_addr: Mapped[str] = mapped_column(String(500))
    to_addrs: Mapped[list[Any]] = mapped_column(default=list)
    cc_addrs: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    in_reply_to: Mapped[str] = mapped_column(String(998), default="")
    references: Mapped[list[Any]] = mapped_column(default=list)
    #: [{"filename", "content_type", "blob_path"}]
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    language: Mapped[str] = mapped_column(String(8), default="")
    #: What this mail is about, e.g. ("document", 12): lets flows find their mail.
    subject_type: Mapped[str] = mapped_column(String(64), default="")
    subject_ref: Mapped[str] = mapped_column(String(200), default="")
    #: queued | sending | retry | sent | failed | in_doubt
    status: Mapped[str] = mapped_column(String(32), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    primary_failures: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    transport: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    events: Mapped[list[OutboxEvent]] = relationship(
        back_populates="message", order_by="OutboxEvent.id"
    )


class OutboxEvent(Base):
    """The status history of one outgoing message."""

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_pk: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
    worker: Mapped[str] = mapped_column(String(200), default="")

    message: Mapped[OutboxMessage] = relationship(back_populates="events")


class ReviewItem(LeaseMixin, Base):
    """Something a robot could not decide, waiting for a person."""

    __tablename__ = "review_items"
    __table_args__ = (
        UniqueConstraint("subject_type", "subject_ref", "reason_code"),
        Index("ix_review_status", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: message | document | outbox | ...
    subject_type: Mapped[str] = mapped_column(String(64))
    subject_ref: Mapped[str] = mapped_column(String(200))
    reason_code: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: open | done
    status: Mapped[str] = mapped_column(String(32), default="open")
    assignee: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]


class InvoiceCase(Base):
    """One supplier invoice (seller tax ID + number) from its first reading to its end.

    States: ``accepted`` (export and hook recorded, not all made yet) → ``exported``;
    ``waiting`` (a correction was requested; the next version is matched back here);
    ``review`` (a person decides). The latest reading is kept in ``fields``/``findings``;
    each document read for the case is an ``InvoiceCaseDocument`` (a version).
    """

    __tablename__ = "invoice_cases"
    __table_args__ = (Index("ix_invoice_cases_state", "state", "updated_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: ``<seller tax ID without country prefix>|<number, no spaces, casefolded>``, or
    #: ``document:<id>`` when either is missing: one case per supplier invoice.
    case_key: Mapped[str] = mapped_column(String(300), unique=True)
    seller_key: Mapped[str] = mapped_column(String(64), default="", index=True)
    seller_tax_id: Mapped[str] = mapped_column(String(64), default="")
    seller_name: Mapped[str] = mapped_column(Text, default="")
    invoice_number: Mapped[str] = mapped_column(String(200), default="")
    currency: Mapped[str] = mapped_column(String(8), default="")
    total_gross: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    language: Mapped[str] = mapped_column(String(8), default="")
    #: accepted | exported | waiting | review
    state: Mapped[str] = mapped_column(String(32))
    #: The last decision: accepted | correction_requested | review
    outcome: Mapped[str] = mapped_column(String(32))
    reason_code: Mapped[str] = mapped_column(String(64), default="")
    #: ExtractionResult.to_json() of the latest version.
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: The latest version's findings, each with its evidence (field, value, confidence...).
    findings: Mapped[list[Any]] = mapped_column(default=list)
    #: Who to answer: the sender of the latest version (Reply-To when it had one).
    reply_to: Mapped[str] = mapped_column(String(500), default="")
    #: Message-ID of the mail that brought the latest version, and its References.
    message_id: Mapped[str] = mapped_column(String(998), default="")
    references: Mapped[list[Any]] = mapped_column(default=list)
    #: Message-ID of the last correction request (or reminder) we sent.
    correction_message_id: Mapped[str] = mapped_column(String(998), default="")
    #: Correction requests sent so far.
    rounds: Mapped[int] = mapped_column(Integer, default=0)
    #: Reminders sent in the current round.
    reminders: Mapped[int] = mapped_column(Integer, default=0)
    waiting_since: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    accepted_at: Mapped[datetime | None]
    exported_at: Mapped[datetime | None]

    documents: Mapped[list[InvoiceCaseDocument]] = relationship(
        back_populates="case", order_by="InvoiceCaseDocument.version"
    )


class InvoiceCaseDocument(Base):
    """One document read for a case (a version); each document belongs to one case."""

    __tablename__ = "invoice_case_documents"
    __table_args__ = (UniqueConstraint("case_pk", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_pk: Mapped[int] = mapped_column(ForeignKey("invoice_cases.id", ondelete="CASCADE"))
    document_pk: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), unique=True
    )
    version: Mapped[int] = mapped_column(Integer)
    #: accepted | correction_requested | review | duplicate
    outcome: Mapped[str] = mapped_column(String(32))
    finding_codes: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[InvoiceCase] = relationship(back_populates="documents")
    document: Mapped[Document] = relationship()


class InvoiceCaseMail(Base):
    """A Message-ID of a case's thread (incoming mail, our correction or reminder).

    A new mail whose In-Reply-To/References names one of these belongs to the case.
    """

    __tablename__ = "invoice_case_mails"
    __table_args__ = (UniqueConstraint("message_id", "case_pk"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: One mail may carry several invoices, so one Message-ID may name several cases.
    message_id: Mapped[str] = mapped_column(String(998), index=True)
    case_pk: Mapped[int] = mapped_column(
        ForeignKey("invoice_cases.id", ondelete="CASCADE"), index=True
    )
    #: incoming | correction | reminder
    role: Mapped[str] = mapped_column(String(32))


class InvoiceEffect(LeaseMixin, Base):
    """An outside effect of an accepted invoice (export files, accounting hook).

    Recorded ``pending`` in the transaction that accepts the case; ``running`` is committed
    before the effect is made, ``done`` after. A hook found ``running`` after its robot died
    may have happened: it becomes ``in_doubt`` for staff, never called again on its own.
    """

    __tablename__ = "invoice_effects"
    __table_args__ = (Index("ix_invoice_effects_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    case_pk: Mapped[int] = mapped_column(
        ForeignKey("invoice_cases.id", ondelete="CASCADE"), index=True
    )
    #: export | hook
    kind: Mapped[str] = mapped_column(String(32))
    #: pending | running | retry | done | failed | in_doubt
    status: Mapped[str] = mapped_column(String(32), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    #: What was made: file names, HTTP status, exit code.
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]


class SupplierBankAccount(Base):
    """A bank account known for a supplier, learned from its accepted invoices.

    An invoice naming another account for the same supplier is a fraud signal (review).
    """

    __tablename__ = "supplier_accounts"
    __table_args__ = (UniqueConstraint("seller_key", "iban"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    seller_key: Mapped[str] = mapped_column(String(64), index=True)
    seller_tax_id: Mapped[str] = mapped_column(String(64))
    iban: Mapped[str] = mapped_column(String(64))
    #: The case whose acceptance taught it.
    learned_from_case: Mapped[int | None] = mapped_column(
        ForeignKey("invoice_cases.id", ondelete="SET NULL")
    )
    learned_at: Mapped[datetime] = mapped_column(default=utcnow)


class SupplierProfile(Base):
    """What staff corrections taught about one supplier: who it is and where its invoices
    print the fields the generic reader got wrong (``backoffice.invoices.profiles``).

    ``layout`` maps a field name to where a person's correction was found on the page:
    ``{"page": 1, "box": [x0, y0, x1, y1], "anchor": "Znak:", "anchor_box": [...],
    "example": "KS/7/2026", "case_id": 3, "by": "ola", "at": "..."}``, boxes relative to
    the page (0..1, origin top-left), so scans and text PDFs of one layout share them.
    """

    __tablename__ = "supplier_profiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    seller_key: Mapped[str] = mapped_column(String(64), unique=True)
    seller_tax_id: Mapped[str] = mapped_column(String(64), default="")
    seller_name: Mapped[str] = mapped_column(Text, default="")
    #: Addresses its invoices came from (lower case): finds the profile when the tax ID
    #: itself was misread.
    senders: Mapped[list[Any]] = mapped_column(default=list)
    layout: Mapped[dict[str, Any]] = mapped_column(default=dict)
    corrections: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
