"""The accounts-payable use case: new invoice documents → checked → one case each → acted on.

``process_invoices(store, settings)`` runs the three steps the invoices robot runs:

1. ``check_new_invoices``: each document of kind ``invoice`` with status ``new`` is claimed
   with a lease, read with ``extract`` (outside any transaction: OCR may take seconds),
   checked by the rules against what the store knows (our tax IDs, the supplier's known bank
   accounts, earlier invoices, the file's sha256) and decided, all in ONE transaction that
   also moves the document to ``processed`` (or ``rejected`` when it cannot be read):

   - ``accepted``: the case is ``accepted``, the supplier's IBAN is learned, and the export
     and the hook are recorded as effects (made in step 2);
   - ``correction_requested``: a reply to the sender is queued in the outbox in the same
     thread and language (idempotency key per case and round) and the case is ``waiting``;
     a later mail in that thread, or the same seller + number, is matched back to it and
     checked again; past ``invoice_correction_rounds`` the case goes to review;
   - ``review``: the case waits for staff, with a review item holding the evidence.

2. ``make_due_effects``: each recorded effect is claimed, marked ``running`` (committed),
   made, and marked ``done``. An export is repeatable (same file names, atomic writes); a hook
   found ``running`` after its robot died may have happened, so it becomes ``in_doubt`` for
   staff instead of being called again. When all of a case's effects are done it is
   ``exported``.

3. ``chase_corrections``: a case waiting ``invoice_reminder_days`` gets one reminder in the
   thread; waiting as long again after it, it goes to review.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from email.utils import getaddresses
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backoffice.clock import utcnow
from backoffice.config import Settings
from backoffice.invoices import export, profiles
from backoffice.invoices.api import extract
from backoffice.invoices.decide import (
    ACCEPTED,
    CORRECTION_REQUESTED,
    Decision,
    correction_email,
    decide,
    email_language,
)
from backoffice.invoices.ids import iban_is_valid, normalise_tax_id
from backoffice.invoices.model import ExtractionResult, Kind, Problem
from backoffice.invoices.replies import reminder_email
from backoffice.invoices.rules import (
    EarlierInvoice,
    Finding,
    RuleContext,
    SupplierAccount,
    run_rules,
)
from backoffice.outbox.compose import InvalidOutgoingMail
from backoffice.outbox.service import enqueue
from backoffice.store import lease
from backoffice.store.db import Store
from backoffice.store.models import (
    Document,
    InvoiceCase,
    InvoiceCaseDocument,
    InvoiceCaseMail,
    InvoiceEffect,
    Message,
    OutboxMessage,
    ReviewItem,
    SupplierBankAccount,
)

log = logging.getLogger(__name__)

# Case states.
ACCEPTED_STATE = "accepted"
EXPORTED = "exported"
WAITING = "waiting"
REVIEW = "review"
#: Staff sent the case back: its latest document waits to be read and decided again.
SENT_BACK = "sent_back"
# Effect states.
PENDING = "pending"
RUNNING = "running"
RETRY = "retry"
DONE = "done"
FAILED = "failed"
IN_DOUBT = "in_doubt"
#: Review items of a case are filed under this subject type, the case id as reference.
CASE_SUBJECT = "invoice_case"
DOCUMENT_SUBJECT = "document"
# Review reason codes this module adds to the rules' codes.
CORRECTION_ROUNDS_EXCEEDED = "CORRECTION_ROUNDS_EXCEEDED"
CORRECTION_UNDELIVERABLE = "CORRECTION_UNDELIVERABLE"
NO_CORRECTION_RECEIVED = "NO_CORRECTION_RECEIVED"
HOOK_IN_DOUBT = "HOOK_IN_DOUBT"
HOOK_FAILED = "HOOK_FAILED"
EXPORT_FAILED = "EXPORT_FAILED"
DUPLICATE_INVOICE = "DUPLICATE_INVOICE"
#: Times a decision is tried again when another robot created the same case meanwhile.
DECIDE_TRIES = 3
#: First wait before a hook that surely failed is called again; doubles per attempt.
HOOK_BACKOFF = timedelta(seconds=60)
HOOK_BACKOFF_MAX = timedelta(hours=1)
#: Seconds added to the hook's timeout for the effect's lease, so a slow hook is not
#: taken for a dead robot's.
LEASE_MARGIN = 30
COUNTRY_PREFIX = 2

Progress = Callable[[int], None]


@dataclass
class InvoiceReport:
    """What one run of the invoices robot did."""

    documents: int = 0
    accepted: int = 0
    corrections: int = 0
    review: int = 0
    matched: int = 0
    duplicates: int = 0
    rejected: int = 0
    exported: int = 0
    hooks: int = 0
    effects_waiting: int = 0
    reminders: int = 0
    expired: int = 0
    #: One line per thing that now waits for staff: ``CODE: what: why``.
    reasons: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs: what happened, leaving out what did not."""
        parts = [
            (self.accepted, "accepted"),
            (self.corrections, "correction requests"),
            (self.review, "to review"),
            (self.duplicates, "duplicates"),
            (self.rejected, "unreadable"),
            (self.matched, "matched to a waiting case"),
            (self.exported, "exported"),
            (self.hooks, "hook calls"),
            (self.effects_waiting, "exports or hook calls waiting"),
            (self.reminders, "reminders"),
            (self.expired, "handed to staff after no answer"),
        ]
        said = ", ".join(f"{count} {what}" for count, what in parts if count)
        return f"invoices: {self.documents} documents read" + (f"; {said}" if said else "")


