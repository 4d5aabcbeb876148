"""The PDF reader: embedded XML attachments and the text layer (pypdfium2).

pypdfium2 opens and reads text an order of magnitude faster than pdfminer-based tools
(about 1 ms a page), and its text "rects" are already runs of text with positions, which is
what the layout grouping needs.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import re
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from backoffice.invoices.errors import DocumentError, PdfEncrypted, PdfTruncated, TooManyPages
from backoffice.invoices.layout import PageText, lines_of
from backoffice.invoices.limits import Limits
from backoffice.invoices.model import Source
from backoffice.pdfium_lock import serialised

# Factur-X 1.0 / ZUGFeRD 2.x / XRechnung names of the embedded XML, as the standards fix them.
FACTURX_FILENAMES = ["factur-x.xml", "zugferd-invoice.xml", "ZUGFeRD-invoice.xml", "xrechnung.xml"]
# A page whose text layer has fewer letters or digits than this is treated as a scan.
MIN_TEXT_CHARS = 25
# Share of letters/digits/punctuation among text characters below which a text layer is
# garbage (broken ToUnicode maps give private-use or replacement characters).
MIN_READABLE_SHARE = 0.85
# Where "%%EOF" must appear for the file to be complete; incremental updates end with it too.
EOF_TAIL_BYTES = 2048
# Characters read from one text run at most (a run is a line of a text object at most).
RUN_BUFFER_CHARS = 8192


@dataclass
class PdfContent:
    """What the PDF holds before any field extraction."""

    page_count: int
    pages: list[PageText]
    scanned_pages: list[int]
    xml_attachments: list[tuple[str, bytes]]
    truncated: bool


def _open(data: bytes) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD:
            raise PdfEncrypted("the PDF is encrypted with a password and cannot be read") from exc
        if b"%%EOF" not in data[-EOF_TAIL_BYTES:]:
            raise PdfTruncated(
                "the PDF is cut short (no end-of-file marker) and cannot be opened"
            ) from exc
        raise PdfTruncated(f"the PDF is damaged and cannot be opened ({exc})") from exc


def is_truncated(data: bytes) -> bool:
    """True when the file lacks the final end-of-file marker, i.e. it was cut short."""
    return b"%%EOF" not in data[-EOF_TAIL_BYTES:]


# Characters counted as readable besides letters and digits (all distinct, none alnum).
_READABLE_PUNCTUATION = ".,:;-/%()[]#№€$₽£+*'\"«»&@_=<>!?"
# Runs of anything but letters and digits: ``[^\W_]`` is exactly ``str.isalnum``.
_NOT_ALNUM = re.compile(r"[\W_]+")


def _readable(text: str) -> bool:
    # Counted by C loops (regex, split, count), not a Python loop over every character.
    alnum = len(_NOT_ALNUM.sub("", text))
    if alnum < MIN_TEXT_CHARS:
        return False
    visible = len("".join(text.split()))
    good = alnum + sum(text.count(ch) for ch in _READABLE_PUNCTUATION)
    return good / visible >= MIN_READABLE_SHARE


def page_text(page: pdfium.PdfPage, number: int) -> PageText:
    """The text layer of one page as positioned lines (origin top-left, in points)."""
    width, height = page.get_size()
    return _text_of(page.raw, number, width, height)


def _page_text_at(document: pdfium.PdfDocument, number: int) -> PageText:
    """``page_text`` of page ``number`` (1-based) through the raw calls: pypdfium2's page
    and text-page objects (finalizers, parent bookkeeping) cost as much as the text."""
    raw = pdfium_c.FPDF_LoadPage(document.raw, number - 1)
    if not raw:
        raise pdfium.PdfiumError("Failed to load page.")
    try:
        width = pdfium_c.FPDF_GetPageWidthF(raw)
        height = pdfium_c.FPDF_GetPageHeightF(raw)
        return _text_of(raw, number, width, height)
    finally:
        pdfium_c.FPDF_ClosePage(raw)


def _text_of(raw_page, number: int, width: float, height: float) -> PageText:
    textpage = pdfium_c.FPDFText_LoadPage(raw_page)
    if not textpage:
        raise pdfium.PdfiumError("Failed to load text page.")
    try:
        chunks = []
        left, top, right, bottom = (ctypes.c_double() for _ in range(4))
        # One reused buffer and the raw calls: pypdfium2's get_text_bounded asks pdfium
        # twice (size, then text) and allocates each time, half the cost of a page's text.
        buffer = (ctypes.c_ushort * RUN_BUFFER_CHARS)()
        get_rect = pdfium_c.FPDFText_GetRect
        get_text = pdfium_c.FPDFText_GetBoundedText
        string_at = ctypes.string_at
        for index in range(pdfium_c.FPDFText_CountRects(textpage, 0, -1)):
            get_rect(textpage, index, left, top, right, bottom)
            count = get_text(textpage, left, top, right, bottom, buffer, RUN_BUFFER_CHARS)
            # The count includes the terminating NUL.
            text = string_at(buffer, max(0, count - 1) * 2).decode("utf-16-le", "replace")
            if text.strip():
                box = (left.value, height - top.value, right.value, height - bottom.value)
                chunks.append((text, box, 1.0))
    finally:
        pdfium_c.FPDFText_ClosePage(textpage)
    return PageText(number, Source.TEXT, lines_of(chunks, number), width, height)


def _facturx_xml(data: bytes) -> tuple[str, bytes] | None:
    # Imported here: factur-x pulls in pypdf, only needed for PDFs that carry attachments.
    from facturx import get_xml_from_pdf

    # factur-x logs a warning for every PDF without its XML; that is normal here.
    logging.getLogger("facturx").setLevel(logging.ERROR)
    try:
        name, xml = get_xml_from_pdf(
            io.BytesIO(data), check_xsd=False, filenames=list(FACTURX_FILENAMES)
        )
    except Exception:
        return None
    if not name or not xml:
        return None
    return name, xml


@serialised
def read_pdf(data: bytes, limits: Limits) -> PdfContent:
    """Open a PDF within the limits and read attachments and the text layer of each page."""
    document = _open(data)
    try:
        count = len(document)
        if count > limits.max_pages:
            raise TooManyPages(
                f"the PDF has {count} pages; an invoice has at most {limits.max_pages}, "
                "so it was not read"
            )
        if count == 0:
            raise DocumentError("the PDF has no pages", code="PDF_EMPTY")
        attachments: list[tuple[str, bytes]] = []
        if document.count_attachments():
            found = _facturx_xml(data)
            if found is not None:
                attachments.append(found)
            for index in range(document.count_attachments()):
                attachment = document.get_attachment(index)
                name = attachment.get_name()
                if name.lower().endswith(".xml") and all(name != n for n, _ in attachments):
                    with contextlib.suppress(pdfium.PdfiumError):
                        attachments.append((name, bytes(attachment.get_data())))
        pages = []
        scanned = []
        for number in range(count):
            text = _page_text_at(document, number + 1)
            pages.append(text)
            if not _readable(text.text):
                scanned.append(number + 1)
        return PdfContent(count, pages, scanned, attachments, is_truncated(data))
    finally:
        document.close()


@serialised
def render_page(data: bytes, number: int, dpi: int, max_pixels: int):
    """Render page ``number`` (1-based) as a greyscale PIL image, bounded by ``max_pixels``."""
    from backoffice.invoices.errors import ImageTooLarge

    document = _open(data)
    try:
        page = document[number - 1]
        width, height = page.get_size()
        scale = dpi / 72
        pixels = width * scale * height * scale
        if pixels > max_pixels:
            # A page box far larger than paper is a bomb, not an invoice page.
            raise ImageTooLarge(
                f"page {number} would render to {int(pixels):,} pixels at {dpi} DPI "
                f"(limit {max_pixels:,})"
            )
        bitmap = page.render(scale=scale, grayscale=True)
        # A copy: the greyscale image would share the bitmap's memory, and freeing that
        # bitmap later, on whichever thread drops the image, would call PDFium unlocked.
        image = bitmap.to_pil().copy()
        bitmap.close()
        page.close()
        return image
    finally:
        document.close()
