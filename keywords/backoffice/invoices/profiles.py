"""Supplier profiles: what staff corrections taught about a supplier, used on its next invoice.

When a person corrects a field in the review queue and approves the invoice, ``learn``
remembers, for that supplier, where the corrected value is printed: the page, the value's
box relative to the page, and the label next to it ("anchor"), found by looking for the
corrected value in the document's own text (text layer, or OCR words for scans). Its name,
tax ID and the addresses its invoices come from are kept too (its bank accounts are learned
by the invoices robot when a person approves: ``service.accept_reviewed``).

When the invoices robot reads the supplier's next invoice, ``consult`` (called right after
the generic reading, before the rules) finds the profile by the seller's tax ID, or by the
sender's address when the tax ID itself was misread, reads each remembered field at its
place - beside the same label when it is found near where it was, else inside the
remembered box - and puts the value in with source ``learned`` and a confidence, so the
invoice is decided on a reading that already has the correction in it.

``parse_field`` turns what a person types into a field's typed value with the robot's own
parsers and checks (dates, Decimal amounts, NIP/INN/VAT IDs with python-stdnum, IBAN with
schwifty); the review queue's validation endpoint and its corrections use it.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backoffice.clock import utcnow
from backoffice.invoices.dates import find_dates, parse_date
from backoffice.invoices.ids import (
    classify_tax_id,
    find_ibans,
    find_tax_ids,
    iban_is_valid,
    normalise_tax_id,
)
from backoffice.invoices.layout import Line, PageText, Segment
from backoffice.invoices.limits import Limits
from backoffice.invoices.model import (
    FIELD_NAMES,
    ExtractionResult,
    FieldScalar,
    FieldValue,
    Kind,
    Source,
)
from backoffice.invoices.numbers import find_amounts, parse_amount
from backoffice.store import Store
from backoffice.store.models import Document, Message, SupplierProfile

log = logging.getLogger(__name__)

DATE_FIELDS = ("issue_date", "sale_date", "due_date")
AMOUNT_FIELDS = ("total_net", "total_tax", "total_gross", "amount_due")
TAX_ID_FIELDS = ("seller_tax_id", "buyer_tax_id")
TEXT_FIELDS = ("invoice_number", "seller_name", "buyer_name")
#: Fields a person may type in the review queue, in the order the page shows them.
EDITABLE_FIELDS = tuple(name for name in FIELD_NAMES if name != "tax_breakdown")
#: Fields whose place on the page is learned (names are read well by the generic reader
#: and span several words; they are learned as supplier facts instead).
LAYOUT_FIELDS = tuple(name for name in EDITABLE_FIELDS if name not in ("seller_name", "buyer_name"))
#: Fields that may be left empty by a correction.
OPTIONAL_FIELDS = ("sale_date", "due_date", "total_net", "total_tax", "amount_due", "iban")
#: Confidence of a value read beside its remembered label / only inside its remembered box.
ANCHORED_CONFIDENCE = 0.92
BOXED_CONFIDENCE = 0.72
#: How far (share of the page's size) a label may have moved and still be the same label.
ANCHOR_TOLERANCE = 0.2
#: Margin added around a remembered box (share of the page) when reading inside it.
BOX_MARGIN = 0.01
#: Lines below a label looked at for a value printed under it.
LINES_BELOW = 3
MAX_SENDERS = 20
MAX_TEXT = 500
MAX_NUMBER = 200
MAX_ANCHOR = 80
_AMOUNT_TEXT = re.compile(r"^[-−]?\d[\d\s\u00a0\u202f.,']*(?:\s+[A-Z]{3}|\s*(?:zł|€|\$|£|₽))?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_LETTER = re.compile(r"[^\W\d_]")
_EDGE_MARKS = ":#№ \t.,;"


class FieldInvalid(ValueError):
    """What a person typed is not a valid value of that field; the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


@dataclass(frozen=True)
class ParsedField:
    """A typed-in value as the robot understands it: the value and how it is shown."""

    name: str
    value: FieldScalar | None
    shown: str


