"""Invoice cases in the review queue: correct the fields, approve, reject with an email.

An invoice the robot handed to staff is a review item on an ``invoice_case``. Here a person:

- **corrects** fields: each typed value is parsed by the robot's own parsers
  (``profiles.parse_field``), the rules run again over the corrected reading with what the
  store knows (``service.recheck``), and the case and the item show the new findings; the
  change is audited with the values before and after;
- **approves**: the case is accepted through the invoices robot's own path
  (``service.accept_reviewed``: export and hook recorded once under the case's keys, made by
  the robot's next run; the IBAN becomes a known account), and the corrections teach the
  supplier's profile where those fields sit (``profiles.learn``);
- **rejects** with a reason: the correction email (prefilled with the robot's text in the
  invoice's language, edited by the person) goes to the sender through the outbox in the
  invoice's thread (``service.request_correction``: one mail per case and round), and the
  case waits for the corrected invoice as after a robot's request.

Each runs in one transaction with the queue decision (``web.queue.decide``) and its audit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backoffice.config import Settings
from backoffice.invoices import messages as M
from backoffice.invoices import profiles, service
from backoffice.invoices.decide import ACCEPTED, NothingToCorrect, correction_email, email_language
from backoffice.invoices.layout import PageText
from backoffice.invoices.model import (
    ExtractionResult,
    FieldValue,
    Kind,
    LineItem,
    Problem,
    Source,
    TaxRate,
)
from backoffice.invoices.rules import FIXABLE, REQUIRED_FIELDS, Finding
from backoffice.outbox.compose import InvalidOutgoingMail
from backoffice.store import Store
from backoffice.store.models import Document, InvoiceCase, ReviewItem
from backoffice.web.audit import record, record_on_item
from backoffice.web.models import ReviewDecision
from backoffice.web.queue import QueueError, decide, on_outcome

CASE_SUBJECT = service.CASE_SUBJECT
#: Reason code of a case a person sent back to its sender.
STAFF_REJECTED = "STAFF_REJECTED"
MAX_SUBJECT = 300
MAX_BODY = 20_000


class FieldsInvalid(QueueError):
    """Some typed values are not valid; ``errors`` maps each field to why."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()), code="FIELDS_INVALID")
        self.errors = errors


@dataclass(frozen=True)
class EditableField:
    """One field of the case as the correction form shows it."""

    name: str
    label: str
    value: str
    confidence: float | None
    source: str
    page: int | None
    box: tuple[float, float, float, float] | None
    failing: bool


@dataclass(frozen=True)
class CaseView:
    """What the item page shows about an invoice case."""

    case_id: int
    state: str
    language: str
    sender: str
    fields: list[EditableField]
    subject: str
    body: str


def case_of(session: Session, item: ReviewItem, *, lock: bool = False) -> InvoiceCase | None:
    """The invoice case a review item is about, if it is about one."""
    if item.subject_type != CASE_SUBJECT or not item.subject_ref.isdigit():
        return None
    return session.get(InvoiceCase, int(item.subject_ref), with_for_update=lock)


@on_outcome(CASE_SUBJECT)
def _case_back_to_robot(
    session: Session, item: ReviewItem, decision: ReviewDecision, actor: str
) -> None:
    """Sending a case back makes the robot read its latest document again, as that case."""
    if decision.outcome != "send_back":
        return
    case = case_of(session, item, lock=True)
    if case is None:
        return
    before = case.state
    document = service.send_back(session, case)
    if document is None:
        raise QueueError(
            f"invoice case {case.id} is {case.state}, not in review: it cannot be sent back",
            code="NOT_IN_REVIEW",
        )
    record(
        session,
        actor=actor,
        action="invoice_case.send_back",
        subject_type=CASE_SUBJECT,
        subject_ref=str(case.id),
        before={"state": before},
        after={"state": case.state, "document": document.id},
        detail=f"review item {item.id}",
    )


def document_of(session: Session, case: InvoiceCase) -> Document | None:
    """The document the case's fields were read from."""
    version = service.latest_version(session, case)
    return version.document if version is not None else None


# --- the case's reading, back from its JSON ------------------------------------------------


