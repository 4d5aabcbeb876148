"""The contracts use cases: issue a contract, check what comes back, ask for corrections.

``issue_contract(store, settings, form)`` validates the customer's form, generates the offer
and the contract (``generate``), keeps both PDFs in the blob store and, in ONE transaction,
stores the ``Contract`` row and queues the email with both PDFs in the customer's language
(outbox key ``contract:<id>:issue``: issuing the same form again sends nothing).

``check_returned_contracts(store, settings)`` is the contracts robot. Each document of kind
``signed_contract``, and each PDF or image arriving in a contract's thread, with status
``new``, is claimed with a lease and:

1. matched to its contract: QR code, contract ID in its text (or OCR of the first page),
   else the email thread (In-Reply-To/References naming a mail of the contract's thread);
   nothing found → a ``CONTRACT_UNKNOWN`` review item;
2. checked (outside any transaction: OCR takes seconds): a PDF carrying a signature with
   ``digital.check_signed_contract`` (pyHanko against the configured roots, signer is the
   customer, the signed text is ours), anything else as a scan with ``scan.check_contract``;
3. decided in ONE transaction with the document's move to ``processed``: valid → the
   contract is ``signed``; not valid → a correction request in the customer's language, in
   the thread, listing each problem with its page (outbox key per contract and round, so a
   robot killed after queueing it never queues a second); past
   ``contract_correction_rounds``, or when the verdict is unclear → ``review`` with the
   evidence.

Signed contracts wait for billing: ``signed_contracts_awaiting_invoice`` is the seam
(``backoffice.billing.contracts.request_for_contract`` turns each into an invoice request).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from email.utils import getaddresses
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import ValidationError
from sqlalchemy import and_, exists, literal, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backoffice.billing.models import InvoiceRequest, IssuedInvoice
from backoffice.clock import utcnow
from backoffice.config import Settings
from backoffice.contracts import digital, scan
from backoffice.contracts.generate import generate_offer_and_contract
from backoffice.contracts.mail import attachment_name, contract_email, correction_email
from backoffice.contracts.match import Clues, read_clues
from backoffice.contracts.model import DIGEST_CHARS, ContractRequest, IssuedContract, Language
from backoffice.contracts.store import (
    CORRECTION_REQUESTED,
    REVIEW,
    SIGNED,
    WAITING_SIGNATURE,
    Contract,
    ContractDocument,
    ContractMail,
)
from backoffice.contracts.verdict import ScanVerdict
from backoffice.errors import BusinessError, ConfigurationError

# The suite's conventions for review items about a mailed document, shared with invoices.
from backoffice.invoices.service import mail_evidence, open_review, reply_address
from backoffice.outbox.compose import InvalidOutgoingMail, OutgoingAttachment
from backoffice.outbox.service import enqueue
from backoffice.store import lease
from backoffice.store.db import Store
from backoffice.store.models import Document, Message, ReviewItem

log = logging.getLogger(__name__)

#: Review items about a contract are filed under this subject type, its contract ID as ref.
CONTRACT_SUBJECT = "contract"
DOCUMENT_SUBJECT = "document"
# Review and document reason codes of this flow.
CONTRACT_UNKNOWN = "CONTRACT_UNKNOWN"
CONTRACT_AMBIGUOUS = "CONTRACT_AMBIGUOUS"
CONTRACT_NOT_OURS = "CONTRACT_DOCUMENT_NOT_OURS"
CONTRACT_UNCLEAR = "CONTRACT_VERDICT_UNCLEAR"
CORRECTION_ROUNDS_EXCEEDED = "CORRECTION_ROUNDS_EXCEEDED"
CORRECTION_UNDELIVERABLE = "CORRECTION_UNDELIVERABLE"
ALREADY_SIGNED = "CONTRACT_ALREADY_SIGNED"
OFFER_RETURNED = "CONTRACT_OFFER_RETURNED"
BLOB_MISSING = "BLOB_MISSING"
#: Scan reasons a person must look at rather than the customer fix.
UNCLEAR_SCAN_CODES = frozenset({"OTHER_CONTRACT"})
#: What a file in a contract's thread must be to be taken as a returned contract.
_THREAD_TYPES = ("application/pdf", "image/")
_THREAD_SUFFIXES = (".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff")
#: Times a decision is tried again when another robot changed the same rows meanwhile.
DECIDE_TRIES = 3

Progress = Callable[[int], None]
Verdict = ScanVerdict | digital.DigitalVerdict


class InvalidContractForm(BusinessError):
    """The customer's form cannot become a contract (a field missing or wrong)."""

    code = "CONTRACT_FORM_INVALID"


