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
from backoffice.invoices.model import Box, Source
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
# Pages with more text runs than this share of their characters were printed glyph by
# glyph (browsers): their words are rebuilt from the characters. Typical generators write
# a run per string or line (under 0.12 runs per character in our corpus); Chromium 0.2-0.9.
GLYPH_RUN_SHARE = 0.15
# The widest gap between two letters' advance boxes inside a word, as a share of the line
# height (ascent to descent): letter-spacing gave up to 0.07 on Chromium invoices, a space
# 0.17 (narrow no-break) to 0.3.
WORD_GAP = 0.12
# Points kept between two overlapping runs' boxes once narrowed.
RUN_EDGE = 0.05


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
        chars = pdfium_c.FPDFText_CountChars(textpage)
        rects = pdfium_c.FPDFText_CountRects(textpage, 0, -1)
        chunks = None
        if rects > GLYPH_RUN_SHARE * chars:
            chunks = _word_chunks(textpage, chars, height)
        if chunks is None:
            chunks = _run_chunks(textpage, rects, height)
    finally:
        pdfium_c.FPDFText_ClosePage(textpage)
    return PageText(number, Source.TEXT, lines_of(chunks, number), width, height)


def _run_chunks(textpage, count: int, height: float) -> list[tuple[str, Box, float]]:
    """One chunk per pdfium text run (a text object's characters on one line)."""
    left, top, right, bottom = (ctypes.c_double() for _ in range(4))
    get_rect = pdfium_c.FPDFText_GetRect
    boxes = []
    for index in range(count):
        get_rect(textpage, index, left, top, right, bottom)
        boxes.append([left.value, top.value, right.value, bottom.value])
    _unoverlap(boxes)
    chunks = []
    # One reused buffer and the raw calls: pypdfium2's get_text_bounded asks pdfium
    # twice (size, then text) and allocates each time, half the cost of a page's text.
    buffer = (ctypes.c_ushort * RUN_BUFFER_CHARS)()
    get_text = pdfium_c.FPDFText_GetBoundedText
    string_at = ctypes.string_at
    for x0, y0, x1, y1 in boxes:
        count = get_text(textpage, x0, y0, x1, y1, buffer, RUN_BUFFER_CHARS)
        # The count includes the terminating NUL.
        text = string_at(buffer, max(0, count - 1) * 2).decode("utf-16-le", "replace")
        if "\ufffe" in text:
            text = text.replace("\ufffe", "-")
        if text.strip():
            chunks.append((text, (x0, height - y0, x1, height - y1), 1.0))
    return chunks


def _unoverlap(boxes: list[list[float]]) -> None:
    """Narrow runs that overlap the next run on their line (kerned glyphs, as browsers
    print them): pdfium's bounded text takes every character a box touches, so each run
    would also give its neighbour's first or last letter ("Fa" + "ak" for "Fak")."""
    for index in range(len(boxes) - 1):
        a, b = boxes[index], boxes[index + 1]
        # PDF coordinates: top > bottom. Same line: the vertical ranges overlap.
        same_line = min(a[1], b[1]) > max(a[3], b[3])
        if same_line and a[0] < b[0] < a[2]:
            # Each box stops short of where the other began: both still touch their own
            # characters (each starts before the other's box) and no longer the other's.
            a_right, b_left = b[0] - RUN_EDGE, a[2] + RUN_EDGE
            if a[0] < a_right and b_left < b[2]:
                a[2], b[0] = a_right, b_left


def _word_chunks(textpage, count: int, height: float) -> list[tuple[str, Box, float]] | None:
    """One chunk per word, from the characters and their boxes.

    For pages printed glyph by glyph (Chromium/Skia write a text object for every kerned
    glyph run, often one letter): per-run chunks would split words ("R azem"). Characters
    are joined into a word while the gap between their advance boxes (pdfium's loose
    boxes: pen position to pen position plus advance, so side bearings do not count) is
    under WORD_GAP of the line height; a chunk's box is the tight box of its glyphs, as
    the runs' are. None when the page text does not line up with the character indices.
    """
    buffer = (ctypes.c_ushort * (count + 1))()
    written = pdfium_c.FPDFText_GetText(textpage, 0, count, buffer)
    text = ctypes.string_at(buffer, max(0, written - 1) * 2).decode("utf-16-le", "replace")
    if len(text) != count:
        return None
    # pdfium gives a hyphen that ends a line as U+FFFE ("Санкт-" / "Петербург").
    text = text.replace("\ufffe", "-")
    left, right, bottom, top = (ctypes.c_double() for _ in range(4))
    loose = pdfium_c.FS_RECTF()
    get_box = pdfium_c.FPDFText_GetCharBox
    get_loose = pdfium_c.FPDFText_GetLooseCharBox
    chunks: list[tuple[str, Box, float]] = []
    word: list[str] = []
    x0 = y0 = x1 = y1 = 0.0
    # The previous character's advance box (left, right, bottom, top; PDF coordinates).
    p0 = p1 = pb = pt = 0.0
    for index, char in enumerate(text):
        if char.isspace():
            if word:
                chunks.append(("".join(word), (x0, y0, x1, y1), 1.0))
                word = []
            continue
        get_loose(textpage, index, loose)
        l0, l1, lb, lt = loose.left, loose.right, loose.bottom, loose.top
        get_box(textpage, index, left, right, bottom, top)
        cx0, cx1 = left.value, right.value
        cy0, cy1 = height - top.value, height - bottom.value
        if word and lb < pt and lt > pb and p0 <= l0 <= p1 + WORD_GAP * (lt - lb):
            word.append(char)
            x0 = cx0 if cx0 < x0 else x0
            x1 = cx1 if cx1 > x1 else x1
            y0 = cy0 if cy0 < y0 else y0
            y1 = cy1 if cy1 > y1 else y1
        else:
            if word:
                chunks.append(("".join(word), (x0, y0, x1, y1), 1.0))
            word = [char]
            x0, y0, x1, y1 = cx0, cy0, cx1, cy1
        p0, p1, pb, pt = l0, l1, lb, lt
    if word:
        chunks.append(("".join(word), (x0, y0, x1, y1), 1.0))
    return chunks


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
