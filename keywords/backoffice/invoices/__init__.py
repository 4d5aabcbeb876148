"""Incoming invoices: read any invoice file into typed fields with confidences.

The reading core is pure: ``extract(path)`` takes a file (PDF, image or XML) and returns an
``ExtractionResult``; it never raises for bad input, it reports a problem code instead.
Sources are tried cheapest exact first: embedded or attached structured XML, then the PDF
text layer, then OCR for pages without usable text.
"""

from backoffice.invoices.api import extract
from backoffice.invoices.model import (
    ExtractionResult,
    FieldValue,
    LineItem,
    Problem,
    TaxRate,
)

__all__ = ["ExtractionResult", "FieldValue", "LineItem", "Problem", "TaxRate", "extract"]
