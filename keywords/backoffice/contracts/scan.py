"""Checking a printed, hand-signed and scanned contract against the contract we issued.

For every page of the scan (a PDF of images, or PNG/JPEG/TIFF files):

1. **Which page is it?** The QR codes (zxing-cpp) say contract ID, page N of M and the content
   digest; when none can be read, Tesseract reads the printed ID and "page N of M" instead.
2. **Where is it?** The QR corners are known points of the page, so a least-squares affine
   fit maps PDF points onto the scan: shifted, scaled, rotated a few degrees or upside down.
   Without a QR the page is assumed to fill the image and is deskewed from its text lines.
3. **Is every box filled?** Each signature, initials and date box is cut out of the scan
   through that mapping, its inner area (the printed frame and any straight line left out)
   is cleaned of scanner specks, and its share of ink decides.
4. **Is the text ours?** The contract text is read back with Tesseract in the contract's
   language from the page straightened through the same mapping; each word lands in the
   clause whose rectangle holds it, and each clause is compared word by word with the issued
   text, so a change is named by clause ("clause 4.2 was changed") with its words. OCR's own
   slips are not edits: words equal up to splitting, punctuation or look-alike characters
   are the same words, and a clause that still reads as changed is read a second time,
   differently (resolution, segmentation, language order). A change counts only where both
   readings see it; when it could be a misread letter ("Neither"/"Either") both readings
   must agree on the new words.

Then the pages are checked as a document: each present once, in order, all of one version.
"""

from __future__ import annotations

import math
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from string import Template

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytesseract
import zxingcpp
from PIL import Image, ImageDraw, ImageFilter

from backoffice.contracts import verdict as codes
from backoffice.contracts.model import DIGEST_CHARS, QR_PREFIX, IssuedContract, Rect, Segment
from backoffice.contracts.verdict import (
    EMPTY_BOX_CODES,
    BoxCheck,
    PageCheck,
    Reason,
    ScanVerdict,
)
from backoffice.errors import ApplicationError
from backoffice.invoices.errors import DocumentError
from backoffice.invoices.limits import Limits
from backoffice.invoices.readers.ocr import estimate_skew, load_images
from backoffice.pdfium_lock import serialised

#: PDF pages of a scan are rendered at this resolution to find the QR codes and the boxes.
SCAN_DPI = 200
#: The page is straightened to this resolution for Tesseract (it reads best at 250-400 DPI;
#: higher costs time for little gain on printed 10 pt text).
OCR_DPI = 250
#: Pages checked beyond the contract's own count before the rest is refused (junk guard).
MAX_EXTRA_PAGES = 5
#: Points cut off each side of a box before measuring ink: the printed frame plus the error
#: of the page mapping.
BOX_INSET = 4.0
#: Share of a box's inner area that must be ink for it to count as filled. A short
#: signature covers 1-3 % of the signature box, initials more of theirs; cleaned scanner
#: noise stays below 0.05 %.
MIN_INK = 0.003
#: Grey level (0-255) below which a pixel is ink.
INK_LEVEL = 150
#: A row or column of a box this dark along most of its length is a printed line, not ink.
LINE_SHARE = 0.6
#: Largest distance (points) between where the QR corners are and where the fit puts them.
MAX_FIT_ERROR = 6.0
#: Plausible scan resolutions, pixels per point (36 to 1200 DPI).
SCALE_RANGE = (0.5, 16.7)
OCR_LANGUAGES = {"pl": "pol", "ru": "rus+eng", "en": "eng"}
# A clause that reads as changed is read a second time, differently, and only what both
# readings show changed counts: OCR's slips rarely repeat, an edit always does. English
# first helps Latin names in a Russian contract; another resolution moves every slip.
SECOND_OCR_LANGUAGES = {"pl": "pol+eng", "ru": "eng+rus", "en": "eng+pol"}
SECOND_OCR_DPI = 330
SECOND_TESSERACT_CONFIG = "--oem 1 --psm 6"
OCR_TIMEOUT_SECONDS = 120
# psm 4, one column of lines of varying size: the contract body is exactly that, and the
# automatic layout analysis (psm 3) split lines into columns around scanner specks.
TESSERACT_CONFIG = "--oem 1 --psm 4"
#: OCR words below this confidence (0-100) are not trusted to prove an edit on their own.
MIN_EDIT_CONFIDENCE = 50.0
#: Two spellings at least this similar may be one word misread: such a change counts only
#: when both readings of the page read the same new words.
MISREAD_SIMILARITY = 0.75
#: Letters a changed text needs for two differing readings of it to prove the change.
MIN_DISPUTED_LETTERS = 3
_PAD = 6.0

