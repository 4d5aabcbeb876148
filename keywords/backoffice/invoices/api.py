"""The use case: ``extract(path)`` reads one file into an ``ExtractionResult``.

Sources are tried cheapest exact first — structured XML (a file, or embedded in a PDF as
Factur-X/ZUGFeRD/XRechnung or any attached XML), then the PDF text layer, then OCR for the
pages without usable text and for images. Bad input never raises: it ends as a result with
a problem code (PDF_ENCRYPTED, TOO_MANY_PAGES, XML_UNSAFE, NOT_AN_INVOICE, ...).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from backoffice.invoices.errors import DocumentError, FileTooLarge, UnsupportedFile
from backoffice.invoices.fields import TextFieldExtractor, detect_language
from backoffice.invoices.layout import PageText
from backoffice.invoices.limits import MAX_XML_BYTES, Limits
from backoffice.invoices.model import ExtractionResult, FieldValue, Kind, Problem, Source
from backoffice.invoices.readers.xml import XmlInvoice, read_invoice_xml

log = logging.getLogger(__name__)

PDF_MAGIC = b"%PDF-"
# Where the PDF header may start: some generators put junk before it and readers accept it.
PDF_HEADER_WINDOW = 1024
IMAGE_MAGICS = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"GIF8", b"BM")
XML_START = (b"<?xml", b"<")
UTF8_BOM = b"\xef\xbb\xbf"
# Fields a document must show to be taken for an invoice at all.
INVOICE_EVIDENCE = ("total_gross", "invoice_number")
# An invoice number read by OCR below this confidence is read again from its cells; with
# no number label read at all, the low-confidence words of the page's top part are.
REREAD_BELOW_CONFIDENCE = 0.8
REREAD_BELOW_WORD_CONFIDENCE = 0.6
REREAD_TOP_SHARE = 0.4
REREAD_MAX_CELLS = 16
# Key fields read by OCR that get a second look, and the confidence left to one whose
# second reading disagrees (under the rules' bar: a person looks).
SECOND_LOOK_FIELDS = ("invoice_number", "issue_date", "total_gross", "seller_tax_id", "iban")
DISAGREED = 0.4


def extract(path: Path, limits: Limits | None = None) -> ExtractionResult:
    """Read an invoice (PDF, image or XML) at ``path``; never raises for bad input.

    Returns the fields found, each with a confidence and its source, the line items, the
    document kind and language, and the problems met (a refused file has only problems).
    """
    limits = limits or Limits()
    result = ExtractionResult(file=Path(path))
    try:
        _extract_into(result, Path(path), limits)
    except DocumentError as exc:
        result.problems.append(Problem(exc.code, exc.reason))
    except Exception as exc:
        log.exception("unexpected error reading %s", path)
        result.problems.append(Problem("READ_FAILED", f"the file could not be read: {exc!r}"))
    if (
        result.kind is Kind.NOT_INVOICE
        and not any(p.code != "NOT_AN_INVOICE" for p in result.problems)
        and not result.problems
    ):
        result.problems.append(
            Problem("NOT_AN_INVOICE", "no invoice number or total was found: not an invoice")
        )
    return result


def _sniff(data: bytes) -> str:
    head = data[:PDF_HEADER_WINDOW]
    if PDF_MAGIC in head:
        return "pdf"
    if data.startswith(IMAGE_MAGICS):
        return "image"
    stripped = data.removeprefix(UTF8_BOM).lstrip()
    if stripped.startswith(XML_START):
        return "xml"
    raise UnsupportedFile("the file is not a PDF, an image or an XML document")


def _extract_into(result: ExtractionResult, path: Path, limits: Limits) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UnsupportedFile(f"the file cannot be opened: {exc.strerror}") from exc
    if size > limits.max_file_bytes:
        raise FileTooLarge(f"the file has {size:,} bytes (limit {limits.max_file_bytes:,})")
    data = path.read_bytes()
    kind = _sniff(data)
    if kind == "xml":
        if len(data) > MAX_XML_BYTES:
            raise FileTooLarge(f"the XML has {len(data):,} bytes (limit {MAX_XML_BYTES:,})")
        invoice = read_invoice_xml(data)
        if invoice is None:
            result.problems.append(
                Problem(
                    "NOT_AN_INVOICE",
                    "the XML is not an invoice in a format we read (CII / Factur-X / ZUGFeRD, "
                    "UBL, KSeF FA, the Russian FNS счёт-фактура / УПД)",
                )
            )
            return
        _fill_from_xml(result, invoice, None)
        return
    if kind == "pdf":
        _extract_pdf(result, data, limits)
        return
    _extract_images(result, data, limits)


def _extract_pdf(result: ExtractionResult, data: bytes, limits: Limits) -> None:
    from backoffice.invoices.readers.pdf import read_pdf, render_page

    content = read_pdf(data, limits)
    if content.truncated:
        result.problems.append(
            Problem("PDF_TRUNCATED", "the PDF lacks its end-of-file marker: it may be cut short")
        )
    text = "\n".join(page.text for page in content.pages)
    for name, xml in content.xml_attachments:
        try:
            invoice = read_invoice_xml(xml)
        except DocumentError as exc:
            result.problems.append(Problem(exc.code, f"attachment {name}: {exc.reason}"))
            continue
        if invoice is not None:
            _fill_from_xml(result, invoice, text or None)
            return
    pages = list(content.pages)
    scanned = content.scanned_pages
    if scanned:
        from backoffice.invoices.readers.ocr import read_pages

        to_ocr = scanned[: limits.max_ocr_pages]
        if len(scanned) > len(to_ocr):
            result.problems.append(
                Problem(
                    "OCR_PAGES_SKIPPED",
                    f"{len(scanned) - len(to_ocr)} pages without text were not OCRed "
                    f"(limit {limits.max_ocr_pages})",
                )
            )
        images = [
            (n, render_page(data, n, limits.ocr_dpi, limits.max_image_pixels)) for n in to_ocr
        ]
        read = read_pages(images)
        for page in read:
            pages[page.text.number - 1] = page.text
        _fill_from_text(result, pages)
        _second_look(result, pages, read)
        return
    _fill_from_text(result, pages)


def _extract_images(result: ExtractionResult, data: bytes, limits: Limits) -> None:
    from backoffice.invoices.readers.ocr import load_images, read_pages

    images = load_images(data, limits)
    to_ocr = images[: limits.max_ocr_pages]
    read = read_pages([(index + 1, image) for index, image in enumerate(to_ocr)])
    pages = [page.text for page in read]
    _fill_from_text(result, pages)
    _second_look(result, pages, read)


def _number_cells(page: PageText) -> set[tuple[int, int]]:
    """(line, segment) places where an invoice number may be: around its labels, or, when
    no label was read at all, the words read with low confidence in the page's top part."""
    from backoffice.invoices import labels as L

    lines = page.lines
    places: set[tuple[int, int]] = set()
    for index, line in enumerate(lines):
        labelled = [
            i
            for i, segment in enumerate(line.segments)
            if L.INVOICE_NUMBER.search(segment.text) or L.INVOICE_TITLE.search(segment.text)
        ]
        if not labelled:
            continue
        first = labelled[0]
        places |= {(index, i) for i in range(first, min(first + 3, len(line.segments)))}
        if index + 1 < len(lines):
            label_box = line.segments[first].box
            for i, below in enumerate(lines[index + 1].segments):
                if min(below.box[2], label_box[2]) > max(below.box[0], label_box[0]):
                    places.add((index + 1, i))
    if places:
        return places
    for index, line in enumerate(lines):
        if line.box[1] > page.height * REREAD_TOP_SHARE:
            break
        for i, segment in enumerate(line.segments):
            if segment.confidence < REREAD_BELOW_WORD_CONFIDENCE:
                places |= {(index, i), (index, min(i + 1, len(line.segments) - 1))}
    return set(sorted(places)[:REREAD_MAX_CELLS])


