"""Opening the store and bringing its schema up to date."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from backoffice.config import Settings
from backoffice.store.blobs import BlobStore

MIGRATIONS = Path(__file__).with_name("migrations")
#: Any constant shared by all robots: serialises schema upgrades on PostgreSQL.
_PG_MIGRATION_LOCK = 7_311_402_201


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers go on while a robot writes; the busy timeout makes a second
    # robot wait for the write lock instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Create the engine with the settings each backend needs for several robots."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the package's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


class Store:
    """The database plus the blob folder, shared by every use case."""

    def __init__(self, engine: Engine, blobs: BlobStore) -> None:
        self.engine = engine
        self.blobs = blobs
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back on error."""
        with self._sessions.begin() as session:
            yield session

    def migrate(self) -> None:
        """Upgrade the schema to the newest migration, one robot at a time."""
        cfg = alembic_config(self.engine.url.render_as_string(hide_password=False))
        if self.dialect == "postgresql":
            with self.engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
                try:
                    conn.commit()
                    if not self._current(conn, cfg):
                        cfg.attributes["connection"] = conn
                        command.upgrade(cfg, "head")
                        conn.commit()
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                    conn.commit()
            return
        database = self.engine.url.database or ":memory:"
        lock_path = Path(f"{database}.migrate.lock") if database != ":memory:" else None
        with _file_lock(lock_path), self.engine.connect() as conn:
            if not self._current(conn, cfg):
                # pysqlite commits each CREATE/ALTER on its own: one explicit transaction
                # makes the upgrade all or nothing, so a robot killed mid-way does not
                # leave tables without their alembic_version ("table already exists").
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                conn.commit()

    @staticmethod
    def _current(conn: Any, cfg: Config) -> bool:
        head = ScriptDirectory.from_config(cfg).get_current_head()
        return MigrationContext.configure(conn).get_current_revision() == head

    def dispose(self) -> None:
        """Close all pooled connections."""
        self.engine.dispose()


@contextmanager
def _file_lock(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    """Open the configured store, creating or upgrading its schema."""
    store = Store(make_engine(settings.resolved_database_url), BlobStore(settings.blob_dir))
    if migrate:
        store.migrate()
    return store
