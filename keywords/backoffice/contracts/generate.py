"""Offer and contract PDFs from the customer's form data and the templates in templates/.

Every page carries the contract ID and "page N of M" in the document's language, as text and
as two QR codes (top-right and bottom-left: two codes at opposite corners let a scan's check
find the page's position, rotation and scale precisely; one is enough to identify the page).
The contract has an initials box on every page but the last and, on the last, the signature
and date boxes; their positions, and the text of each clause as pypdfium2 reads it back from
the PDF, are returned in the :class:`IssuedContract`.

Layout is done here, line by line, rather than with a flowing layout engine: the positions of
boxes and clauses must be known exactly, and "page N of M" needs M before the first page is
drawn. Output is byte-for-byte reproducible (reportlab's invariant mode), so the same request
gives the same sha256.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import pypdfium2 as pdfium
import segno
import yaml
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from backoffice.contracts.model import (
    Box,
    ContractRequest,
    DocumentKind,
    IssuedContract,
    IssuedPage,
    Language,
    Rect,
    Segment,
    qr_payload,
)
from backoffice.errors import ConfigurationError
from backoffice.pdfium_lock import serialised

# Own font names: other parts of the suite register "DejaVu" with other faces in one process.
FONT = "BackofficeContractSans"
FONT_BOLD = "BackofficeContractSans-Bold"
FONT_FILES = {
    FONT: "DejaVuSans.ttf",
    FONT_BOLD: "DejaVuSans-Bold.ttf",
}
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 56.0
QR_SIZE = 56.0
# Top-right and bottom-left; the same on every page.
QR_MARKS = (
    Rect(
        PAGE_WIDTH - MARGIN - QR_SIZE,
        PAGE_HEIGHT - 30 - QR_SIZE,
        PAGE_WIDTH - MARGIN,
        PAGE_HEIGHT - 30,
    ),
    Rect(MARGIN, 30, MARGIN + QR_SIZE, 30 + QR_SIZE),
)
BODY_TOP = PAGE_HEIGHT - 100
BODY_BOTTOM = 112
BODY_WIDTH = PAGE_WIDTH - 2 * MARGIN
INITIALS_BOX = Rect(PAGE_WIDTH - MARGIN - 150, 30, PAGE_WIDTH - MARGIN, 80)
SIGNATURE_BOX_SIZE = (210.0, 66.0)
DATE_BOX_SIZE = (150.0, 28.0)
SIGNATURE_BLOCK_HEIGHT = 150.0

TEXT_SIZE = 10.0
HEADING_SIZE = 10.5
TITLE_SIZE = 13.0
LEADING = 1.3
PARAGRAPH_GAP = 5.0
HANGING_INDENT = 24.0
# QR error correction "M" (15 %): survives a scanner's blur and a pen stroke over a corner.
QR_ERROR = "m"

NBSP = "\u00a0"
TEMPLATE_PACKAGE = "backoffice.contracts"
TEMPLATE_DIR = "templates"
_TAX_ID_NAMES = {"ru": {"INN": "ИНН", "VAT": "НДС"}, "pl": {"VAT": "NIP UE"}, "en": {}}


class TemplateError(ConfigurationError):
    """A contract template is missing or malformed."""

    code = "CONTRACT_TEMPLATE_INVALID"


@dataclass(frozen=True)
class ContractTemplate:
    """One template file: title, preamble lines, numbered clauses and labels, with ${names}."""

    kind: DocumentKind
    language: Language
    source: str
    title: str
    preamble: tuple[str, ...]
    clauses: tuple[str, ...]
    labels: dict[str, str]


def load_template(
    kind: DocumentKind, language: Language, templates_dir: Path | None = None
) -> ContractTemplate:
    """Read ``<kind>.<language>.yaml`` from ``templates_dir`` (default: the bundled templates)."""
    name = f"{kind}.{language}.yaml"
    try:
        if templates_dir is None:
            source = (
                resources.files(TEMPLATE_PACKAGE).joinpath(TEMPLATE_DIR, name).read_text("utf-8")
            )
        else:
            source = (templates_dir / name).read_text("utf-8")
        data = yaml.safe_load(source)
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"contract template {name} cannot be read: {exc}") from exc
    try:
        return ContractTemplate(
            kind=kind,
            language=language,
            source=source,
            title=str(data["title"]),
            preamble=tuple(str(line) for line in data.get("preamble", ())),
            clauses=tuple(str(line) for line in data["clauses"]),
            labels={str(k): str(v) for k, v in data["labels"].items()},
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise TemplateError(f"contract template {name} lacks {exc}") from exc


def generate_offer_and_contract(
    request: ContractRequest, templates_dir: Path | None = None
) -> tuple[IssuedContract, IssuedContract]:
    """The offer and the contract for one request (same contract ID, different content)."""
    return (
        generate(request, "offer", templates_dir),
        generate(request, "contract", templates_dir),
    )


def generate(
    request: ContractRequest, kind: DocumentKind, templates_dir: Path | None = None
) -> IssuedContract:
    """Render one offer or contract PDF and describe it (boxes, text per clause, hashes)."""
    template = load_template(kind, request.language, templates_dir)
    values = _values(request)
    digest = _digest(request, template)
    title = _fill(template.title, values, template)
    preamble = [_fill(line, values, template) for line in template.preamble]
    clauses = [_fill(line, values, template) for line in template.clauses]
    labels = {key: Template(text) for key, text in template.labels.items()}

    _register_fonts()
    pages = _layout(title, preamble, clauses, signature_block=kind == "contract")
    count = len(pages)
    boxes: list[Box] = []
    if kind == "contract":
        for number in range(1, count):
            boxes.append(
                Box("initials", number, INITIALS_BOX, labels["initials"].safe_substitute(values))
            )
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=True, pageCompression=1)
    canvas.setTitle(title)
    canvas.setAuthor(request.seller.name)
    canvas.setSubject(f"{request.contract_id} {digest[:8]}")
    for number, page in enumerate(pages, start=1):
        page_values = {**values, "n": str(number), "m": str(count)}
        document_label = labels["document"].safe_substitute(page_values)
        page_label = labels["page"].safe_substitute(page_values)
        for line in page.lines:
            canvas.setFont(line.font, line.size)
            canvas.drawString(line.x, line.y, line.text)
        _draw_header_and_footer(canvas, document_label, page_label)
        payload = qr_payload(request.contract_id, number, count, digest)
        for mark in QR_MARKS:
            _draw_qr(canvas, payload, mark)
        if kind == "contract" and number < count:
            _draw_box(canvas, INITIALS_BOX, labels["initials"].safe_substitute(values))
        if kind == "contract" and number == count and page.block_top is not None:
            boxes.extend(
                _draw_signature_block(canvas, page.block_top, number, request, labels, values)
            )
        canvas.showPage()
    canvas.save()
    pdf = buffer.getvalue()
    return IssuedContract(
        contract_id=request.contract_id,
        kind=kind,
        language=request.language,
        customer=request.customer,
        digest=digest,
        sha256=hashlib.sha256(pdf).hexdigest(),
        page_size=(PAGE_WIDTH, PAGE_HEIGHT),
        pages=_read_back(pdf, pages),
        boxes=tuple(boxes),
        qr_marks=QR_MARKS,
        page_label=template.labels["page"],
        pdf=pdf,
    )


@dataclass(frozen=True)
class _Line:
    x: float
    y: float
    text: str
    font: str
    size: float


@dataclass
class _Page:
    lines: list[_Line]
    segments: list[tuple[str | None, Rect]]
    block_top: float | None = None


def _layout(
    title: str, preamble: list[str], clauses: list[str], *, signature_block: bool
) -> list[_Page]:
    pages = [_Page([], [])]
    y = BODY_TOP

    def place(paragraph: str, clause: str | None, font: str, size: float, indent: float) -> None:
        nonlocal y
        height = size * LEADING
        lines = _wrap(paragraph, font, size, BODY_WIDTH, indent)
        if y - height * len(lines) < BODY_BOTTOM:
            pages.append(_Page([], []))
            y = BODY_TOP
        top = y
        for index, text in enumerate(lines):
            y -= height
            x = MARGIN + (indent if index else 0.0)
            pages[-1].lines.append(_Line(x, y, text, font, size))
        # The rectangle a reader (or OCR) finds this paragraph's words in.
        pages[-1].segments.append(
            (clause, Rect(MARGIN - 2, y - size * 0.35, PAGE_WIDTH - MARGIN + 2, top))
        )
        y -= PARAGRAPH_GAP

    place(title, None, FONT_BOLD, TITLE_SIZE, 0.0)
    y -= PARAGRAPH_GAP
    for line in preamble:
        place(line, None, FONT, TEXT_SIZE, HANGING_INDENT)
    y -= PARAGRAPH_GAP
    for text in clauses:
        number = _clause_number(text)
        heading = number is not None and "." not in number
        place(
            text,
            number,
            FONT_BOLD if heading else FONT,
            HEADING_SIZE if heading else TEXT_SIZE,
            HANGING_INDENT,
        )
    if signature_block:
        if y - SIGNATURE_BLOCK_HEIGHT < BODY_BOTTOM - 60:
            pages.append(_Page([], []))
            y = BODY_TOP
        pages[-1].block_top = y - 10
    return pages


def _clause_number(text: str) -> str | None:
    head = text.split(" ", 1)[0]
    if head.endswith(".") and all(part.isdigit() for part in head[:-1].split(".")):
        return head[:-1]
    return None


def _wrap(text: str, font: str, size: float, width: float, indent: float) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split(" "):  # not split(): a no-break space keeps its words together
        candidate = f"{current} {word}" if current else word
        limit = width - (indent if lines else 0.0)
        if current and pdfmetrics.stringWidth(candidate, font, size) > limit:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def _draw_header_and_footer(canvas: Canvas, document_label: str, page_label: str) -> None:
    canvas.setFont(FONT_BOLD, 9)
    canvas.drawString(MARGIN, PAGE_HEIGHT - 48, document_label)
    canvas.setFont(FONT, 9)
    canvas.drawString(MARGIN, PAGE_HEIGHT - 61, page_label)
    canvas.setFont(FONT, 8)
    footer_x = MARGIN + QR_SIZE + 12
    canvas.drawString(footer_x, 62, document_label)
    canvas.drawString(footer_x, 50, page_label)


def _draw_qr(canvas: Canvas, payload: str, rect: Rect) -> None:
    code = segno.make(payload, error=QR_ERROR, micro=False)
    matrix = [list(row) for row in code.matrix]
    module = rect.width / len(matrix)
    canvas.setFillGray(0)
    for row_index, row in enumerate(matrix):
        y = rect.y1 - (row_index + 1) * module
        start = None
        # Runs of dark modules as one rectangle each: fewer operators, no hairline seams.
        for col, dark in enumerate([*row, 0]):
            if dark and start is None:
                start = col
            elif not dark and start is not None:
                canvas.rect(rect.x0 + start * module, y, (col - start) * module, module, 0, 1)
                start = None


def _draw_box(canvas: Canvas, rect: Rect, label: str) -> None:
    canvas.setLineWidth(0.8)
    canvas.setStrokeGray(0.25)
    canvas.rect(rect.x0, rect.y0, rect.width, rect.height, stroke=1, fill=0)
    canvas.setFillGray(0.25)
    canvas.setFont(FONT, 7)
    canvas.drawString(rect.x0, rect.y1 + 3, label)
    canvas.setFillGray(0)


def _draw_signature_block(
    canvas: Canvas,
    top: float,
    page: int,
    request: ContractRequest,
    labels: dict[str, Template],
    values: dict[str, str],
) -> list[Box]:
    sig_w, sig_h = SIGNATURE_BOX_SIZE
    date_w, date_h = DATE_BOX_SIZE
    x = PAGE_WIDTH - MARGIN - sig_w
    signature = Rect(x, top - 12 - sig_h, x + sig_w, top - 12)
    date_box = Rect(x, signature.y0 - 22 - date_h, x + date_w, signature.y0 - 22)
    signature_label = labels["signature"].safe_substitute(values)
    date_label = labels["date"].safe_substitute(values)
    _draw_box(canvas, signature, signature_label)
    _draw_box(canvas, date_box, date_label)
    canvas.setFont(FONT, 8)
    canvas.drawString(MARGIN, top - 5, labels["seller_signature"].safe_substitute(values))
    canvas.setFont(FONT_BOLD, 9)
    canvas.drawString(MARGIN, top - 20, request.seller.name)
    canvas.setLineWidth(0.5)
    canvas.line(MARGIN, signature.y0, MARGIN + 180, signature.y0)
    return [
        Box("signature", page, signature, signature_label),
        Box("date", page, date_box, date_label),
    ]


@serialised
def _read_back(pdf: bytes, pages: list[_Page]) -> tuple[IssuedPage, ...]:
    document = pdfium.PdfDocument(pdf)
    try:
        issued = []
        for index, layout in enumerate(pages):
            textpage = document[index].get_textpage()
            segments = tuple(
                Segment(
                    clause,
                    rect,
                    " ".join(textpage.get_text_bounded(rect.x0, rect.y0, rect.x1, rect.y1).split()),
                )
                for clause, rect in layout.segments
            )
            issued.append(IssuedPage(index + 1, textpage.get_text_range(), segments))
        return tuple(issued)
    finally:
        document.close()


def _values(request: ContractRequest) -> dict[str, str]:
    language = request.language
    names = _TAX_ID_NAMES[language]
    return {
        "contract_id": request.contract_id,
        "issue_date": format_date(request.issue_date, language),
        "start_date": format_date(request.start_date, language),
        "end_date": format_date(request.end_date, language),
        "offer_valid_until": format_date(request.offer_valid_until, language),
        "product": request.product,
        "price": format_amount(request.price, language),
        "currency": request.currency,
        "payment_days": str(request.payment_days),
        "customer_name": request.customer.name,
        "customer_address": request.customer.address,
        "customer_email": request.customer.email,
        "customer_tax_id": request.customer.tax_id,
        "customer_tax_id_type": names.get(
            request.customer.tax_id_type or "", request.customer.tax_id_type or ""
        ),
        "seller_name": request.seller.name,
        "seller_address": request.seller.address,
        "seller_tax_id": request.seller.tax_id,
        "seller_tax_id_type": names.get(
            request.seller.tax_id_type or "", request.seller.tax_id_type or ""
        ),
    }


def format_date(value: date, language: Language) -> str:
    """A date as people in that language write it in contracts (ISO 8601 in English)."""
    return value.isoformat() if language == "en" else value.strftime("%d.%m.%Y")


def format_amount(value: Decimal, language: Language) -> str:
    """An amount with two decimals: ``1 234,50`` in Polish and Russian, ``1,234.50`` in English.

    The thousands separator is a no-break space, so an amount is never split across lines.
    """
    text = f"{value.quantize(Decimal('0.01')):,.2f}"
    if language == "en":
        return text
    return text.replace(",", NBSP).replace(".", ",")


def _fill(text: str, values: dict[str, str], template: ContractTemplate) -> str:
    try:
        return Template(text).substitute(values)
    except (KeyError, ValueError) as exc:
        raise TemplateError(
            f"contract template {template.kind}.{template.language} uses an unknown "
            f"placeholder or a bad $: {exc}"
        ) from exc


def _digest(request: ContractRequest, template: ContractTemplate) -> str:
    canonical: dict[str, Any] = {
        "kind": template.kind,
        "request": request.model_dump(mode="json"),
        "template": template.source,
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def _register_fonts() -> None:
    registered = set(pdfmetrics.getRegisteredFontNames())
    for name, filename in FONT_FILES.items():
        if name in registered:
            continue
        path = next((d / filename for d in FONT_DIRS if (d / filename).is_file()), None)
        if path is None:
            raise ConfigurationError(
                f"font {filename} not found in {', '.join(map(str, FONT_DIRS))}: "
                "install fonts-dejavu-core (scripts/install-system.sh)",
                code="FONT_MISSING",
            )
        pdfmetrics.registerFont(TTFont(name, str(path)))
