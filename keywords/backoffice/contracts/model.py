"""Plain data of issued contracts: what a later workflow persists and a scan is checked against.

Positions are PDF points with the origin at the bottom-left corner of the page, as in the PDF
itself; page numbers start at 1. Nothing here touches the store: ``IssuedContract.to_json``
and ``from_json`` give the form to keep (the PDF bytes themselves go to the blob store under
``sha256``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from stdnum import exceptions as stdnum_exceptions
from stdnum.eu import vat
from stdnum.pl import nip, pesel, regon
from stdnum.ru import inn

Language = Literal["pl", "ru", "en"]
DocumentKind = Literal["offer", "contract"]
BoxKind = Literal["signature", "initials", "date"]
TaxIdType = Literal["NIP", "REGON", "PESEL", "INN", "VAT"]

# python-stdnum validators per kind of tax or personal ID; detection tries them in this order.
_TAX_ID_VALIDATORS = {"NIP": nip, "PESEL": pesel, "REGON": regon, "INN": inn, "VAT": vat}
_DETECTION_ORDER: dict[str, tuple[TaxIdType, ...]] = {
    "ru": ("INN", "NIP", "PESEL", "REGON", "VAT"),
    "default": ("NIP", "PESEL", "REGON", "INN", "VAT"),
}
# Deliberately loose: the address is checked by delivery; this only stops obvious garbage.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: A contract ID: letters, digits, "-" and "/" (":" separates the QR payload fields).
CONTRACT_ID_PATTERN = r"^[A-Z0-9][A-Z0-9/-]{2,39}$"


class Party(BaseModel):
    """A party of the contract: the customer from the form, or us (the seller)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    name: str = Field(min_length=2, max_length=200)
    email: str = Field(max_length=254)
    tax_id: str = Field(min_length=5, max_length=20)
    #: NIP, REGON, PESEL, INN or EU VAT; detected from the checksum when not given.
    tax_id_type: TaxIdType | None = None
    address: str = Field(min_length=3, max_length=300)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an email address")
        return value

    @model_validator(mode="before")
    @classmethod
    def _tax_id(cls, data: Any) -> Any:
        # Stored compact ("5260250274", not "526-025-02-74") with the kind that validated it.
        if not isinstance(data, dict) or not isinstance(data.get("tax_id"), str):
            return data
        given = data.get("tax_id_type")
        kinds = (given,) if given else _DETECTION_ORDER["default"]
        for kind in kinds:
            validator = _TAX_ID_VALIDATORS.get(kind)
            if validator is None:
                return data  # the Literal type reports the unknown kind
            try:
                compact = validator.validate(data["tax_id"])
            except stdnum_exceptions.ValidationError:
                continue
            return {**data, "tax_id": compact, "tax_id_type": kind}
        wanted = given or "NIP, PESEL, REGON, INN or EU VAT"
        raise ValueError(f"tax ID {data['tax_id']!r} is not a valid {wanted} (checksum or length)")