@dataclass(frozen=True)
class IssueOutcome:
    """One issued contract: whether this call issued it, and its email."""

    contract_id: str
    created: bool
    status: str
    language: str
    customer_email: str
    message_id: str
    pages: int

    def to_json(self) -> dict[str, Any]:
        """For ``backoffice contract issue --json``."""
        return {
            "contract_id": self.contract_id,
            "created": self.created,
            "status": self.status,
            "language": self.language,
            "customer_email": self.customer_email,
            "message_id": self.message_id,
            "pages": self.pages,
        }


@dataclass
class ContractReport:
    """What one run of the contracts robot did."""

    documents: int = 0
    signed: int = 0
    corrections: int = 0
    review: int = 0
    unknown: int = 0
    ignored: int = 0
    #: One line per thing that now waits for staff: ``CODE: what: why``.
    reasons: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs: what happened, leaving out what did not."""
        parts = [
            (self.signed, "signed"),
            (self.corrections, "correction requests"),
            (self.review, "to review"),
            (self.unknown, "not matched to a contract"),
            (self.ignored, "needing nothing (offer, already signed)"),
        ]
        said = ", ".join(f"{count} {what}" for count, what in parts if count)
        return f"contracts: {self.documents} documents checked" + (f"; {said}" if said else "")


# --- issuing ------------------------------------------------------------------------------


def read_form(path: Path) -> dict[str, Any]:
    """The form's JSON from a file (numbers kept exact as Decimal)."""
    try:
        data = json.loads(Path(path).read_text("utf-8"), parse_float=Decimal)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidContractForm(f"{path}: not a readable JSON form: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidContractForm(f"{path}: the form must be one JSON object")
    return data


def contract_request(form: dict[str, Any], settings: Settings) -> ContractRequest:
    """Validate the form into a request; fill what the customer does not give.

    The seller is us (``BACKOFFICE_SELLER_*`` and the From address) unless the form names
    one; the issue date is today in ``invoice_timezone``; the contract ID, when the form
    has none, is derived from the form's content, so sending the same form twice issues one
    contract.
    """
    data = dict(form)
    if "seller" not in data and not (settings.seller_name and settings.seller_tax_id):
        raise ConfigurationError(
            "the form names no seller and BACKOFFICE_SELLER_NAME / SELLER_TAX_ID are not set",
            code="SELLER_NOT_CONFIGURED",
        )
    if "seller" not in data:
        address = ", ".join(
            part
            for part in (
                settings.seller_address,
                f"{settings.seller_postal_code} {settings.seller_city}".strip(),
            )
            if part
        )
        emails = [a for _n, a in getaddresses([settings.mail_from]) if "@" in a]
        data["seller"] = {
            "name": settings.seller_name,
            "email": emails[0] if emails else "",
            "tax_id": settings.seller_tax_id,
            "address": address,
        }
    if not data.get("issue_date"):
        data["issue_date"] = utcnow().astimezone(settings.invoice_zone()).date().isoformat()
    if not data.get("contract_id"):
        canonical = json.dumps(data, sort_keys=True, default=str, ensure_ascii=False)
        digest = hashlib.sha256(canonical.encode()).hexdigest()[:6].upper()
        data["contract_id"] = f"K-{str(data['issue_date'])[:4]}-{digest}"
    try:
        return ContractRequest.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'form'}: {error['msg']}"
            for error in exc.errors()
        )
        raise InvalidContractForm(problems) from exc