def _field_cells(page: PageText, result: ExtractionResult) -> set[tuple[int, int]]:
    """(line, segment) places of the key fields read from this page."""
    boxes = {
        value.box
        for name in SECOND_LOOK_FIELDS
        if (value := result.fields.get(name)) is not None
        and value.source is Source.OCR
        and value.page == page.number
        and value.box is not None
    }
    return {
        (li, si)
        for li, line in enumerate(page.lines)
        for si, segment in enumerate(line.segments)
        if segment.box in boxes
    }


def _second_look(result: ExtractionResult, pages: list[PageText], read: list) -> None:
    """Read the cells of the key fields, and where the invoice number may be when OCR
    missed it, again: cut out, scaled up, in one more Tesseract run per page.

    A page-wide pass misreads small glyphs of codes more than words ("СФ-360" as "C®-360",
    a 0 of a date as 6) and merges lines set close together. A key field the second look
    reads differently is kept with a confidence low enough to send the invoice to a
    person; a missing or unsure invoice number is taken from the second look.
    """
    from backoffice.invoices.layout import Line, Segment
    from backoffice.invoices.readers.ocr import reread_regions

    found = result.fields.get("invoice_number")
    number_unsure = found is None or found.confidence < REREAD_BELOW_CONFIDENCE
    by_number = {page.text.number: page for page in read}
    changed = False
    new_pages = []
    for page in pages:
        ocr_page = by_number.get(page.number)
        places: list[tuple[int, int]] = []
        if ocr_page is not None:
            cells = _field_cells(page, result)
            if number_unsure:
                cells |= _number_cells(page)
            places = sorted(cells)
        if not places:
            new_pages.append(page)
            continue
        lines = list(page.lines)
        texts = reread_regions(ocr_page, [lines[li].segments[si].box for li, si in places])
        for (line_index, segment_index), text in zip(places, texts, strict=True):
            target = lines[line_index]
            old = target.segments[segment_index]
            if text and text != old.text:
                segments = list(target.segments)
                segments[segment_index] = Segment(text, old.box, old.confidence)
                lines[line_index] = Line(segments, target.page)
                changed = True
        new_pages.append(PageText(page.number, page.source, lines, page.width, page.height))
    if not changed:
        return
    fields, _, kind, _ = TextFieldExtractor(new_pages).run()
    for name in SECOND_LOOK_FIELDS:
        first, second = result.fields.get(name), fields.get(name)
        if first is None or first.source is not Source.OCR or second is None:
            continue
        if second.value != first.value:
            result.fields[name] = replace(first, confidence=min(first.confidence, DISAGREED))
    again = fields.get("invoice_number")
    if (
        number_unsure
        and again is not None
        and (found is None or again.confidence > found.confidence)
    ):
        result.fields["invoice_number"] = again
        result.problems = [
            problem
            for problem in result.problems
            if (problem.code, problem.field) != ("FIELD_MISSING", "invoice_number")
        ]
        if result.kind is Kind.NOT_INVOICE and kind is not Kind.NOT_INVOICE:
            # The number was the missing evidence: it is an invoice after all.
            result.kind = kind
            result.problems = [p for p in result.problems if p.code != "NOT_AN_INVOICE"]
            for name in ("issue_date", "total_gross"):
                if name not in result.fields:
                    result.problems.append(Problem("FIELD_MISSING", f"{name} was not found", name))