_QR_PATTERN = re.compile(
    rf"^{QR_PREFIX}:(?P<id>[A-Z0-9/-]+):(?P<n>\d+)/(?P<m>\d+):(?P<digest>[0-9a-f]+)$"
)
# Cyrillic letters that look like Latin ones in print (and the reverse misreadings OCR makes
# with rus+eng: "Biuro" read as "Виго"). Only used to compare, never to report.
_HOMOGLYPHS = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
        "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j", "г": "r",
        "и": "u", "ь": "b", "п": "n", "з": "3",
    }
)  # fmt: skip
_STRIP = "\"'.,;:!?()[]{}<>«»„”“‘’‚‹›`*|_~"
# Characters OCR swaps for one another in print; equal after this, two words are one misread.
_CONFUSABLE = str.maketrans("01i|5z", "ollls2")
_DASHES = str.maketrans({"–": "-", "—": "-", "‐": "-", "‑": "-", "−": "-"})


class OcrUnavailable(ApplicationError):
    """Tesseract failed or is not installed: retry later, the scan itself may be fine."""

    code = "OCR_UNAVAILABLE"


@dataclass(frozen=True)
class Affine:
    """Maps PDF points (origin bottom-left) of a page to pixels of one scan image."""

    matrix: np.ndarray  # 2x3

    @classmethod
    def fit(cls, points: Sequence[tuple[float, float]], pixels: Sequence[tuple[float, float]]):
        """Least-squares affine map from ``points`` to ``pixels`` and its largest error (px)."""
        src = np.array([[x, y, 1.0] for x, y in points])
        dst = np.array(pixels, dtype=float)
        solution, *_ = np.linalg.lstsq(src, dst, rcond=None)
        error = float(np.max(np.linalg.norm(src @ solution - dst, axis=1)))
        return cls(solution.T), error

    @property
    def scale(self) -> float:
        """Pixels per point."""
        return math.sqrt(abs(float(np.linalg.det(self.matrix[:, :2]))))

    @property
    def rotation(self) -> float:
        """Degrees the page is turned in the image (counter-clockwise positive)."""
        return -math.degrees(math.atan2(self.matrix[1, 0], self.matrix[0, 0]))

    def to_pixel(self, x: float, y: float) -> tuple[float, float]:
        """Where PDF point (x, y) lies in the image."""
        px, py = self.matrix @ np.array([x, y, 1.0])
        return float(px), float(py)

    def rectify(self, image: Image.Image, rect: Rect, scale: float) -> Image.Image:
        """The part of the page inside ``rect``, straightened, at ``scale`` pixels per point."""
        (a00, a01, a02), (a10, a11, a12) = self.matrix.tolist()
        size = (max(1, round(rect.width * scale)), max(1, round(rect.height * scale)))
        coefficients = (
            a00 / scale,
            -a01 / scale,
            a00 * rect.x0 + a01 * rect.y1 + a02,
            a10 / scale,
            -a11 / scale,
            a10 * rect.x0 + a11 * rect.y1 + a12,
        )
        return image.transform(
            size,
            Image.Transform.AFFINE,
            coefficients,
            resample=Image.Resampling.BILINEAR,
            fillcolor=255,
        )


@dataclass(frozen=True)
class _Identity:
    contract_id: str
    page: int
    page_count: int
    digest: str | None


