"""The outbox use cases: queue a mail as a row, send what is due, settle what a crash left.

Every outgoing mail is first a committed ``OutboxMessage`` row. ``send_due`` moves rows
``queued``/``retry`` → ``sending`` (committed *before* the server is contacted) → ``sent``,
``retry``, ``failed`` or ``in_doubt``; a sent mail whose bounce comes back is ``bounced``
(see ``bounces``). A row found in ``sending`` with an expired lease
means a robot died while handing it over; it is only sent again when the transport can
prove it did not go out. At most once is the rule; staff settle the rest.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backoffice.clock import utcnow
from backoffice.config import Settings
from backoffice.errors import BusinessError, ConfigurationError
from backoffice.outbox.compose import (
    MAX_KEY_LENGTH,
    InvalidOutgoingMail,
    OutgoingAttachment,
    build_email,
    clean_addresses,
    email_for_row,
    envelope_address,
    make_message_id,
    normalise_message_id,
    thread_references,
)
from backoffice.outbox.transports import (
    JournalUnavailableError,
    MaildirTransport,
    PermanentSendError,
    SendResult,
    SmtpTransport,
    TransientSendError,
    Transport,
    UncertainSendError,
    journal_contains,
)
from backoffice.store import lease
from backoffice.store.db import Store
from backoffice.store.models import OutboxEvent, OutboxMessage, ReviewItem

log = logging.getLogger(__name__)

QUEUED = "queued"
SENDING = "sending"
RETRY = "retry"
SENT = "sent"
FAILED = "failed"
IN_DOUBT = "in_doubt"
#: Taken back before it was sent: what it said no longer holds (a reminder for a paid invoice).
WITHDRAWN = "withdrawn"
#: Sent, then reported undeliverable for good by a bounce (DSN) read back by intake.
BOUNCED = "bounced"

REVIEW_SUBJECT = "outbox"
OUTBOX_IN_DOUBT = "OUTBOX_IN_DOUBT"
OUTBOX_FAILED = "OUTBOX_FAILED"
OUTBOX_REJECTED = "OUTBOX_REJECTED"
OUTBOX_BROKEN = "OUTBOX_BROKEN"
OUTBOX_RECIPIENTS_REFUSED = "OUTBOX_RECIPIENTS_REFUSED"

#: Rows settled per recovery transaction.
_RECOVERY_BATCH = 10
#: Claim attempts per transaction while free rows remain (see ``_claim``).
_CLAIM_TRIES = 5


class OutboxStateError(BusinessError):
    """A staff action does not fit the message's current status."""

    code = "OUTBOX_STATE"


@dataclass
class SendReport:
    """What one ``send_due`` run did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    in_doubt: int = 0
    #: Messages a crash had left in ``sending`` that this run settled for sure.
    resolved: int = 0
    #: One line per message that now waits for staff: ``CODE: outbox id (key): why``.
    reasons: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        """Messages touched in this run."""
        return self.sent + self.retried + self.failed + self.in_doubt + self.resolved

    def summary(self) -> str:
        """One line for logs."""
        return (
            f"outbox: {self.sent} sent, {self.retried} to retry, {self.failed} failed, "
            f"{self.in_doubt} in doubt, {self.resolved} settled after a crash"
        )

    def note(self, outcome: SendOutcome) -> None:
        """Keep the reason of an outcome that staff must look at."""
        if outcome.review_code:
            self.reasons.append(
                f"{outcome.review_code}: outbox {outcome.outbox_id} ({outcome.key}): "
                f"{outcome.detail}"
            )


@dataclass(frozen=True)
class SendOutcome:
    """One message's result, passed to the ``progress`` callback."""

    outbox_id: int
    key: str
    status: str
    detail: str
    #: The review item opened for staff, if any.
    review_code: str = ""


Progress = Callable[[int], None]


# --- enqueue ---------------------------------------------------------------------------


