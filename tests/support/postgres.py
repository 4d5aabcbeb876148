"""Throw-away databases on the test PostgreSQL, owned by the ``backoffice`` role."""

from __future__ import annotations

import secrets

import psycopg
from psycopg import sql


def libpq_url(sqlalchemy_url: str) -> str:
    """``postgresql+psycopg://...`` as psycopg itself wants it."""
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


def with_database(sqlalchemy_url: str, name: str) -> str:
    """The same server URL pointing at database ``name``."""
    base, _, _ = sqlalchemy_url.rpartition("/")
    return f"{base}/{name}"


def create_database(admin_url: str) -> str:
    """Create an empty ``bo_test_<hex>`` database and return its name."""
    name = f"bo_test_{secrets.token_hex(6)}"
    with psycopg.connect(libpq_url(admin_url), autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def drop_database(admin_url: str, name: str) -> None:
    """Drop ``name``, first ending any connection a test left open."""
    with psycopg.connect(libpq_url(admin_url), autocommit=True, connect_timeout=10) as conn:
        # FORCE ends the sessions a test left open and an autovacuum worker on it (the
        # role is a member of pg_signal_backend: scripts/servers.sh).
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
