"""The web app's records: staff accounts, their sessions, review decisions and the audit log.

They share the store's declarative ``Base`` (one metadata, one migration history); the
migrations environment imports this module so Alembic sees these tables. The extra indexes
on ``review_items`` serve the queue's filters with keyset paging (see ``web.queue``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backoffice.clock import utcnow
from backoffice.store.models import Base, ReviewItem

#: Roles from least to most trusted; a role may do everything the roles before it may.
ROLES = ("clerk", "manager", "admin")


class StaffUser(Base):
    """A person who signs in to the web app."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    #: clerk | manager | admin
    role: Mapped[str] = mapped_column(String(16))
    #: argon2id hash in PHC string form, never the password.
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]


class StaffSession(Base):
    """One signed-in browser. The cookie holds a random token; only its sha256 is stored."""

    __tablename__ = "staff_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    #: Sent back with every form; a POST without it is refused.
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReviewDecision(Base):
    """What a person decided on a review item; the newest one is the item's resolution.

    Robots read it (e.g. an approved invoice goes on to export); ``web.queue`` hooks run in
    the same transaction as the decision.
    """

    __tablename__ = "review_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_item_id: Mapped[int] = mapped_column(
        ForeignKey("review_items.id", ondelete="CASCADE"), index=True
    )
    #: approve | reject | send_back
    outcome: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(String(150))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Who did what to which record, when, with the values before and after."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_subject", "subject_type", "subject_ref", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The staff username, or ``robot:<worker>`` / ``cli`` for changes made elsewhere.
    actor: Mapped[str] = mapped_column(String(150), index=True)
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(64))
    subject_ref: Mapped[str] = mapped_column(String(200))
    before: Mapped[dict[str, Any]] = mapped_column(default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(default=dict)
    detail: Mapped[str] = mapped_column(Text, default="")


# Queue indexes: every filter is an equality on a prefix, then (created_at, id) for keyset
# paging, so a page is an index range scan whatever the queue's size.
_review = ReviewItem.__table__
Index("ix_review_queue", _review.c.status, _review.c.created_at, _review.c.id)
Index(
    "ix_review_queue_reason",
    _review.c.status,
    _review.c.reason_code,
    _review.c.created_at,
    _review.c.id,
)
Index(
    "ix_review_queue_kind",
    _review.c.status,
    _review.c.subject_type,
    _review.c.created_at,
    _review.c.id,
)
Index(
    "ix_review_queue_assignee",
    _review.c.status,
    _review.c.assignee,
    _review.c.created_at,
    _review.c.id,
)
