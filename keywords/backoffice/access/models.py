"""The access records: one grant per paid invoice, one provisioning call per target.

The grant and its calls are inserted in one transaction before any call is made (the
intent); each call is marked running, with a lease, before it is made and done after. A
call found running with its lease run out was interrupted (the robot was killed): it is made
again with the SAME idempotency key and body, so the receiver can drop the repeat. The
migrations environment imports this module so Alembic sees the tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.clock import utcnow
from backoffice.store.models import Base, LeaseMixin

#: AccessGrant.status
PROVISIONING = "provisioning"
GRANTED = "granted"
FAILED = "failed"

#: ProvisioningCall.kind
WEBHOOK = "webhook"
COMMAND = "command"

#: ProvisioningCall.status
PENDING = "pending"
RUNNING = "running"
RETRY = "retry"
DONE = "done"


class AccessGrant(Base):
    """The customer's access for one invoice paid in full."""

    __tablename__ = "access_grants"
    __table_args__ = (Index("ix_access_grants_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_pk: Mapped[int] = mapped_column(
        ForeignKey("issued_invoices.id", ondelete="CASCADE"), unique=True
    )
    #: Sent with every call (Idempotency-Key / BACKOFFICE_IDEMPOTENCY_KEY): the receiver
    #: acts on it once.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    customer_email: Mapped[str] = mapped_column(String(500))
    contract_ref: Mapped[str] = mapped_column(String(200), default="")
    #: The JSON body exactly as sent (and signed), the same bytes on every attempt.
    body: Mapped[str] = mapped_column(Text)
    #: provisioning | granted | failed
    status: Mapped[str] = mapped_column(String(16), default=PROVISIONING)
    reason_code: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    #: The welcome email's outbox key, set when it is queued (with the grant).
    welcome_key: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    granted_at: Mapped[datetime | None]


class ProvisioningCall(LeaseMixin, Base):
    """One provisioning call of a grant: the webhook or the command."""

    __tablename__ = "access_calls"
    __table_args__ = (
        UniqueConstraint("grant_pk", "kind"),
        Index("ix_access_calls_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_pk: Mapped[int] = mapped_column(ForeignKey("access_grants.id", ondelete="CASCADE"))
    #: webhook | command
    kind: Mapped[str] = mapped_column(String(16))
    #: pending | running | retry | done | failed
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    #: What the receiver answered (HTTP status or exit code).
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]