def issue_contract(store: Store, settings: Settings, form: dict[str, Any]) -> IssueOutcome:
    """Generate, store and email the offer and the contract for one form, once.

    Raises :class:`InvalidContractForm` for a form that cannot be a contract, or whose
    contract ID is already used by a different contract (nothing is stored then).
    """
    request = contract_request(form, settings)
    wanted = request.model_dump(mode="json")
    existing = _existing(store, request.contract_id, wanted)
    if existing is not None:
        return existing
    offer, contract = generate_offer_and_contract(request)
    try:
        with store.session() as session:
            row = _store_contract(session, store, settings, request, offer, contract)
            return _issue_outcome(row, created=True)
    except IntegrityError:
        # Another robot issued the same contract at this moment: its row is the one.
        again = _existing(store, request.contract_id, wanted)
        if again is None:
            raise
        return again


@dataclass
class IssueReport:
    """What one pass over a folder of forms did."""

    issued: int = 0
    issued_before: int = 0
    refused: int = 0
    #: One line per form that could not be issued: ``CODE: file: why``.
    reasons: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs."""
        return (
            f"contracts: {self.issued} issued, {self.issued_before} issued before, "
            f"{self.refused} forms refused"
        )


def issue_contracts_from(store: Store, settings: Settings, folder: Path) -> IssueReport:
    """Issue a contract for every ``*.json`` form in ``folder`` (each once, however often
    this runs); a bad form is refused with its reason and the others go on."""
    report = IssueReport()
    for path in sorted(Path(folder).glob("*.json")):
        try:
            outcome = issue_contract(store, settings, read_form(path))
        except BusinessError as exc:
            report.refused += 1
            report.reasons.append(f"{exc.code}: {path.name}: {exc}")
            continue
        if outcome.created:
            report.issued += 1
        else:
            report.issued_before += 1
    return report


def _existing(store: Store, contract_id: str, wanted: dict[str, Any]) -> IssueOutcome | None:
    with store.session() as session:
        row = session.scalar(select(Contract).where(Contract.contract_id == contract_id))
        if row is None:
            return None
        if row.request != wanted:
            raise InvalidContractForm(
                f"contract {contract_id} was already issued with other data; "
                "give the new contract another ID",
                code="CONTRACT_ID_TAKEN",
            )
        return _issue_outcome(row, created=False)


def _issue_outcome(row: Contract, *, created: bool) -> IssueOutcome:
    return IssueOutcome(
        contract_id=row.contract_id,
        created=created,
        status=row.status,
        language=row.language,
        customer_email=str(row.customer.get("email", "")),
        message_id=row.message_id,
        pages=len(row.issued.get("pages", [])),
    )


def _store_contract(
    session: Session,
    store: Store,
    settings: Settings,
    request: ContractRequest,
    offer: IssuedContract,
    contract: IssuedContract,
) -> Contract:
    language = request.language
    _digest, pdf_blob = store.blobs.put(contract.pdf)
    _digest, offer_blob = store.blobs.put(offer.pdf)
    row = Contract(
        contract_id=request.contract_id,
        language=language,
        customer=request.customer.model_dump(mode="json"),
        request=request.model_dump(mode="json"),
        status=WAITING_SIGNATURE,
        issued=contract.to_json(),
        pdf_blob=pdf_blob,
        pdf_sha256=contract.sha256,
        offer=offer.to_json(),
        offer_blob=offer_blob,
        offer_sha256=offer.sha256,
    )
    session.add(row)
    session.flush()
    subject, body = contract_email(
        request.contract_id, language, request.customer.name, request.seller.name
    )
    try:
        mail = enqueue(
            store,
            settings,
            key=f"contract:{request.contract_id}:issue",
            to=request.customer.email,
            subject=subject,
            body_text=body,
            attachments=[
                OutgoingAttachment(
                    attachment_name("offer", request.contract_id, language),
                    offer.pdf,
                    "application/pdf",
                ),
                OutgoingAttachment(
                    attachment_name("contract", request.contract_id, language),
                    contract.pdf,
                    "application/pdf",
                ),
            ],
            language=language,
            subject_type=CONTRACT_SUBJECT,
            subject_ref=request.contract_id,
            session=session,
        )
    except InvalidOutgoingMail as exc:
        raise InvalidContractForm(
            f"the contract email cannot be sent to {request.customer.email}: {exc}"
        ) from exc
    row.message_id = mail.message_id
    session.add(ContractMail(message_id=mail.message_id, contract_pk=row.id, role="contract"))
    return row


# --- checking returned documents ---------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    document_id: int
    blob_path: str
    filename: str


@dataclass(frozen=True)
class _Match:
    contract_pk: int | None
    matched_by: str
    #: Why nothing (or several) matched, for the review item.
    problem: str = ""
    code: str = ""
    candidates: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Checked:
    verdict: Verdict | None
    kind: Literal["scan", "digital", "offer", "none"]


def check_returned_contracts(
    store: Store,
    settings: Settings,
    *,
    limit: int | None = None,
    progress: Progress | None = None,
    report: ContractReport | None = None,
) -> ContractReport:
    """Match, check and decide every returned contract document, one committed step each."""
    report = report if report is not None else ContractReport()
    owner = settings.resolved_worker_id
    checker = _Checker.from_settings(settings)
    done = 0
    while limit is None or done < limit:
        with store.session() as session:
            claimed = lease.claim(
                session,
                Document,
                owner=owner,
                lease_seconds=settings.lease_seconds,
                where=[Document.status == "new", _returned_contract_documents()],
            )
            if not claimed:
                break
            document = claimed[0]
            job = _Job(document.id, document.blob_path, document.filename)
        data = _read(store, job)
        clues = read_clues(data) if data is not None else Clues()
        match = _match(store, job, clues)
        checked = _check(store, checker, match, data, clues)
        outcome = ""
        for _try in range(DECIDE_TRIES):
            try:
                with store.session() as session:
                    outcome = _decide(session, store, settings, job, owner, match, checked)
                    note = _review_note(session, job.document_id) if outcome in _NOTED else ""
                break
            except IntegrityError:
                log.info("document %s: a concurrent robot won a race; deciding again", job)
        else:
            raise RuntimeError(f"document {job.document_id}: could not be decided")
        done += 1
        _count(report, outcome)
        if note:
            report.reasons.append(note)
        if progress:
            progress(1)
    log.info(report.summary())
    return report


_NOTED = ("review", "unknown")


def _review_note(session: Session, document_id: int) -> str:
    """``CODE: file: why`` of the review item this document's decision opened."""
    document = session.get(Document, document_id)
    if document is None:
        return ""
    row = session.scalar(
        select(ContractDocument).where(ContractDocument.document_pk == document_id)
    )
    contract = session.get(Contract, row.contract_pk) if row is not None else None
    if contract is not None and contract.status == REVIEW:
        return f"{contract.reason_code}: contract {contract.contract_id}: {contract.reason}"
    return f"{document.reason_code}: {document.reason}"


