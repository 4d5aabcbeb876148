"""Invoice numbers: the configured format and the counter bumped with the invoice row.

The format (``BACKOFFICE_INVOICE_NUMBER_FORMAT``) uses ``{series}``, ``{year}``,
``{month}`` and ``{seq}``. The sequence restarts per period: per month when ``{month}``
is in the format, per year when ``{year}`` is, and never otherwise, so a number never
repeats. ``{seq}`` is zero-padded to ``BACKOFFICE_INVOICE_SEQ_DIGITS``.

``next_number`` runs inside the caller's transaction, which also inserts the invoice:

- PostgreSQL: the counter row is created if missing (``INSERT ... ON CONFLICT DO
  NOTHING``) and locked with ``SELECT ... FOR UPDATE``; a second robot waits on that row
  lock until the first commits or rolls back, then reads the new value.
- SQLite: the same ``INSERT`` is the transaction's first statement, so it takes the
  database's write lock (other robots wait on the busy timeout) before anything is read.

Either way a number is taken only when the transaction that stores its invoice commits.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from backoffice.billing.models import BillingCounter
from backoffice.clock import utcnow
from backoffice.errors import ConfigurationError

FIELDS = frozenset({"series", "year", "month", "seq"})


@dataclass(frozen=True)
class NumberFormat:
    """A checked number format and its padding."""

    pattern: str
    seq_digits: int

    @classmethod
    def parse(cls, pattern: str, seq_digits: int) -> NumberFormat:
        """Check the pattern: known fields only, ``{seq}`` exactly once."""
        try:
            parsed = list(string.Formatter().parse(pattern))
        except ValueError as exc:
            raise ConfigurationError(
                f"BACKOFFICE_INVOICE_NUMBER_FORMAT {pattern!r} is not a format: {exc}",
                code="INVOICE_NUMBER_FORMAT_INVALID",
            ) from exc
        names = [name for _, name, spec, conv in parsed if name is not None]
        unknown = sorted(set(names) - FIELDS)
        if unknown or names.count("seq") != 1:
            raise ConfigurationError(
                f"BACKOFFICE_INVOICE_NUMBER_FORMAT {pattern!r} must hold {{seq}} once and "
                f"only {{series}}, {{year}}, {{month}}, {{seq}}"
                + (f" (unknown: {', '.join(unknown)})" if unknown else ""),
                code="INVOICE_NUMBER_FORMAT_INVALID",
            )
        if any(spec or conv for _, name, spec, conv in parsed if name is not None):
            raise ConfigurationError(
                "BACKOFFICE_INVOICE_NUMBER_FORMAT takes plain fields; pad {seq} with "
                "BACKOFFICE_INVOICE_SEQ_DIGITS",
                code="INVOICE_NUMBER_FORMAT_INVALID",
            )
        if not 1 <= seq_digits <= 12:
            raise ConfigurationError(
                "BACKOFFICE_INVOICE_SEQ_DIGITS must be 1..12", code="INVOICE_NUMBER_FORMAT_INVALID"
            )
        return cls(pattern, seq_digits)

    def period(self, issue_date: date) -> str:
        """The counter's period for an invoice issued on ``issue_date``."""
        if "{month}" in self.pattern:
            return f"{issue_date:%Y-%m}"
        if "{year}" in self.pattern:
            return f"{issue_date:%Y}"
        return "all"

    def format(self, series: str, issue_date: date, seq: int) -> str:
        """The printed number."""
        return self.pattern.format(
            series=series,
            year=f"{issue_date:%Y}",
            month=f"{issue_date:%m}",
            seq=str(seq).zfill(self.seq_digits),
        )


def lock_counter(session: Session, series: str, period: str) -> int:
    """Create (if new) and lock the counter; return the last sequence number given.

    Must be the first statement of the transaction (SQLite takes its write lock here).
    """
    dialect = session.get_bind().dialect.name
    values = {"series": series, "period": period, "last_seq": 0, "updated_at": utcnow()}
    if dialect == "postgresql":
        session.execute(pg_insert(BillingCounter).values(**values).on_conflict_do_nothing())
    else:
        session.execute(sqlite_insert(BillingCounter).values(**values).on_conflict_do_nothing())
    query = select(BillingCounter.last_seq).where(
        BillingCounter.series == series, BillingCounter.period == period
    )
    if dialect == "postgresql":
        query = query.with_for_update()
    last = session.scalar(query)
    assert last is not None
    return last


def take_next(session: Session, series: str, period: str, last_seq: int) -> int:
    """Bump the locked counter by one and return the new sequence number."""
    seq = last_seq + 1
    result = session.execute(
        update(BillingCounter)
        .where(
            BillingCounter.series == series,
            BillingCounter.period == period,
            BillingCounter.last_seq == last_seq,
        )
        .values(last_seq=seq, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    # The row is locked (or the database is), so this can only fail if the lock was lost.
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise RuntimeError(f"counter {series}/{period} moved under a held lock")
    return seq
