"""The audit log: every change a person makes, with who, when, and the values before/after.

Entries are written in the same transaction as the change they describe, so the log and
the records never disagree, and entries are only ever added.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backoffice.clock import utcnow
from backoffice.web.models import AuditEntry


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    subject_type: str,
    subject_ref: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: str = "",
) -> AuditEntry:
    """Add one audit entry to the caller's transaction."""
    entry = AuditEntry(
        at=utcnow(),
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_ref=str(subject_ref),
        before=_plain(before or {}),
        after=_plain(after or {}),
        detail=detail,
    )
    session.add(entry)
    return entry


def record_on_item(
    session: Session,
    item_id: int,
    actor: str,
    action: str,
    before: dict[str, Any],
    after: dict[str, Any],
    detail: str = "",
) -> AuditEntry:
    """Add an audit entry about review item ``item_id`` (shown in the item's history)."""
    return record(
        session,
        actor=actor,
        action=action,
        subject_type="review_item",
        subject_ref=str(item_id),
        before=before,
        after=after,
        detail=detail,
    )


def history(session: Session, subject_type: str, subject_ref: str) -> list[AuditEntry]:
    """The audit entries of one record, oldest first."""
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.subject_type == subject_type)
            .where(AuditEntry.subject_ref == str(subject_ref))
            .order_by(AuditEntry.id)
        )
    )


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe copies: times as ISO 8601, anything else unknown as its string."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None or isinstance(value, str | int | float | bool | list | dict):
            out[key] = value
        elif hasattr(value, "isoformat"):
            out[key] = value.isoformat()
        else:
            out[key] = str(value)
    return out