def _returned_contract_documents() -> Any:
    """Documents this robot takes: classified as signed contracts, or a PDF or image in a
    mail that answers a contract's thread."""
    thread = select(ContractMail.message_id)
    in_thread = select(Message.id).where(
        or_(Message.thread_id.in_(thread), Message.in_reply_to.in_(thread))
    )
    is_file = or_(
        *(Document.content_type.startswith(t) for t in _THREAD_TYPES),
        *(Document.filename.ilike(f"%{s}") for s in _THREAD_SUFFIXES),
    )
    return or_(
        Document.kind == "signed_contract",
        and_(Document.kind == "other", Document.message_pk.in_(in_thread), is_file),
    )


def _read(store: Store, job: _Job) -> bytes | None:
    try:
        return store.blobs.read(job.blob_path) if job.blob_path else None
    except (OSError, ValueError):
        return None


def _match(store: Store, job: _Job, clues: Clues) -> _Match:
    """The contract this document belongs to: by QR, by ID in its text, by its thread."""
    with store.session() as session:
        document = session.get(Document, job.document_id)
        assert document is not None
        for ids, how in ((clues.qr_ids, "qr"), (clues.text_ids, clues.found_by)):
            if not ids:
                continue
            rows = list(
                session.scalars(
                    select(Contract).where(Contract.contract_id.in_(ids)).order_by(Contract.id)
                )
            )
            if len(rows) > 1:
                # Several of ours named: the thread decides, else a person.
                threaded = _thread_contracts(session, document.message)
                named = [r for r in rows if r.id in threaded]
                if len(named) == 1:
                    return _Match(named[0].id, how)
                return _Match(
                    None,
                    how,
                    "the document names several of our contracts",
                    CONTRACT_AMBIGUOUS,
                    tuple(r.contract_id for r in rows),
                )
            if rows:
                return _Match(rows[0].id, how)
        threaded = _thread_contracts(session, document.message)
        if threaded:
            return _Match(threaded[0], "thread")
        if clues.qr_ids:
            problem = f"its QR code names contract {', '.join(clues.qr_ids)}, which we never issued"
        else:
            problem = "no QR code, contract number or email thread of ours was found in it"
        return _Match(None, "", problem, CONTRACT_UNKNOWN, clues.qr_ids)