class ContractRequest(BaseModel):
    """What the customer's form gives (JSON via the CLI or a keyword), plus who we are."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    contract_id: str = Field(pattern=CONTRACT_ID_PATTERN)
    language: Language
    customer: Party
    seller: Party
    product: str = Field(min_length=2, max_length=500)
    price: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    issue_date: date
    start_date: date
    end_date: date
    offer_valid_until: date
    payment_days: int = Field(default=14, ge=1, le=365)

    @model_validator(mode="after")
    def _dates(self) -> ContractRequest:
        if self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        if self.offer_valid_until < self.issue_date:
            raise ValueError("offer_valid_until is before issue_date")
        return self

    @model_validator(mode="before")
    @classmethod
    def _customer_tax_id_by_language(cls, data: Any) -> Any:
        # A 10-digit number can pass both the NIP and the INN checksum; a Russian form means INN.
        if isinstance(data, dict) and data.get("language") == "ru":
            customer = data.get("customer")
            if isinstance(customer, dict) and not customer.get("tax_id_type"):
                for kind in _DETECTION_ORDER["ru"]:
                    if _TAX_ID_VALIDATORS[kind].is_valid(str(customer.get("tax_id", ""))):
                        data = {**data, "customer": {**customer, "tax_id_type": kind}}
                        break
        return data


@dataclass(frozen=True)
class Rect:
    """A rectangle in PDF points, origin bottom-left: (x0, y0) lower-left, (x1, y1) upper-right."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        """Width in points."""
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        """Height in points."""
        return self.y1 - self.y0

    def inset(self, by: float) -> Rect:
        """The rectangle shrunk by ``by`` points on every side."""
        return Rect(self.x0 + by, self.y0 + by, self.x1 - by, self.y1 - by)

    def contains(self, x: float, y: float) -> bool:
        """Whether the point lies inside (edges included)."""
        return self.x0 <= x <= self.x1 and self.y0 <= y <= self.y1

    def to_json(self) -> list[float]:
        """[x0, y0, x1, y1], exact (the store keeps what the scan check measures against)."""
        return [self.x0, self.y0, self.x1, self.y1]

    @classmethod
    def from_json(cls, value: list[float]) -> Rect:
        """Inverse of :meth:`to_json`."""
        x0, y0, x1, y1 = value
        return cls(x0, y0, x1, y1)


@dataclass(frozen=True)
class Box:
    """A field the customer fills in by hand: a signature, initials or the date of signing."""

    kind: BoxKind
    page: int
    rect: Rect
    label: str

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "kind": self.kind,
            "page": self.page,
            "rect": self.rect.to_json(),
            "label": self.label,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Box:
        """Inverse of :meth:`to_json`."""
        return cls(value["kind"], value["page"], Rect.from_json(value["rect"]), value["label"])


@dataclass(frozen=True)
class Segment:
    """One block of contract text on a page: a clause (``clause`` "4.2"), or the title or
    preamble (``clause`` None), with the text a reader of the PDF sees inside ``rect``."""

    clause: str | None
    rect: Rect
    text: str

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"clause": self.clause, "rect": self.rect.to_json(), "text": self.text}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Segment:
        """Inverse of :meth:`to_json`."""
        return cls(value["clause"], Rect.from_json(value["rect"]), value["text"])


@dataclass(frozen=True)
class IssuedPage:
    """One page as issued: its whole text (pypdfium2) and its contract text by clause."""

    number: int
    text: str
    segments: tuple[Segment, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "number": self.number,
            "text": self.text,
            "segments": [s.to_json() for s in self.segments],
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> IssuedPage:
        """Inverse of :meth:`to_json`."""
        return cls(
            value["number"],
            value["text"],
            tuple(Segment.from_json(s) for s in value["segments"]),
        )


@dataclass(frozen=True)
class IssuedContract:
    """An offer or contract PDF as we issued it: everything a returned scan is checked against.

    ``digest`` identifies the content (request data and template); its first characters ride
    in every page's QR code, so a page of an earlier version of the same contract is told
    apart. ``sha256`` is the hash of the PDF bytes (``pdf``, kept in the blob store).
    ``qr_marks`` are where the QR codes sit, the same rectangles on every page.
    """

    contract_id: str
    kind: DocumentKind
    language: Language
    customer: Party
    digest: str
    sha256: str
    page_size: tuple[float, float]
    pages: tuple[IssuedPage, ...]
    boxes: tuple[Box, ...]
    qr_marks: tuple[Rect, ...]
    #: "page N of M" as printed, with ``${n}`` and ``${m}`` (read back when a QR is unreadable).
    page_label: str = "${n}/${m}"
    pdf: bytes = field(default=b"", repr=False, compare=False)

    @property
    def page_count(self) -> int:
        """Number of pages."""
        return len(self.pages)

    def qr_payload(self, page: int) -> str:
        """What the QR code on ``page`` says: ``BO:<contract_id>:<n>/<m>:<digest prefix>``."""
        return qr_payload(self.contract_id, page, self.page_count, self.digest)

    def boxes_on(self, page: int) -> tuple[Box, ...]:
        """The boxes to fill in on one page."""
        return tuple(b for b in self.boxes if b.page == page)

    def to_json(self) -> dict[str, Any]:
        """JSON form for the store (without the PDF bytes, kept as a blob under sha256)."""
        return {
            "contract_id": self.contract_id,
            "kind": self.kind,
            "language": self.language,
            "customer": self.customer.model_dump(mode="json"),
            "digest": self.digest,
            "sha256": self.sha256,
            "page_size": list(self.page_size),
            "pages": [p.to_json() for p in self.pages],
            "boxes": [b.to_json() for b in self.boxes],
            "qr_marks": [r.to_json() for r in self.qr_marks],
            "page_label": self.page_label,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any], pdf: bytes = b"") -> IssuedContract:
        """Inverse of :meth:`to_json`; ``pdf`` is the blob, when at hand."""
        width, height = value["page_size"]
        return cls(
            contract_id=value["contract_id"],
            kind=value["kind"],
            language=value["language"],
            customer=Party.model_validate(value["customer"]),
            digest=value["digest"],
            sha256=value["sha256"],
            page_size=(width, height),
            pages=tuple(IssuedPage.from_json(p) for p in value["pages"]),
            boxes=tuple(Box.from_json(b) for b in value["boxes"]),
            qr_marks=tuple(Rect.from_json(r) for r in value["qr_marks"]),
            page_label=value["page_label"],
            pdf=pdf,
        )


#: First field of every QR payload: marks the code as ours.
QR_PREFIX = "BO"
#: Hex characters of the content digest carried in the QR payload.
DIGEST_CHARS = 8


def qr_payload(contract_id: str, page: int, page_count: int, digest: str) -> str:
    """The QR code text of one page: ``BO:<contract_id>:<n>/<m>:<digest prefix>``."""
    return f"{QR_PREFIX}:{contract_id}:{page}/{page_count}:{digest[:DIGEST_CHARS]}"