@dataclass(frozen=True)
class _Word:
    text: str
    x: float
    y: float
    confidence: float


@dataclass(frozen=True)
class _PageResult:
    check: PageCheck
    identity: _Identity | None
    reasons: tuple[Reason, ...]


def check_contract(
    file: Path | str | bytes,
    issued: IssuedContract,
    *,
    workers: int | None = None,
    limits: Limits | None = None,
) -> ScanVerdict:
    """Check a returned, hand-signed scan of ``issued`` and say, with reasons, if it is valid.

    Bad input never raises: an encrypted PDF, a file that is no scan, a document that is not
    ours each end as a reason. Raises :class:`OcrUnavailable` when Tesseract itself fails
    (retry later). ``workers``: pages checked at once (default: one per CPU core, each with
    one single-threaded Tesseract).
    """
    limits = limits or Limits()
    max_pages = min(limits.max_pages, issued.page_count + MAX_EXTRA_PAGES)
    loaded = _load(file, limits, max_pages)
    if isinstance(loaded, Reason):
        return ScanVerdict(issued.contract_id, issued.language, (loaded,))
    os.environ["OMP_THREAD_LIMIT"] = "1"  # pytesseract passes our environment to Tesseract
    jobs = list(enumerate(loaded, start=1))
    workers = workers or max(1, min(len(jobs), os.cpu_count() or 1))
    if workers == 1:
        results = [_check_page(index, image, issued) for index, image in jobs]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(lambda job: _check_page(job[0], job[1], issued), jobs))
    return ScanVerdict(
        issued.contract_id,
        issued.language,
        tuple(_document_reasons(results, issued)),
        tuple(r.check for r in results),
    )


def _load(file: Path | str | bytes, limits: Limits, max_pages: int) -> list[Image.Image] | Reason:
    try:
        data = file if isinstance(file, bytes) else Path(file).read_bytes()
    except OSError as exc:
        return Reason(codes.NOT_A_SCAN, detail=f"cannot read the file: {exc.strerror or exc}")
    if len(data) > limits.max_file_bytes:
        return Reason(codes.IMAGE_TOO_LARGE, detail=f"{len(data):,} bytes")
    if b"%PDF-" in data[:1024]:
        return _render_pdf(data, limits, max_pages)
    try:
        images = load_images(data, limits)
    except DocumentError as exc:
        code = {
            "IMAGE_TOO_LARGE": codes.IMAGE_TOO_LARGE,
            "TOO_MANY_PAGES": codes.TOO_MANY_PAGES,
        }.get(exc.code, codes.NOT_A_SCAN)
        return Reason(code, detail=str(exc))
    if len(images) > max_pages:
        return Reason(codes.TOO_MANY_PAGES, detail=f"{len(images)} > {max_pages}")
    return images


@serialised
def _render_pdf(data: bytes, limits: Limits, max_pages: int) -> list[Image.Image] | Reason:
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD:
            return Reason(codes.PDF_ENCRYPTED)
        return Reason(codes.PDF_DAMAGED, detail=str(exc))
    try:
        if len(document) > max_pages:
            return Reason(codes.TOO_MANY_PAGES, detail=f"{len(document)} > {max_pages}")
        if len(document) == 0:
            return Reason(codes.PDF_DAMAGED, detail="no pages")
        images = []
        scale = SCAN_DPI / 72
        for page in document:
            width, height = page.get_size()
            if width * height * scale * scale > limits.max_image_pixels:
                return Reason(codes.IMAGE_TOO_LARGE, detail=f"page of {width:.0f}x{height:.0f} pt")
            images.append(page.render(scale=scale, grayscale=True).to_pil().convert("L"))
        return images
    finally:
        document.close()