def process_invoices(
    store: Store,
    settings: Settings,
    *,
    limit: int | None = None,
    progress: Progress | None = None,
) -> InvoiceReport:
    """Check new invoice documents, make the recorded effects, chase waiting corrections."""
    report = InvoiceReport()
    check_new_invoices(store, settings, limit=limit, progress=progress, report=report)
    make_due_effects(store, settings, report=report)
    chase_corrections(store, settings, report=report)
    log.info(report.summary())
    return report


# --- keys -------------------------------------------------------------------------------


def seller_key(tax_id: str | None) -> str:
    """A seller's tax ID compared as the rules do: compact, upper case, no country prefix."""
    if not tax_id:
        return ""
    compact = normalise_tax_id("".join(ch for ch in tax_id if ch.isalnum()))
    if len(compact) > COUNTRY_PREFIX and compact[:COUNTRY_PREFIX].isalpha():
        compact = compact[COUNTRY_PREFIX:]
    return compact.upper()


def number_key(number: str | None) -> str:
    """An invoice number compared as the duplicate rule does: no spaces, case-folded."""
    return "".join((number or "").split()).casefold()


def case_key_for(seller_tax_id: str | None, number: str | None) -> str:
    """``seller|number``, or ``""`` when either is missing (the case cannot be matched)."""
    seller, num = seller_key(seller_tax_id), number_key(number)
    return f"{seller}|{num}"[:300] if seller and num else ""


# --- step 1: checking new documents --------------------------------------------------------


@dataclass(frozen=True)
class _Claimed:
    document_id: int
    blob_path: str
    filename: str


def check_new_invoices(
    store: Store,
    settings: Settings,
    *,
    limit: int | None = None,
    progress: Progress | None = None,
    report: InvoiceReport | None = None,
) -> InvoiceReport:
    """Read, check and decide every new invoice document, one committed step each."""
    report = report if report is not None else InvoiceReport()
    owner = settings.resolved_worker_id
    done = 0
    while limit is None or done < limit:
        with store.session() as session:
            claimed = lease.claim(
                session,
                Document,
                owner=owner,
                lease_seconds=settings.lease_seconds,
                where=[Document.kind == "invoice", Document.status == "new"],
            )
            if not claimed:
                break
            document = claimed[0]
            job = _Claimed(document.id, document.blob_path, document.filename)
        result = _read(store, job)
        outcome = ""
        for _try in range(DECIDE_TRIES):
            try:
                with store.session() as session:
                    outcome = _decide_document(session, store, settings, job, result, owner)
                break
            except IntegrityError:
                # Another robot created the same case (or learned the same account) at
                # this moment; look again, now finding its record.
                log.info("document %s: a concurrent robot won a race; deciding again", job)
        else:
            raise RuntimeError(f"document {job.document_id}: could not be decided")
        done += 1
        _count(report, outcome)
        if progress:
            progress(1)
    return report


def _read(store: Store, job: _Claimed) -> ExtractionResult:
    try:
        path = store.blobs.path(job.blob_path)
    except ValueError as exc:
        result = ExtractionResult(file=Path(job.filename))
        result.problems.append(Problem("BLOB_MISSING", str(exc)))
        return result
    if not job.blob_path or not path.is_file():
        result = ExtractionResult(file=Path(job.filename))
        result.problems.append(Problem("BLOB_MISSING", "the stored file is missing"))
        return result
    result = extract(path)
    result.file = Path(job.filename)
    # What staff corrections taught about this supplier's layout, before the rules run.
    profiles.consult(
        store, job.document_id, path, result, seller_key(_text(result, "seller_tax_id"))
    )
    return result


def _count(report: InvoiceReport, outcome: str) -> None:
    if not outcome:
        return
    report.documents += 1
    base, _, note = outcome.partition("+")
    if note:
        report.matched += 1
    match base:
        case "accepted":
            report.accepted += 1
        case "correction_requested":
            report.corrections += 1
        case "review":
            report.review += 1
        case "duplicate":
            report.duplicates += 1
        case "rejected":
            report.rejected += 1


