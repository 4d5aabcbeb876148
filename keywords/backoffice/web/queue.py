"""The review queue: filtered, keyset-paged lists and the decisions staff take on items.

Paging never uses OFFSET: a page is "the next N items after this one" in (created_at, id)
order, served by an index whose prefix is the filter (``web.models``), so the page costs
the same with a hundred items or a hundred thousand. Totals are counted only up to
``COUNT_CAP`` for the same reason.

Each decision (approve, reject with a reason, send back to the robot) and each assignment
runs in the caller's transaction: the item changes, a ``ReviewDecision`` row and an audit
entry (before/after) are added, and the outcome hooks registered for the item's subject
type run, all committed together or not at all.

Hooks for what comes later: ``on_outcome(subject_type)`` registers a function called with
``(session, item, decision, actor)`` when a decision is taken (e.g. an approved invoice goes
to export, a rejection queues the correction email); field corrections will come in as
another action next to these, audited the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Select, func, select, tuple_, update
from sqlalchemy.orm import Session

from backoffice.clock import utcnow
from backoffice.errors import BusinessError
from backoffice.store.models import Document, ReviewItem
from backoffice.web.audit import record, record_on_item
from backoffice.web.models import ReviewDecision, StaffUser

PAGE_SIZE = 50
#: Totals above this are shown as "N+": counting every row would grow with the queue.
COUNT_CAP = 1000
#: Most distinct values offered in a filter's drop-down.
FACET_CAP = 100
STATUSES = ("open", "done")
#: Age buckets: label -> (youngest, oldest) age; None is unbounded.
AGES: dict[str, tuple[timedelta | None, timedelta | None]] = {
    "1d": (None, timedelta(days=1)),
    "1-3d": (timedelta(days=1), timedelta(days=3)),
    "3-7d": (timedelta(days=3), timedelta(days=7)),
    "7d+": (timedelta(days=7), None),
}
#: Assignee filter value meaning "nobody is assigned".
UNASSIGNED = "-"

Outcome = Literal["approve", "reject", "send_back"]
OutcomeHook = Callable[[Session, ReviewItem, ReviewDecision, str], None]
_HOOKS: dict[str, list[OutcomeHook]] = {}


class QueueError(BusinessError):
    """A queue action that cannot be taken (item gone, already decided, bad input)."""


@dataclass(frozen=True)
class QueueFilter:
    """What the list shows; every field is optional except the status."""

    status: str = "open"
    kind: str = ""
    reason: str = ""
    assignee: str = ""
    age: str = ""

    @classmethod
    def parse(cls, params: dict[str, str]) -> QueueFilter:
        """From query parameters, dropping values that are not offered."""
        status = params.get("status", "open")
        age = params.get("age", "")
        return cls(
            status=status if status in STATUSES else "open",
            kind=params.get("kind", "")[:64],
            reason=params.get("reason", "")[:64],
            assignee=params.get("assignee", "")[:150],
            age=age if age in AGES else "",
        )

    def query(self) -> dict[str, str]:
        """The non-empty filters as query parameters."""
        return {k: v for k, v in self.__dict__.items() if v}


@dataclass(frozen=True)
class QueuePage:
    """One page of the list and the cursors to the pages around it."""

    items: list[ReviewItem]
    next_after: int | None
    prev_before: int | None
    total: int
    total_capped: bool

    @property
    def total_label(self) -> str:
        """The total as shown: exact up to the cap, then "1000+"."""
        return f"{COUNT_CAP}+" if self.total_capped else str(self.total)


@dataclass(frozen=True)
class Facets:
    """The values the filters offer: subject kinds, reason codes and staff names."""

    kinds: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)


def _filtered(stmt: Select[Any], flt: QueueFilter, now: datetime) -> Select[Any]:
    stmt = stmt.where(ReviewItem.status == flt.status)
    if flt.kind:
        stmt = stmt.where(ReviewItem.subject_type == flt.kind)
    if flt.reason:
        stmt = stmt.where(ReviewItem.reason_code == flt.reason)
    if flt.assignee:
        who = "" if flt.assignee == UNASSIGNED else flt.assignee
        stmt = stmt.where(ReviewItem.assignee == who)
    if flt.age:
        youngest, oldest = AGES[flt.age]
        if youngest is not None:
            stmt = stmt.where(ReviewItem.created_at <= now - youngest)
        if oldest is not None:
            stmt = stmt.where(ReviewItem.created_at > now - oldest)
    return stmt


def list_page(
    session: Session,
    flt: QueueFilter,
    *,
    after: int | None = None,
    before: int | None = None,
    size: int = PAGE_SIZE,
) -> QueuePage:
    """The page of items after (or before) the item with that id, oldest first."""
    now = utcnow()
    key = tuple_(ReviewItem.created_at, ReviewItem.id)
    stmt = _filtered(select(ReviewItem), flt, now)
    anchor_id = after if after is not None else before
    anchor = None
    if anchor_id is not None:
        anchor = session.execute(
            select(ReviewItem.created_at, ReviewItem.id).where(ReviewItem.id == anchor_id)
        ).first()
    backwards = before is not None and anchor is not None
    if anchor is not None:
        point = tuple_(anchor.created_at, anchor.id)
        stmt = stmt.where(key < point if backwards else key > point)
    if backwards:
        stmt = stmt.order_by(ReviewItem.created_at.desc(), ReviewItem.id.desc())
    else:
        stmt = stmt.order_by(ReviewItem.created_at, ReviewItem.id)
    rows = list(session.scalars(stmt.limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    has_prev = (more if backwards else anchor is not None) and bool(rows)
    has_next = (True if backwards else more) and bool(rows)
    capped = session.scalar(
        select(func.count()).select_from(
            _filtered(select(ReviewItem.id), flt, now).limit(COUNT_CAP + 1).subquery()
        )
    )
    return QueuePage(
        items=rows,
        next_after=rows[-1].id if has_next else None,
        prev_before=rows[0].id if has_prev else None,
        total=min(capped or 0, COUNT_CAP),
        total_capped=(capped or 0) > COUNT_CAP,
    )


def facets(session: Session, status: str = "open") -> Facets:
    """Distinct kinds and reasons among items of ``status``, and the staff names.

    Read with one index seek per distinct value ("loose index scan"), not a scan of the
    queue, so the filter drop-downs cost the same however many items wait.
    """

    def distinct(column: Any) -> list[str]:
        values: list[str] = []
        last: str | None = None
        while len(values) < FACET_CAP:
            stmt = select(func.min(column)).where(ReviewItem.status == status)
            if last is not None:
                stmt = stmt.where(column > last)
            value = session.scalar(stmt)
            if value is None:
                break
            values.append(value)
            last = value
        return values

    names = session.scalars(
        select(StaffUser.username).where(StaffUser.active.is_(True)).order_by(StaffUser.username)
    )
    return Facets(
        kinds=distinct(ReviewItem.subject_type),
        reasons=distinct(ReviewItem.reason_code),
        assignees=list(names),
    )


def on_outcome(subject_type: str) -> Callable[[OutcomeHook], OutcomeHook]:
    """Register a function run (in the decision's transaction) when an item of
    ``subject_type`` is approved, rejected or sent back."""

    def register(hook: OutcomeHook) -> OutcomeHook:
        _HOOKS.setdefault(subject_type, []).append(hook)
        return hook

    return register


def _state(item: ReviewItem) -> dict[str, Any]:
    return {
        "status": item.status,
        "assignee": item.assignee,
        "closed_at": item.closed_at.isoformat() if item.closed_at else None,
    }


def _audit(
    session: Session,
    item: ReviewItem,
    action: str,
    before: dict[str, Any],
    actor: str,
    extra: dict[str, Any] | None = None,
) -> None:
    record_on_item(session, item.id, actor, action, before, _state(item) | (extra or {}))


def _locked(session: Session, item_id: int) -> ReviewItem:
    item = session.get(ReviewItem, item_id, with_for_update=True)
    if item is None:
        raise QueueError(f"review item {item_id} does not exist", code="NO_SUCH_ITEM")
    return item


def decide(
    session: Session, item_id: int, outcome: Outcome, *, actor: str, reason: str = ""
) -> ReviewDecision:
    """Approve, reject (a reason is required) or send an open item back to the robot."""
    if outcome not in ("approve", "reject", "send_back"):
        raise QueueError(f"unknown outcome {outcome!r}", code="BAD_OUTCOME")
    reason = reason.strip()
    if outcome == "reject" and not reason:
        raise QueueError("a rejection needs a reason", code="REASON_REQUIRED")
    now = utcnow()
    # One conditional write closes the item: of two people deciding at once, on either
    # backend, exactly one changes a row and the other is told it is already decided.
    closed = session.execute(
        update(ReviewItem)
        .where(ReviewItem.id == item_id, ReviewItem.status == "open")
        .values(status="done", closed_at=now, lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    item = _locked(session, item_id)
    if closed.rowcount != 1:
        raise QueueError(f"review item {item_id} was already closed", code="ALREADY_DECIDED")
    session.refresh(item)
    before = _state(item) | {"status": "open", "closed_at": None}
    decision = ReviewDecision(
        review_item_id=item.id,
        outcome=outcome,
        reason=reason,
        decided_by=actor,
        decided_at=now,
    )
    session.add(decision)
    _audit(session, item, f"review.{outcome}", before, actor, {"reason": reason} if reason else {})
    for hook in _HOOKS.get(item.subject_type, ()):
        hook(session, item, decision, actor)
    return decision


def assign(session: Session, item_id: int, assignee: str, *, actor: str) -> ReviewItem:
    """Give an item to an active staff member (``""`` takes it back into the pool)."""
    assignee = assignee.strip().lower()
    if assignee:
        known = session.scalar(
            select(StaffUser.id).where(StaffUser.username == assignee, StaffUser.active.is_(True))
        )
        if known is None:
            raise QueueError(f"no active staff member {assignee!r}", code="NO_SUCH_USER")
    item = _locked(session, item_id)
    if item.assignee != assignee:
        before = _state(item)
        item.assignee = assignee
        _audit(session, item, "review.assign", before, actor)
    return item


def decisions(session: Session, item_id: int) -> list[ReviewDecision]:
    """The decisions taken on an item, oldest first."""
    return list(
        session.scalars(
            select(ReviewDecision)
            .where(ReviewDecision.review_item_id == item_id)
            .order_by(ReviewDecision.id)
        )
    )


@on_outcome("document")
def _document_back_to_robot(
    session: Session, item: ReviewItem, decision: ReviewDecision, actor: str
) -> None:
    """Sending a document back puts it in the robots' queue again, from the start."""
    if decision.outcome != "send_back" or not item.subject_ref.isdigit():
        return
    document = session.get(Document, int(item.subject_ref), with_for_update=True)
    if document is None:
        return
    before = {"status": document.status, "attempts": document.attempts}
    document.status = "new"
    document.attempts = 0
    document.lease_owner = None
    document.lease_until = None
    record(
        session,
        actor=actor,
        action="document.send_back",
        subject_type="document",
        subject_ref=str(document.id),
        before=before,
        after={"status": document.status, "attempts": 0},
        detail=f"review item {item.id}",
    )