def _typed(name: str, raw: Any) -> Any:
    if raw is None:
        return None
    try:
        if name in profiles.DATE_FIELDS:
            return dt.date.fromisoformat(str(raw))
        if name in profiles.AMOUNT_FIELDS:
            return Decimal(str(raw))
        if name == "tax_breakdown" and isinstance(raw, list):
            return tuple(
                TaxRate(
                    str(r.get("rate")),
                    _decimal(r.get("net")),
                    _decimal(r.get("tax")),
                    _decimal(r.get("gross")),
                )
                for r in raw
                if isinstance(r, dict)
            )
    except (ValueError, InvalidOperation):
        return None
    return str(raw)


def _decimal(raw: Any) -> Decimal | None:
    try:
        return None if raw is None else Decimal(str(raw))
    except InvalidOperation:
        return None


def reading_of(case: InvoiceCase) -> ExtractionResult:
    """The case's reading as the robot had it (``case.fields`` is its JSON contract), with
    the boxes of the fields its findings point at."""
    data = case.fields or {}
    boxes = {
        f.get("field"): f.get("box")
        for f in case.findings or []
        if isinstance(f, dict) and f.get("box")
    }
    result = ExtractionResult(file=Path(str(data.get("file") or "invoice")))
    try:
        result.kind = Kind(data.get("kind") or "invoice")
        result.source = Source(data["source"]) if data.get("source") else None
    except ValueError:
        result.kind = Kind.INVOICE
    result.language = data.get("language")
    for name, entry in (data.get("fields") or {}).items():
        if not isinstance(entry, dict):
            continue
        value = _typed(name, entry.get("value"))
        if value is None:
            continue
        try:
            source = Source(entry.get("source") or "text")
        except ValueError:
            source = Source.TEXT
        box = boxes.get(name)
        result.fields[name] = FieldValue(
            value,
            float(entry.get("confidence") or 0.0),
            source,
            entry.get("page"),
            tuple(box) if isinstance(box, list) and len(box) == 4 else None,  # type: ignore[arg-type]
        )
    for line in data.get("lines") or []:
        if isinstance(line, dict):
            result.lines.append(
                LineItem(
                    str(line.get("description") or ""),
                    _decimal(line.get("quantity")),
                    _decimal(line.get("unit_price")),
                    _decimal(line.get("net")),
                    line.get("tax_rate"),
                    _decimal(line.get("gross")),
                )
            )
    for problem in data.get("problems") or []:
        if isinstance(problem, dict):
            result.problems.append(
                Problem(
                    str(problem.get("code") or ""),
                    str(problem.get("message") or ""),
                    problem.get("field"),
                )
            )
    return result


def _findings(case: InvoiceCase) -> list[Finding]:
    found = []
    for entry in case.findings or []:
        if not isinstance(entry, dict):
            continue
        texts = entry.get("messages") or {}
        found.append(
            Finding(
                str(entry.get("code") or ""),
                entry.get("field"),
                entry.get("severity") or FIXABLE,
                entry.get("value"),
                M.Texts(
                    str(texts.get("pl") or texts.get("en") or ""),
                    str(texts.get("ru") or texts.get("en") or ""),
                    str(texts.get("en") or ""),
                ),
            )
        )
    return found


# --- what the page shows ---------------------------------------------------------------------


def correction_template(case: InvoiceCase) -> tuple[str, str]:
    """Subject and body of the correction email, as the robot would write it, in the
    invoice's language: every current finding listed (a person rejecting the invoice makes
    them the sender's to fix)."""
    result = reading_of(case)
    language = email_language(result)
    findings = [replace(f, severity=FIXABLE) for f in _findings(case)]
    try:
        return correction_email(result, findings, language)
    except NothingToCorrect:
        number = case.invoice_number or M.UNNUMBERED.in_language(language)
        subject = M.CORRECTION_SUBJECT.render(number=number).in_language(language)
        body = "\n\n".join(
            [
                M.CORRECTION_GREETING.in_language(language),
                M.CORRECTION_INTRO_UNDATED.render(number=number).in_language(language) + "\n\n1. ",
                M.CORRECTION_REQUEST.in_language(language),
                M.CORRECTION_CLOSING.in_language(language),
            ]
        )
        return subject, body + "\n"


