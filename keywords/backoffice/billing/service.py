"""The billing use cases: issue an invoice now, queue a request, issue what is due.

Each invoice moves in committed steps:

1. **numbered**: one transaction locks the counter of its series and period, checks the
   source (request key or contract) was not invoiced before, bumps the counter and inserts
   the ``IssuedInvoice`` row with every value frozen (and marks the request issued). A
   killed robot leaves either nothing (the number was never taken) or the whole row.
2. **emailed**: the PDF (with the Factur-X XML) and, for a Polish seller, the KSeF FA(3)
   XML are made from the row, and the email is queued in the outbox (idempotency key
   ``billing/invoice/<id>``) in the transaction that marks the row emailed. The outbox
   sends it at most once. A row left ``numbered`` by a killed robot is taken up again
   by any robot once its lease runs out; the outbox key makes a second enqueue a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backoffice.billing import cii
from backoffice.billing.document import IssuedDocument
from backoffice.billing.ksef import ksef_xml
from backoffice.billing.mail import invoice_mail
from backoffice.billing.model import (
    InvalidIssueRequest,
    InvoiceDraft,
    IssueRequest,
    parse_request,
    price,
    seller_from_settings,
)
from backoffice.billing.models import (
    EMAILED,
    FAILED,
    ISSUED,
    NUMBERED,
    QUEUED,
    REJECTED,
    InvoiceRequest,
    IssuedInvoice,
)
from backoffice.billing.numbering import NumberFormat, lock_counter, take_next
from backoffice.billing.pdf import LABELS, render_pdf
from backoffice.clock import utcnow
from backoffice.config import Settings
from backoffice.invoices.service import open_review
from backoffice.outbox.compose import OutgoingAttachment
from backoffice.outbox.service import enqueue
from backoffice.store import lease
from backoffice.store.db import Store

log = logging.getLogger(__name__)

REQUEST_SUBJECT = "invoice_request"
INVOICE_SUBJECT = "issued_invoice"
INVOICE_DOCUMENT_FAILED = "INVOICE_DOCUMENT_FAILED"
#: Requests claimed per transaction by the billing robot.
BATCH = 10
#: Times the numbering transaction is retried when the period changed under it (midnight).
_NUMBER_TRIES = 3

Progress = Callable[[int], None]


@dataclass(frozen=True)
class IssueOutcome:
    """One invoice: its number, whether this call issued it, and where it stands."""

    invoice_id: int
    number: str
    created: bool
    status: str
    total_gross: Decimal
    currency: str
    source_key: str

    def to_json(self) -> dict[str, Any]:
        """For ``backoffice invoice issue --json``."""
        return {
            "invoice_id": self.invoice_id,
            "number": self.number,
            "created": self.created,
            "status": self.status,
            "total_gross": str(self.total_gross),
            "currency": self.currency,
            "source_key": self.source_key,
        }


@dataclass
class BillingReport:
    """What one billing run did."""

    issued: int = 0
    already_issued: int = 0
    rejected: int = 0
    emailed: int = 0
    failed: int = 0
    #: One line per thing that now waits for staff: ``CODE: what: why``.
    reasons: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs."""
        return (
            f"billing: {self.issued} invoices issued, {self.emailed} emailed, "
            f"{self.already_issued} issued before, {self.rejected} requests rejected, "
            f"{self.failed} failed"
        )


# --- settings --------------------------------------------------------------------------


def number_format(settings: Settings) -> NumberFormat:
    """The configured number format (checked)."""
    return NumberFormat.parse(settings.invoice_number_format, settings.invoice_seq_digits)


# --- issue now -------------------------------------------------------------------------