def _fill_from_text(result: ExtractionResult, pages: list[PageText]) -> None:
    fields, lines, kind, language = TextFieldExtractor(pages).run()
    result.fields = fields
    result.lines = lines
    result.kind = kind
    result.language = language
    used = {value.source for value in fields.values()}
    result.source = Source.OCR if Source.OCR in used else Source.TEXT if used else None
    if kind is Kind.NOT_INVOICE or not any(name in fields for name in INVOICE_EVIDENCE):
        result.kind = Kind.NOT_INVOICE
        result.problems.append(
            Problem("NOT_AN_INVOICE", "no invoice title, number or total was found")
        )
    # Anything classed as an invoice but lacking a key field is flagged for the rules.
    for name in ("invoice_number", "issue_date", "total_gross"):
        if result.kind is not Kind.NOT_INVOICE and name not in fields:
            result.problems.append(Problem("FIELD_MISSING", f"{name} was not found", name))


def _fill_from_xml(result: ExtractionResult, invoice: XmlInvoice, text: str | None) -> None:
    from backoffice.invoices.readers.xml import (
        XML_CONFIDENCE,
        XML_INVALID_CHECKSUM_CONFIDENCE,
    )

    result.kind = invoice.kind
    result.source = Source.XML
    for name, value in invoice.values.items():
        if value is None:
            continue
        confidence = XML_INVALID_CHECKSUM_CONFIDENCE if name in invoice.invalid else XML_CONFIDENCE
        result.fields[name] = FieldValue(value, confidence, Source.XML)  # type: ignore[arg-type]
    result.lines = invoice.lines
    result.problems.extend(invoice.problems)
    # The national formats are written in their country's language whatever the names say.
    national = {"ksef": "pl", "fns": "ru"}
    if invoice.syntax in national:
        result.language = national[invoice.syntax]
    else:
        sample = text or " ".join(
            str(v)
            for v in (*invoice.values.values(), *(line.description for line in invoice.lines))
            if isinstance(v, str)
        )
        result.language = detect_language(sample)