def _decide_document(
    session: Session,
    store: Store,
    settings: Settings,
    job: _Claimed,
    result: ExtractionResult,
    owner: str,
) -> str:
    """Decide one document in the caller's transaction; return the outcome for the report."""
    # Compare-and-set: only while the document is still new and still ours. A robot whose
    # lease ran out during a long OCR finds it taken over and leaves it to the other robot.
    if not lease.finish(session, Document, job.document_id, owner=owner, status="processed"):
        log.warning("document %s was taken over by another robot", job.document_id)
        return ""
    document = session.get(Document, job.document_id)
    assert document is not None
    message = document.message
    if result.kind is Kind.NOT_INVOICE:
        return _reject(session, document, message, result)

    seller = _text(result, "seller_tax_id")
    number = _text(result, "invoice_number")
    key = case_key_for(seller, number)
    resent = _sent_back_case(session, document)
    case = (
        resent
        or _waiting_case_in_thread(session, message, number)
        or _waiting_case_by_key(session, key)
    )
    matched = case is not None and resent is None
    context, by_reference = _rule_context(session, settings, seller, document.sha256, case)
    findings = run_rules(result, context)
    decision = decide(result, findings, settings.invoice_confidence_threshold)
    duplicate = next((f for f in decision.reasons if f.code == DUPLICATE_INVOICE), None)
    if duplicate is not None and case is None:
        earlier_case = by_reference.get(duplicate.value or "")
        if earlier_case is not None:
            return _duplicate(session, document, message, result, decision, earlier_case)

    if case is None:
        case = InvoiceCase(case_key=key or f"document:{document.id}", state=REVIEW, outcome="")
        session.add(case)
        session.flush()
    else:
        case = session.scalars(
            select(InvoiceCase).where(InvoiceCase.id == case.id).with_for_update()
        ).one()
    _take_reading(session, case, document, message, result, decision)
    if decision.outcome == ACCEPTED:
        _accept(session, settings, case, result)
    elif decision.outcome == CORRECTION_REQUESTED:
        _ask_for_correction(session, store, settings, case, message, result, findings, decision)
    else:
        _to_review(session, case, decision.reasons[0].code, _reason(decision.reasons))
    session.flush()
    return _outcome_of(case, matched)


def _rule_context(
    session: Session,
    settings: Settings,
    seller: str | None,
    sha256: str,
    case: InvoiceCase | None,
) -> tuple[RuleContext, dict[str, int]]:
    earlier, by_reference = _earlier_invoices(session, seller, sha256, case)
    context = RuleContext(
        own_tax_ids=tuple(settings.own_tax_ids),
        supplier_accounts=_known_accounts(session, seller),
        earlier_invoices=earlier,
        file_sha256=sha256 or None,
        confidence_threshold=settings.invoice_confidence_threshold,
    )
    return context, by_reference


def recheck(
    session: Session, settings: Settings, case: InvoiceCase, result: ExtractionResult
) -> tuple[list[Finding], Decision]:
    """The rules and the decision over a (staff-corrected) reading of ``case``, with what
    the store knows, exactly as the robot checks a new document of that case."""
    version = latest_version(session, case)
    sha256 = version.document.sha256 if version is not None else ""
    context, _ = _rule_context(session, settings, _text(result, "seller_tax_id"), sha256, case)
    findings = run_rules(result, context)
    return findings, decide(result, findings, settings.invoice_confidence_threshold)


def latest_version(session: Session, case: InvoiceCase) -> InvoiceCaseDocument | None:
    """The newest document of a case (the one its fields were read from)."""
    return session.scalar(
        select(InvoiceCaseDocument)
        .where(InvoiceCaseDocument.case_pk == case.id)
        .order_by(InvoiceCaseDocument.version.desc())
        .limit(1)
    )


def _outcome_of(case: InvoiceCase, matched: bool) -> str:
    base = {
        ACCEPTED_STATE: "accepted",
        WAITING: "correction_requested",
        REVIEW: "review",
    }.get(case.state, case.state)
    return f"{base}+matched" if matched else base