def enqueue(
    store: Store,
    settings: Settings,
    *,
    key: str,
    to: Sequence[str] | str,
    subject: str,
    body_text: str,
    body_html: str = "",
    cc: Sequence[str] | str = (),
    in_reply_to: str = "",
    references: Sequence[str] = (),
    attachments: Sequence[OutgoingAttachment] = (),
    language: str = "",
    subject_type: str = "",
    subject_ref: str = "",
    session: Session | None = None,
) -> OutboxMessage:
    """Queue one mail, once: the same ``key`` always means the same mail.

    A second call with a key already queued (by this or another robot, even at the
    same moment) returns the existing row and changes nothing. Pass ``session`` to
    queue the mail in the caller's transaction (the mail then exists exactly when the
    caller's change is committed); without it the mail is committed on return.

    The Message-ID is derived from the key, so every attempt carries the same one.
    ``in_reply_to``/``references`` thread the mail as a reply. Attachment bytes go to
    the blob store; the row keeps their paths.

    Raises ``InvalidOutgoingMail`` (a ``BusinessError``) when the mail cannot be built.
    """
    # The caller's transaction when given (the mail exists exactly when its change
    # commits), else our own, committed on return.
    unit = nullcontext(session) if session is not None else store.session()
    with unit as active:
        return _enqueue(
            active,
            store,
            settings,
            key=key,
            to=to,
            subject=subject,
            body_text=body_text,
            body_html=body_html,
            cc=cc,
            in_reply_to=in_reply_to,
            references=references,
            attachments=attachments,
            language=language,
            subject_type=subject_type,
            subject_ref=subject_ref,
        )


def _by_key(session: Session, key: str) -> OutboxMessage | None:
    return session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))