def parse_field(name: str, raw: str, language: str | None = None) -> ParsedField:
    """The typed value of field ``name`` from what a person typed; raises ``FieldInvalid``.

    The robot's own parsers decide: ``parse_date`` for dates, ``parse_amount`` for money
    (a Decimal), python-stdnum for NIP/INN/EU VAT IDs, schwifty for IBANs (a Polish
    26-digit account number is taken as a PL IBAN). An empty value means "not on the
    invoice" and is allowed for optional fields only.
    """
    text = unicodedata.normalize("NFC", raw or "").strip()
    if name not in EDITABLE_FIELDS:
        raise FieldInvalid(name, "this field cannot be corrected here")
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise FieldInvalid(name, "control characters are not allowed")
    if not text:
        if name in OPTIONAL_FIELDS:
            return ParsedField(name, None, "")
        raise FieldInvalid(name, "this field is required")
    if name in DATE_FIELDS:
        date = parse_date(text)
        if date is None:
            raise FieldInvalid(name, "not a date (e.g. 2026-11-20 or 20.11.2026)")
        return ParsedField(name, date, date.isoformat())
    if name in AMOUNT_FIELDS:
        amount = parse_amount(text) if _AMOUNT_TEXT.match(text) else None
        if amount is None:
            raise FieldInvalid(name, "not an amount (e.g. 1 234,50)")
        if amount.as_tuple().exponent < -2:  # type: ignore[operator]
            raise FieldInvalid(name, "an amount has at most two decimals")
        amount = amount.quantize(Decimal("0.01"))
        return ParsedField(name, amount, format(amount, "f"))
    if name in TAX_ID_FIELDS:
        compact = normalise_tax_id(text)
        scheme, valid = classify_tax_id(compact, language)
        if scheme == "unknown":
            raise FieldInvalid(name, "not a NIP, INN or EU VAT number")
        if not valid:
            raise FieldInvalid(name, f"the check digit does not match ({_scheme_name(scheme)})")
        return ParsedField(name, compact, compact)
    if name == "iban":
        compact = re.sub(r"[\s\-]", "", text).upper()
        if compact.isdigit() and len(compact) == 26:
            compact = "PL" + compact
        if not iban_is_valid(compact):
            raise FieldInvalid(name, "not a valid IBAN (the check digits or length are wrong)")
        return ParsedField(name, compact, " ".join(re.findall(".{1,4}", compact)))
    if name == "currency":
        code = text.upper()
        if not _CURRENCY.match(code):
            raise FieldInvalid(name, "a three-letter ISO 4217 code such as PLN, RUB, EUR")
        return ParsedField(name, code, code)
    limit = MAX_NUMBER if name == "invoice_number" else MAX_TEXT
    if len(text) > limit:
        raise FieldInvalid(name, f"at most {limit} characters")
    return ParsedField(name, text, text)


def _scheme_name(scheme: str) -> str:
    return {"pl_nip": "NIP", "ru_inn": "INN", "eu_vat": "EU VAT"}.get(scheme, scheme)


def shown_value(value: Any) -> str:
    """A field value as the review page shows it and a person types it."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


# --- where a value sits on the page ---------------------------------------------------------


def _fold(text: str) -> str:
    """Compared form of a label or number: case-folded, without spaces and edge marks."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split()).strip(_EDGE_MARKS)


def _spans(name: str, text: str, value: FieldScalar) -> list[tuple[int, int]]:
    """Where ``value`` of field ``name`` is printed in ``text`` (character spans)."""
    if name in DATE_FIELDS:
        return [(m.start, m.end) for m in find_dates(text) if m.value == value]
    if name in AMOUNT_FIELDS:
        return [(m.start, m.end) for m in find_amounts(text) if m.value == value]
    if name in TAX_ID_FIELDS:
        return [(c.start, c.end) for c in find_tax_ids(text) if c.value == value]
    if name == "iban":
        return [(c.start, c.end) for c in find_ibans(text) if c.value == value]
    needle = str(value).casefold()
    found = []
    start = text.casefold().find(needle)
    while start >= 0 and needle:
        found.append((start, start + len(needle)))
        start = text.casefold().find(needle, start + 1)
    return found


def _relative(box: tuple[float, float, float, float], page: PageText) -> list[float]:
    width, height = page.width or 1.0, page.height or 1.0
    return [
        round(box[0] / width, 4),
        round(box[1] / height, 4),
        round(box[2] / width, 4),
        round(box[3] / height, 4),
    ]


def _absolute(box: list[float], page: PageText) -> tuple[float, float, float, float]:
    return (box[0] * page.width, box[1] * page.height, box[2] * page.width, box[3] * page.height)