def _thread_contracts(session: Session, message: Message) -> list[int]:
    """Contracts whose thread this mail answers: In-Reply-To first, then References newest
    first, then the thread's first message."""
    ids = [message.in_reply_to, *reversed(message.references or []), message.thread_id]
    out: list[int] = []
    for message_id in dict.fromkeys(i for i in ids if i):
        for contract_pk in session.scalars(
            select(ContractMail.contract_pk)
            .where(ContractMail.message_id == message_id)
            .order_by(ContractMail.contract_pk)
        ):
            if contract_pk not in out:
                out.append(contract_pk)
    return out


@dataclass(frozen=True)
class _Checker:
    """What the checks need from the settings, read once per run."""

    trust_roots: tuple[bytes, ...]
    crls: tuple[bytes, ...]
    revocation: Literal["off", "soft", "hard"]
    fetch: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> _Checker:
        """Read the configured trust roots and CRLs (a missing file is a configuration error)."""

        def load(paths: Sequence[Path], what: str) -> tuple[bytes, ...]:
            out = []
            for path in paths:
                try:
                    out.append(Path(path).read_bytes())
                except OSError as exc:
                    raise ConfigurationError(
                        f"{what} {path} cannot be read: {exc.strerror or exc}",
                        code="CONTRACT_SETTINGS_INVALID",
                    ) from exc
            return tuple(out)

        crls = []
        for data in load(settings.contract_crls, "BACKOFFICE_CONTRACT_CRLS file"):
            if b"-----BEGIN" in data:
                try:
                    data = x509.load_pem_x509_crl(data).public_bytes(Encoding.DER)
                except ValueError as exc:
                    raise ConfigurationError(
                        f"a BACKOFFICE_CONTRACT_CRLS file is not a CRL: {exc}",
                        code="CONTRACT_SETTINGS_INVALID",
                    ) from exc
            crls.append(data)
        return cls(
            trust_roots=load(settings.contract_trust_roots, "BACKOFFICE_CONTRACT_TRUST_ROOTS file"),
            crls=tuple(crls),
            revocation=settings.contract_revocation,
            fetch=settings.contract_revocation_fetch,
        )

    def check(self, data: bytes, issued: IssuedContract) -> _Checked:
        """The verdict on one returned file: digital when it carries a signature, else a scan."""
        if digital.is_signed_pdf(data):
            verdict = digital.check_signed_contract(
                data,
                issued,
                trust_roots=self.trust_roots,
                revocation=self.revocation,
                crls=self.crls,
                fetch_revocation=self.fetch,
            )
            return _Checked(verdict, "digital")
        return _Checked(scan.check_contract(data, issued), "scan")