def issue_invoice(store: Store, settings: Settings, request: IssueRequest) -> IssueOutcome:
    """Issue one invoice now: number it, make its documents and queue its email.

    Issuing the same source (request key or contract) again returns the first invoice and
    changes nothing. Raises ``InvalidIssueRequest`` for a request that cannot be invoiced
    (nothing is stored then) and ``ConfigurationError`` when the seller is not set up.
    """
    fmt = number_format(settings)
    seller, bank = seller_from_settings(settings)
    source_key = request.source_key
    invoice_id = _existing(store, source_key)
    if invoice_id is None:
        draft = price(request, seller, bank, settings)
        invoice_id, created = _number(store, settings, fmt, draft, source_key, request_pk=None)
    else:
        created = False
    _deliver(store, settings, invoice_id)
    return _outcome(store, invoice_id, created)


def _existing(store: Store, source_key: str) -> int | None:
    with store.session() as session:
        return session.scalar(
            select(IssuedInvoice.id).where(IssuedInvoice.source_key == source_key)
        )


def _outcome(store: Store, invoice_id: int, created: bool) -> IssueOutcome:
    with store.session() as session:
        row = session.get(IssuedInvoice, invoice_id)
        assert row is not None
        return IssueOutcome(
            invoice_id=row.id,
            number=row.number,
            created=created,
            status=row.status,
            total_gross=Decimal(row.total_gross),
            currency=row.currency,
            source_key=row.source_key,
        )


class _PeriodChanged(Exception):
    """The calendar moved to another period while we waited for the counter."""


def _number(
    store: Store,
    settings: Settings,
    fmt: NumberFormat,
    draft: InvoiceDraft,
    source_key: str,
    *,
    request_pk: int | None,
) -> tuple[int, bool]:
    """Give the draft its number in the transaction that stores it; (invoice id, created)."""
    zone = settings.invoice_zone()
    owner = settings.resolved_worker_id
    for _try in range(_NUMBER_TRIES):
        issue_date = utcnow().astimezone(zone).date()
        period = fmt.period(issue_date)
        try:
            with store.session() as session:
                last = lock_counter(session, draft.series, period)
                # Read after the lock: a robot that issued this source while we waited has
                # committed by now, and we see its row (READ COMMITTED / SQLite's write lock).
                existing = session.scalar(
                    select(IssuedInvoice.id).where(IssuedInvoice.source_key == source_key)
                )
                if existing is not None:
                    _mark_request(session, request_pk, existing)
                    return existing, False
                now = utcnow()
                issue_date = now.astimezone(zone).date()
                if fmt.period(issue_date) != period:
                    raise _PeriodChanged
                seq = take_next(session, draft.series, period, last)
                row = IssuedInvoice(
                    source_key=source_key,
                    contract_ref=draft.contract_ref,
                    series=draft.series,
                    period=period,
                    seq=seq,
                    number=fmt.format(draft.series, issue_date, seq),
                    issue_date=issue_date,
                    sale_date=draft.sale_date or issue_date,
                    due_date=issue_date + timedelta(days=draft.due_days),
                    currency=draft.currency,
                    language=draft.language,
                    exchange_rate=draft.exchange_rate,
                    vat_per_line=draft.vat_per_line,
                    seller=draft.seller.to_json(),
                    bank=draft.bank.to_json(),
                    buyer=draft.buyer.to_json(),
                    buyer_email=draft.buyer.email,
                    lines=[line.to_json() for line in draft.lines],
                    rates=[rate.to_json() for rate in draft.rates],
                    total_net=draft.total_net,
                    total_vat=draft.total_vat,
                    total_gross=draft.total_gross,
                    status=NUMBERED,
                    issued_at=now,
                    # Ours while we make its documents; another robot takes over if we die.
                    lease_owner=owner,
                    lease_until=now + timedelta(seconds=settings.lease_seconds),
                )
                session.add(row)
                session.flush()
                _mark_request(session, request_pk, row.id)
                return row.id, True
        except _PeriodChanged:
            continue
        except IntegrityError:
            # The last guard: the same source numbered at the same moment in another
            # series or period, or a number the format makes collide with another series.
            found = _existing(store, source_key)
            if found is not None:
                with store.session() as session:
                    _mark_request(session, request_pk, found)
                return found, False
            raise
    raise RuntimeError("the invoice period kept changing while numbering")  # pragma: no cover


