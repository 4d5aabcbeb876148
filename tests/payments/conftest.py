"""Fixtures of the payments service tests: a Polish seller's store (SQLite and PostgreSQL)
with a watch folder, invoices issued through billing, and a pinned clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from backoffice.config import Settings
from backoffice.store import Store, open_store

from tests.billing.requests import PL_SELLER

#: The day the tests live on (invoices issued then, due 14 days later).
TODAY = "2026-11-20T10:00:00+00:00"


@pytest.fixture
def pay_settings(
    make_settings: Callable[..., Settings],
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., Settings]:
    """Factory: Settings of a Polish seller on ``db_url`` with a watch folder, clock pinned."""

    def make(**overrides: Any) -> Settings:
        monkeypatch.setenv("BACKOFFICE_NOW", TODAY)
        watch = tmp_path / "statements"
        watch.mkdir(exist_ok=True)
        values: dict[str, Any] = dict(PL_SELLER)
        values.update(database_url=db_url, payments_watch_dir=watch)
        values.update(overrides)
        return make_settings(**values)

    return make


@pytest.fixture
def payments_store(pay_settings: Callable[..., Settings]) -> Iterator[tuple[Settings, Store]]:
    """The seller's settings and its migrated store."""
    settings = pay_settings()
    store = open_store(settings)
    try:
        yield settings, store
    finally:
        store.dispose()
