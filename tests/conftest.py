"""Fixtures over the REAL servers (Dovecot, SMTP, PostgreSQL on 127.0.0.1) and settings.

``test_servers`` starts them with ``scripts/servers.sh start`` (idempotent). Where they cannot
run (not installed and not root) tests that need them are skipped, except under ``CI=true``,
where that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from backoffice.config import Settings, load_settings

from tests.support.mailbox import TestMailbox, unique_user
from tests.support.postgres import create_database, drop_database, with_database
from tests.support.servers import ServersUnavailable, TestServers, start_servers

#: Fixtures that need a server, and the marker tests using them get (for ``-m``).
_SERVER_MARKERS = {
    "pg_url": "postgres",
    "mailbox": "imap",
    "imap_settings": "imap",
    "smtp_settings": "smtp",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        for fixture, marker in _SERVER_MARKERS.items():
            if fixture in names and not item.get_closest_marker(marker):
                item.add_marker(getattr(pytest.mark, marker))


@pytest.fixture(scope="session")
def test_servers() -> TestServers:
    """The running servers: ports, shared password, private CA file, PostgreSQL admin URL."""
    try:
        return start_servers()
    except ServersUnavailable as exc:
        message = f"the real test servers cannot run here: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def mailbox(test_servers: TestServers) -> Callable[..., TestMailbox]:
    """Factory: ``mailbox(name=None)`` -> a fresh, empty ``<name>-<hex8>@example.test``."""

    def make(name: str | None = None) -> TestMailbox:
        return TestMailbox(
            user=unique_user(name),
            password=test_servers.password,
            host=test_servers.host,
            port=test_servers.imap_port,
            dovecot_conf=test_servers.dovecot_conf,
        )

    return make


@pytest.fixture
def pg_url(test_servers: TestServers) -> Iterator[str]:
    """A fresh empty PostgreSQL database owned by ``backoffice``, dropped afterwards."""
    name = create_database(test_servers.pg_admin_url)
    try:
        yield with_database(test_servers.pg_admin_url, name)
    finally:
        drop_database(test_servers.pg_admin_url, name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store URL, once for SQLite and once for a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def make_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    """Factory: ``make_settings(**overrides)`` -> Settings with HOME (created) in tmp_path.

    Hermetic: ``BACKOFFICE_*`` variables, vault variables and any ``.env`` file of the
    developer's shell are ignored (set them in the test with monkeypatch when wanted).
    """
    for name in list(os.environ):
        if name.startswith("BACKOFFICE_"):
            monkeypatch.delenv(name)
    for name in ("RPA_SECRET_FILE", "RC_API_SECRET_HOST"):
        monkeypatch.delenv(name, raising=False)

    def make(**overrides: Any) -> Settings:
        overrides.setdefault("home", tmp_path / "home")
        overrides.setdefault("_env_file", None)
        settings = load_settings(**overrides)
        Path(settings.home).mkdir(parents=True, exist_ok=True)
        return settings

    return make


@pytest.fixture
def imap_settings(
    make_settings: Callable[..., Settings], test_servers: TestServers
) -> Callable[..., Settings]:
    """Factory: ``imap_settings(box, **overrides)`` -> Settings reading ``box`` over plain
    IMAP. For IMAPS pass imap_security="ssl", imap_port=imaps_port, tls_ca_file=ca_file."""

    def make(box: TestMailbox, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "mail_source": "imap",
            "imap_host": test_servers.host,
            "imap_port": test_servers.imap_port,
            "imap_security": "none",
            "imap_user": box.user,
            "imap_password": test_servers.password,
        }
        values.update(overrides)
        return make_settings(**values)

    return make


@pytest.fixture
def smtp_settings(
    make_settings: Callable[..., Settings], test_servers: TestServers
) -> Callable[..., Settings]:
    """Factory: ``smtp_settings(**overrides)`` -> Settings sending through the test SMTP
    (plain port, no AUTH). For TLS pass smtp_port/smtp_security and tls_ca_file=ca_file."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "outbox_transport": "smtp",
            "smtp_host": test_servers.host,
            "smtp_port": test_servers.smtp_port,
            "smtp_security": "none",
        }
        values.update(overrides)
        return make_settings(**values)

    return make