def _check_page(index: int, image: Image.Image, issued: IssuedContract) -> _PageResult:
    identity, affine, found_by = _identify_by_qr(image, issued)
    ocr_words: list[_Word] | None = None
    if affine is None:
        image, affine = _assume_full_page(image, issued)
    if identity is None:
        # Which page this is is not known yet, nor so its boxes; handwriting in them is
        # harmless (no clause lies under a box of its own page), the damaged codes are not.
        ocr_words = _read_words(image, affine, issued, _page_rect(issued), masks=issued.qr_marks)
        identity = _identify_by_text(ocr_words, issued)
        found_by = "ocr" if identity else None
    ours = identity is not None and _same_version(identity, issued)
    if not ours or identity is None:
        return _PageResult(
            PageCheck(index, identity.page if identity else None, found_by), identity, ()
        )
    page = identity.page
    reasons: list[Reason] = []
    boxes = []
    for box in issued.boxes_on(page):
        ink = _ink(image, affine, box.rect)
        inked = ink >= MIN_INK
        boxes.append(BoxCheck(box.kind, ink, inked))
        if not inked:
            reasons.append(Reason(EMPTY_BOX_CODES[box.kind], page=page))
    issued_page = issued.pages[page - 1]
    if ocr_words is None:
        body = _union(s.rect for s in issued_page.segments)
        masks = tuple(b.rect for b in issued.boxes_on(page))
        ocr_words = _read_words(image, affine, issued, body.inset(-_PAD), masks=masks)

    def reread(rect: Rect) -> list[_Word]:
        return _read_words(image, affine, issued, rect.inset(-_PAD), masks, second=True)

    reasons.extend(_text_reasons(issued_page.segments, ocr_words, page, reread))
    check = PageCheck(index, page, found_by, affine.rotation, tuple(boxes), len(ocr_words))
    return _PageResult(check, identity, tuple(reasons))


def _identify_by_qr(
    image: Image.Image, issued: IssuedContract
) -> tuple[_Identity | None, Affine | None, str | None]:
    found = []
    for code in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode):
        match = _QR_PATTERN.match(code.text)
        if match:
            position = code.position
            corners = [
                (position.top_left.x, position.top_left.y),
                (position.top_right.x, position.top_right.y),
                (position.bottom_right.x, position.bottom_right.y),
                (position.bottom_left.x, position.bottom_left.y),
            ]
            found.append((match, corners))
    if not found:
        return None, None, None
    # Both codes of a page say the same; a page glued from two would show two payloads.
    payload, _count = Counter(m.group(0) for m, _ in found).most_common(1)[0]
    match = _QR_PATTERN.match(payload)
    assert match is not None
    identity = _Identity(match["id"], int(match["n"]), int(match["m"]), match["digest"])
    corners = [c for m, c in found if m.group(0) == payload]
    return identity, _fit_to_marks(corners, issued, image.size), "qr"


def _fit_to_marks(
    found: list[list[tuple[float, float]]], issued: IssuedContract, size: tuple[int, int]
) -> Affine | None:
    marks = [_corners(mark) for mark in issued.qr_marks]
    best: tuple[float, Affine] | None = None
    # Which printed code is which is not known (the page may be upside down): try each
    # assignment and keep the one that fits best and puts the page on the image.
    for assignment in _assignments(len(found), len(marks)):
        points = [p for mark in assignment for p in marks[mark]]
        pixels = [p for corners in found[: len(assignment)] for p in corners]
        affine, error = Affine.fit(points, pixels)
        scale = affine.scale
        if not SCALE_RANGE[0] <= scale <= SCALE_RANGE[1] or error > MAX_FIT_ERROR * scale:
            continue
        score = error / scale - 10.0 * _on_image(affine, issued, size)
        if best is None or score < best[0]:
            best = (score, affine)
    return best[1] if best else None


def _assignments(found: int, marks: int) -> list[tuple[int, ...]]:
    if found >= 2 and marks >= 2:
        return [(0, 1), (1, 0)]
    return [(mark,) for mark in range(marks)]


