"""Plain data of an invoice reading: values with a confidence and where each came from."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any


class Source(StrEnum):
    """Where a value was read, cheapest exact first."""

    XML = "xml"
    TEXT = "text"
    OCR = "ocr"
    #: Typed in by a person correcting the reading in the review queue.
    STAFF = "staff"
    #: Read where a person's correction showed it sits on this supplier's layout.
    LEARNED = "learned"


class Kind(StrEnum):
    """What the document is."""

    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"
    NOT_INVOICE = "not_invoice"


# The field names of the stable JSON contract, in the order they are reported.
FIELD_NAMES = (
    "invoice_number",
    "issue_date",
    "sale_date",
    "due_date",
    "currency",
    "total_net",
    "total_tax",
    "total_gross",
    "amount_due",
    "tax_breakdown",
    "seller_name",
    "seller_tax_id",
    "buyer_name",
    "buyer_tax_id",
    "iban",
)

Box = tuple[float, float, float, float]
"""x0, y0, x1, y1 in points (PDF) or pixels (images), origin top-left."""


@dataclass(frozen=True)
class TaxRate:
    """One VAT rate line of the summary: net and tax at that rate."""

    rate: str
    net: Decimal | None
    tax: Decimal | None
    gross: Decimal | None = None

    def to_json(self) -> dict[str, str | None]:
        """JSON form: amounts as decimal strings."""
        return {
            "rate": self.rate,
            "net": _json_value(self.net),
            "tax": _json_value(self.tax),
            "gross": _json_value(self.gross),
        }


@dataclass(frozen=True)
class LineItem:
    """One invoice line as printed (values that were not found are None)."""

    description: str
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    net: Decimal | None = None
    tax_rate: str | None = None
    gross: Decimal | None = None

    def to_json(self) -> dict[str, str | None]:
        """JSON form: amounts as decimal strings."""
        return {
            "description": self.description,
            "quantity": _json_value(self.quantity),
            "unit_price": _json_value(self.unit_price),
            "net": _json_value(self.net),
            "tax_rate": self.tax_rate,
            "gross": _json_value(self.gross),
        }


FieldScalar = str | Decimal | dt.date | tuple[TaxRate, ...]


@dataclass(frozen=True)
class FieldValue:
    """One extracted value, how sure we are (0..1) and where it came from."""

    value: FieldScalar
    confidence: float
    source: Source
    page: int | None = None
    box: Box | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form of the contract: value, confidence, source, page."""
        return {
            "value": _json_value(self.value),
            "confidence": round(self.confidence, 3),
            "source": self.source.value,
            "page": self.page,
        }


@dataclass(frozen=True)
class Problem:
    """Why something could not be read; ``code`` is UPPER_SNAKE and searchable."""

    code: str
    message: str
    field: str | None = None

    def to_json(self) -> dict[str, str | None]:
        """JSON form of the contract."""
        return {"code": self.code, "field": self.field, "message": self.message}


@dataclass
class ExtractionResult:
    """Everything read from one file."""

    file: Path
    kind: Kind = Kind.NOT_INVOICE
    source: Source | None = None
    language: str | None = None
    fields: dict[str, FieldValue] = field(default_factory=dict)
    lines: list[LineItem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def value(self, name: str) -> FieldScalar | None:
        """The value of field ``name``, or None when it was not found."""
        found = self.fields.get(name)
        return None if found is None else found.value

    def to_json(self) -> dict[str, Any]:
        """The stable JSON contract (``backoffice extract FILE --json``)."""
        ordered = sorted(
            self.fields.items(),
            key=lambda item: FIELD_NAMES.index(item[0]) if item[0] in FIELD_NAMES else 99,
        )
        return {
            "file": str(self.file),
            "kind": self.kind.value,
            "source": None if self.source is None else self.source.value,
            "language": self.language,
            "fields": {name: value.to_json() for name, value in ordered},
            "lines": [line.to_json() for line in self.lines],
            "problems": [problem.to_json() for problem in self.problems],
        }


def _json_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return [item.to_json() for item in value]
    return value
