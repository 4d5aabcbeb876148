"""The document behind a review item: found by id, streamed, and drawn with its field boxes.

A document is reached only through its row id; the file is the row's blob, resolved by
``BlobStore.path`` which refuses anything outside the blob folder, so no request can name
a path. Page images are rendered with pypdfium2 (PDF) or Pillow (scanned images), scaled to
a bounded size, with the boxes of the extracted fields drawn on top.

Evidence contract read here (what robots put into ``ReviewItem.evidence``)::

    {"document_id": 12,                      # optional when subject_type is "document"
     "fields": {"total_gross": {"value": "123.00", "confidence": 0.41, "page": 1,
                                "box": [x0, y0, x1, y1]}},   # PDF points (images: pixels),
                                                             # origin top-left
     "problems": [{"code": "TOTALS_MISMATCH", "field": "total_gross", "message": "..."}]}

``findings`` and ``failed_rules`` are read like ``problems``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pypdfium2 as pdfium
from PIL import Image, ImageDraw
from sqlalchemy.orm import Session

from backoffice.invoices.service import CASE_SUBJECT, latest_version
from backoffice.pdfium_lock import serialised
from backoffice.store.blobs import BlobStore
from backoffice.store.models import Document, InvoiceCase, ReviewItem

#: Longest side of a rendered page image, in pixels.
MAX_SIDE = 1400
#: Largest image opened (pixels); bigger scans are refused (decompression bombs).
MAX_IMAGE_PIXELS = 60_000_000
IMAGE_TYPES = {"image/png", "image/jpeg", "image/tiff", "image/gif", "image/bmp", "image/webp"}
#: Content types a download is labelled with; anything else is sent as octet-stream.
SAFE_DOWNLOAD_TYPES = {"application/pdf", "application/xml", "text/xml", *IMAGE_TYPES}
HIGHLIGHT = (220, 30, 30)


class RenderError(ValueError):
    """The document cannot be drawn (not a PDF or image, damaged, too large, no such page)."""


@dataclass(frozen=True)
class FieldView:
    """One extracted field as the item page shows it."""

    name: str
    value: Any
    confidence: float | None
    page: int | None
    box: tuple[float, float, float, float] | None


@dataclass(frozen=True)
class ProblemView:
    """One failed rule or reading problem."""

    code: str
    field: str
    message: str


def document_for(session: Session, item: ReviewItem) -> Document | None:
    """The document a review item is about, if any (an invoice case's: its newest one)."""
    ref: Any = item.evidence.get("document_id") if isinstance(item.evidence, dict) else None
    if ref is None and item.subject_type == "document":
        ref = item.subject_ref
    if ref is None and item.subject_type == CASE_SUBJECT and item.subject_ref.isdigit():
        case = session.get(InvoiceCase, int(item.subject_ref))
        version = latest_version(session, case) if case is not None else None
        return version.document if version is not None else None
    try:
        doc_id = int(str(ref))
    except (TypeError, ValueError):
        return None
    return session.get(Document, doc_id)


def fields_of(evidence: dict[str, Any]) -> list[FieldView]:
    """The extracted fields in the evidence, tolerating missing or odd values."""
    raw = evidence.get("fields") if isinstance(evidence, dict) else None
    if not isinstance(raw, dict):
        return []
    out = []
    for name, value in raw.items():
        if not isinstance(value, dict):
            out.append(FieldView(str(name), value, None, None, None))
            continue
        out.append(
            FieldView(
                str(name),
                value.get("value"),
                _number(value.get("confidence")),
                _page(value.get("page")),
                _box(value.get("box")),
            )
        )
    return out


def marked_fields(evidence: dict[str, Any]) -> list[FieldView]:
    """The fields to outline on the page images: the evidence's fields and the places the
    failed rules point at (an invoice case's findings carry field, page and box)."""
    marked = fields_of(evidence)
    for entry in (evidence.get("findings") or []) if isinstance(evidence, dict) else []:
        if isinstance(entry, dict) and _box(entry.get("box")) is not None:
            marked.append(
                FieldView(
                    str(entry.get("field") or ""),
                    entry.get("value"),
                    _number(entry.get("confidence")),
                    _page(entry.get("page")),
                    _box(entry.get("box")),
                )
            )
    return marked


def problems_of(evidence: dict[str, Any]) -> list[ProblemView]:
    """The failed rules and problems in the evidence."""
    if not isinstance(evidence, dict):
        return []
    out = []
    for key in ("problems", "findings", "failed_rules"):
        for entry in evidence.get(key) or ():
            if isinstance(entry, dict):
                out.append(
                    ProblemView(
                        str(entry.get("code", "")),
                        str(entry.get("field", "") or ""),
                        str(entry.get("message", "") or ""),
                    )
                )
            else:
                out.append(ProblemView(str(entry), "", ""))
    return out


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _page(value: Any) -> int | None:
    try:
        page = int(value)
    except (TypeError, ValueError):
        return None
    return page if page >= 1 else None


def _box(value: Any) -> tuple[float, float, float, float] | None:
    if not isinstance(value, list | tuple) or len(value) != 4:
        return None
    try:
        x0, y0, x1, y1 = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def is_renderable(document: Document) -> bool:
    """Whether the document's type can be drawn as page images."""
    return document.content_type == "application/pdf" or document.content_type in IMAGE_TYPES


@serialised
def page_count(blobs: BlobStore, document: Document) -> int:
    """How many pages the document has (images: 1); 0 when it cannot be opened."""
    if not document.blob_path or not is_renderable(document):
        return 0
    try:
        path = blobs.path(document.blob_path)
        if document.content_type in IMAGE_TYPES:
            return 1 if path.is_file() else 0
        pdf = pdfium.PdfDocument(str(path))
        try:
            return len(pdf)
        finally:
            pdf.close()
    except (OSError, ValueError, pdfium.PdfiumError):
        return 0


def render_page(
    blobs: BlobStore, document: Document, number: int, fields: list[FieldView]
) -> bytes:
    """Page ``number`` (1-based) as PNG with the boxes of the fields on that page drawn."""
    if not document.blob_path or not is_renderable(document):
        raise RenderError("this document has no page images")
    try:
        path = blobs.path(document.blob_path)
    except ValueError as exc:
        raise RenderError(str(exc)) from exc
    if document.content_type in IMAGE_TYPES:
        if number != 1:
            raise RenderError("an image has one page")
        image, scale = _image(path)
    else:
        image, scale = _pdf_page(path, number)
    draw = ImageDraw.Draw(image)
    width = max(2, round(image.width / 400))
    for item in fields:
        if item.box is None or (item.page or 1) != number:
            continue
        x0, y0, x1, y1 = (v * scale for v in item.box)
        draw.rectangle((x0 - 2, y0 - 2, x1 + 2, y1 + 2), outline=HIGHLIGHT, width=width)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


@serialised
def _pdf_page(path: Any, number: int) -> tuple[Image.Image, float]:
    try:
        pdf = pdfium.PdfDocument(str(path))
    except (pdfium.PdfiumError, OSError) as exc:
        raise RenderError(f"the PDF cannot be opened: {exc}") from exc
    try:
        if not 1 <= number <= len(pdf):
            raise RenderError(f"the document has {len(pdf)} pages")
        page = pdf[number - 1]
        try:
            width, height = page.get_size()
            if width <= 0 or height <= 0:
                raise RenderError("the page has no size")
            scale = min(MAX_SIDE / max(width, height), 3.0)
            bitmap = page.render(scale=scale)
            image = bitmap.to_pil().convert("RGB")
        finally:
            page.close()
    except pdfium.PdfiumError as exc:
        raise RenderError(f"the page cannot be drawn: {exc}") from exc
    finally:
        pdf.close()
    return image, scale


def _image(path: Any) -> tuple[Image.Image, float]:
    try:
        with Image.open(path) as source:
            if source.width * source.height > MAX_IMAGE_PIXELS:
                raise RenderError("the image is too large to draw")
            source.seek(0)
            image = source.convert("RGB")
    except (OSError, Image.DecompressionBombError) as exc:
        raise RenderError(f"the image cannot be opened: {exc}") from exc
    scale = min(MAX_SIDE / max(image.width, image.height), 1.0)
    if scale < 1.0:
        image = image.resize((round(image.width * scale), round(image.height * scale)))
    return image, scale


def download_type(document: Document) -> str:
    """The Content-Type a download is sent with: the stored one when known safe."""
    kind = (document.content_type or "").lower()
    return kind if kind in SAFE_DOWNLOAD_TYPES else "application/octet-stream"
