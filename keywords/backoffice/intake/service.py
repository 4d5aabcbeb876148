"""Mail intake, the use case: mailbox → stored message → classified documents.

A run is a pipeline over batches of messages (``FETCH_BATCH`` at a time):

1. *fetch*: a thread reads the next batch from the mailbox while the rest works;
2. *read*: each message is parsed (never raises), keyed (Message-ID + attachment
   sha256s) and its attachments classified: pure CPU work, done in worker processes
   when there is more than one core, one batch ahead of the store;
3. *store*: keys already stored are duplicates; the others' raw .eml and attachments are
   written to the content-addressed blob store and made durable together, then the
   batch's messages, documents and review items are committed in ONE transaction; a
   bounce (delivery report about our own mail) gets no documents, and what it means for
   the outbox (``outbox.bounces.record_bounce``) is committed in that same transaction;
4. *mark*: only after that commit is the source told to move or flag the batch (one
   command per batch).

The dedupe key is unique in the store, so a message read twice — after a crash, from a
second folder, under a new UIDVALIDITY, or by a second robot at the same moment — is
stored once: a batch that meets a key committed meanwhile falls back to one transaction
per message. A kill at any point leaves either nothing of a batch or all of it committed
(blobs without a record are harmless: they are content-addressed and reused), and
unmarked messages are read again next run and recognised as stored. Memory stays
bounded to a few batches whatever the mailbox size.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backoffice.clock import utcnow
from backoffice.config import Settings
from backoffice.errors import ApplicationError
from backoffice.intake.parse import Problem
from backoffice.intake.parse import thread_id as thread_of
from backoffice.intake.read import Readers, ReadMail, ReadRules
from backoffice.intake.sources import IncomingMail, MailSource, open_source
from backoffice.outbox.bounces import BOUNCE, Bounce, record_bounce
from backoffice.store import Document, Message, ReviewItem, Store
from backoffice.store.blobs import BlobBatch
from backoffice.store.lease import acquire_named, release_named, renew_named

log = logging.getLogger(__name__)

#: Batches fetched ahead of the one being stored.
PREFETCH_BATCHES = 1
#: Problems that leave a message usable but mean a person should look at it.
NEEDS_A_PERSON = frozenset({"BROKEN_MIME", "TOO_MANY_ATTACHMENTS", "NESTING_TOO_DEEP"})


class Outcome(StrEnum):
    """What happened to one incoming message."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    IGNORED = "ignored"
    #: A delivery report (DSN) about our own mail: stored, no documents, outbox told.
    BOUNCE = "bounce"


@dataclass
class IntakeReport:
    """Counts of one intake run, for the robot log and the CLI summary."""

    source: str = ""
    seen: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    ignored: int = 0
    bounces: int = 0
    with_problems: int = 0
    documents: int = 0
    documents_rejected: int = 0
    #: Set when another robot was reading the mailbox: who it was.
    busy_with: str = ""
    reasons: list[str] = field(default_factory=list)

    def add(self, outcome: Outcome, message: StoredMessage | None) -> None:
        """Count one message's outcome."""
        self.seen += 1
        match outcome:
            case Outcome.STORED:
                self.stored += 1
            case Outcome.DUPLICATE:
                self.duplicates += 1
            case Outcome.REJECTED:
                self.rejected += 1
            case Outcome.IGNORED:
                self.ignored += 1
            case Outcome.BOUNCE:
                self.bounces += 1
        if message is None or outcome is Outcome.DUPLICATE:
            return
        if message.reason:
            self.reasons.append(f"{message.reason_code}: {message.reason}")
        elif message.problems:
            self.with_problems += 1
            self.reasons += [f"{p['code']}: {p['message']}" for p in message.problems]
        for document in message.documents:
            self.documents += 1
            if document.status == "rejected":
                self.documents_rejected += 1
                self.reasons.append(
                    f"{document.reason_code}: {document.filename}: {document.reason}"
                )

    def summary(self) -> str:
        """One line for logs."""
        if self.busy_with:
            return f"{self.source} is being read by {self.busy_with}; nothing done"
        return (
            f"{self.seen} messages from {self.source}: {self.stored} stored, "
            f"{self.duplicates} already stored, {self.rejected} rejected, "
            f"{self.ignored} ignored, {self.bounces} bounces, "
            f"{self.with_problems} with problems; "
            f"{self.documents} documents "
            f"({self.documents_rejected} rejected)"
        )