def _enqueue(
    session: Session,
    store: Store,
    settings: Settings,
    *,
    key: str,
    to: Sequence[str] | str,
    subject: str,
    body_text: str,
    body_html: str,
    cc: Sequence[str] | str,
    in_reply_to: str,
    references: Sequence[str],
    attachments: Sequence[OutgoingAttachment],
    language: str,
    subject_type: str,
    subject_ref: str,
) -> OutboxMessage:
    key = (key or "").strip()
    if not key:
        raise InvalidOutgoingMail("the idempotency key is empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidOutgoingMail(f"the idempotency key is longer than {MAX_KEY_LENGTH}")
    existing = _by_key(session, key)
    if existing is not None:
        return existing

    to_list = clean_addresses(to, field="To")
    cc_list = clean_addresses(cc, field="Cc")
    if not to_list:
        raise InvalidOutgoingMail("the mail has no recipient")
    message_id = make_message_id(key, settings.mail_from)
    parent = normalise_message_id(in_reply_to)
    chain = thread_references(references, parent)
    now = utcnow()
    # Build once now, so a mail that could never be sent is refused to the caller
    # instead of failing later in a robot run.
    build_email(
        message_id=message_id,
        from_addr=settings.mail_from,
        to=to_list,
        cc=cc_list,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        in_reply_to=parent,
        references=chain,
        date=now,
        language=language,
        attachments=attachments,
    )
    stored = []
    for attachment in attachments:
        digest, path = store.blobs.put(attachment.content)
        stored.append(
            {
                "filename": attachment.filename,
                "content_type": attachment.content_type,
                "blob_path": path,
                "sha256": digest,
                "size": len(attachment.content),
            }
        )
    values: dict[str, Any] = {
        "idempotency_key": key,
        "message_id": message_id,
        "from_addr": settings.mail_from,
        "to_addrs": to_list,
        "cc_addrs": cc_list,
        "subject": subject,
        "body_text": body_text,
        "body_html": body_html,
        "in_reply_to": parent,
        "references": chain,
        "attachments": stored,
        "language": language,
        "subject_type": subject_type,
        "subject_ref": str(subject_ref),
        "status": QUEUED,
        "attempts": 0,
        "primary_failures": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    new_id = _insert_once(session, values)
    if new_id is None:
        # Another robot queued the same key first (or at the same moment).
        existing = _by_key(session, key)
        if existing is None:
            raise InvalidOutgoingMail(
                f"Message-ID {message_id} is already used by another outbox key"
            )
        return existing
    row = session.get(OutboxMessage, new_id)
    assert row is not None
    detail = f"queued for {', '.join(to_list + cc_list)}"
    if stored:
        detail += f" with {len(stored)} attachment(s)"
    _event(session, row, QUEUED, detail, settings.resolved_worker_id)
    session.flush()
    return row


def _insert_once(session: Session, values: dict[str, Any]) -> int | None:
    """Insert unless the key exists; None when it did (never breaks the caller's txn)."""
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        # ON CONFLICT DO NOTHING waits for a concurrent insert of the same key to
        # commit and then does nothing: no error, so the caller's transaction lives on
        # (SQLite savepoints under pysqlite would not be safe for that).
        dialect_insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = (
            dialect_insert(OutboxMessage)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(OutboxMessage.id)
        )
        return session.scalar(stmt)
    try:
        with session.begin_nested():
            return session.scalar(
                insert(OutboxMessage).values(**values).returning(OutboxMessage.id)
            )
    except IntegrityError:
        return None


# --- transports ------------------------------------------------------------------------


class Transports:
    """The configured transports of one run: the Maildir, or primary and fallback SMTP."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.maildir = MaildirTransport(settings.resolved_outbox_dir)
        self.primary: Transport
        self.fallback: Transport | None = None
        self._smtp: dict[str, SmtpTransport] = {}
        journal_imap = None
        if settings.outbox_journal_address:
            journal_imap = settings.imap(
                user=settings.journal_imap_user or None,
                folder=settings.journal_imap_folder or None,
            )
        self.journal_imap = journal_imap
        if settings.outbox_transport == "smtp":
            servers = settings.smtp_servers()
            if not servers or servers[0].name != "primary":
                raise ConfigurationError(
                    "BACKOFFICE_OUTBOX_TRANSPORT is smtp but BACKOFFICE_SMTP_HOST is not set",
                    code="SMTP_NOT_CONFIGURED",
                )
            for server in servers:
                self._smtp[server.name] = SmtpTransport(
                    server,
                    journal_address=settings.outbox_journal_address,
                    journal_imap=journal_imap,
                )
            self.primary = self._smtp["primary"]
            self.fallback = self._smtp.get("fallback")
        else:
            self.primary = self.maildir

    def choose(self, row: OutboxMessage) -> tuple[Transport, str]:
        """The transport for the next attempt of ``row`` and why, when not the primary."""
        if (
            self.fallback is not None
            and row.primary_failures >= self.settings.outbox_fallback_after
        ):
            return self.fallback, (
                f"; the primary server failed {row.primary_failures} time(s), "
                "using the fallback server"
            )
        return self.primary, ""

    def was_delivered(self, transport_name: str, message_id: str) -> bool | None:
        """Did the message go out through ``transport_name``? None when nobody can tell."""
        if transport_name == MaildirTransport.name:
            return self.maildir.was_delivered(message_id)
        if transport_name.startswith("smtp") and self.journal_imap is not None:
            # Both SMTP servers copy to the same journal mailbox, so it answers for either.
            return journal_contains(self.journal_imap, message_id)
        return None

    def close(self) -> None:
        """End open connections."""
        for transport in self._smtp.values():
            transport.close()


# --- send_due --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claimed:
    outbox_id: int
    key: str
    message_id: str
    attempts: int
    transport: Transport
    msg: EmailMessage
    envelope_from: str
    recipients: list[str]


def send_due(
    store: Store,
    settings: Settings,
    *,
    limit: int | None = None,
    progress: Progress | None = None,
) -> SendReport:
    """Send every due message once; first settle messages a crashed robot left behind.

    ``limit`` caps how many due messages this run sends (recovery is not capped).
    ``progress(1)`` is called after each message handled. Several robots
    may run this at once: each message is claimed with a lease by exactly one of them.
    """
    report = SendReport()
    owner = settings.resolved_worker_id
    transports = Transports(settings)

    def notify(outcome: SendOutcome) -> None:
        report.note(outcome)
        if progress is not None:
            progress(1)

    try:
        _recover(store, settings, transports, owner, report, notify)
        attempted = 0
        while limit is None or attempted < limit:
            claimed = _claim_next(store, settings, transports, owner, report, notify)
            if claimed is None:
                break
            if claimed is _SKIPPED:
                continue
            attempted += 1
            _deliver(store, settings, transports, owner, claimed, report, notify)
    finally:
        transports.close()
    return report


class _Skip:
    """Marker: a claimed row could not even be built and was failed."""


_SKIPPED: Any = _Skip()


def _claim(
    session: Session,
    settings: Settings,
    owner: str,
    where: list[Any],
    *,
    order_by: Sequence[Any] = (),
    limit: int,
) -> list[OutboxMessage]:
    """Claim rows; an empty answer means none is left, not "another robot was faster".

    On SQLite ``lease.claim`` picks candidates, then takes them one by one; when another
    robot took them in between it returns nothing although more rows wait. Trying again
    in the same transaction works: the failed take left us holding the write lock.
    """
    for _ in range(_CLAIM_TRIES):
        rows = lease.claim(
            session,
            OutboxMessage,
            owner=owner,
            lease_seconds=settings.lease_seconds,
            where=where,
            order_by=order_by,
            limit=limit,
        )
        if rows:
            return rows
        now = utcnow()
        free = or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now)
        if session.scalar(select(OutboxMessage.id).where(*where, free).limit(1)) is None:
            return []
    return []


def _claim_next(
    store: Store,
    settings: Settings,
    transports: Transports,
    owner: str,
    report: SendReport,
    notify: Progress,
) -> _Claimed | None:
    with store.session() as session:
        rows = _claim(
            session,
            settings,
            owner,
            [OutboxMessage.status.in_((QUEUED, RETRY)), OutboxMessage.next_attempt_at <= utcnow()],
            order_by=(OutboxMessage.next_attempt_at, OutboxMessage.id),
            limit=1,
        )
        if not rows:
            return None
        row = rows[0]
        try:
            msg = email_for_row(row, store.blobs)
        except (InvalidOutgoingMail, OSError, ValueError, KeyError) as exc:
            reason = f"the mail cannot be built from its stored record: {exc}"
            _fail(session, row, OUTBOX_BROKEN, reason, owner)
            report.failed += 1
            outcome = SendOutcome(row.id, row.idempotency_key, FAILED, reason, OUTBOX_BROKEN)
        else:
            transport, why = transports.choose(row)
            row.status = SENDING
            row.attempts += 1
            row.transport = transport.name
            _event(
                session, row, SENDING, f"attempt {row.attempts} via {transport.name}{why}", owner
            )
            recipients = _dedupe(envelope_address(a) for a in [*row.to_addrs, *row.cc_addrs])
            return _Claimed(
                outbox_id=row.id,
                key=row.idempotency_key,
                message_id=row.message_id,
                attempts=row.attempts,
                transport=transport,
                msg=msg,
                envelope_from=envelope_address(row.from_addr),
                recipients=recipients,
            )
    # The failed row is committed before anyone hears of it.
    notify(outcome)
    return _SKIPPED


def _deliver(
    store: Store,
    settings: Settings,
    transports: Transports,
    owner: str,
    claimed: _Claimed,
    report: SendReport,
    notify: Progress,
) -> None:
    transport = claimed.transport
    try:
        result = transport.send(claimed.msg, claimed.envelope_from, claimed.recipients)
    except TransientSendError as exc:
        outcome = _after_transient(store, settings, owner, claimed, str(exc), report)
    except PermanentSendError as exc:
        outcome = _after_permanent(store, owner, claimed, str(exc), report)
    except ConfigurationError as exc:
        # Nothing was sent: give the attempt back and stop the run, staff must fix it.
        _give_back(store, owner, claimed, str(exc))
        raise
    except UncertainSendError as exc:
        outcome = _after_uncertain(store, settings, transports, owner, claimed, str(exc), report)
    except Exception as exc:
        # An unexpected error may have come after the server took the message, so it is
        # settled like a lost answer, never by sending again blindly.
        log.exception("unexpected error while sending outbox message %s", claimed.outbox_id)
        outcome = _after_uncertain(
            store, settings, transports, owner, claimed, f"unexpected error: {exc!r}", report
        )
    else:
        outcome = _mark_sent(store, owner, claimed, result, report)
    log.info("outbox %s %s: %s", claimed.outbox_id, outcome.status, outcome.detail)
    notify(outcome)


def _mark_sent(
    store: Store, owner: str, claimed: _Claimed, result: SendResult, report: SendReport
) -> SendOutcome:
    detail = f"accepted by {claimed.transport.name}"
    if result.answer:
        detail += f": {result.answer}"
    if result.refused:
        refused = "; ".join(f"{addr}: {answer}" for addr, answer in result.refused.items())
        detail += f"; refused recipients: {refused}"
    # The server has the mail: record it at once, nothing else in between.
    with store.session() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == claimed.outbox_id)
            .values(
                status=SENT,
                sent_at=utcnow(),
                last_error="",
                lease_owner=None,
                lease_until=None,
            )
            .execution_options(synchronize_session=False)
        )
        session.add(
            OutboxEvent(outbox_pk=claimed.outbox_id, status=SENT, detail=detail, worker=owner)
        )
    report.sent += 1
    if result.refused:
        with store.session() as session:
            row = session.get(OutboxMessage, claimed.outbox_id)
            assert row is not None
            _review(
                session,
                row,
                OUTBOX_RECIPIENTS_REFUSED,
                "The mail went out, but the server refused some recipients: "
                + ", ".join(result.refused)
                + ". Check the addresses and send it to them again if needed.",
                {"refused": dict(result.refused)},
            )
    code = OUTBOX_RECIPIENTS_REFUSED if result.refused else ""
    return SendOutcome(claimed.outbox_id, claimed.key, SENT, detail, code)


def backoff_delay(settings: Settings, attempts: int) -> timedelta:
    """The pause before the next attempt: doubling from the first delay, capped, jittered."""
    base = min(
        settings.outbox_backoff_seconds * 2 ** max(attempts - 1, 0),
        settings.outbox_backoff_max_seconds,
    )
    # Up to 10% jitter spreads robots that failed together; not a secret.
    return timedelta(seconds=base + random.uniform(0, base * 0.1))  # noqa: S311


def _after_transient(
    store: Store,
    settings: Settings,
    owner: str,
    claimed: _Claimed,
    error: str,
    report: SendReport,
) -> SendOutcome:
    with store.session() as session:
        row = session.get(OutboxMessage, claimed.outbox_id)
        assert row is not None
        row.last_error = error
        if row.transport == "smtp:primary":
            row.primary_failures += 1
        if row.attempts >= settings.outbox_max_attempts:
            reason = (
                f"The mail could not be sent after {row.attempts} attempts. Last error: {error}"
            )
            _fail(session, row, OUTBOX_FAILED, reason, owner)
            report.failed += 1
            return SendOutcome(row.id, row.idempotency_key, FAILED, reason, OUTBOX_FAILED)
        when = utcnow() + backoff_delay(settings, row.attempts)
        row.status = RETRY
        row.next_attempt_at = when
        lease.release(row)
        detail = f"{error}; next attempt after {when.isoformat(timespec='seconds')}"
        _event(session, row, RETRY, detail, owner)
        report.retried += 1
        return SendOutcome(row.id, row.idempotency_key, RETRY, detail)


def _after_permanent(
    store: Store, owner: str, claimed: _Claimed, error: str, report: SendReport
) -> SendOutcome:
    with store.session() as session:
        row = session.get(OutboxMessage, claimed.outbox_id)
        assert row is not None
        row.last_error = error
        reason = f"The mail server refused this mail for good: {error}"
        _fail(session, row, OUTBOX_REJECTED, reason, owner)
        report.failed += 1
        return SendOutcome(row.id, row.idempotency_key, FAILED, reason, OUTBOX_REJECTED)


def _after_uncertain(
    store: Store,
    settings: Settings,
    transports: Transports,
    owner: str,
    claimed: _Claimed,
    error: str,
    report: SendReport,
) -> SendOutcome:
    delivered, why = _check(transports, claimed.transport.name, claimed.message_id)
    if delivered is True:
        with store.session() as session:
            row = session.get(OutboxMessage, claimed.outbox_id)
            assert row is not None
            _settle_sent(session, row, f"sent (confirmed by the journal after: {error})", owner)
        report.sent += 1
        return SendOutcome(claimed.outbox_id, claimed.key, SENT, error)
    if delivered is False:
        return _after_transient(
            store, settings, owner, claimed, f"{error}; the journal shows it did not go out", report
        )
    with store.session() as session:
        row = session.get(OutboxMessage, claimed.outbox_id)
        assert row is not None
        row.last_error = error
        _doubt(session, row, f"{error}{why}", owner)
    report.in_doubt += 1
    return SendOutcome(claimed.outbox_id, claimed.key, IN_DOUBT, error, OUTBOX_IN_DOUBT)


def _give_back(store: Store, owner: str, claimed: _Claimed, error: str) -> None:
    with store.session() as session:
        row = session.get(OutboxMessage, claimed.outbox_id)
        assert row is not None
        row.status = RETRY
        row.attempts = max(row.attempts - 1, 0)
        row.last_error = error
        lease.release(row)
        _event(session, row, RETRY, f"not sent, configuration problem: {error}", owner)


# --- recovery --------------------------------------------------------------------------


def _check(transports: Transports, name: str, message_id: str) -> tuple[bool | None, str]:
    try:
        return transports.was_delivered(name, message_id), ""
    except JournalUnavailableError as exc:
        return None, f"; {exc}"


def _recover(
    store: Store,
    settings: Settings,
    transports: Transports,
    owner: str,
    report: SendReport,
    notify: Progress,
) -> None:
    """Settle rows a dead robot left in ``sending`` (their lease has run out)."""
    skipped: set[int] = set()
    while True:
        with store.session() as session:
            where = [OutboxMessage.status == SENDING]
            if skipped:
                where.append(OutboxMessage.id.notin_(skipped))
            rows = _claim(session, settings, owner, where, limit=_RECOVERY_BATCH)
            found = [(row.id, row.idempotency_key, row.transport, row.message_id) for row in rows]
        if not found:
            return
        for outbox_id, key, transport_name, message_id in found:
            try:
                delivered = transports.was_delivered(transport_name, message_id)
            except JournalUnavailableError as exc:
                # Cannot tell right now; leave it for a later run rather than guess.
                skipped.add(outbox_id)
                with store.session() as session:
                    row = session.get(OutboxMessage, outbox_id)
                    assert row is not None
                    lease.release(row)
                    _event(session, row, SENDING, f"left by a stopped robot; {exc}", owner)
                continue
            with store.session() as session:
                row = session.get(OutboxMessage, outbox_id)
                assert row is not None
                if delivered is True:
                    _settle_sent(session, row, "sent (confirmed after restart)", owner)
                    report.resolved += 1
                    outcome = SendOutcome(outbox_id, key, SENT, "confirmed after restart")
                elif delivered is False:
                    row.status = RETRY
                    row.next_attempt_at = utcnow()
                    lease.release(row)
                    detail = (
                        "the robot stopped while sending; "
                        f"{transport_name} shows it did not go out, safe to send again"
                    )
                    _event(session, row, RETRY, detail, owner)
                    report.resolved += 1
                    outcome = SendOutcome(outbox_id, key, RETRY, detail)
                else:
                    _doubt(session, row, "the robot stopped while sending", owner)
                    report.in_doubt += 1
                    outcome = SendOutcome(
                        outbox_id, key, IN_DOUBT, "robot stopped while sending", OUTBOX_IN_DOUBT
                    )
            log.warning("outbox %s recovered: %s", outbox_id, outcome.detail)
            notify(outcome)


def withdraw(
    session: Session,
    *,
    subject_type: str,
    subject_refs: Sequence[str],
    key_prefix: str,
    why: str,
    worker: str = "",
) -> int:
    """Take back the mails about these subjects whose key starts with ``key_prefix`` and
    that no robot has started sending; return how many. In the caller's transaction.

    A mail already being handed to the server (or sent) stays as it is: the rows are
    locked and checked, so a sender that claimed one first wins and it goes out once.
    """
    if not subject_refs:
        return 0
    rows = session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.subject_type == subject_type,
            OutboxMessage.subject_ref.in_(list(subject_refs)),
            OutboxMessage.idempotency_key.startswith(key_prefix, autoescape=True),
            OutboxMessage.status.in_((QUEUED, RETRY)),
        )
        .with_for_update()
    ).all()
    for row in rows:
        row.status = WITHDRAWN
        lease.release(row)
        _event(session, row, WITHDRAWN, why, worker)
    return len(rows)


# --- staff actions ---------------------------------------------------------------------

#: Statuses staff may mark sent, and send again (see ``resendable`` for refused recipients).
MARKABLE = (IN_DOUBT, FAILED)
RESENDABLE = (IN_DOUBT, FAILED, BOUNCED)


@dataclass(frozen=True)
class OutboxEntry:
    """One event of a message's history as staff see it."""

    at: datetime
    status: str
    detail: str
    worker: str


@dataclass(frozen=True)
class OutboxDetails:
    """One outgoing mail with its history: what the queue page and ``outbox show`` show."""

    id: int
    key: str
    message_id: str
    to: list[str]
    cc: list[str]
    subject: str
    status: str
    attempts: int
    transport: str
    last_error: str
    subject_type: str
    subject_ref: str
    created_at: datetime
    sent_at: datetime | None
    events: list[OutboxEntry]
    #: Reason codes of the open review items about this mail.
    review_codes: list[str]
    #: Recipients the server refused while accepting the mail for the others.
    refused: list[str]

    @property
    def can_mark_sent(self) -> bool:
        """Whether "mark as sent" fits the status."""
        return self.status in MARKABLE

    @property
    def can_resend(self) -> bool:
        """Whether "send again" fits the status."""
        return _resendable(self.status, self.review_codes)

    @property
    def resend_needs_recipients(self) -> bool:
        """A mail that reached some recipients goes again only to the addresses given."""
        return self.status == SENT


def show(store: Store, outbox_id: int, *, session: Session | None = None) -> OutboxDetails:
    """The mail ``outbox_id`` with its events, oldest first; ``OUTBOX_UNKNOWN`` if none."""
    unit = nullcontext(session) if session is not None else store.session()
    with unit as active:
        row = active.get(OutboxMessage, outbox_id)
        if row is None:
            raise _unknown(outbox_id)
        items = open_reviews(active, row)
        refused: list[str] = []
        for item in items:
            if item.reason_code == OUTBOX_RECIPIENTS_REFUSED:
                refused += list((item.evidence or {}).get("refused", {}))
        history = active.scalars(
            select(OutboxEvent).where(OutboxEvent.outbox_pk == row.id).order_by(OutboxEvent.id)
        )
        return OutboxDetails(
            id=row.id,
            key=row.idempotency_key,
            message_id=row.message_id,
            to=list(row.to_addrs or []),
            cc=list(row.cc_addrs or []),
            subject=row.subject,
            status=row.status,
            attempts=row.attempts,
            transport=row.transport,
            last_error=row.last_error,
            subject_type=row.subject_type,
            subject_ref=row.subject_ref,
            created_at=row.created_at,
            sent_at=row.sent_at,
            events=[OutboxEntry(e.at, e.status, e.detail, e.worker) for e in history],
            review_codes=[item.reason_code for item in items],
            refused=_dedupe(refused),
        )


def mark_sent(
    store: Store,
    outbox_id: int,
    *,
    actor: str,
    note: str = "",
    session: Session | None = None,
) -> OutboxMessage:
    """Staff confirm that an in-doubt (or failed) mail did reach the recipient.

    Closes the mail's open review items. Pass ``session`` to do it in the caller's
    transaction (the web app audits in the same one); else committed on return.
    """
    unit = nullcontext(session) if session is not None else store.session()
    with unit as active:
        row = _take_for_staff(active, outbox_id, MARKABLE, SENT)
        detail = f"marked sent by {actor}" + (f": {note}" if note else "")
        row.sent_at = row.sent_at or utcnow()
        _event(active, row, SENT, detail, actor)
        _close_reviews(active, row)
        return row


def resend(
    store: Store,
    outbox_id: int,
    *,
    actor: str,
    note: str = "",
    to: Sequence[str] | str | None = None,
    cc: Sequence[str] | str | None = None,
    session: Session | None = None,
) -> OutboxMessage:
    """Staff decide a mail should go out again: in doubt, failed, bounced, or sent with
    some recipients refused. Attempts start over; the next ``send_due`` sends it.

    ``to``/``cc`` replace the recipients (checked as ``enqueue`` checks them; the event
    keeps the addresses before and after). The mail keeps its Message-ID and key: it is
    the same logical mail. A mail the server accepted for some recipients goes again
    only to the ``to``/``cc`` given, so they are required then. Closes the mail's open
    review items. Raises ``OutboxStateError`` when the status does not allow it and
    ``InvalidOutgoingMail`` for a bad address; nothing changes then.
    """
    unit = nullcontext(session) if session is not None else store.session()
    with unit as active:
        row = active.get(OutboxMessage, outbox_id)
        if row is None:
            raise _unknown(outbox_id)
        codes = [item.reason_code for item in open_reviews(active, row)]
        if not _resendable(row.status, codes):
            raise OutboxStateError(
                f"outbox message {outbox_id} is {row.status}; only a mail that is "
                f"{', '.join(RESENDABLE)}, or sent with refused recipients, can be sent again",
                code="OUTBOX_NOT_RESENDABLE",
            )
        if row.status == SENT and to is None and cc is None:
            raise OutboxStateError(
                f"outbox message {outbox_id} reached some of its recipients; give the "
                "addresses to send it to again",
                code="OUTBOX_RECIPIENTS_REQUIRED",
            )
        before_to, before_cc = list(row.to_addrs or []), list(row.cc_addrs or [])
        new_to = before_to if to is None else clean_addresses(to, field="To")
        # Sent already to the others: only the addresses given get it again.
        keep_cc = [] if row.status == SENT else before_cc
        new_cc = keep_cc if cc is None else clean_addresses(cc, field="Cc")
        if not new_to:
            raise InvalidOutgoingMail("the mail has no recipient")
        allowed = (row.status,)
        row = _take_for_staff(active, outbox_id, allowed, RETRY)
        row.to_addrs = new_to
        row.cc_addrs = new_cc
        # The same check enqueue makes: a mail that could not be built is refused now
        # (the caller's transaction must end with the error: nothing of this is kept).
        try:
            email_for_row(row, store.blobs)
        except (OSError, ValueError) as exc:
            raise InvalidOutgoingMail(f"the mail cannot be built again: {exc}") from exc
        row.attempts = 0
        row.primary_failures = 0
        row.next_attempt_at = utcnow()
        detail = f"resend requested by {actor}"
        if (new_to, new_cc) != (before_to, before_cc):
            detail += (
                f"; recipients changed from {_addresses(before_to, before_cc)} "
                f"to {_addresses(new_to, new_cc)}"
            )
        if note:
            detail += f": {note}"
        _event(active, row, RETRY, detail, actor)
        _close_reviews(active, row)
        return row


def events(store: Store, outbox_id: int) -> list[OutboxEvent]:
    """The status history of one message, oldest first."""
    with store.session() as session:
        return list(
            session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.outbox_pk == outbox_id)
                .order_by(OutboxEvent.id)
            )
        )