def _above(lines: list[Line], index: int, segment: Segment) -> Segment | None:
    """The labelled segment printed just above ``segment`` (a label over a value)."""
    for line in reversed(lines[max(0, index - LINES_BELOW) : index]):
        for other in line.segments:
            overlap = min(other.box[2], segment.box[2]) - max(other.box[0], segment.box[0])
            if overlap > 0 and _LETTER.search(other.text):
                return other
    return None


def locate(name: str, value: FieldScalar, pages: Iterable[PageText]) -> dict[str, Any] | None:
    """Where ``value`` of field ``name`` is printed, with the label beside it, or None.

    Prefers a place with a label (text with letters just before the value in its cell, the
    cell to its left, or the cell above): that is where the supplier prints the field.
    """
    best: dict[str, Any] | None = None
    for page in pages:
        for index, line in enumerate(page.lines):
            for position, segment in enumerate(line.segments):
                for start, end in _spans(name, segment.text, value):
                    prefix = segment.text[:start].strip()
                    place: dict[str, Any] = {
                        "page": page.number,
                        "box": _relative(segment.box, page),
                        "anchor": "",
                        "relation": "box",
                        "anchor_box": None,
                    }
                    left = line.segments[position - 1] if position else None
                    above = _above(page.lines, index, segment)
                    if _LETTER.search(prefix):
                        place |= {"anchor": prefix, "relation": "inline"}
                        place["anchor_box"] = place["box"]
                    elif left is not None and _LETTER.search(left.text):
                        place |= {"anchor": left.text.strip(), "relation": "left"}
                        place["anchor_box"] = _relative(left.box, page)
                    elif above is not None:
                        place |= {"anchor": above.text.strip(), "relation": "above"}
                        place["anchor_box"] = _relative(above.box, page)
                    place["anchor"] = place["anchor"][:MAX_ANCHOR]
                    place["tail"] = bool(segment.text[end:].strip())
                    if place["anchor"]:
                        return place
                    best = best or place
    return best


def _centre(box: Iterable[float]) -> tuple[float, float]:
    x0, y0, x1, y1 = box
    return (x0 + x1) / 2, (y0 + y1) / 2


def _near(box: list[float], remembered: list[float] | None) -> float:
    if not remembered:
        return 0.0
    (ax, ay), (bx, by) = _centre(box), _centre(remembered)
    return max(abs(ax - bx), abs(ay - by))


def _read_at(name: str, place: dict[str, Any], page: PageText) -> tuple[str, Any, bool] | None:
    """The text at a remembered place: (text, box, beside its label?) or None."""
    anchor = _fold(place.get("anchor") or "")
    relation = place.get("relation")
    if anchor and relation in ("inline", "left", "above"):
        found: list[tuple[float, str, Any]] = []
        for index, line in enumerate(page.lines):
            for position, segment in enumerate(line.segments):
                folded = _fold(segment.text)
                if not folded.startswith(anchor):
                    continue
                distance = _near(_relative(segment.box, page), place.get("anchor_box"))
                if distance > ANCHOR_TOLERANCE:
                    continue
                if relation == "inline":
                    text = _after_anchor(segment.text, place.get("anchor") or "")
                    if text:
                        found.append((distance, text, segment.box))
                elif relation == "left" and folded == anchor:
                    if position + 1 < len(line.segments):
                        value = line.segments[position + 1]
                        found.append((distance, value.text, value.box))
                elif relation == "above" and folded == anchor:
                    below = _below(page.lines, index, segment)
                    if below is not None:
                        found.append((distance, below.text, below.box))
        if found:
            found.sort(key=lambda item: item[0])
            return found[0][1], found[0][2], True
    x0, y0, x1, y1 = _absolute(place["box"], page)
    mx, my = BOX_MARGIN * page.width, BOX_MARGIN * page.height
    inside = [
        segment
        for line in page.lines
        for segment in line.segments
        if x0 - mx <= _centre(segment.box)[0] <= x1 + mx
        and y0 - my <= _centre(segment.box)[1] <= y1 + my
    ]
    if not inside:
        return None
    return " ".join(s.text for s in inside), inside[0].box, False


def _below(lines: list[Line], index: int, label: Segment) -> Segment | None:
    for line in lines[index + 1 : index + 1 + LINES_BELOW]:
        for segment in line.segments:
            if min(segment.box[2], label.box[2]) > max(segment.box[0], label.box[0]):
                return segment
    return None