#: One message of a batch: as the source gave it, and as it was read.
Item = tuple[IncomingMail, ReadMail]


def store_batch(
    store: Store, batch: list[Item], *, source: str, worker: str = ""
) -> list[tuple[Outcome, StoredMessage | None]]:
    """Store a batch of read messages once each; one outcome per message, in order.

    Messages whose dedupe key is already stored (or earlier in the batch) are
    duplicates. The others' blobs are written and made durable together, then all their
    records are committed in one transaction. When that transaction fails on a unique
    key (another robot stored one of them meanwhile) each message is retried in its own
    transaction, so one message never costs the others.
    """
    keys = {read.key for _mail, read in batch}
    with store.session() as session:
        known = set(session.scalars(select(Message.dedupe_key).where(Message.dedupe_key.in_(keys))))
    outcomes: list[tuple[Outcome, StoredMessage | None]] = [(Outcome.DUPLICATE, None)] * len(batch)
    fresh: list[int] = []
    for index, (_mail, read) in enumerate(batch):
        if read.key not in known:
            known.add(read.key)
            fresh.append(index)
    if not fresh:
        return outcomes
    with store.blobs.batch() as blobs:
        rows = [_rows(batch[index], _write_blobs(blobs, batch[index]), source) for index in fresh]
    try:
        with store.session() as session:
            stored = _insert(session, rows, worker)
    except IntegrityError:
        log.info("a message of this batch was stored meanwhile; storing one at a time")
        for index, one in zip(fresh, rows, strict=True):
            outcomes[index] = _store_one(store, one, worker)
        return outcomes
    for index, message in zip(fresh, stored, strict=True):
        outcomes[index] = (Outcome(message.status), message)
    return outcomes


def _store_one(
    store: Store, rows: _MessageRows, worker: str
) -> tuple[Outcome, StoredMessage | None]:
    """One message in its own transaction (the fallback of a batch that met a duplicate)."""
    key = rows.message["dedupe_key"]
    try:
        with store.session() as session:
            if session.scalar(select(Message.id).where(Message.dedupe_key == key)):
                return Outcome.DUPLICATE, None
            (stored,) = _insert(session, [rows], worker)
    except IntegrityError:
        # Another robot stored the same message between our check and our commit.
        with store.session() as session:
            if session.scalar(select(Message.id).where(Message.dedupe_key == key)) is None:
                raise
        return Outcome.DUPLICATE, None
    return Outcome(stored.status), stored


@dataclass(frozen=True)
class StoredDocument:
    """What the report tells of one stored document."""

    id: int
    filename: str
    status: str
    reason_code: str
    reason: str


@dataclass(frozen=True)
class StoredMessage:
    """What the report tells of one stored message."""

    id: int
    status: str
    reason_code: str
    reason: str
    problems: list[dict[str, str]]
    documents: list[StoredDocument]


@dataclass(frozen=True)
class _BlobRefs:
    """Where one message's raw bytes and kept attachments were written."""

    raw: tuple[str, str]
    #: (sha256, relative path) per attachment, None where the bytes were not kept.
    attachments: list[tuple[str, str] | None]


@dataclass(frozen=True)
class _MessageRows:
    """One message's column values and its documents', ready to insert."""

    message: dict[str, Any]
    documents: list[dict[str, Any]]
    bounce: Bounce | None = None


def _write_blobs(blobs: BlobBatch, item: Item) -> _BlobRefs:
    mail, read = item
    raw = blobs.put(mail.raw)
    if read.refusal is not None or read.bounce is not None:
        return _BlobRefs(raw, [])
    return _BlobRefs(
        raw, [None if a.data is None else blobs.put(a.data) for a in read.parsed.attachments]
    )


