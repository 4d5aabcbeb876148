"""Fixtures of the billing tests: a seller's settings over a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from backoffice.config import Settings
from backoffice.store import Store, open_store

from tests.billing.requests import PL_SELLER, RU_SELLER


@pytest.fixture
def seller_settings(make_settings: Callable[..., Settings], db_url: str) -> Callable[..., Settings]:
    """Factory: ``seller_settings("PL"|"RU", **overrides)`` -> Settings on ``db_url``."""

    def make(country: str = "PL", **overrides: Any) -> Settings:
        values = dict(PL_SELLER if country == "PL" else RU_SELLER)
        values["database_url"] = db_url
        values.update(overrides)
        return make_settings(**values)

    return make


@pytest.fixture
def billing_store(seller_settings: Callable[..., Settings]) -> Iterator[tuple[Settings, Store]]:
    """A Polish seller's settings and its migrated store."""
    settings = seller_settings("PL")
    store = open_store(settings)
    try:
        yield settings, store
    finally:
        store.dispose()
