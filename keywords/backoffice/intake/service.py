"""Mail intake, the use case: mailbox → stored message → classified documents.

For each raw message: parse it (never raises), write the raw .eml and the attachments
to the content-addressed blob store, then in ONE transaction insert the message, its
documents and any review items. The dedupe key (Message-ID + attachment hashes) is
unique in the store, so a message read twice — after a crash, from a second folder,
under a new UIDVALIDITY, or by a second robot at the same moment — is stored once.
Only after the commit is the source told to move or flag it.

Fetching runs one batch ahead in a thread, so network waits overlap with parsing and
storing while memory stays bounded to two batches.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backoffice.config import Settings
from backoffice.errors import ApplicationError
from backoffice.intake.classify import classify
from backoffice.intake.parse import Limits, ParsedMessage, Problem, dedupe_key, parse_message
from backoffice.intake.parse import thread_id as thread_of
from backoffice.intake.sources import IncomingMail, MailSource, open_source
from backoffice.store import Document, Message, ReviewItem, Store
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


@dataclass
class IntakeReport:
    """Counts of one intake run, for the robot log and the CLI summary."""

    source: str = ""
    seen: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    ignored: int = 0
    with_problems: int = 0
    documents: int = 0
    documents_rejected: int = 0
    #: Set when another robot was reading the mailbox: who it was.
    busy_with: str = ""
    reasons: list[str] = field(default_factory=list)

    def add(self, outcome: Outcome, message: Message | None) -> None:
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
            f"{self.ignored} ignored, {self.with_problems} with problems; "
            f"{self.documents} documents "
            f"({self.documents_rejected} rejected)"
        )


def _sender_refusal(sender: str, settings: Settings) -> Problem | None:
    domain = "*@" + sender.rsplit("@", 1)[-1] if "@" in sender else ""
    if sender in settings.sender_deny or (domain and domain in settings.sender_deny):
        return Problem("SENDER_DENIED", f"the sender {sender or '(none)'} is on the deny list")
    if settings.sender_allow and not (
        sender in settings.sender_allow or (domain and domain in settings.sender_allow)
    ):
        return Problem(
            "SENDER_NOT_ALLOWED", f"the sender {sender or '(none)'} is not on the allow list"
        )
    return None


def ingest(
    store: Store, settings: Settings, mail: IncomingMail, *, source: str
) -> tuple[Outcome, Message | None]:
    """Store one raw message once; return what happened and the stored record."""
    limits = Limits.from_settings(settings)
    if mail.truncated_size is not None:
        parsed = parse_message(mail.raw, limits)
        parsed.attachments = []
        parsed.fatal = Problem(
            "MESSAGE_TOO_LARGE",
            f"the message is {mail.truncated_size:,} bytes, over the limit of "
            f"{settings.max_message_bytes:,}; only its header was stored",
        )
    else:
        parsed = parse_message(mail.raw, limits)
    key = dedupe_key(parsed)
    with store.session() as session:
        existing = session.scalar(select(Message).where(Message.dedupe_key == key))
        if existing is not None:
            return Outcome.DUPLICATE, existing
    refusal = parsed.fatal or _sender_refusal(parsed.sender, settings)
    raw_sha, raw_path = store.blobs.put(mail.raw)
    message = _message_record(parsed, key, source, raw_sha, raw_path, len(mail.raw))
    outcome = Outcome.STORED
    if refusal is not None:
        outcome = Outcome.IGNORED if refusal.code.startswith("SENDER_") else Outcome.REJECTED
        message.status = outcome.value
        message.reason_code, message.reason = refusal.code, refusal.message
        message.documents = []
    else:
        message.documents = _documents(store, parsed)
    try:
        with store.session() as session:
            session.add(message)
            session.flush()
            _review_items(session, message, rejected=outcome is Outcome.REJECTED)
    except IntegrityError:
        # Another robot stored the same message between our check and our commit.
        with store.session() as session:
            existing = session.scalar(select(Message).where(Message.dedupe_key == key))
        if existing is None:
            raise
        return Outcome.DUPLICATE, existing
    return outcome, message


def _message_record(
    parsed: ParsedMessage, key: str, source: str, raw_sha: str, raw_path: str, size: int
) -> Message:
    return Message(
        dedupe_key=key,
        message_id=parsed.message_id[:998],
        message_id_synthetic=parsed.message_id_synthetic,
        source=source[:500],
        sender=parsed.sender[:500],
        sender_name=parsed.sender_name[:500],
        recipients=parsed.recipients,
        subject=parsed.subject,
        sent_at=parsed.sent_at,
        in_reply_to=parsed.in_reply_to[:998],
        references=parsed.references,
        thread_id=thread_of(parsed)[:998],
        headers=parsed.headers,
        body_text=parsed.body_text,
        raw_sha256=raw_sha,
        raw_size=size,
        raw_path=raw_path,
        problems=[{"code": p.code, "message": p.message} for p in parsed.problems],
    )


def _documents(store: Store, parsed: ParsedMessage) -> list[Document]:
    documents = []
    for position, attachment in enumerate(parsed.attachments, start=1):
        document = Document(
            position=position,
            part_path=attachment.part_path,
            filename=attachment.filename,
            original_filename=attachment.original_filename,
            content_type=attachment.content_type,
        )
        if attachment.data is None:
            problem = attachment.problem or Problem("ATTACHMENT_UNREADABLE", "not kept")
            document.status = "rejected"
            document.reason_code, document.reason = problem.code, problem.message
        else:
            document.sha256, document.blob_path = store.blobs.put(attachment.data)
            document.size = len(attachment.data)
            verdict = classify(
                attachment.filename,
                attachment.content_type,
                attachment.data,
                subject=parsed.subject,
                body=parsed.body_text,
            )
            document.kind = verdict.kind
            document.kind_confidence = verdict.confidence
            document.kind_reasons = list(verdict.reasons)
            if attachment.problem is not None:
                document.reason_code = attachment.problem.code
                document.reason = attachment.problem.message
        documents.append(document)
    return documents


def _review_items(session: Session, message: Message, *, rejected: bool) -> None:
    add = session.add
    evidence = {"sender": message.sender, "subject": message.subject, "raw": message.raw_path}
    if rejected:
        add(
            ReviewItem(
                subject_type="message",
                subject_ref=str(message.id),
                reason_code=message.reason_code,
                reason=message.reason,
                evidence=evidence,
            )
        )
    needing = [p for p in message.problems if p["code"] in NEEDS_A_PERSON]
    if needing and not rejected:
        add(
            ReviewItem(
                subject_type="message",
                subject_ref=str(message.id),
                reason_code=needing[0]["code"],
                reason=" ".join(p["message"] for p in needing),
                evidence=evidence,
            )
        )
    for document in message.documents:
        if document.status == "rejected":
            add(
                ReviewItem(
                    subject_type="document",
                    subject_ref=str(document.id),
                    reason_code=document.reason_code,
                    reason=f"{document.filename}: {document.reason}",
                    evidence={**evidence, "part": document.part_path},
                )
            )


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
    try:
        for batch in _prefetch(source):
            if not renew_named(
                store.session, lease, owner=owner, lease_seconds=settings.lease_seconds
            ):
                raise ApplicationError(
                    f"lost the lease on {source.name} to another robot", code="LEASE_LOST"
                )
            if limit is not None and report.seen >= limit:
                break
            if limit is not None:
                batch = batch[: limit - report.seen]
            done = []
            for mail in batch:
                outcome, message = ingest(store, settings, mail, source=source.name)
                report.add(outcome, message)
                done.append(mail.ref)
                if progress:
                    progress(1)
            source.mark_done(done)
    finally:
        release_named(store.session, lease, owner=owner)
        if own_source:
            source.close()
    log.info(report.summary())
    return report