def _rows(item: Item, files: _BlobRefs, source: str) -> _MessageRows:
    """The rows of one message. Plain column values, inserted in bulk: building ORM
    objects and flushing them cost more than everything else the store does."""
    mail, read = item
    parsed = read.parsed
    status, reason_code, reason = Outcome.STORED.value, "", ""
    if read.refusal is not None:
        ignored = read.refusal.code.startswith("SENDER_")
        status = (Outcome.IGNORED if ignored else Outcome.REJECTED).value
        reason_code, reason = read.refusal.code, read.refusal.message
    elif read.bounce is not None:
        # Like a refused message, a bounce keeps its raw .eml and gets no documents: it
        # often carries our own invoice back, which no robot may read as a supplier's.
        status, reason_code, reason = Outcome.BOUNCE.value, BOUNCE, read.bounce.summary()
    message = {
        "dedupe_key": read.key,
        "message_id": parsed.message_id[:998],
        "message_id_synthetic": parsed.message_id_synthetic,
        "source": source[:500],
        "sender": parsed.sender[:500],
        "sender_name": parsed.sender_name[:500],
        "recipients": parsed.recipients,
        "subject": parsed.subject,
        "sent_at": parsed.sent_at,
        "in_reply_to": parsed.in_reply_to[:998],
        "references": parsed.references,
        "thread_id": thread_of(parsed)[:998],
        "headers": parsed.headers,
        "body_text": parsed.body_text,
        "raw_sha256": files.raw[0],
        "raw_size": len(mail.raw),
        "raw_path": files.raw[1],
        "status": status,
        "reason_code": reason_code,
        "reason": reason,
        "problems": [{"code": p.code, "message": p.message} for p in parsed.problems],
        "received_at": utcnow(),
    }
    no_documents = read.refusal is not None or read.bounce is not None
    documents = [] if no_documents else _document_rows(read, files)
    return _MessageRows(message, documents, read.bounce)


def _document_rows(read: ReadMail, files: _BlobRefs) -> list[dict[str, Any]]:
    rows = []
    now = utcnow()
    for position, (attachment, verdict, blob) in enumerate(
        zip(read.parsed.attachments, read.verdicts, files.attachments, strict=True), start=1
    ):
        row: dict[str, Any] = {
            "position": position,
            "part_path": attachment.part_path,
            "filename": attachment.filename,
            "original_filename": attachment.original_filename,
            "content_type": attachment.content_type,
            "size": 0,
            "sha256": "",
            "blob_path": "",
            "kind": "other",
            "kind_confidence": 0.0,
            "kind_reasons": [],
            "status": "new",
            "reason_code": "",
            "reason": "",
            "created_at": now,
            "updated_at": now,
        }
        if attachment.data is None or verdict is None or blob is None:
            problem = attachment.problem or Problem("ATTACHMENT_UNREADABLE", "not kept")
            row.update(status="rejected", reason_code=problem.code, reason=problem.message)
        else:
            row.update(
                sha256=blob[0],
                blob_path=blob[1],
                size=len(attachment.data),
                kind=verdict.kind,
                kind_confidence=verdict.confidence,
                kind_reasons=list(verdict.reasons),
            )
            if attachment.problem is not None:
                row.update(reason_code=attachment.problem.code, reason=attachment.problem.message)
        rows.append(row)
    return rows


def _insert(session: Session, batch: list[_MessageRows], worker: str = "") -> list[StoredMessage]:
    """Insert messages, documents and review items in bulk (a few statements per batch);
    a bounce's effects on the outbox are recorded in the same transaction."""
    message_ids = session.scalars(
        insert(Message).returning(Message.id, sort_by_parameter_order=True),
        [rows.message for rows in batch],
    ).all()
    document_rows = [
        {**document, "message_pk": message_id}
        for message_id, rows in zip(message_ids, batch, strict=True)
        for document in rows.documents
    ]
    document_ids = iter(
        session.scalars(
            insert(Document).returning(Document.id, sort_by_parameter_order=True), document_rows
        ).all()
        if document_rows
        else []
    )
    stored = []
    review_rows: list[dict[str, Any]] = []
    for message_id, rows in zip(message_ids, batch, strict=True):
        documents = [
            StoredDocument(
                next(document_ids), d["filename"], d["status"], d["reason_code"], d["reason"]
            )
            for d in rows.documents
        ]
        message = rows.message
        stored.append(
            StoredMessage(
                message_id,
                message["status"],
                message["reason_code"],
                message["reason"],
                message["problems"],
                documents,
            )
        )
        review_rows += _review_rows(message_id, rows, documents)
        if rows.bounce is not None:
            evidence = {
                "sender": message["sender"],
                "subject": message["subject"],
                "raw": message["raw_path"],
            }
            record_bounce(
                session, rows.bounce, message_pk=message_id, evidence=evidence, worker=worker
            )
    if review_rows:
        session.execute(insert(ReviewItem), review_rows)
    return stored


