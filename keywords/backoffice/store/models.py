"""The records the robots move forward, as SQLAlchemy 2 ORM classes.

Every table change goes through an Alembic migration in ``migrations/versions``;
``tests/test_store.py`` checks that the migrations and these classes agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
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
