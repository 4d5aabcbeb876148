"""Fixtures of the receivables tests: a Polish seller's store (SQLite and PostgreSQL)."""

from tests.billing.conftest import billing_store, seller_settings

__all__ = ["billing_store", "seller_settings"]