def _on_image(affine: Affine, issued: IssuedContract, size: tuple[int, int]) -> int:
    width, height = issued.page_size
    probes = [(0, 0), (width, 0), (0, height), (width, height), (width / 2, height / 2)]
    margin_x, margin_y = size[0] * 0.1, size[1] * 0.1
    return sum(
        1
        for px, py in (affine.to_pixel(x, y) for x, y in probes)
        if -margin_x <= px <= size[0] + margin_x and -margin_y <= py <= size[1] + margin_y
    )


def _corners(rect: Rect) -> list[tuple[float, float]]:
    # In the order zxing-cpp reports a symbol's corners: top-left, top-right, bottom-right,
    # bottom-left, as the symbol is drawn.
    return [(rect.x0, rect.y1), (rect.x1, rect.y1), (rect.x1, rect.y0), (rect.x0, rect.y0)]


def _assume_full_page(image: Image.Image, issued: IssuedContract) -> tuple[Image.Image, Affine]:
    skew = estimate_skew(image)
    if abs(skew) >= 0.2:
        image = image.rotate(skew, expand=False, fillcolor=255, resample=Image.Resampling.BICUBIC)
    width, height = issued.page_size
    scale = min(image.width / width, image.height / height)
    return image, Affine(np.array([[scale, 0.0, 0.0], [0.0, -scale, height * scale]]))


def _identify_by_text(words: list[_Word], issued: IssuedContract) -> _Identity | None:
    text = " ".join(w.text for w in words)
    if issued.contract_id not in text:
        return None
    label = _fold(Template(issued.page_label).safe_substitute(n="\0", m="\1"))
    pattern = re.escape(label).replace("\\\x00", r"(\d+)").replace("\\\x01", r"(\d+)")
    pattern = pattern.replace("\x00", r"(\d+)").replace("\x01", r"(\d+)")
    match = re.search(pattern.replace(r"\ ", r"\s*"), _fold(text))
    if not match:
        return None
    return _Identity(issued.contract_id, int(match[1]), int(match[2]), None)


def _same_version(identity: _Identity, issued: IssuedContract) -> bool:
    if identity.contract_id != issued.contract_id or identity.page_count != issued.page_count:
        return False
    if not 1 <= identity.page <= issued.page_count:
        return False
    return identity.digest is None or identity.digest == issued.digest[:DIGEST_CHARS]


def _page_rect(issued: IssuedContract) -> Rect:
    width, height = issued.page_size
    return Rect(0, 0, width, height)


def _union(rects: Iterable[Rect]) -> Rect:
    items = list(rects)
    return Rect(
        min(r.x0 for r in items),
        min(r.y0 for r in items),
        max(r.x1 for r in items),
        max(r.y1 for r in items),
    )


def _ink(image: Image.Image, affine: Affine, rect: Rect) -> float:
    inner = rect.inset(BOX_INSET)
    scale = max(1.0, affine.scale)
    crop = affine.rectify(image, inner, scale).filter(ImageFilter.MedianFilter(3))
    ink = np.asarray(crop) < INK_LEVEL
    if ink.size == 0:
        return 0.0
    # A frame line the mapping did not quite miss runs straight along a whole row or column.
    ink[ink.mean(axis=1) > LINE_SHARE, :] = False
    ink[:, ink.mean(axis=0) > LINE_SHARE] = False
    return float(ink.mean())


