"""The access robot: once an invoice is paid in full, provision the customer, once.

``grant_due(store, settings)`` runs three steps:

1. **record**: each invoice with ``paid_at`` set and no grant yet gets an ``AccessGrant``
   (unique per invoice) with its JSON body and idempotency key, and one
   ``ProvisioningCall`` per configured target (the webhook, the command), in one
   transaction, before anything is called;
2. **call**: each due call is claimed with a lease and marked running (committed), then
   made: the webhook is POSTed the body with ``X-Signature: sha256=<HMAC-SHA256>`` and
   ``Idempotency-Key``; the command gets the body on stdin and the key in
   ``BACKOFFICE_IDEMPOTENCY_KEY``. 2xx / exit 0 is done. 5xx, 408/425/429, a timeout, a
   cut connection or exit 75 are tried again later with exponential backoff, with the same
   key and body; any other 4xx or exit code is refused: the grant fails with a review item.
   A call a killed robot left running is made again once its lease runs out, with the same
   key: the receiver must act on a key once (it is told so in the README);
3. **grant**: a grant whose calls are all done becomes ``granted`` and its welcome email is
   queued through the outbox (key ``access/welcome/<invoice id>``) in the customer's
   language, as a reply in the invoice's thread, in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from backoffice.access.mail import welcome_mail
from backoffice.access.models import (
    COMMAND,
    DONE,
    FAILED,
    GRANTED,
    PENDING,
    PROVISIONING,
    RETRY,
    RUNNING,
    WEBHOOK,
    AccessGrant,
    ProvisioningCall,
)
from backoffice.access.payload import SIGNATURE_HEADER, grant_body, signature
from backoffice.billing.mail import SUBJECTS
from backoffice.billing.models import IssuedInvoice
from backoffice.billing.service import INVOICE_SUBJECT
from backoffice.clock import utcnow
from backoffice.config import Settings
from backoffice.errors import ConfigurationError
from backoffice.invoices import export
from backoffice.invoices.service import open_review
from backoffice.outbox.compose import InvalidOutgoingMail
from backoffice.outbox.service import enqueue
from backoffice.receivables.records import insert_once, invoice_thread
from backoffice.store import lease
from backoffice.store.db import Store

log = logging.getLogger(__name__)

ACCESS_PROVISIONING_REFUSED = "ACCESS_PROVISIONING_REFUSED"
ACCESS_PROVISIONING_FAILED = "ACCESS_PROVISIONING_FAILED"
ACCESS_WELCOME_UNDELIVERABLE = "ACCESS_WELCOME_UNDELIVERABLE"
#: Longest wait between two attempts of a call.
BACKOFF_MAX = timedelta(hours=1)

Progress = Callable[[int], None]


@dataclass
class AccessReport:
    """What one run of the access robot did."""

    configured: bool = True
    recorded: int = 0
    calls: int = 0
    #: Calls made again after a robot was stopped during them (same idempotency key).
    resumed: int = 0
    retry_later: int = 0
    granted: int = 0
    failed: int = 0
    #: One line per thing that now waits for staff: ``CODE: invoice: why``.
    reasons: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs."""
        if not self.configured:
            return (
                "access: provisioning is not configured (BACKOFFICE_ACCESS_WEBHOOK_URL or "
                "BACKOFFICE_ACCESS_COMMAND): nothing done"
            )
        return (
            f"access: {self.recorded} paid invoices recorded, {self.calls} provisioning calls "
            f"done ({self.resumed} resumed after a stop), {self.retry_later} to retry, "
            f"{self.granted} granted with a welcome email, {self.failed} failed"
        )


@dataclass(frozen=True)
class _Job:
    call_id: int
    grant_id: int
    kind: str
    key: str
    body: bytes
    attempts: int