def issued_contract(store: Store, row: Contract) -> IssuedContract:
    """The issued contract of a row, with its PDF from the blob store."""
    return IssuedContract.from_json(row.issued, pdf=store.blobs.read(row.pdf_blob))


def _check(
    store: Store, checker: _Checker, match: _Match, data: bytes | None, clues: Clues
) -> _Checked:
    if match.contract_pk is None or data is None:
        return _Checked(None, "none")
    with store.session() as session:
        row = session.get(Contract, match.contract_pk)
        assert row is not None
        issued = issued_contract(store, row)
        offer_digest = str(row.offer.get("digest", ""))[:DIGEST_CHARS]
    if clues.qr_digests and offer_digest and set(clues.qr_digests) == {offer_digest}:
        return _Checked(None, "offer")
    return checker.check(data, issued)


def _decide(
    session: Session,
    store: Store,
    settings: Settings,
    job: _Job,
    owner: str,
    match: _Match,
    checked: _Checked,
) -> str:
    """Decide one document in the caller's transaction; return the outcome for the report."""
    document = _take(session, job.document_id, owner)
    if document is None:
        return ""
    message = document.message
    if match.contract_pk is None:
        reason = f"{document.filename}: {match.problem}"
        document.reason_code, document.reason = match.code, reason
        open_review(
            session,
            DOCUMENT_SUBJECT,
            document.id,
            match.code,
            reason,
            {**mail_evidence(document, message), "contracts_named": list(match.candidates)},
        )
        return "unknown"
    contract = session.scalars(
        select(Contract).where(Contract.id == match.contract_pk).with_for_update()
    ).one()
    if not message.message_id_synthetic:
        _remember_mail(session, contract, message.message_id, "incoming")
    verdict = checked.verdict
    history = ContractDocument(
        contract_pk=contract.id,
        document_pk=document.id,
        round=contract.rounds,
        matched_by=match.matched_by,
        kind=checked.kind,
        valid=bool(verdict and verdict.valid),
        codes=list(verdict.codes) if verdict else [],
        verdict=verdict.to_json() if verdict else {},
    )
    session.add(history)
    if checked.kind == "offer":
        history.outcome = "offer"
        document.reason_code = OFFER_RETURNED
        document.reason = f"the offer of contract {contract.contract_id}, not the contract"
        return "ignored"
    if verdict is None:
        history.outcome = REVIEW
        reason = f"{document.filename}: the stored file is missing"
        document.reason_code, document.reason = BLOB_MISSING, reason
        open_review(session, DOCUMENT_SUBJECT, document.id, BLOB_MISSING, reason, {})
        return "review"
    english = verdict.messages("en")
    document.reason_code = verdict.codes[0] if verdict.codes else ""
    document.reason = "; ".join(english)
    if contract.status == SIGNED:
        history.outcome = "after_signing"
        document.reason_code = ALREADY_SIGNED
        document.reason = f"contract {contract.contract_id} was already signed"
        return "ignored"
    if verdict.valid:
        _sign(session, contract, document, checked.kind)
        history.outcome = SIGNED
        return "signed"
    evidence = _evidence(contract, document, message, match, checked)
    codes = set(verdict.codes)
    if match.matched_by == "thread" and "NOT_OUR_DOCUMENT" in codes:
        # A file in the thread that is not the contract (a logo, another paper): staff see it,
        # the customer is not told their email's picture is a wrong contract.
        history.outcome = REVIEW
        reason = f"{document.filename} in the thread of contract {contract.contract_id} is not it"
        document.reason_code, document.reason = CONTRACT_NOT_OURS, reason
        open_review(session, DOCUMENT_SUBJECT, document.id, CONTRACT_NOT_OURS, reason, evidence)
        return "review"
    unclear = (isinstance(verdict, digital.DigitalVerdict) and verdict.unclear) or bool(
        codes & UNCLEAR_SCAN_CODES
    )
    if contract.status == REVIEW or unclear:
        code = contract.reason_code if contract.status == REVIEW else CONTRACT_UNCLEAR
        _to_review(session, contract, code, "; ".join(english), evidence)
        history.outcome = REVIEW
        return "review"
    if contract.rounds >= settings.contract_correction_rounds:
        _to_review(
            session,
            contract,
            CORRECTION_ROUNDS_EXCEEDED,
            f"still not validly signed after {contract.rounds} correction request(s): "
            + "; ".join(english),
            evidence,
        )
        history.outcome = REVIEW
        return "review"
    history.outcome = _ask_for_correction(
        session, store, settings, contract, message, verdict, evidence
    )
    return "correction" if history.outcome == CORRECTION_REQUESTED else "review"