def _read_words(
    image: Image.Image,
    affine: Affine,
    issued: IssuedContract,
    rect: Rect,
    masks: Sequence[Rect],
    *,
    second: bool = False,
) -> list[_Word]:
    """Tesseract's words inside ``rect`` of the page, positioned in PDF points; ``masks``
    (boxes with handwriting, QR codes) are blanked first. ``second``: the second reading,
    at another resolution, language order and page segmentation."""
    scale = (SECOND_OCR_DPI if second else OCR_DPI) / 72
    # Scanner specks become glyph fragments for Tesseract; a 3x3 median removes them and
    # keeps strokes of 10 pt text.
    straight = affine.rectify(image, rect, scale).filter(ImageFilter.MedianFilter(3))
    if masks:
        draw = ImageDraw.Draw(straight)
        for mask in masks:
            draw.rectangle(
                (
                    (mask.x0 - rect.x0) * scale,
                    (rect.y1 - mask.y1) * scale,
                    (mask.x1 - rect.x0) * scale,
                    (rect.y1 - mask.y0) * scale,
                ),
                fill=255,
            )
    try:
        data = pytesseract.image_to_data(
            straight,
            lang=(SECOND_OCR_LANGUAGES if second else OCR_LANGUAGES)[issued.language],
            config=SECOND_TESSERACT_CONFIG if second else TESSERACT_CONFIG,
            output_type=pytesseract.Output.DICT,
            timeout=OCR_TIMEOUT_SECONDS,
        )
    except (pytesseract.TesseractError, pytesseract.TesseractNotFoundError, RuntimeError) as exc:
        raise OcrUnavailable(f"Tesseract failed: {exc}") from exc
    words = []
    for index, text in enumerate(data["text"]):
        confidence = float(data["conf"][index])
        if not text or not text.strip() or confidence < 0:
            continue
        cx = data["left"][index] + data["width"][index] / 2
        cy = data["top"][index] + data["height"][index] / 2
        words.append(_Word(text, rect.x0 + cx / scale, rect.y1 - cy / scale, confidence))
    return words


def _text_reasons(
    segments: Sequence[Segment],
    words: list[_Word],
    page: int,
    reread: Callable[[Rect], list[_Word]],
) -> list[Reason]:
    reasons = []
    for segment in segments:
        issued_words = [(n, t) for t in segment.text.split() if (n := _normal(t))]
        edits = _segment_edits(segment, issued_words, words)
        if edits:
            # Only what both readings show changed, at the same place in the issued text.
            again = _segment_edits(segment, issued_words, reread(segment.rect))
            edits = [e for e in edits if any(_confirmed(e, other) for other in again)]
        if edits:
            clause = segment.clause
            reasons.append(
                Reason(
                    codes.CLAUSE_CHANGED if clause else codes.TEXT_CHANGED,
                    page=page,
                    clause=clause,
                    removed=tuple(w for e in edits for w in e.removed),
                    added=tuple(w for e in edits for w in e.added),
                )
            )
    return reasons


@dataclass(frozen=True)
class _Edit:
    start: int  # issued word positions [start, end) replaced; start == end for an insertion
    end: int
    removed: tuple[str, ...]
    added: tuple[str, ...]
    weak: bool  # the new words look like a misreading of the old ones
    reading: str  # the new words folded, to compare two readings


def _confirmed(one: _Edit, other: _Edit) -> bool:
    # Insertions have an empty range: widen both by one word so they meet their neighbours.
    if not (one.start - 1 < other.end and other.start - 1 < one.end):
        return False
    if _skeleton(one.reading) == _skeleton(other.reading):
        return True  # both read the same new words: "Neither" -> "Either" is an edit
    # Readings that disagree still prove a clear change of a longer text (a word struck out
    # and written over by hand reads differently each time), never of a letter or two.
    letters = sum(ch.isalnum() for word in one.removed for ch in word)
    return not (one.weak or other.weak) and letters >= MIN_DISPUTED_LETTERS


def _segment_edits(
    segment: Segment, issued_words: list[tuple[str, str]], words: list[_Word]
) -> list[_Edit]:
    read = [(n, w) for w in words if segment.rect.contains(w.x, w.y) if (n := _normal(w.text))]
    return _edits(issued_words, read)


def _edits(issued: list[tuple[str, str]], read: list[tuple[str, _Word]]) -> list[_Edit]:
    """The changes from the issued words to the words read, each as (normal form, as printed)."""
    matcher = SequenceMatcher(
        None, [_fold(n) for n, _ in issued], [_fold(n) for n, _ in read], autojunk=False
    )
    edits = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        old = [n for n, _ in issued[i1:i2]]
        printed = tuple(t for _, t in issued[i1:i2])
        new_pairs = read[j1:j2]
        new = [n for n, _ in new_pairs]
        kind = _edit_kind(old, new, [w.confidence for _, w in new_pairs])
        if kind:
            edits.append(
                _Edit(
                    i1,
                    i2,
                    printed,
                    tuple(w.text for _, w in new_pairs),
                    kind == "weak",
                    _fold("".join(new)),
                )
            )
    return edits