def provisioning_kinds(settings: Settings) -> list[str]:
    """The configured provisioning targets (``webhook``, ``command``), checked."""
    kinds = []
    url = settings.access_webhook_url.strip()
    if url:
        if not export.is_http(url):
            raise ConfigurationError(
                "BACKOFFICE_ACCESS_WEBHOOK_URL must be an http:// or https:// URL",
                code="ACCESS_WEBHOOK_INVALID",
            )
        secret = settings.access_webhook_secret
        if secret is None or not secret.get_secret_value():
            raise ConfigurationError(
                "BACKOFFICE_ACCESS_WEBHOOK_SECRET is needed to sign the provisioning webhook",
                code="ACCESS_WEBHOOK_SECRET_MISSING",
            )
        kinds.append(WEBHOOK)
    if settings.access_command.strip():
        kinds.append(COMMAND)
    return kinds


def grant_due(
    store: Store, settings: Settings, *, progress: Progress | None = None
) -> AccessReport:
    """Record, provision and welcome every invoice paid in full, each exactly once."""
    report = AccessReport()
    kinds = provisioning_kinds(settings)
    if not kinds:
        report.configured = False
        return report
    _record(store, settings, kinds, report)
    _make_calls(store, settings, kinds, report, progress)
    _grant_finished(store, settings, report)
    return report


# --- 1. record the intent ----------------------------------------------------------------


def grant_key(invoice: IssuedInvoice) -> str:
    """The idempotency key of an invoice's access grant."""
    return f"access-grant:{invoice.number}"


def _record(store: Store, settings: Settings, kinds: list[str], report: AccessReport) -> None:
    with store.session() as session:
        ids = session.scalars(
            select(IssuedInvoice.id)
            .where(
                IssuedInvoice.paid_at.is_not(None),
                ~exists().where(AccessGrant.invoice_pk == IssuedInvoice.id),
            )
            .order_by(IssuedInvoice.paid_at, IssuedInvoice.id)
        ).all()
    for invoice_id in ids:
        with store.session() as session:
            invoice = session.get(IssuedInvoice, invoice_id)
            assert invoice is not None
            now = utcnow()
            key = grant_key(invoice)
            grant_id = insert_once(
                session,
                AccessGrant,
                {
                    "invoice_pk": invoice.id,
                    "idempotency_key": key,
                    "customer_email": invoice.buyer_email,
                    "contract_ref": invoice.contract_ref,
                    "body": grant_body(invoice, key=key, requested_at=now),
                    "status": PROVISIONING,
                    "reason_code": "",
                    "reason": "",
                    "welcome_key": "",
                    "created_at": now,
                },
            )
            if grant_id is None:
                continue  # another robot recorded it first
            for kind in kinds:
                session.add(
                    ProvisioningCall(
                        grant_pk=grant_id, kind=kind, status=PENDING, next_attempt_at=now
                    )
                )
        report.recorded += 1
        log.info("invoice %s paid: access grant recorded (%s)", invoice.number, ", ".join(kinds))


# --- 2. make the calls -------------------------------------------------------------------


def _make_calls(
    store: Store,
    settings: Settings,
    kinds: list[str],
    report: AccessReport,
    progress: Progress | None,
) -> None:
    owner = settings.resolved_worker_id
    seen: list[int] = []
    while True:
        with store.session() as session:
            job = _claim(session, settings, owner, kinds, seen, report)
        if job is None:
            return
        seen.append(job.call_id)
        try:
            result = _call(settings, job)
        except export.HookRefused as exc:
            _settle_failed(store, owner, job, ACCESS_PROVISIONING_REFUSED, str(exc), report)
        except Exception as exc:
            # 5xx, a timeout, a cut connection, exit 75, anything unforeseen: the receiver
            # may or may not have acted, and the same key makes another try safe.
            if not isinstance(exc, export.HookError):
                log.exception("provisioning call %s failed unexpectedly", job.call_id)
            _settle_retry(store, settings, owner, job, str(exc) or repr(exc), report)
        else:
            _settle_done(store, owner, job, result, report)
        if progress is not None:
            progress(1)