def _take(session: Session, document_id: int, owner: str) -> Document | None:
    """Move the document to ``processed`` if it is still new and still leased by us.

    A robot whose lease ran out during a long OCR finds it taken over and leaves it be.
    """
    if not lease.finish(session, Document, document_id, owner=owner, status="processed"):
        log.warning("document %s was taken over by another robot", document_id)
        return None
    return session.get(Document, document_id)


def _sign(session: Session, contract: Contract, document: Document, kind: str) -> None:
    contract.status = SIGNED
    contract.signed_at = utcnow()
    contract.signed_kind = kind
    contract.signed_document_pk = document.id
    contract.reason_code, contract.reason = "", ""
    for item in session.scalars(
        select(ReviewItem).where(
            ReviewItem.subject_type == CONTRACT_SUBJECT,
            ReviewItem.subject_ref == contract.contract_id,
            ReviewItem.status == "open",
        )
    ):
        item.status, item.closed_at = "done", utcnow()


def _ask_for_correction(
    session: Session,
    store: Store,
    settings: Settings,
    contract: Contract,
    message: Message,
    verdict: Verdict,
    evidence: dict[str, Any],
) -> str:
    language: Language = contract.language  # type: ignore[assignment]
    seller = str(contract.request.get("seller", {}).get("name", ""))
    subject, body = correction_email(
        contract.contract_id, language, verdict.messages(language), seller
    )
    round_ = contract.rounds + 1
    parent = "" if message.message_id_synthetic else message.message_id
    references = [contract.message_id, *(message.references or [])]
    to = reply_address(message) or str(contract.customer.get("email", ""))
    try:
        row = enqueue(
            store,
            settings,
            key=f"contract:{contract.contract_id}:correction:{round_}",
            to=to,
            subject=subject,
            body_text=body,
            in_reply_to=parent or contract.message_id,
            references=[r for r in dict.fromkeys(references) if r],
            language=language,
            subject_type=CONTRACT_SUBJECT,
            subject_ref=contract.contract_id,
            session=session,
        )
    except InvalidOutgoingMail as exc:
        _to_review(
            session,
            contract,
            CORRECTION_UNDELIVERABLE,
            f"a correction request cannot be sent to {to or '(no address)'}: {exc}",
            evidence,
        )
        return REVIEW
    contract.rounds = round_
    contract.status = CORRECTION_REQUESTED
    contract.reason_code = verdict.codes[0]
    contract.reason = "; ".join(verdict.messages("en"))
    _remember_mail(session, contract, row.message_id, "correction")
    return CORRECTION_REQUESTED


def _to_review(
    session: Session, contract: Contract, code: str, reason: str, evidence: dict[str, Any]
) -> None:
    contract.status = REVIEW
    contract.reason_code = code
    contract.reason = reason
    open_review(session, CONTRACT_SUBJECT, contract.contract_id, code, reason, evidence)