def case_view(case: InvoiceCase) -> CaseView:
    """The case's fields for the correction form and the prefilled rejection email."""
    result = reading_of(case)
    failing = {f.get("field") for f in case.findings or [] if isinstance(f, dict)}
    fields = []
    for name in profiles.EDITABLE_FIELDS:
        read = result.fields.get(name)
        fields.append(
            EditableField(
                name=name,
                label=M.field_name(name).en,
                value=profiles.shown_value(read.value if read else None),
                confidence=None if read is None else read.confidence,
                source="" if read is None else read.source.value,
                page=None if read is None else read.page,
                box=None if read is None else read.box,
                failing=name in failing,
            )
        )
    subject, body = correction_template(case)
    return CaseView(
        case_id=case.id,
        state=case.state,
        language=email_language(result),
        sender=case.reply_to,
        fields=fields,
        subject=subject,
        body=body,
    )


# --- correct -----------------------------------------------------------------------------


def _open_item(session: Session, item_id: int) -> tuple[ReviewItem, InvoiceCase]:
    item = session.get(ReviewItem, item_id, with_for_update=True)
    if item is None:
        raise QueueError(f"review item {item_id} does not exist", code="NO_SUCH_ITEM")
    case = case_of(session, item, lock=True)
    if case is None:
        raise QueueError(f"review item {item_id} is not about an invoice", code="NOT_AN_INVOICE")
    if item.status != "open":
        raise QueueError(f"review item {item_id} was already closed", code="ALREADY_DECIDED")
    return item, case


def correct(
    session: Session,
    settings: Settings,
    item_id: int,
    typed: dict[str, str],
    *,
    actor: str,
) -> dict[str, tuple[str, str]]:
    """Apply a person's corrections to the item's invoice case and run the rules again.

    ``typed`` maps field names to what was typed (fields left out are not changed). Returns
    the changed fields as ``name -> (before, after)``; raises ``FieldsInvalid`` when any
    typed value is not valid (nothing is changed then).
    """
    item, case = _open_item(session, item_id)
    result = reading_of(case)
    language = result.language
    parsed: dict[str, profiles.ParsedField] = {}
    errors: dict[str, str] = {}
    for name, raw in typed.items():
        if name not in profiles.EDITABLE_FIELDS:
            continue
        try:
            parsed[name] = profiles.parse_field(name, raw, language)
        except profiles.FieldInvalid as exc:
            errors[name] = exc.reason
    if errors:
        raise FieldsInvalid(errors)
    changes: dict[str, tuple[str, str]] = {}
    for name, value in parsed.items():
        current = result.fields.get(name)
        before = profiles.shown_value(current.value if current else None)
        if _same(name, before, value, language):
            continue
        changes[name] = (before, value.shown)
        if value.value is None:
            result.fields.pop(name, None)
        else:
            result.fields[name] = FieldValue(
                value.value, 1.0, Source.STAFF, current.page if current else None
            )
    if not changes:
        return {}
    result.problems = [
        p for p in result.problems if not (p.code == "FIELD_MISSING" and p.field in changes)
    ]
    _findings_now, decision = service.recheck(session, settings, case, result)
    service.set_reading(case, result, decision)
    _rekey(session, case)
    item.evidence = {
        **(item.evidence or {}),
        "invoice_number": case.invoice_number,
        "seller_tax_id": case.seller_tax_id,
        "findings": case.findings,
    }
    item.reason = (
        " ".join(f.message("en") for f in decision.reasons)
        if decision.outcome != ACCEPTED
        else "Corrected: no rule fails any more; approve to export it."
    )
    record_on_item(
        session,
        item.id,
        actor,
        "invoice.correct",
        {name: old for name, (old, _new) in changes.items()},
        {name: new for name, (_old, new) in changes.items()},
        f"invoice case {case.id}; the rules now say {decision.outcome}"
        + (f": {', '.join(f.code for f in decision.reasons)}" if decision.reasons else ""),
    )
    return changes


def _same(name: str, before: str, typed: profiles.ParsedField, language: str | None) -> bool:
    """Whether the typed value means what was there ("794-846-90-32" is "7948469032")."""
    if before == typed.shown:
        return True
    try:
        return profiles.parse_field(name, before, language).value == typed.value
    except profiles.FieldInvalid:
        return False