def _claim(
    session: Session,
    settings: Settings,
    owner: str,
    kinds: list[str],
    seen: list[int],
    report: AccessReport,
) -> _Job | None:
    claimed = lease.claim(
        session,
        ProvisioningCall,
        owner=owner,
        # Longer than the call may take, so a slow call is not taken for a dead robot's.
        lease_seconds=settings.lease_seconds + settings.access_timeout,
        where=[
            ProvisioningCall.status.in_((PENDING, RETRY, RUNNING)),
            ProvisioningCall.next_attempt_at <= utcnow(),
            ProvisioningCall.kind.in_(kinds),
            ProvisioningCall.id.not_in(seen),
            # A grant another call already failed is for staff: no more calls for it.
            ProvisioningCall.grant_pk.in_(
                select(AccessGrant.id).where(AccessGrant.status == PROVISIONING)
            ),
        ],
        order_by=(ProvisioningCall.next_attempt_at, ProvisioningCall.id),
    )
    if not claimed:
        return None
    call = claimed[0]
    grant = session.get(AccessGrant, call.grant_pk)
    assert grant is not None
    if call.status == RUNNING:
        # Its robot was stopped during the call (the lease ran out): the receiver may have
        # acted; the same key lets it drop the repeat.
        report.resumed += 1
        log.warning("%s: %s call interrupted, making it again", grant.idempotency_key, call.kind)
    # Recorded as running (committed) before it is made.
    call.status = RUNNING
    call.attempts += 1
    return _Job(
        call_id=call.id,
        grant_id=grant.id,
        kind=call.kind,
        key=grant.idempotency_key,
        body=grant.body.encode("utf-8"),
        attempts=call.attempts,
    )


def _call(settings: Settings, job: _Job) -> dict[str, Any]:
    if job.kind == WEBHOOK:
        secret = settings.access_webhook_secret
        assert secret is not None  # checked in provisioning_kinds
        return export.deliver(
            settings.access_webhook_url.strip(),
            job.body,
            key=job.key,
            timeout=settings.access_timeout,
            headers={SIGNATURE_HEADER: signature(secret.get_secret_value(), job.body)},
            agent="backoffice-access",
        )
    return export.deliver(
        settings.access_command,
        job.body,
        key=job.key,
        timeout=settings.access_timeout,
        env={"BACKOFFICE_ACCESS_GRANT": str(job.grant_id)},
    )


def _ours(session: Session, owner: str, job: _Job) -> ProvisioningCall | None:
    call = session.get(ProvisioningCall, job.call_id)
    if call is None or call.lease_owner != owner or call.status != RUNNING:
        return None  # our lease ran out and another robot took the call over
    return call


def _settle_done(
    store: Store, owner: str, job: _Job, result: dict[str, Any], report: AccessReport
) -> None:
    with store.session() as session:
        call = _ours(session, owner, job)
        if call is None:
            return
        call.status, call.result, call.done_at, call.last_error = DONE, result, utcnow(), ""
        lease.release(call)
    report.calls += 1


def _settle_retry(
    store: Store, settings: Settings, owner: str, job: _Job, error: str, report: AccessReport
) -> None:
    if job.attempts >= max(1, settings.access_max_attempts):
        reason = f"no answer after {job.attempts} attempts, the last: {error}"
        _settle_failed(store, owner, job, ACCESS_PROVISIONING_FAILED, reason, report)
        return
    delay = min(
        timedelta(seconds=settings.access_backoff_seconds) * 2 ** (job.attempts - 1), BACKOFF_MAX
    )
    with store.session() as session:
        call = _ours(session, owner, job)
        if call is None:
            return
        call.status, call.last_error = RETRY, error
        call.next_attempt_at = utcnow() + delay
        lease.release(call)
    report.retry_later += 1
    log.warning("%s: %s call failed (%s); trying again in %s", job.key, job.kind, error, delay)


