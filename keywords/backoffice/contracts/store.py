"""The contracts records: each issued contract, the documents returned for it, its thread.

They share the store's declarative ``Base`` (one metadata, one migration history); the
migrations environment imports this module so Alembic sees these tables.

A contract moves ``waiting_signature`` (offer and contract emailed) → ``signed``, or
``correction_requested`` (the customer was told what to fix; the next version is checked
again) → ... → ``signed`` or ``review`` (a person decides). Each returned document gets one
``ContractDocument`` row with its full verdict, so the history of every round is kept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.clock import utcnow
from backoffice.store.models import Base, Document

#: Contract.status
WAITING_SIGNATURE = "waiting_signature"
CORRECTION_REQUESTED = "correction_requested"
SIGNED = "signed"
REVIEW = "review"
#: Statuses in which a returned document is still awaited.
AWAITING = (WAITING_SIGNATURE, CORRECTION_REQUESTED)


class Contract(Base):
    """One contract we issued (with its offer) and where it stands.

    ``request`` is the validated form (``ContractRequest``) it was generated from, so the
    billing flow can invoice it; ``issued``/``offer`` are ``IssuedContract.to_json()`` (the
    pages' text by clause, the boxes) and the PDFs sit in the blob store.
    """

    __tablename__ = "contracts"
    __table_args__ = (Index("ix_contracts_status", "status", "updated_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[str] = mapped_column(String(40), unique=True)
    language: Mapped[str] = mapped_column(String(8))
    customer: Mapped[dict[str, Any]] = mapped_column(default=dict)
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: waiting_signature | correction_requested | signed | review
    status: Mapped[str] = mapped_column(String(32), default=WAITING_SIGNATURE)
    reason_code: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    issued: Mapped[dict[str, Any]] = mapped_column(default=dict)
    pdf_blob: Mapped[str] = mapped_column(String(500), default="")
    pdf_sha256: Mapped[str] = mapped_column(String(64), default="")
    offer: Mapped[dict[str, Any]] = mapped_column(default=dict)
    offer_blob: Mapped[str] = mapped_column(String(500), default="")
    offer_sha256: Mapped[str] = mapped_column(String(64), default="")
    #: Message-ID of the email that carried offer and contract: the thread's root.
    message_id: Mapped[str] = mapped_column(String(998), default="")
    #: Correction requests sent so far.
    rounds: Mapped[int] = mapped_column(Integer, default=0)
    #: scan | digital, and the returned document that made it signed.
    signed_kind: Mapped[str] = mapped_column(String(16), default="")
    signed_document_pk: Mapped[int | None] = mapped_column(
        ForeignKey("documents.id", ondelete="SET NULL")
    )
    signed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    documents: Mapped[list[ContractDocument]] = relationship(
        back_populates="contract", order_by="ContractDocument.id"
    )


class ContractDocument(Base):
    """One returned document checked for a contract: its verdict and what followed."""

    __tablename__ = "contract_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_pk: Mapped[int] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    document_pk: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), unique=True
    )
    #: The contract's correction round when it arrived (0: before any correction request).
    round: Mapped[int] = mapped_column(Integer, default=0)
    #: How it was matched: qr | text | thread | ocr
    matched_by: Mapped[str] = mapped_column(String(16), default="")
    #: scan | digital | none (the file could not be checked at all)
    kind: Mapped[str] = mapped_column(String(16), default="")
    valid: Mapped[bool] = mapped_column(Boolean, default=False)
    codes: Mapped[list[Any]] = mapped_column(default=list)
    #: The full verdict (``check-contract --json``).
    verdict: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: signed | correction_requested | review | after_signing
    outcome: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    contract: Mapped[Contract] = relationship(back_populates="documents")
    document: Mapped[Document] = relationship()


class ContractMail(Base):
    """A Message-ID of a contract's thread: our contract email, the customer's replies, our
    correction requests. A mail whose In-Reply-To/References names one belongs to it."""

    __tablename__ = "contract_mails"
    __table_args__ = (UniqueConstraint("message_id", "contract_pk"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(998), index=True)
    contract_pk: Mapped[int] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    #: contract | incoming | correction
    role: Mapped[str] = mapped_column(String(32))
