"""Claiming records with a lease, so two robots never work on the same one.

A claim sets ``lease_owner`` and ``lease_until`` in a committed transaction. Until the
lease runs out no other robot claims the record; a robot that is killed simply stops
renewing, and its records become claimable again when ``lease_until`` passes.

On PostgreSQL the candidates are locked with ``FOR UPDATE SKIP LOCKED`` so concurrent
robots take different rows without waiting on each other. SQLite serialises writers,
so there a compare-and-set ``UPDATE`` per row is enough.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backoffice.clock import utcnow
from backoffice.store.models import LeaseMixin, NamedLease

Leased = TypeVar("Leased", bound=LeaseMixin)
#: Rounds of "look again" when other robots keep winning the race for candidates.
SQLITE_CLAIM_ROUNDS = 5


def _free(model: Any, now: Any) -> ColumnElement[bool]:
    return or_(model.lease_until.is_(None), model.lease_until < now)


def claim(
    session: Session,
    model: type[Leased],
    *,
    owner: str,
    lease_seconds: float,
    where: Sequence[ColumnElement[bool]] = (),
    order_by: Sequence[Any] = (),
    limit: int = 1,
) -> list[Leased]:
    """Claim up to ``limit`` free records matching ``where``; the caller commits."""
    now = utcnow()
    until = now + timedelta(seconds=lease_seconds)
    table: Any = model
    query = (
        select(table.id)
        .where(*where, _free(table, now))
        .order_by(*(order_by or (table.id,)))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        ids = list(session.scalars(query.with_for_update(skip_locked=True)))
        if ids:
            session.execute(
                update(table)
                .where(table.id.in_(ids))
                .values(lease_owner=owner, lease_until=until)
                .execution_options(synchronize_session=False)
            )
    else:
        ids = []
        tried: list[int] = []
        # Another robot may take a candidate between our SELECT and UPDATE; look again
        # past the ones we lost, so an empty answer really means nothing is free.
        for _round in range(SQLITE_CLAIM_ROUNDS):
            candidates = list(
                session.scalars(query.where(table.id.not_in(tried)).limit(limit - len(ids)))
            )
            if not candidates:
                break
            for candidate in candidates:
                tried.append(candidate)
                result = session.execute(
                    update(table)
                    .where(table.id == candidate, *where, _free(table, now))
                    .values(lease_owner=owner, lease_until=until)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    ids.append(candidate)
            if len(ids) >= limit:
                break
    if not ids:
        return []
    session.expire_all()
    return list(session.scalars(select(table).where(table.id.in_(ids)).order_by(table.id)))


def renew(session: Session, record: LeaseMixin, *, owner: str, lease_seconds: float) -> bool:
    """Extend our lease on a record; False when it is no longer ours."""
    table: Any = type(record)
    result = session.execute(
        update(table)
        .where(table.id == record.id, table.lease_owner == owner)  # type: ignore[attr-defined]
        .values(lease_until=utcnow() + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def finish(
    session: Session,
    table: Any,
    record_id: int,
    *,
    owner: str,
    status: str,
    from_status: str = "new",
    **values: Any,
) -> bool:
    """Move a record we still hold from ``from_status`` to ``status`` and free it.

    A compare-and-set in the caller's transaction: False (nothing changed) when the lease
    ran out and another robot took the record over meanwhile, say during a long OCR.
    """
    moved = session.execute(
        update(table)
        .where(table.id == record_id, table.status == from_status, table.lease_owner == owner)
        .values(status=status, lease_owner=None, lease_until=None, **values)
        .values(attempts=table.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return moved.rowcount == 1  # type: ignore[attr-defined]


def release(record: LeaseMixin) -> None:
    """Give a claimed record back (the caller commits)."""
    record.lease_owner = None
    record.lease_until = None


def acquire_named(session_factory: Any, name: str, *, owner: str, lease_seconds: float) -> str:
    """Take the named lease if free, expired or already ours.

    ``session_factory`` is ``Store.session``. Returns ``""`` on success, else the
    current holder's name (so the caller can say who is busy with it).
    """
    now = utcnow()
    until = now + timedelta(seconds=lease_seconds)
    with session_factory() as session:
        taken = session.execute(
            update(NamedLease)
            .where(
                NamedLease.name == name,
                or_(NamedLease.until < now, NamedLease.owner == owner),
            )
            .values(owner=owner, until=until, acquired_at=now)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            return ""
        holder = session.scalar(select(NamedLease.owner).where(NamedLease.name == name))
        if holder is not None:
            return holder
    try:
        with session_factory() as session:
            session.add(NamedLease(name=name, owner=owner, until=until, acquired_at=now))
    except IntegrityError:
        with session_factory() as session:
            return session.scalar(select(NamedLease.owner).where(NamedLease.name == name)) or "?"
    return ""


def renew_named(session_factory: Any, name: str, *, owner: str, lease_seconds: float) -> bool:
    """Extend our named lease; False when another robot has taken it over."""
    with session_factory() as session:
        result = session.execute(
            update(NamedLease)
            .where(NamedLease.name == name, NamedLease.owner == owner)
            .values(until=utcnow() + timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]


def release_named(session_factory: Any, name: str, *, owner: str) -> None:
    """Give the named lease back (only if it is still ours)."""
    with session_factory() as session:
        session.execute(
            delete(NamedLease).where(NamedLease.name == name, NamedLease.owner == owner)
        )