def _settle_failed(
    store: Store, owner: str, job: _Job, code: str, error: str, report: AccessReport
) -> None:
    with store.session() as session:
        call = _ours(session, owner, job)
        if call is None:
            return
        call.status, call.last_error = FAILED, error
        lease.release(call)
        grant = session.get(AccessGrant, job.grant_id)
        assert grant is not None
        invoice = session.get(IssuedInvoice, grant.invoice_pk)
        assert invoice is not None
        what = "refused" if code == ACCESS_PROVISIONING_REFUSED else "could not make"
        reason = (
            f"invoice {invoice.number} is paid but the {job.kind} {what} the provisioning "
            f"call ({error}); grant the access by hand (idempotency key {job.key}) or fix "
            "the cause"
        )
        session.execute(
            update(AccessGrant)
            .where(AccessGrant.id == grant.id, AccessGrant.status == PROVISIONING)
            .values(status=FAILED, reason_code=code, reason=reason)
            .execution_options(synchronize_session=False)
        )
        open_review(
            session,
            INVOICE_SUBJECT,
            invoice.id,
            code,
            reason,
            {
                "invoice_id": invoice.id,
                "number": invoice.number,
                "customer_email": grant.customer_email,
                "contract_ref": grant.contract_ref,
                "call": job.kind,
                "idempotency_key": job.key,
                "attempts": job.attempts,
                "error": error,
            },
        )
    report.failed += 1
    report.reasons.append(f"{code}: {invoice.number}: {reason}")


# --- 3. grant and welcome ----------------------------------------------------------------


def _grant_finished(store: Store, settings: Settings, report: AccessReport) -> None:
    open_calls = exists().where(
        ProvisioningCall.grant_pk == AccessGrant.id, ProvisioningCall.status != DONE
    )
    with store.session() as session:
        ids = session.scalars(
            select(AccessGrant.id)
            .where(AccessGrant.status == PROVISIONING, ~open_calls)
            .order_by(AccessGrant.id)
        ).all()
    for grant_id in ids:
        with store.session() as session:
            # Compare-and-set first (a write: SQLite's lock, PostgreSQL's row lock), so of
            # two robots only one grants and queues the welcome.
            moved = session.execute(
                update(AccessGrant)
                .where(AccessGrant.id == grant_id, AccessGrant.status == PROVISIONING, ~open_calls)
                .values(status=GRANTED, granted_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                continue
            grant = session.get(AccessGrant, grant_id)
            assert grant is not None
            _welcome(session, store, settings, grant, report)
        report.granted += 1


def _welcome(
    session: Session, store: Store, settings: Settings, grant: AccessGrant, report: AccessReport
) -> None:
    invoice = session.get(IssuedInvoice, grant.invoice_pk)
    assert invoice is not None
    fallback = SUBJECTS.get(invoice.language, SUBJECTS["en"]).format(number=invoice.number)
    thread = invoice_thread(session, invoice, fallback)
    mail = welcome_mail(
        invoice.language,
        number=invoice.number,
        contract_ref=invoice.contract_ref,
        seller=str(invoice.seller.get("name", "")),
        invoice_subject=thread.subject,
    )
    key = f"access/welcome/{invoice.id}"
    try:
        enqueue(
            store,
            settings,
            key=key,
            to=[grant.customer_email],
            subject=mail.subject,
            body_text=mail.body,
            in_reply_to=thread.in_reply_to,
            references=thread.references,
            language=invoice.language,
            subject_type=INVOICE_SUBJECT,
            subject_ref=str(invoice.id),
            session=session,
        )
    except InvalidOutgoingMail as exc:
        reason = f"access for invoice {invoice.number} is granted but the welcome email "
        reason += f"cannot be sent: {exc}"
        open_review(
            session,
            INVOICE_SUBJECT,
            invoice.id,
            ACCESS_WELCOME_UNDELIVERABLE,
            reason,
            {"invoice_id": invoice.id, "customer_email": grant.customer_email},
        )
        report.reasons.append(f"{ACCESS_WELCOME_UNDELIVERABLE}: {invoice.number}: {exc}")
        return
    grant.welcome_key = key
    log.info("invoice %s: access granted, welcome email queued", invoice.number)