def _edit_kind(old: list[str], new: list[str], confidences: list[float]) -> str | None:
    """None: the same words (split, joined, punctuation, o/0, l/1); "weak": could be a
    letter misread; "strong": digits, a word added or dropped, or a different word."""
    before, after = _fold("".join(old)), _fold("".join(new))
    if _skeleton(before) == _skeleton(after):
        return None
    if new and max(confidences) < MIN_EDIT_CONFIDENCE and _digits(before) == _digits(after):
        return None  # what OCR could not read is not proof of an edit
    if _digits(before) != _digits(after):
        return "strong"
    letters_before = sum(ch.isalnum() for ch in before)
    letters_after = sum(ch.isalnum() for ch in after)
    if not old or not new:
        return "strong" if max(letters_before, letters_after) >= 2 else None
    if len(old) != len(new) and abs(letters_before - letters_after) >= 2:
        return "strong"  # a word added or dropped next to a misread one
    similar = SequenceMatcher(None, before, after, autojunk=False).ratio() >= MISREAD_SIMILARITY
    return "weak" if similar else "strong"


def _normal(word: str) -> str:
    text = unicodedata.normalize("NFKC", word).casefold().translate(_DASHES)
    return text.strip(_STRIP + "-")


def _fold(text: str) -> str:
    return text.translate(_HOMOGLYPHS)


def _skeleton(text: str) -> str:
    return "".join(ch for ch in text.translate(_CONFUSABLE) if ch.isalnum())


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _document_reasons(results: list[_PageResult], issued: IssuedContract) -> list[Reason]:
    reasons: list[Reason] = []
    seen: list[int] = []
    first: dict[int, _PageResult] = {}
    others: list[Reason] = []
    for result in results:
        identity = result.identity
        scan_page = result.check.scan_page
        if identity is None:
            others.append(Reason(codes.PAGE_UNIDENTIFIED, scan_page=scan_page))
        elif identity.contract_id != issued.contract_id:
            others.append(
                Reason(codes.OTHER_CONTRACT, scan_page=scan_page, detail=identity.contract_id)
            )
        elif not _same_version(identity, issued):
            others.append(Reason(codes.OTHER_VERSION, page=identity.page, scan_page=scan_page))
            seen.append(identity.page)
        else:
            seen.append(identity.page)
            first.setdefault(identity.page, result)
    if not seen:
        if any(r.code == codes.OTHER_CONTRACT for r in others):
            return [r for r in others if r.code == codes.OTHER_CONTRACT]
        return [Reason(codes.NOT_OUR_DOCUMENT)]
    reasons.extend(others)
    counts = Counter(seen)
    for page in range(1, issued.page_count + 1):
        if counts[page] == 0:
            reasons.append(Reason(codes.PAGE_MISSING, page=page))
        elif counts[page] > 1:
            reasons.append(Reason(codes.PAGE_DUPLICATED, page=page))
    order = _first_occurrences(seen)
    in_order = set(_longest_increasing(order))
    for page in order:
        if page not in in_order:
            reasons.append(Reason(codes.PAGE_OUT_OF_ORDER, page=page, order=tuple(seen)))
    for page in sorted(first):
        reasons.extend(first[page].reasons)
    return reasons


def _first_occurrences(seen: list[int]) -> list[int]:
    return list(dict.fromkeys(seen))


def _longest_increasing(values: list[int]) -> list[int]:
    # O(n^2) is plenty for a contract's pages.
    best: list[list[int]] = []
    for index, value in enumerate(values):
        chain = max((best[j] for j in range(index) if values[j] < value), key=len, default=[])
        best.append([*chain, value])
    return max(best, key=len, default=[])
