"""Outbox exceptions in the review queue: staff mark a mail sent or send it again.

A mail the outbox could not settle by itself (in doubt after a crash, failed, refused,
bounced) is a review item on ``outbox``. Here a person, from the item page or
``backoffice outbox``:

- **marks it sent** (in doubt or failed) after checking with the recipient or the
  server's log;
- **sends it again**, optionally to corrected addresses (checked as the outbox checks a
  new mail); the mail keeps its Message-ID, its attempts start over and the robot's next
  ``outbox send`` delivers it, once.

Each runs in one transaction with its audit entries: one on the mail (status and
addresses before/after) and one per review item the action closed, so the item's
history shows who settled it and how.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from backoffice.outbox import service
from backoffice.outbox.service import OutboxDetails
from backoffice.store import Store
from backoffice.store.models import OutboxMessage, ReviewItem
from backoffice.web.audit import record, record_on_item
from backoffice.web.queue import QueueError

SUBJECT = service.REVIEW_SUBJECT
#: Item actions by their URL word (next to the queue's own, see ``web.app.ACTIONS``).
ACTIONS = {"mark-sent": "mark_sent", "send-again": "resend"}
MAX_NOTE = 2000
MAX_ADDRESSES = 2000


def outbox_id_of(item: ReviewItem) -> int | None:
    """The outbox message a review item is about, if it is about one."""
    if item.subject_type != SUBJECT or not item.subject_ref.isdigit():
        return None
    return int(item.subject_ref)


def details(session: Session, store: Store, item: ReviewItem) -> OutboxDetails | None:
    """The mail of an outbox review item with its history, for the item page."""
    outbox_id = outbox_id_of(item)
    if outbox_id is None or session.get(OutboxMessage, outbox_id) is None:
        return None
    return service.show(store, outbox_id, session=session)


def for_item(session: Session, item_id: int) -> int:
    """The outbox id behind review item ``item_id``; ``QueueError`` when it has none."""
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise QueueError(f"review item {item_id} does not exist", code="NO_SUCH_ITEM")
    outbox_id = outbox_id_of(item)
    if outbox_id is None:
        raise QueueError(f"review item {item_id} is not about a mail", code="NOT_AN_OUTBOX_ITEM")
    return outbox_id


def settle(
    session: Session,
    store: Store,
    outbox_id: int,
    action: str,
    *,
    actor: str,
    note: str = "",
    to: Sequence[str] | str | None = None,
    cc: Sequence[str] | str | None = None,
) -> OutboxMessage:
    """Mark sent (``mark_sent``) or send again (``resend``) in the caller's transaction,
    with the audit entries. Raises ``OutboxStateError``/``InvalidOutgoingMail`` (nothing
    changed then) as the outbox service does."""
    if action not in ("mark_sent", "resend"):
        raise QueueError(f"unknown outbox action {action!r}", code="BAD_OUTCOME")
    note = note.strip()[:MAX_NOTE]
    row = session.get(OutboxMessage, outbox_id)
    before = _state(row) if row is not None else {}
    open_items = [item.id for item in service.open_reviews(session, row)] if row else []
    if action == "mark_sent":
        row = service.mark_sent(store, outbox_id, actor=actor, note=note, session=session)
    else:
        row = service.resend(
            store, outbox_id, actor=actor, note=note, to=to, cc=cc, session=session
        )
    session.flush()
    after = _state(row)
    record(
        session,
        actor=actor,
        action=f"outbox.{action}",
        subject_type=SUBJECT,
        subject_ref=str(outbox_id),
        before=before,
        after=after,
        detail=note,
    )
    for item_id in open_items:
        item = session.get(ReviewItem, item_id)
        if item is None or item.status == "open":
            continue
        record_on_item(
            session,
            item_id,
            actor,
            f"review.{action}",
            {"status": "open", "closed_at": None},
            {"status": item.status, "closed_at": item.closed_at},
            detail=f"outbox {outbox_id}: {_said(action, before, after)}"
            + (f" ({note})" if note else ""),
        )
    return row


def addresses(value: Any) -> str | None:
    """A form field of addresses (comma-separated) as typed, or None when not sent."""
    if value is None:
        return None
    return str(value)[:MAX_ADDRESSES]


def _state(row: OutboxMessage) -> dict[str, Any]:
    return {
        "status": row.status,
        "to": list(row.to_addrs or []),
        "cc": list(row.cc_addrs or []),
        "attempts": row.attempts,
    }


def _said(action: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    if action == "mark_sent":
        return "marked sent"
    said = "sent again"
    if (before.get("to"), before.get("cc")) != (after.get("to"), after.get("cc")):
        said += " to " + ", ".join(after["to"] + after["cc"])
    return said