def _text(result: ExtractionResult, name: str) -> str | None:
    value = result.value(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _reject(
    session: Session, document: Document, message: Message, result: ExtractionResult
) -> str:
    problem = result.problems[0] if result.problems else Problem("NOT_AN_INVOICE", "unreadable")
    document.status = "rejected"
    document.reason_code, document.reason = problem.code, problem.message
    open_review(
        session,
        DOCUMENT_SUBJECT,
        document.id,
        problem.code,
        f"{document.filename}: {problem.message}",
        {
            **mail_evidence(document, message),
            "problems": [p.to_json() for p in result.problems],
        },
    )
    return "rejected"


def _duplicate(
    session: Session,
    document: Document,
    message: Message,
    result: ExtractionResult,
    decision: Decision,
    earlier_case: int,
) -> str:
    """A repeat of a known invoice: linked to its case for the record, never acted on twice."""
    _link(session, earlier_case, document, "duplicate", decision.reasons)
    document.reason_code = DUPLICATE_INVOICE
    document.reason = f"a repeat of invoice case {earlier_case}"
    open_review(
        session,
        DOCUMENT_SUBJECT,
        document.id,
        DUPLICATE_INVOICE,
        f"{document.filename}: {_reason(decision.reasons)}",
        {
            **mail_evidence(document, message),
            "case_id": earlier_case,
            "findings": [finding_evidence(result, f) for f in decision.reasons],
        },
    )
    return "duplicate"


def _take_reading(
    session: Session,
    case: InvoiceCase,
    document: Document,
    message: Message,
    result: ExtractionResult,
    decision: Decision,
) -> None:
    """Make this document the case's latest version: fields, findings, thread."""
    set_reading(case, result, decision)
    case.reply_to = reply_address(message)[:500]
    if not message.message_id_synthetic:
        case.message_id = message.message_id
        case.references = list(message.references or [])
        _remember_mail(session, case, message.message_id, "incoming")
    _link(session, case.id, document, decision.outcome, decision.reasons)


def set_reading(case: InvoiceCase, result: ExtractionResult, decision: Decision) -> None:
    """Put a reading (the robot's, or staff's correction of it) and its decision on the case."""
    seller = _text(result, "seller_tax_id") or ""
    gross = result.value("total_gross")
    case.seller_tax_id = seller[:64]
    case.seller_key = seller_key(seller)[:64]
    case.seller_name = _text(result, "seller_name") or ""
    case.invoice_number = (_text(result, "invoice_number") or "")[:200]
    case.currency = (_text(result, "currency") or "")[:8]
    case.total_gross = gross if isinstance(gross, Decimal) else None
    case.language = result.language or ""
    case.outcome = decision.outcome
    case.fields = result.to_json()
    case.findings = [finding_evidence(result, f) for f in decision.reasons]


def _link(
    session: Session, case_id: int, document: Document, outcome: str, reasons: Iterable[Finding]
) -> None:
    codes = [f.code for f in reasons]
    # A document sent back by staff is decided again: its version gets the new outcome.
    again = session.scalar(
        select(InvoiceCaseDocument).where(InvoiceCaseDocument.document_pk == document.id)
    )
    if again is not None:
        again.outcome, again.finding_codes = outcome, codes
        return
    version = session.scalar(
        select(func.coalesce(func.max(InvoiceCaseDocument.version), 0)).where(
            InvoiceCaseDocument.case_pk == case_id
        )
    )
    session.add(
        InvoiceCaseDocument(
            case_pk=case_id,
            document_pk=document.id,
            version=int(version or 0) + 1,
            outcome=outcome,
            finding_codes=codes,
        )
    )


def _remember_mail(session: Session, case: InvoiceCase, message_id: str, role: str) -> None:
    if not message_id:
        return
    known = session.scalar(
        select(InvoiceCaseMail.id).where(
            InvoiceCaseMail.message_id == message_id, InvoiceCaseMail.case_pk == case.id
        )
    )
    if known is None:
        session.add(InvoiceCaseMail(message_id=message_id, case_pk=case.id, role=role))


def reply_address(message: Message) -> str:
    reply_to = (message.headers or {}).get("Reply-To", "")
    for _name, addr in getaddresses([reply_to]):
        if "@" in addr:
            return addr
    return message.sender or ""


def _waiting_case_in_thread(
    session: Session, message: Message, number: str | None
) -> InvoiceCase | None:
    """The waiting case this mail answers: its In-Reply-To first, then References, newest
    first. Where one mail named several cases, the invoice number decides."""
    ids = [message.in_reply_to, *reversed(message.references or [])]
    for message_id in dict.fromkeys(i for i in ids if i):
        cases = list(
            session.scalars(
                select(InvoiceCase)
                .join(InvoiceCaseMail, InvoiceCaseMail.case_pk == InvoiceCase.id)
                .where(InvoiceCaseMail.message_id == message_id, InvoiceCase.state == WAITING)
                .order_by(InvoiceCase.id)
            )
        )
        if len(cases) > 1 and number:
            same = [c for c in cases if number_key(c.invoice_number) == number_key(number)]
            cases = same or cases
        if cases:
            return cases[0]
    return None


def send_back(session: Session, case: InvoiceCase) -> Document | None:
    """Staff send a case in review back to the robot: its latest document is read and
    decided again from the start (with what corrections taught since), as the same case.
    Returns that document, or None when the case is not in review or has no document."""
    version = latest_version(session, case)
    if case.state != REVIEW or version is None:
        return None
    document = session.get(Document, version.document_pk, with_for_update=True)
    if document is None:
        return None
    case.state = SENT_BACK
    document.status = "new"
    document.attempts = 0
    document.lease_owner = None
    document.lease_until = None
    return document


def _sent_back_case(session: Session, document: Document) -> InvoiceCase | None:
    return session.scalar(
        select(InvoiceCase)
        .join(InvoiceCaseDocument, InvoiceCaseDocument.case_pk == InvoiceCase.id)
        .where(InvoiceCaseDocument.document_pk == document.id, InvoiceCase.state == SENT_BACK)
    )


def _waiting_case_by_key(session: Session, key: str) -> InvoiceCase | None:
    if not key:
        return None
    return session.scalar(
        select(InvoiceCase).where(InvoiceCase.case_key == key, InvoiceCase.state == WAITING)
    )


def _earlier_invoices(
    session: Session, seller: str | None, sha256: str, current: InvoiceCase | None
) -> tuple[tuple[EarlierInvoice, ...], dict[str, int]]:
    """Earlier invoices that could be repeated by this one: the same seller's cases and any
    case that already holds the same file. The case being corrected is not "earlier"."""
    exclude = current.id if current is not None else -1
    earlier: list[EarlierInvoice] = []
    by_reference: dict[str, int] = {}
    key = seller_key(seller)
    if key:
        for case in session.scalars(
            select(InvoiceCase).where(InvoiceCase.seller_key == key, InvoiceCase.id != exclude)
        ):
            reference = f"invoice case {case.id}"
            by_reference[reference] = case.id
            earlier.append(EarlierInvoice(reference, case.seller_tax_id, case.invoice_number))
    if sha256:
        for case_id in session.scalars(
            select(InvoiceCaseDocument.case_pk)
            .join(Document, Document.id == InvoiceCaseDocument.document_pk)
            .where(Document.sha256 == sha256, InvoiceCaseDocument.case_pk != exclude)
            .distinct()
        ):
            reference = f"invoice case {case_id}"
            by_reference[reference] = case_id
            earlier.insert(0, EarlierInvoice(reference, sha256=sha256))
    return tuple(earlier), by_reference


def _known_accounts(session: Session, seller: str | None) -> tuple[SupplierAccount, ...]:
    key = seller_key(seller)
    if not key:
        return ()
    return tuple(
        SupplierAccount(row.seller_tax_id, row.iban)
        for row in session.scalars(
            select(SupplierBankAccount).where(SupplierBankAccount.seller_key == key)
        )
    )


# --- the three outcomes ---------------------------------------------------------------------


def _accept(
    session: Session, settings: Settings, case: InvoiceCase, result: ExtractionResult
) -> None:
    now = utcnow()
    case.state = ACCEPTED_STATE
    case.reason_code = ""
    case.accepted_at = now
    case.waiting_since = None
    _close_reviews(session, case.id)
    iban = _text(result, "iban")
    if iban and case.seller_key:
        compact = "".join(iban.split()).upper()
        if iban_is_valid(compact) and not session.scalar(
            select(SupplierBankAccount.id).where(
                SupplierBankAccount.seller_key == case.seller_key,
                SupplierBankAccount.iban == compact,
            )
        ):
            session.add(
                SupplierBankAccount(
                    seller_key=case.seller_key,
                    seller_tax_id=case.seller_tax_id,
                    iban=compact,
                    learned_from_case=case.id,
                    learned_at=now,
                )
            )
    kinds = ["export"] + (["hook"] if settings.invoice_hook.strip() else [])
    for kind in kinds:
        key = f"invoice-case:{case.id}:{kind}"
        if session.scalar(select(InvoiceEffect.id).where(InvoiceEffect.key == key)) is None:
            session.add(InvoiceEffect(key=key, case_pk=case.id, kind=kind, next_attempt_at=now))


def _ask_for_correction(
    session: Session,
    store: Store,
    settings: Settings,
    case: InvoiceCase,
    message: Message,
    result: ExtractionResult,
    findings: list[Finding],
    decision: Decision,
) -> None:
    if case.rounds >= settings.invoice_correction_rounds:
        _to_review(
            session,
            case,
            CORRECTION_ROUNDS_EXCEEDED,
            f"still wrong after {case.rounds} correction request(s): {_reason(decision.reasons)}",
        )
        return
    language = email_language(result)
    subject, body = correction_email(result, findings, language)
    try:
        request_correction(
            session, store, settings, case, subject, body, language, decision.reasons[0].code
        )
    except InvalidOutgoingMail as exc:
        _to_review(
            session,
            case,
            CORRECTION_UNDELIVERABLE,
            f"a correction request cannot be sent to {case.reply_to or '(no sender)'}: {exc}",
        )


def request_correction(
    session: Session,
    store: Store,
    settings: Settings,
    case: InvoiceCase,
    subject: str,
    body: str,
    language: str,
    reason_code: str,
) -> OutboxMessage:
    """Queue a correction request to the sender in the case's thread (once per round: the
    idempotency key names the case and round) and let the case wait for the corrected
    invoice. Used by the robot and by staff rejecting an invoice in the review queue.
    Raises ``InvalidOutgoingMail`` when there is no one to write to."""
    round_ = case.rounds + 1
    row = enqueue(
        store,
        settings,
        key=f"invoice-case:{case.id}:correction:{round_}",
        to=case.reply_to,
        subject=subject,
        body_text=body,
        in_reply_to=case.message_id,
        references=case.references,
        language=language,
        subject_type=CASE_SUBJECT,
        subject_ref=str(case.id),
        session=session,
    )
    now = utcnow()
    case.rounds = round_
    case.state = WAITING
    case.reason_code = reason_code
    case.correction_message_id = row.message_id
    case.waiting_since = now
    case.reminders = 0
    case.reminded_at = None
    _remember_mail(session, case, row.message_id, "correction")
    return row


def _to_review(session: Session, case: InvoiceCase, code: str, reason: str) -> None:
    case.state = REVIEW
    case.reason_code = code
    case.waiting_since = None
    open_review(
        session,
        CASE_SUBJECT,
        case.id,
        code,
        reason,
        {
            "case_id": case.id,
            "invoice_number": case.invoice_number,
            "seller_tax_id": case.seller_tax_id,
            "sender": case.reply_to,
            "message_id": case.message_id,
            "rounds": case.rounds,
            "file": case.fields.get("file"),
            "findings": case.findings,
        },
    )


def _reason(findings: Iterable[Finding]) -> str:
    return " ".join(finding.message("en") for finding in findings)


def finding_evidence(result: ExtractionResult, finding: Finding) -> dict[str, Any]:
    """A finding with where its value was read: field, value, confidence, source, page, box."""
    item: dict[str, Any] = finding.to_json()
    read = result.fields.get(finding.field or "")
    item["confidence"] = None if read is None else round(read.confidence, 3)
    item["source"] = None if read is None else read.source.value
    item["page"] = None if read is None else read.page
    item["box"] = None if read is None or read.box is None else list(read.box)
    return item


def mail_evidence(document: Document, message: Message) -> dict[str, Any]:
    return {
        "document_id": document.id,
        "file": document.filename,
        "sha256": document.sha256,
        "sender": message.sender,
        "subject": message.subject,
        "message_id": message.message_id,
    }


def open_review(
    session: Session,
    subject_type: str,
    subject_ref: int | str,
    code: str,
    reason: str,
    evidence: dict[str, Any],
) -> ReviewItem:
    """Open (or reopen, with the new evidence) the one review item of this subject and code."""
    item = session.scalar(
        select(ReviewItem).where(
            ReviewItem.subject_type == subject_type,
            ReviewItem.subject_ref == str(subject_ref),
            ReviewItem.reason_code == code,
        )
    )
    if item is None:
        item = ReviewItem(subject_type=subject_type, subject_ref=str(subject_ref), reason_code=code)
        session.add(item)
    item.status, item.closed_at = "open", None
    item.reason, item.evidence = reason, evidence
    return item


def _close_reviews(session: Session, case_id: int) -> None:
    for item in session.scalars(
        select(ReviewItem).where(
            ReviewItem.subject_type == CASE_SUBJECT,
            ReviewItem.subject_ref == str(case_id),
            ReviewItem.status == "open",
        )
    ):
        item.status, item.closed_at = "done", utcnow()


def accept_reviewed(
    session: Session, settings: Settings, case: InvoiceCase, result: ExtractionResult
) -> None:
    """A person approved a case in review: accept it as the robot accepts one. The export
    (and hook) are recorded once under the case's keys and made by the robot's next run;
    the IBAN becomes a known account of the supplier (a person vouched for it)."""
    if case.state in (ACCEPTED_STATE, EXPORTED):
        return
    version = latest_version(session, case)
    if version is not None:
        version.outcome = ACCEPTED
    case.outcome = ACCEPTED
    _accept(session, settings, case, result)


# --- step 2: export and hook ------------------------------------------------------------


@dataclass(frozen=True)
class _Effect:
    id: int
    key: str
    kind: str
    case_id: int
    attempts: int
    payload: dict[str, Any]
    stem: str


def make_due_effects(
    store: Store, settings: Settings, *, report: InvoiceReport | None = None
) -> InvoiceReport:
    """Make every recorded export and hook call that is due, each at most once."""
    report = report if report is not None else InvoiceReport()
    owner = settings.resolved_worker_id
    lease_seconds = max(settings.lease_seconds, settings.invoice_hook_timeout + LEASE_MARGIN)
    while True:
        with store.session() as session:
            job = _claim_effect(session, owner, lease_seconds, report)
        if job is None:
            break
        if job is _SETTLED:
            continue
        assert isinstance(job, _Effect)
        with store.session() as session:
            _make(session, store, settings, job, report)
    with store.session() as session:
        report.effects_waiting = (
            session.scalar(
                select(func.count(InvoiceEffect.id)).where(
                    InvoiceEffect.status.in_((PENDING, RETRY, RUNNING))
                )
            )
            or 0
        )
    return report


_SETTLED = object()


def _claim_effect(
    session: Session, owner: str, lease_seconds: float, report: InvoiceReport
) -> _Effect | object | None:
    now = utcnow()
    claimed = lease.claim(
        session,
        InvoiceEffect,
        owner=owner,
        lease_seconds=lease_seconds,
        where=[
            InvoiceEffect.status.in_((PENDING, RETRY, RUNNING)),
            InvoiceEffect.next_attempt_at <= now,
        ],
    )
    if not claimed:
        return None
    effect = claimed[0]
    case = session.get(InvoiceCase, effect.case_pk)
    assert case is not None
    if effect.status == RUNNING and effect.kind == "hook":
        # Its robot died while calling the hook (its lease ran out): the call may have
        # reached the accounting system. At most once: a person decides.
        effect.status = IN_DOUBT
        effect.last_error = "the robot stopped while calling the hook"
        lease.release(effect)
        reason = (
            f"invoice {case.invoice_number}: the robot stopped while handing it to the "
            "accounting system; check there whether it arrived, then close or call again"
        )
        open_review(session, CASE_SUBJECT, case.id, HOOK_IN_DOUBT, reason, _effect_evidence(effect))
        report.reasons.append(f"{HOOK_IN_DOUBT}: invoice case {case.id}: {reason}")
        return _SETTLED
    # Recorded as running (committed) before it is made.
    effect.status = RUNNING
    effect.attempts += 1
    return _Effect(
        id=effect.id,
        key=effect.key,
        kind=effect.kind,
        case_id=case.id,
        attempts=effect.attempts,
        payload=_payload(session, case),
        stem=export.file_stem(case.id, case.seller_tax_id, case.invoice_number),
    )


def _payload(session: Session, case: InvoiceCase) -> dict[str, Any]:
    version = session.scalar(
        select(InvoiceCaseDocument)
        .where(InvoiceCaseDocument.case_pk == case.id, InvoiceCaseDocument.outcome == ACCEPTED)
        .order_by(InvoiceCaseDocument.version.desc())
    )
    document = version.document if version is not None else None
    message = document.message if document is not None else None
    return export.export_payload(
        case_id=case.id,
        accepted_at=case.accepted_at.isoformat() if case.accepted_at else "",
        extraction=case.fields,
        document={
            "id": document.id if document else None,
            "filename": document.filename if document else "",
            "sha256": document.sha256 if document else "",
            "version": version.version if version else None,
        },
        mail={
            "message_id": message.message_id if message else "",
            "sender": message.sender if message else "",
            "subject": message.subject if message else "",
        },
    )


def _make(
    session: Session, store: Store, settings: Settings, job: _Effect, report: InvoiceReport
) -> None:
    effect = session.get(InvoiceEffect, job.id)
    assert effect is not None
    outcome: dict[str, Any] = {}
    try:
        if job.kind == "export":
            outcome = export.write_export(
                settings.resolved_invoice_export_dir, job.stem, job.payload
            )
        else:
            outcome = export.call_hook(
                settings.invoice_hook,
                job.payload,
                key=job.key,
                timeout=settings.invoice_hook_timeout,
                token=settings.invoice_hook_token,
            )
    except export.HookRetry as exc:
        _after_failure(session, settings, effect, str(exc), retry=True, report=report)
        return
    except export.HookRefused as exc:
        _after_failure(session, settings, effect, str(exc), retry=False, report=report)
        return
    except export.HookInDoubt as exc:
        effect.status = IN_DOUBT
        effect.last_error = str(exc)
        lease.release(effect)
        _effect_review(session, effect, HOOK_IN_DOUBT, f"the hook may have run: {exc}", report)
        return
    except OSError as exc:
        # The export folder is not writable or full: nothing half-written stays behind
        # (atomic writes), so it is safe to try again later.
        _after_failure(session, settings, effect, f"export: {exc}", retry=True, report=report)
        return
    effect.status = DONE
    effect.result = outcome
    effect.done_at = utcnow()
    effect.last_error = ""
    lease.release(effect)
    if job.kind == "export":
        report.exported += 1
    else:
        report.hooks += 1
    session.flush()
    open_effects = session.scalar(
        select(func.count(InvoiceEffect.id)).where(
            InvoiceEffect.case_pk == job.case_id, InvoiceEffect.status != DONE
        )
    )
    if not open_effects:
        case = session.get(InvoiceCase, job.case_id)
        assert case is not None
        if case.state == ACCEPTED_STATE:
            case.state = EXPORTED
            case.exported_at = utcnow()


def _after_failure(
    session: Session,
    settings: Settings,
    effect: InvoiceEffect,
    error: str,
    *,
    retry: bool,
    report: InvoiceReport,
) -> None:
    effect.last_error = error
    lease.release(effect)
    max_attempts = max(1, settings.invoice_hook_max_attempts)
    if retry and effect.attempts < max_attempts:
        delay = min(HOOK_BACKOFF * 2 ** (effect.attempts - 1), HOOK_BACKOFF_MAX)
        effect.status = RETRY
        effect.next_attempt_at = utcnow() + delay
        log.warning("%s: %s; trying again in %s", effect.key, error, delay)
        return
    effect.status = FAILED
    code = EXPORT_FAILED if effect.kind == "export" else HOOK_FAILED
    _effect_review(session, effect, code, error, report)


def _effect_review(
    session: Session, effect: InvoiceEffect, code: str, reason: str, report: InvoiceReport
) -> None:
    open_review(session, CASE_SUBJECT, effect.case_pk, code, reason, _effect_evidence(effect))
    report.reasons.append(f"{code}: invoice case {effect.case_pk}: {reason}")


def _effect_evidence(effect: InvoiceEffect) -> dict[str, Any]:
    return {
        "case_id": effect.case_pk,
        "effect": effect.kind,
        "key": effect.key,
        "attempts": effect.attempts,
        "error": effect.last_error,
    }


# --- step 3: reminders ------------------------------------------------------------------


def chase_corrections(
    store: Store, settings: Settings, *, report: InvoiceReport | None = None
) -> InvoiceReport:
    """Send one reminder for each correction request left unanswered too long; hand cases
    still unanswered as long after the reminder to staff."""
    report = report if report is not None else InvoiceReport()
    period = timedelta(days=settings.invoice_reminder_days)
    now = utcnow()
    with store.session() as session:
        due = session.scalars(
            select(InvoiceCase)
            .where(
                InvoiceCase.state == WAITING,
                InvoiceCase.reminders == 0,
                InvoiceCase.waiting_since <= now - period,
            )
            .order_by(InvoiceCase.id)
            .with_for_update(skip_locked=True)
        ).all()
        for case in due:
            if _remind(session, store, settings, case):
                report.reminders += 1
    with store.session() as session:
        expired = session.scalars(
            select(InvoiceCase)
            .where(
                InvoiceCase.state == WAITING,
                InvoiceCase.reminders >= 1,
                InvoiceCase.reminded_at <= now - period,
            )
            .order_by(InvoiceCase.id)
            .with_for_update(skip_locked=True)
        ).all()
        for case in expired:
            reason = (
                f"no corrected invoice {case.invoice_number} from {case.reply_to} "
                f"since the request of {case.waiting_since:%Y-%m-%d} and the reminder of "
                f"{case.reminded_at:%Y-%m-%d}"
            )
            _to_review(session, case, NO_CORRECTION_RECEIVED, reason)
            report.expired += 1
            report.reasons.append(f"{NO_CORRECTION_RECEIVED}: invoice case {case.id}: {reason}")
    return report


def _remind(session: Session, store: Store, settings: Settings, case: InvoiceCase) -> bool:
    assert case.waiting_since is not None
    subject, body = reminder_email(
        language=case.language,
        number=case.invoice_number,
        asked_on=case.waiting_since.date(),
        findings=case.findings,
    )
    try:
        row = enqueue(
            store,
            settings,
            key=f"invoice-case:{case.id}:reminder:{case.rounds}",
            to=case.reply_to,
            subject=subject,
            body_text=body,
            in_reply_to=case.correction_message_id,
            references=[*case.references, case.message_id],
            language=case.language,
            subject_type=CASE_SUBJECT,
            subject_ref=str(case.id),
            session=session,
        )
    except InvalidOutgoingMail as exc:
        _to_review(session, case, CORRECTION_UNDELIVERABLE, f"the reminder cannot be sent: {exc}")
        return False
    case.reminders += 1
    case.reminded_at = utcnow()
    _remember_mail(session, case, row.message_id, "reminder")
    return True