def _resendable(status: str, open_codes: Sequence[str]) -> bool:
    return status in RESENDABLE or (status == SENT and OUTBOX_RECIPIENTS_REFUSED in open_codes)


def _addresses(to: Sequence[str], cc: Sequence[str]) -> str:
    shown = ", ".join(to) or "nobody"
    return shown + (f" (cc {', '.join(cc)})" if cc else "")


def _unknown(outbox_id: int) -> OutboxStateError:
    return OutboxStateError(f"outbox message {outbox_id} does not exist", code="OUTBOX_UNKNOWN")


def _take_for_staff(
    session: Session, outbox_id: int, allowed: tuple[str, ...], status: str
) -> OutboxMessage:
    """Move the row to ``status`` if it is still in one of ``allowed``.

    One conditional write, so of a robot and a person (or two people) acting at once on
    either backend exactly one changes the row; the other is refused and changes nothing.
    """
    changed = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id, OutboxMessage.status.in_(allowed))
        .values(status=status, lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    row = session.get(OutboxMessage, outbox_id, populate_existing=True)
    if row is None:
        raise _unknown(outbox_id)
    if changed.rowcount != 1:
        raise OutboxStateError(
            f"outbox message {outbox_id} is {row.status}; this needs {' or '.join(allowed)}"
        )
    return row


def open_reviews(session: Session, row: OutboxMessage) -> list[ReviewItem]:
    """The open review items about one mail, oldest first (in the caller's session)."""
    return list(
        session.scalars(
            select(ReviewItem)
            .where(
                ReviewItem.subject_type == REVIEW_SUBJECT,
                ReviewItem.subject_ref == str(row.id),
                ReviewItem.status == "open",
            )
            .order_by(ReviewItem.id)
        )
    )


# --- helpers ---------------------------------------------------------------------------


def _event(session: Session, row: OutboxMessage, status: str, detail: str, worker: str) -> None:
    session.add(OutboxEvent(outbox_pk=row.id, status=status, detail=detail, worker=worker))


def _settle_sent(session: Session, row: OutboxMessage, detail: str, worker: str) -> None:
    row.status = SENT
    row.sent_at = row.sent_at or utcnow()
    lease.release(row)
    _event(session, row, SENT, detail, worker)


def _fail(session: Session, row: OutboxMessage, code: str, reason: str, worker: str) -> None:
    row.status = FAILED
    lease.release(row)
    _event(session, row, FAILED, reason, worker)
    _review(session, row, code, reason, {"last_error": row.last_error})


def _doubt(session: Session, row: OutboxMessage, why: str, worker: str) -> None:
    row.status = IN_DOUBT
    lease.release(row)
    _event(session, row, IN_DOUBT, f"{why}; not sent again automatically", worker)
    _review(
        session,
        row,
        OUTBOX_IN_DOUBT,
        "The robot stopped while handing this mail to the mail server, so it is not known "
        "whether it went out. Check with the recipient or the server's log, then either "
        "mark it sent or send it again.",
        {"why": why},
    )


def _review(
    session: Session, row: OutboxMessage, code: str, reason: str, evidence: dict[str, Any]
) -> ReviewItem:
    evidence = {
        "key": row.idempotency_key,
        "message_id": row.message_id,
        "to": list(row.to_addrs or []),
        "subject": row.subject,
        "attempts": row.attempts,
        "transport": row.transport,
        **evidence,
    }
    item = session.scalar(
        select(ReviewItem).where(
            ReviewItem.subject_type == REVIEW_SUBJECT,
            ReviewItem.subject_ref == str(row.id),
            ReviewItem.reason_code == code,
        )
    )
    if item is None:
        item = ReviewItem(
            subject_type=REVIEW_SUBJECT,
            subject_ref=str(row.id),
            reason_code=code,
            reason=reason,
            evidence=evidence,
        )
        session.add(item)
    else:
        # The same problem again after staff closed it: reopen rather than duplicate.
        item.status = "open"
        item.reason = reason
        item.evidence = evidence
        item.closed_at = None
    return item


def _close_reviews(session: Session, row: OutboxMessage) -> list[ReviewItem]:
    """Close every open review item about ``row`` (any code: in doubt, failed, bounced...)."""
    now: datetime = utcnow()
    items = open_reviews(session, row)
    for item in items:
        item.status = "done"
        item.closed_at = now
        lease.release(item)
    return items


def _dedupe(items: Any) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item and item.lower() not in (s.lower() for s in seen):
            seen.append(item)
    return seen