def _after_anchor(text: str, anchor: str) -> str:
    """``text`` without its first characters that fold to ``anchor``."""
    target = _fold(anchor)
    for cut in range(len(text) + 1):
        if _fold(text[:cut]) == target and (cut == len(text) or not text[cut].isalnum()):
            return text[cut:].strip()
    return ""


def _value_in(name: str, text: str, example: str) -> FieldScalar | None:
    """The first valid value of field ``name`` in ``text``."""
    if name in DATE_FIELDS:
        dates = find_dates(text)
        return dates[0].value if dates else None
    if name in AMOUNT_FIELDS:
        amounts = find_amounts(text)
        return amounts[0].value if amounts else None
    if name in TAX_ID_FIELDS:
        return next((c.value for c in find_tax_ids(text) if c.valid), None)
    if name == "iban":
        return next((c.value for c in find_ibans(text) if c.valid), None)
    if name == "currency":
        code = next((w for w in re.findall(r"\b[A-Z]{3}\b", text.upper())), None)
        return code
    value = text.strip().lstrip(_EDGE_MARKS)
    if " " not in example.strip():
        value = value.split()[0] if value.split() else ""
    value = value.rstrip(_EDGE_MARKS)
    if name == "invoice_number" and not any(ch.isdigit() for ch in value):
        return None
    return value[:MAX_NUMBER] or None


def read_learned(pages: list[PageText], layout: dict[str, Any]) -> dict[str, FieldValue]:
    """The fields of ``layout`` read at their remembered places on ``pages``."""
    by_number = {page.number: page for page in pages}
    found: dict[str, FieldValue] = {}
    for name, place in layout.items():
        if name not in LAYOUT_FIELDS or not isinstance(place, dict):
            continue
        page = by_number.get(int(place.get("page") or 1))
        if page is None or not page.width or not page.height:
            continue
        try:
            read = _read_at(name, place, page)
        except (KeyError, TypeError, ValueError, IndexError):
            log.warning("supplier profile: the place of %s is damaged: %r", name, place)
            continue
        if read is None:
            continue
        text, box, anchored = read
        value = _value_in(name, text, str(place.get("example") or ""))
        if value is None:
            continue
        found[name] = FieldValue(
            value,
            ANCHORED_CONFIDENCE if anchored else BOXED_CONFIDENCE,
            Source.LEARNED,
            page.number,
            tuple(box),  # type: ignore[arg-type]
        )
    return found


def apply_learned(result: ExtractionResult, learned: dict[str, FieldValue]) -> list[str]:
    """Put the learned values into ``result``; returns the names that changed.

    A learned value replaces the generic reading: the supplier's earlier invoice showed the
    generic reader gets this field wrong on this layout. Where both agree, the reading is
    kept with the higher confidence.
    """
    changed = []
    for name, value in learned.items():
        current = result.fields.get(name)
        if current is not None and current.value == value.value:
            if value.confidence > current.confidence:
                result.fields[name] = replace(current, confidence=value.confidence)
            continue
        result.fields[name] = value
        changed.append(name)
    if changed:
        result.problems = [
            p for p in result.problems if not (p.code == "FIELD_MISSING" and p.field in changed)
        ]
    return changed


# --- reading a stored document's pages -------------------------------------------------------


def page_texts(path: Path, pages: Iterable[int] | None = None) -> list[PageText]:
    """The positioned text of a stored PDF or image: the text layer, OCR where it has none.

    ``pages`` limits OCR to those page numbers (text layers are read whole: ~1 ms a page).
    Returns ``[]`` for XML and for files that cannot be read.
    """
    from backoffice.invoices.errors import DocumentError

    wanted = set(pages) if pages is not None else None
    limits = Limits()
    try:
        data = path.read_bytes()
        if b"%PDF-" in data[:1024]:
            from backoffice.invoices.readers.pdf import read_pdf, render_page

            content = read_pdf(data, limits)
            texts = list(content.pages)
            scanned = [n for n in content.scanned_pages if wanted is None or n in wanted][
                : limits.max_ocr_pages
            ]
            if scanned:
                from backoffice.invoices.readers.ocr import read_pages

                images = [
                    (n, render_page(data, n, limits.ocr_dpi, limits.max_image_pixels))
                    for n in scanned
                ]
                for page in read_pages(images):
                    texts[page.text.number - 1] = page.text
            return texts
        if data.lstrip().startswith(b"<"):
            return []
        from backoffice.invoices.readers.ocr import load_images, read_pages

        images = load_images(data, limits)[: limits.max_ocr_pages]
        numbered = [
            (i + 1, image) for i, image in enumerate(images) if wanted is None or i + 1 in wanted
        ]
        return [page.text for page in read_pages(numbered)] if numbered else []
    except (DocumentError, OSError, ValueError) as exc:
        log.warning("%s: pages not read for the supplier profile: %s", path.name, exc)
        return []