def _rekey(session: Session, case: InvoiceCase) -> None:
    """Give a case read without a number its seller|number key once a person supplied it,
    so the supplier's corrected or repeated invoice finds it (unless another case has it)."""
    key = service.case_key_for(case.seller_tax_id, case.invoice_number)
    if not key or key == case.case_key:
        return
    taken = session.scalar(
        select(InvoiceCase.id).where(InvoiceCase.case_key == key, InvoiceCase.id != case.id)
    )
    if taken is None:
        case.case_key = key


# --- approve -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LearningInput:
    """What approving an item will learn from, read before its transaction opens."""

    path: Path | None
    pages: tuple[int, ...]


def learning_input(session: Session, store: Store, item_id: int) -> LearningInput:
    """The stored file and pages to read (outside any transaction: scans need OCR) so that
    approving can learn where the corrected fields sit."""
    item = session.get(ReviewItem, item_id)
    case = case_of(session, item) if item is not None else None
    if case is None:
        return LearningInput(None, ())
    result = reading_of(case)
    pages = tuple(
        sorted(
            {
                value.page or 1
                for name, value in result.fields.items()
                if value.source is Source.STAFF and name in profiles.LAYOUT_FIELDS
            }
        )
    )
    document = document_of(session, case)
    if not pages or document is None or not document.blob_path:
        return LearningInput(None, ())
    try:
        return LearningInput(store.blobs.path(document.blob_path), pages)
    except ValueError:
        return LearningInput(None, ())


def approve(
    session: Session,
    settings: Settings,
    item_id: int,
    *,
    actor: str,
    pages: list[PageText] | None = None,
) -> dict[str, Any]:
    """Approve the item's invoice: accepted through the robot's path, corrections learned.

    ``pages`` is the document's text (``profiles.page_texts`` of ``learning_input``) where
    the corrected values are looked for. Returns what the supplier profile learned.
    """
    item, case = _open_item(session, item_id)
    result = reading_of(case)
    missing = [name for name in REQUIRED_FIELDS if result.value(name) is None]
    if missing:
        raise QueueError(f"fill in {', '.join(missing)} before approving", code="FIELDS_MISSING")
    decide(session, item_id, "approve", actor=actor)
    service.accept_reviewed(session, settings, case, result)
    corrected = {
        name: value.value for name, value in result.fields.items() if value.source is Source.STAFF
    }
    if not corrected:
        return {}
    document = document_of(session, case)
    message = document.message if document is not None else None
    learned = profiles.learn(
        session,
        seller_key=case.seller_key,
        seller_tax_id=case.seller_tax_id,
        seller_name=case.seller_name,
        sender=message.sender if message is not None else case.reply_to,
        corrected=corrected,
        pages=pages or [],
        case_id=case.id,
        actor=actor,
    )
    if learned:
        record_on_item(
            session,
            item.id,
            actor,
            "supplier.learn",
            {},
            {"fields": sorted(learned.get("layout", {})), **learned},
            f"supplier profile {learned.get('profile_id')} ({case.seller_tax_id})",
        )
    return learned


# --- reject --------------------------------------------------------------------------------


def reject(
    session: Session,
    store: Store,
    settings: Settings,
    item_id: int,
    *,
    actor: str,
    reason: str,
    subject: str,
    body: str,
) -> str:
    """Reject the item's invoice: the correction email goes to the sender in the thread and
    the case waits for the corrected invoice. Returns the email's Message-ID."""
    item, case = _open_item(session, item_id)
    subject, body = subject.strip()[:MAX_SUBJECT], body.strip()[:MAX_BODY]
    if not subject or not body:
        raise QueueError("the correction email needs a subject and a text", code="EMAIL_REQUIRED")
    decide(session, item_id, "reject", actor=actor, reason=reason)
    language = email_language(reading_of(case))
    try:
        row = service.request_correction(
            session, store, settings, case, subject, body + "\n", language, STAFF_REJECTED
        )
    except InvalidOutgoingMail as exc:
        raise QueueError(f"the email cannot be sent: {exc}", code="NO_SENDER") from exc
    record_on_item(
        session,
        item.id,
        actor,
        "invoice.correction_requested",
        {},
        {"to": case.reply_to, "message_id": row.message_id, "round": case.rounds},
        f"invoice case {case.id}: {subject}",
    )
    return row.message_id