def _evidence(
    contract: Contract,
    document: Document,
    message: Message,
    match: _Match,
    checked: _Checked,
) -> dict[str, Any]:
    return {
        **mail_evidence(document, message),
        "contract_id": contract.contract_id,
        "customer": contract.customer,
        "rounds": contract.rounds,
        "matched_by": match.matched_by,
        "kind": checked.kind,
        "verdict": checked.verdict.to_json() if checked.verdict else {},
    }


def _remember_mail(session: Session, contract: Contract, message_id: str, role: str) -> None:
    if not message_id:
        return
    known = session.scalar(
        select(ContractMail.id).where(
            ContractMail.message_id == message_id, ContractMail.contract_pk == contract.id
        )
    )
    if known is None:
        session.add(ContractMail(message_id=message_id, contract_pk=contract.id, role=role))


def _count(report: ContractReport, outcome: str) -> None:
    if not outcome:
        return
    report.documents += 1
    match outcome:
        case "signed":
            report.signed += 1
        case "correction":
            report.corrections += 1
        case "review":
            report.review += 1
        case "unknown":
            report.unknown += 1
        case "ignored":
            report.ignored += 1


# --- checking one file (the CLI) ------------------------------------------------------------


def check_contract_file(store: Store, settings: Settings, data: bytes) -> dict[str, Any]:
    """The full verdict on a returned contract file, its contract found by QR or ID.

    Read-only: nothing is stored. ``valid`` is false with ``CONTRACT_UNKNOWN`` when no
    contract of ours is named in the file.
    """
    clues = read_clues(data)
    ids = clues.qr_ids or clues.text_ids
    with store.session() as session:
        rows = list(session.scalars(select(Contract).where(Contract.contract_id.in_(ids))))
        issued = issued_contract(store, rows[0]) if len(rows) == 1 else None
        offer_digest = str(rows[0].offer.get("digest", ""))[:DIGEST_CHARS] if rows else ""
        status = rows[0].status if len(rows) == 1 else None
    if issued is None:
        code = CONTRACT_AMBIGUOUS if rows else CONTRACT_UNKNOWN
        message = (
            f"the file names several of our contracts: {', '.join(r.contract_id for r in rows)}"
            if rows
            else "no QR code or contract number of ours was found in the file"
        )
        return {
            "contract_id": None,
            "kind": "none",
            "valid": False,
            "reasons": [{"code": code, "page": None, "clause": None, "message": message}],
        }
    if clues.qr_digests and set(clues.qr_digests) == {offer_digest}:
        return {
            "contract_id": issued.contract_id,
            "kind": "offer",
            "valid": False,
            "reasons": [
                {
                    "code": OFFER_RETURNED,
                    "page": None,
                    "clause": None,
                    "message": "this is the offer, not the contract",
                }
            ],
        }
    checked = _Checker.from_settings(settings).check(data, issued)
    assert checked.verdict is not None
    result = checked.verdict.to_json()
    result["matched_by"] = "qr" if clues.qr_ids else clues.found_by
    result["contract_status"] = status
    return result


# --- the seam to billing ------------------------------------------------------------------


def signed_contracts_awaiting_invoice(session: Session) -> list[ContractRequest]:
    """Signed contracts with no invoice request or invoice yet (oldest signed first).

    The billing flow turns each into an invoice request with
    ``backoffice.billing.contracts.request_for_contract`` (its source key
    ``contract:<id>`` is what this query looks for), so a contract is invoiced once.
    """
    source = literal("contract:") + Contract.contract_id
    rows = session.scalars(
        select(Contract)
        .where(
            Contract.status == SIGNED,
            ~exists().where(InvoiceRequest.source_key == source),
            ~exists().where(IssuedInvoice.source_key == source),
        )
        .order_by(Contract.signed_at, Contract.id)
    )
    return [ContractRequest.model_validate(row.request) for row in rows]


def contract_statuses(store: Store) -> dict[str, tuple[str, str]]:
    """contract ID → (status, reason code), for reports and tests."""
    with store.session() as session:
        return {
            row.contract_id: (row.status, row.reason_code)
            for row in session.scalars(select(Contract).order_by(Contract.id))
        }
