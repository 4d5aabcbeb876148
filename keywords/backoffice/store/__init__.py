"""The store: one SQLAlchemy database (SQLite by default, PostgreSQL by URL)."""

from backoffice.store.db import Store, open_store
from backoffice.store.models import (
    Base,
    Document,
    Message,
    NamedLease,
    OutboxEvent,
    OutboxMessage,
    ReviewItem,
)

__all__ = [
    "Base",
    "Document",
    "Message",
    "NamedLease",
    "OutboxEvent",
    "OutboxMessage",
    "ReviewItem",
    "Store",
    "open_store",
]