def _mark_request(session: Session, request_pk: int | None, invoice_id: int) -> None:
    if request_pk is not None:
        _settle_request(session, request_pk, status=ISSUED, invoice_pk=invoice_id)


def _settle_request(session: Session, request_pk: int, **values: Any) -> None:
    """Give the request its final status and release its lease."""
    values.setdefault("reason_code", "")
    values.setdefault("reason", "")
    session.execute(
        update(InvoiceRequest)
        .where(InvoiceRequest.id == request_pk)
        .values(lease_owner=None, lease_until=None, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )


# --- documents and the email -----------------------------------------------------------


def make_documents(doc: IssuedDocument) -> tuple[bytes, bytes | None]:
    """The Factur-X PDF and, for a Polish seller, the FA(3) XML of an invoice."""
    title = LABELS[doc.language]["title"].format(number=doc.number, date=doc.issue_date)
    pdf = cii.embed(
        render_pdf(doc),
        cii.cii_xml(doc),
        language=doc.language,
        title=title,
        author=doc.seller.name,
    )
    ksef = ksef_xml(doc) if doc.seller.country == "PL" else None
    return pdf, ksef


def _deliver(store: Store, settings: Settings, invoice_id: int) -> tuple[str, bool]:
    """Make the documents of a numbered invoice and queue its email.

    Returns its status and whether this call moved it (False when it was done before).
    """
    with store.session() as session:
        row = session.get(IssuedInvoice, invoice_id)
        assert row is not None
        if row.status != NUMBERED:
            return row.status, False
        doc = IssuedDocument.from_row(row)
    try:
        pdf, ksef = make_documents(doc)
    except Exception as exc:
        log.exception("invoice %s: documents failed", doc.number)
        reason = f"the documents of invoice {doc.number} could not be made: {exc}"
        with store.session() as session:
            row = session.get(IssuedInvoice, invoice_id)
            assert row is not None
            row.status, row.reason_code, row.reason = FAILED, INVOICE_DOCUMENT_FAILED, reason
            row.lease_owner = row.lease_until = None
            open_review(
                session,
                INVOICE_SUBJECT,
                invoice_id,
                INVOICE_DOCUMENT_FAILED,
                reason,
                {"number": doc.number, "source_key": row.source_key},
            )
        return FAILED, True
    mail = invoice_mail(doc, with_ksef=ksef is not None)
    attachments = [OutgoingAttachment(f"{doc.file_stem}.pdf", pdf, "application/pdf")]
    if ksef is not None:
        attachments.append(OutgoingAttachment(f"{doc.file_stem}.xml", ksef, "application/xml"))
    with store.session() as session:
        query = select(IssuedInvoice).where(IssuedInvoice.id == invoice_id)
        if store.dialect == "postgresql":
            query = query.with_for_update()
        row = session.scalar(query)
        assert row is not None
        if row.status != NUMBERED:
            return row.status, False
        key = f"billing/invoice/{row.id}"
        queued = enqueue(
            store,
            settings,
            key=key,
            to=[row.buyer_email],
            subject=mail.subject,
            body_text=mail.body,
            attachments=attachments,
            language=row.language,
            subject_type=INVOICE_SUBJECT,
            subject_ref=str(row.id),
            session=session,
        )
        row.outbox_key = key
        row.pdf_path = queued.attachments[0]["blob_path"]
        row.pdf_sha256 = queued.attachments[0]["sha256"]
        row.ksef_path = queued.attachments[1]["blob_path"] if ksef is not None else ""
        row.status, row.emailed_at = EMAILED, utcnow()
        row.lease_owner = row.lease_until = None
    return EMAILED, True


# --- the robot: queued requests --------------------------------------------------------


def queue_requests(
    store: Store, settings: Settings, requests: Iterable[IssueRequest]
) -> list[tuple[str, bool]]:
    """Queue requests for the billing robot, once per source; [(source key, new)]."""
    out = []
    with store.session() as session:
        dialect = session.get_bind().dialect.name
        make_insert = pg_insert if dialect == "postgresql" else sqlite_insert
        for request in requests:
            source_key = request.source_key
            inserted = session.scalar(
                make_insert(InvoiceRequest)
                .values(
                    source_key=source_key,
                    payload=request.model_dump(mode="json"),
                    status=QUEUED,
                    reason_code="",
                    reason="",
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
                .on_conflict_do_nothing()
                .returning(InvoiceRequest.id)
            )
            out.append((source_key, inserted is not None))
    return out


def issue_due(
    store: Store,
    settings: Settings,
    *,
    limit: int | None = None,
    progress: Progress | None = None,
) -> BillingReport:
    """The billing robot: finish invoices a stopped robot left, then issue queued requests.

    Each request is claimed with a lease, so robots share the queue; a request that cannot
    be invoiced is rejected with its reason and a review item, and the run goes on.
    """
    report = BillingReport()
    fmt = number_format(settings)
    seller, bank = seller_from_settings(settings)
    _finish_left_over(store, settings, report, progress)
    done = 0
    while limit is None or done < limit:
        claimed = _claim(
            store,
            settings,
            InvoiceRequest,
            QUEUED,
            BATCH if limit is None else min(BATCH, limit - done),
        )
        jobs = [(row.id, row.source_key, dict(row.payload)) for row in claimed]
        if not jobs:
            break
        for request_pk, source_key, payload in jobs:
            done += 1
            try:
                request = parse_request(payload)
                draft = price(request, seller, bank, settings)
            except InvalidIssueRequest as exc:
                _reject(store, request_pk, source_key, exc, report)
            else:
                invoice_id, created = _number(
                    store, settings, fmt, draft, source_key, request_pk=request_pk
                )
                if created:
                    report.issued += 1
                else:
                    report.already_issued += 1
                _count(report, _deliver(store, settings, invoice_id), invoice_id)
            if progress is not None:
                progress(1)
    return report


def _claim(store: Store, settings: Settings, model: Any, status: str, limit: int) -> list[Any]:
    """Claim up to ``limit`` records in ``status`` with our lease (loaded, committed)."""
    with store.session() as session:
        return lease.claim(
            session,
            model,
            owner=settings.resolved_worker_id,
            lease_seconds=settings.lease_seconds,
            where=[model.status == status],
            limit=limit,
        )


def _count(report: BillingReport, result: tuple[str, bool], invoice_id: int) -> None:
    status, moved = result
    if not moved:
        return
    if status == EMAILED:
        report.emailed += 1
    elif status == FAILED:
        report.failed += 1
        report.reasons.append(f"{INVOICE_DOCUMENT_FAILED}: invoice {invoice_id}")


def _finish_left_over(
    store: Store, settings: Settings, report: BillingReport, progress: Progress | None
) -> None:
    """Invoices numbered by a robot that stopped before emailing them: email them now."""
    while True:
        ids = [row.id for row in _claim(store, settings, IssuedInvoice, NUMBERED, BATCH)]
        if not ids:
            return
        for invoice_id in ids:
            _count(report, _deliver(store, settings, invoice_id), invoice_id)
            if progress is not None:
                progress(1)


def _reject(
    store: Store,
    request_pk: int,
    source_key: str,
    exc: InvalidIssueRequest,
    report: BillingReport,
) -> None:
    with store.session() as session:
        _settle_request(session, request_pk, status=REJECTED, reason_code=exc.code, reason=str(exc))
        open_review(
            session,
            REQUEST_SUBJECT,
            request_pk,
            exc.code,
            str(exc),
            {"source_key": source_key},
        )
    report.rejected += 1
    report.reasons.append(f"{exc.code}: request {source_key}: {exc}")
