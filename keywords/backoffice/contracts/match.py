"""Which contract is this returned document? Clues read from the file itself.

Cheapest first: the QR codes every page of our contracts carries (``BO:<id>:<n>/<m>:<digest>``,
read with zxing-cpp from the first pages), then contract-ID-shaped words in the PDF's text
layer, then, for a scan without a readable QR code, Tesseract over its first page. The
store decides which of the candidates are contracts we issued; the email thread is the
service's last resort.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import pypdfium2 as pdfium
import pytesseract
import zxingcpp
from PIL import Image

from backoffice.contracts.model import CONTRACT_ID_PATTERN, QR_PREFIX
from backoffice.invoices.errors import DocumentError
from backoffice.invoices.limits import Limits
from backoffice.invoices.readers.ocr import load_images
from backoffice.pdfium_lock import serialised

#: Pages looked at for clues (a returned contract shows its ID on every page).
CLUE_PAGES = 3
#: Resolution pages are rendered at to find QR codes (a 56 pt code is ~120 px).
QR_DPI = 150
#: Resolution for the OCR fallback.
OCR_DPI = 200
OCR_TIMEOUT_SECONDS = 60
#: Most distinct candidate words handed to the store.
MAX_CANDIDATES = 200

_QR = re.compile(rf"^{QR_PREFIX}:(?P<id>[A-Z0-9/-]+):\d+/\d+:(?P<digest>[0-9a-f]+)$")
_ID = re.compile(CONTRACT_ID_PATTERN)
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9/-]{2,39}")


@dataclass(frozen=True)
class Clues:
    """Contract IDs the file names: by QR (certain), and words that could be IDs."""

    qr_ids: tuple[str, ...] = ()
    #: The content digests (prefixes) the QR codes carry: which version, offer or contract.
    qr_digests: tuple[str, ...] = ()
    text_ids: tuple[str, ...] = ()
    #: qr | text | ocr | "" (nothing found)
    found_by: str = ""


def read_clues(data: bytes, *, ocr: bool = True, limits: Limits | None = None) -> Clues:
    """Read contract IDs from a PDF or an image; never raises on a bad file (no clues)."""
    limits = limits or Limits()
    if len(data) > limits.max_file_bytes:
        return Clues()
    text = ""
    images: list[Image.Image] = []
    if b"%PDF-" in data[:1024]:
        text, images = _pdf(data, limits)
    else:
        try:
            images = load_images(data, limits)[:CLUE_PAGES]
        except DocumentError:
            return Clues()
    qr_ids, qr_digests = _qr_codes(images)
    if qr_ids:
        return Clues(qr_ids, qr_digests, candidates(text), "qr")
    text_ids = candidates(text)
    if text_ids:
        return Clues(text_ids=text_ids, found_by="text")
    if ocr and images:
        read = _ocr(images[0])
        if read:
            return Clues(text_ids=candidates(read), found_by="ocr")
    return Clues()


def candidates(text: str) -> tuple[str, ...]:
    """Words of ``text`` shaped like a contract ID (letters, digits, ``-`` and ``/``, at least
    one digit), upper-cased, in order of appearance."""
    found: dict[str, None] = {}
    for match in _TOKEN.finditer(text or ""):
        word = match.group(0).strip("/-").upper()
        if any(ch.isdigit() for ch in word) and _ID.match(word):
            found[word] = None
            if len(found) >= MAX_CANDIDATES:
                break
    return tuple(found)


@serialised
def _pdf(data: bytes, limits: Limits) -> tuple[str, list[Image.Image]]:
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError:
        return "", []  # encrypted or damaged: the check names it
    try:
        texts: list[str] = []
        images: list[Image.Image] = []
        scale = QR_DPI / 72
        for index in range(min(len(document), CLUE_PAGES)):
            page = document[index]
            texts.append(page.get_textpage().get_text_range())
            width, height = page.get_size()
            if width * height * scale * scale <= limits.max_image_pixels:
                images.append(page.render(scale=scale, grayscale=True).to_pil().convert("L"))
        return "\n".join(texts), images
    finally:
        document.close()


def _qr_codes(images: list[Image.Image]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    ids: dict[str, None] = {}
    digests: dict[str, None] = {}
    for image in images:
        for code in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode):
            match = _QR.match(code.text)
            if match:
                ids[match["id"]] = None
                digests[match["digest"]] = None
    return tuple(ids), tuple(digests)


def _ocr(image: Image.Image) -> str:
    os.environ["OMP_THREAD_LIMIT"] = "1"  # one Tesseract per core; the pipeline is parallel
    width = image.width
    # Scans arrive at anything from 150 to 600 DPI; ~1,650 px across is A4 at 200 DPI.
    if width > 2 * 1654:
        image = image.resize((1654, round(image.height * 1654 / width)))
    try:
        return pytesseract.image_to_string(image, lang="eng", timeout=OCR_TIMEOUT_SECONDS)
    except (RuntimeError, pytesseract.TesseractError, OSError):
        return ""