def _review_rows(
    message_id: int, rows: _MessageRows, documents: list[StoredDocument]
) -> list[dict[str, Any]]:
    message = rows.message
    evidence = {
        "sender": message["sender"],
        "subject": message["subject"],
        "raw": message["raw_path"],
    }
    items = []
    if message["status"] == Outcome.REJECTED:
        items.append(("message", message_id, message["reason_code"], message["reason"], evidence))
    needing = [p for p in message["problems"] if p["code"] in NEEDS_A_PERSON]
    if needing and message["status"] != Outcome.REJECTED:
        reason = " ".join(p["message"] for p in needing)
        items.append(("message", message_id, needing[0]["code"], reason, evidence))
    for document, row in zip(documents, rows.documents, strict=True):
        if document.status == "rejected":
            reason = f"{document.filename}: {document.reason}"
            part = {**evidence, "part": row["part_path"]}
            items.append(("document", document.id, document.reason_code, reason, part))
    now = utcnow()
    return [
        {
            "subject_type": kind,
            "subject_ref": str(ref),
            "reason_code": code,
            "reason": reason,
            "evidence": proof,
            "status": "open",
            "assignee": "",
            "created_at": now,
        }
        for kind, ref, code, reason, proof in items
    ]


def _prefetch(source: MailSource) -> Iterator[list[IncomingMail]]:
    """Run the source's fetching one batch ahead in a thread."""
    pipe: queue.Queue[object] = queue.Queue(maxsize=PREFETCH_BATCHES)
    done = object()
    stop = threading.Event()

    def pump() -> None:
        try:
            for batch in source.batches():
                if stop.is_set():
                    return
                pipe.put(batch)
        except BaseException as exc:  # handed to the consumer, raised there
            pipe.put(exc)
        finally:
            pipe.put(done)

    thread = threading.Thread(target=pump, name="intake-fetch", daemon=True)
    thread.start()
    try:
        while (item := pipe.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                pipe.get(timeout=0.1)
        thread.join()


def _store_and_mark(
    store: Store,
    source: MailSource,
    batch: list[IncomingMail],
    reading: Callable[[], list[ReadMail]],
    report: IntakeReport,
    progress: Callable[[int], None] | None,
    worker: str = "",
) -> None:
    """Store one batch, then (only then) mark it done at the source."""
    items = list(zip(batch, reading(), strict=True))
    for outcome, message in store_batch(store, items, source=source.name, worker=worker):
        report.add(outcome, message)
    source.mark_done([mail.ref for mail in batch])
    if progress:
        progress(len(batch))


def run_intake(
    store: Store,
    settings: Settings,
    *,
    source: MailSource | None = None,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> IntakeReport:
    """Take in every pending message of the configured mailbox; return the counts."""
    own_source = source is None
    source = source or open_source(settings)
    report = IntakeReport(source=source.name)
    # One robot per mailbox folder: IMAP servers do not make MOVE atomic across
    # sessions, so two robots moving the same message could leave two copies.
    lease = f"intake:{source.name}"
    owner = settings.resolved_worker_id
    holder = acquire_named(store.session, lease, owner=owner, lease_seconds=settings.lease_seconds)
    if holder:
        report.busy_with = holder
        log.info("%s is being read by %s; nothing to do", source.name, holder)
        if own_source:
            source.close()
        return report
    readers = Readers(ReadRules.from_settings(settings))
    # (batch, its reading under way): the batch read ahead while the one before is stored
    ahead: tuple[list[IncomingMail], Callable[[], list[ReadMail]]] | None = None
    taken = 0
    try:
        for batch in _prefetch(source):
            if not renew_named(
                store.session, lease, owner=owner, lease_seconds=settings.lease_seconds
            ):
                raise ApplicationError(
                    f"lost the lease on {source.name} to another robot", code="LEASE_LOST"
                )
            if limit is not None:
                batch = batch[: max(limit - taken, 0)]
                if not batch:
                    break
            taken += len(batch)
            reading = readers.submit([(mail.raw, mail.truncated_size) for mail in batch])
            if ahead is not None:
                _store_and_mark(store, source, *ahead, report, progress, owner)
            ahead = (batch, reading)
        if ahead is not None:
            _store_and_mark(store, source, *ahead, report, progress, owner)
    finally:
        readers.close()
        release_named(store.session, lease, owner=owner)
        if own_source:
            source.close()
    log.info(report.summary())
    return report
