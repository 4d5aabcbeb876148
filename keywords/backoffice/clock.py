"""The one place the core reads the time.

Times are aware UTC everywhere. Tests (and staff replaying a day) can pin the clock
with ``BACKOFFICE_NOW`` (ISO 8601) so schedules are checked without sleeping.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime (honours ``BACKOFFICE_NOW``)."""
    pinned = os.environ.get("BACKOFFICE_NOW")
    if pinned:
        value = datetime.fromisoformat(pinned)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """Make a datetime read back from the store aware UTC (SQLite drops the zone)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
