"""Fixtures of the web tests: a migrated store (SQLite and PostgreSQL) and the app over it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from backoffice.config import Settings
from backoffice.store import Store
from backoffice.store.blobs import BlobStore
from backoffice.store.db import make_engine
from backoffice.web.app import create_app
from starlette.testclient import TestClient


@pytest.fixture
def web_settings(make_settings: Callable[..., Settings]) -> Settings:
    """Settings with a fixed session secret."""
    return make_settings(web_session_secret="test-secret-" + "x" * 32)


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> Iterator[Store]:
    """A migrated store with its blob folder, on SQLite and on PostgreSQL."""
    store = Store(make_engine(db_url), BlobStore(tmp_path / "blobs"))
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture
def client(store: Store, web_settings: Settings) -> Iterator[TestClient]:
    """An HTTP client talking to the app in-process (no cookies yet)."""
    with TestClient(create_app(web_settings, store), follow_redirects=False) as test_client:
        yield test_client
