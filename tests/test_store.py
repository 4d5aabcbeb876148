"""The store: migrations match the models, leases keep robots apart, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from backoffice.store import Document, Message, Store
from backoffice.store.blobs import BlobStore
from backoffice.store.db import make_engine
from backoffice.store.lease import (
    acquire_named,
    claim,
    release,
    release_named,
    renew,
    renew_named,
)
from backoffice.store.models import Base
from sqlalchemy import func, inspect, select


def _store(url: str, tmp_path: Path) -> Store:
    store = Store(make_engine(url), BlobStore(tmp_path / "blobs"))
    store.migrate()
    return store


def _message(n: int) -> Message:
    return Message(
        dedupe_key=f"{n:064d}",
        message_id=f"<m{n}@example.test>",
        source="test",
        raw_sha256="0" * 64,
        raw_size=1,
        raw_path="x",
    )


def _seed_documents(store: Store, count: int) -> None:
    with store.session() as session:
        message = _message(1)
        message.documents = [
            Document(position=i, filename=f"d{i}.pdf") for i in range(1, count + 1)
        ]
        session.add(message)


def test_migrations_match_models(db_url: str, tmp_path: Path) -> None:
    store = _store(db_url, tmp_path)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"
    assert set(inspect(store.engine).get_table_names()) >= {
        "messages",
        "documents",
        "outbox",
        "outbox_events",
        "review_items",
        "named_leases",
        "alembic_version",
    }
    store.migrate()  # a second upgrade is a no-op


def test_times_come_back_aware_utc(db_url: str, tmp_path: Path) -> None:
    store = _store(db_url, tmp_path)
    sent = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    with store.session() as session:
        message = _message(1)
        message.sent_at = sent
        session.add(message)
    with store.session() as session:
        stored = session.scalar(select(Message))
        assert stored.sent_at == sent
        assert stored.sent_at.tzinfo is not None
        assert stored.received_at.tzinfo is not None


def test_naive_datetimes_are_refused(tmp_path: Path) -> None:
    store = _store(f"sqlite:///{tmp_path}/s.db", tmp_path)
    with pytest.raises(Exception, match="naive datetime"), store.session() as session:
        message = _message(1)
        message.sent_at = datetime(2026, 1, 1)
        session.add(message)


def test_a_claimed_record_is_not_claimed_again_until_its_lease_expires(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(db_url, tmp_path)
    _seed_documents(store, 3)
    with store.session() as session:
        first = claim(session, Document, owner="robot-a", lease_seconds=60, limit=2)
    with store.session() as session:
        second = claim(session, Document, owner="robot-b", lease_seconds=60, limit=5)
    assert [d.position for d in first] == [1, 2]
    assert [d.position for d in second] == [3]
    # robot-a dies; two minutes later its records are free again
    later = datetime.now(UTC) + timedelta(minutes=2)
    monkeypatch.setenv("BACKOFFICE_NOW", later.isoformat())
    with store.session() as session:
        retaken = claim(session, Document, owner="robot-c", lease_seconds=60, limit=5)
    assert sorted(d.position for d in retaken) == [1, 2, 3]
    with store.session() as session:
        doc = session.get(Document, retaken[0].id)
        assert not renew(session, doc, owner="robot-a", lease_seconds=60)
        assert renew(session, doc, owner="robot-c", lease_seconds=60)
        release(doc)
    with store.session() as session:
        assert session.get(Document, doc.id).lease_owner is None


def _claim_all(url: str, owner: str, out: multiprocessing.Queue) -> None:
    store = Store(make_engine(url), BlobStore(Path("/nonexistent")))
    taken: list[int] = []
    while True:
        with store.session() as session:
            batch = claim(session, Document, owner=owner, lease_seconds=600, limit=3)
            taken += [d.id for d in batch]
        if not batch:
            break
    out.put(taken)


@pytest.mark.slow
def test_two_processes_never_claim_the_same_record(db_url: str, tmp_path: Path) -> None:
    store = _store(db_url, tmp_path)
    _seed_documents(store, 300)
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    workers = [
        context.Process(target=_claim_all, args=(db_url, f"robot-{i}", out)) for i in range(3)
    ]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    claimed = [doc_id for result in results for doc_id in result]
    assert len(claimed) == 300
    assert len(set(claimed)) == 300, "a record was claimed by two robots"
    with store.session() as session:
        owners = session.scalar(select(func.count(func.distinct(Document.lease_owner))))
    assert owners >= 1


def test_a_named_lease_has_one_holder_until_it_expires(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(db_url, tmp_path)
    name = "intake:imap:faktury@example.test/INBOX"
    assert acquire_named(store.session, name, owner="robot-a", lease_seconds=60) == ""
    assert acquire_named(store.session, name, owner="robot-b", lease_seconds=60) == "robot-a"
    assert acquire_named(store.session, name, owner="robot-a", lease_seconds=60) == ""
    assert renew_named(store.session, name, owner="robot-a", lease_seconds=60)
    assert not renew_named(store.session, name, owner="robot-b", lease_seconds=60)
    later = datetime.now(UTC) + timedelta(minutes=2)
    monkeypatch.setenv("BACKOFFICE_NOW", later.isoformat())
    assert acquire_named(store.session, name, owner="robot-b", lease_seconds=60) == ""
    release_named(store.session, name, owner="robot-a")  # not robot-a's any more: no effect
    assert acquire_named(store.session, name, owner="robot-c", lease_seconds=60) == "robot-b"
    release_named(store.session, name, owner="robot-b")
    assert acquire_named(store.session, name, owner="robot-c", lease_seconds=60) == ""


def test_blobs_are_content_addressed_and_stay_inside_the_store(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    digest, relative = blobs.put(b"invoice")
    assert blobs.put(b"invoice") == (digest, relative)
    assert blobs.read(relative) == b"invoice"
    with pytest.raises(ValueError, match="leaves the blob store"):
        blobs.path("../../etc/passwd")