# --- the profile in the store --------------------------------------------------------------


def find_profile(session: Session, seller_key: str, sender: str) -> SupplierProfile | None:
    """The profile of the seller with that tax-ID key, else the one profile whose invoices
    came from ``sender`` (None when several suppliers mail from that address)."""
    if seller_key:
        found = session.scalar(
            select(SupplierProfile).where(SupplierProfile.seller_key == seller_key)
        )
        if found is not None:
            return found
    sender = sender.strip().lower()
    if not sender:
        return None
    # Sender lists are short and profiles few per sender; JSON containment differs by
    # backend, so the match is made here.
    matches = [
        profile
        for profile in session.scalars(select(SupplierProfile).order_by(SupplierProfile.id))
        if sender in (profile.senders or [])
    ]
    return matches[0] if len(matches) == 1 else None


@dataclass(frozen=True)
class Consulted:
    """What ``consult`` did: the profile used and the fields it changed."""

    profile_id: int | None
    changed: tuple[str, ...]


def consult(
    store: Store, document_id: int, path: Path, result: ExtractionResult, seller_key: str
) -> Consulted:
    """Read the fields the supplier's profile knows the place of, into ``result``.

    Called by the invoices robot after the generic reading and before the rules, outside
    any transaction (a scanned page is OCRed again). Structured XML is exact and left alone.
    """
    if result.kind is Kind.NOT_INVOICE or result.source is Source.XML:
        return Consulted(None, ())
    with store.session() as session:
        sender = session.scalar(
            select(Message.sender)
            .join(Document, Document.message_pk == Message.id)
            .where(Document.id == document_id)
        )
        profile = find_profile(session, seller_key, sender or "")
        if profile is None or not profile.layout:
            return Consulted(None, ())
        profile_id, layout = profile.id, dict(profile.layout)
    pages = {int(place.get("page") or 1) for place in layout.values() if isinstance(place, dict)}
    learned = read_learned(page_texts(path, pages), layout)
    changed = apply_learned(result, learned)
    if changed:
        log.info(
            "document %s: read %s where supplier profile %s says",
            document_id,
            ", ".join(changed),
            profile_id,
        )
    return Consulted(profile_id, tuple(changed))


def learn(
    session: Session,
    *,
    seller_key: str,
    seller_tax_id: str,
    seller_name: str,
    sender: str,
    corrected: dict[str, FieldScalar | None],
    pages: list[PageText],
    case_id: int,
    actor: str,
) -> dict[str, Any]:
    """Remember what a person's approved correction of case ``case_id`` says about the
    supplier; returns what was learned (for the audit log). Runs in the caller's
    transaction. Without a seller tax ID there is no one to remember it for: nothing."""
    if not seller_key:
        return {}
    profile = session.scalar(
        select(SupplierProfile).where(SupplierProfile.seller_key == seller_key).with_for_update()
    )
    if profile is None:
        profile = SupplierProfile(seller_key=seller_key, senders=[], layout={}, corrections=0)
        session.add(profile)
    profile.seller_tax_id = seller_tax_id[:64]
    if seller_name:
        profile.seller_name = seller_name
    senders = list(profile.senders or [])
    address = sender.strip().lower()
    if address and address not in senders:
        senders = [*senders, address][-MAX_SENDERS:]
    profile.senders = senders
    layout = dict(profile.layout or {})
    learned: dict[str, Any] = {}
    for name, value in corrected.items():
        if name not in LAYOUT_FIELDS:
            continue
        place = locate(name, value, pages) if value is not None else None
        if place is None:
            # Not printed where we can read it: the old place gave a wrong value, forget it.
            if layout.pop(name, None) is not None:
                learned[name] = None
            continue
        place |= {
            "example": shown_value(value),
            "case_id": case_id,
            "by": actor,
            "at": utcnow().isoformat(),
        }
        layout[name] = place
        learned[name] = {k: place[k] for k in ("page", "box", "anchor", "relation")}
    profile.layout = layout
    profile.corrections = (profile.corrections or 0) + 1
    session.flush()
    return {"profile_id": profile.id, "seller_key": seller_key, "layout": learned}
