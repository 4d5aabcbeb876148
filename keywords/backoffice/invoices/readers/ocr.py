"""OCR for scans and images: orientation and skew corrected, then Tesseract word boxes.

Tesseract runs one single-threaded process per page (``OMP_THREAD_LIMIT=1``): on a 2-core
machine its OpenMP threading made one page five times slower, so parallelism belongs to the
pipeline (a thread pool of Tesseract processes across the cores), not to OpenMP.
"""

from __future__ import annotations

import io
import math
import os
import statistics
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pytesseract
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from backoffice.invoices.errors import ImageTooLarge, OcrUnavailable, UnsupportedFile
from backoffice.invoices.layout import Chunk, PageText, build_lines
from backoffice.invoices.limits import Limits
from backoffice.invoices.model import Source

# Tesseract languages by the script of the page; English rides along for codes and labels.
LANGUAGES_BY_SCRIPT = {"Cyrillic": "rus+eng", "Latin": "pol+eng"}
ALL_LANGUAGES = "pol+rus+eng"
# The script is told by reading a band of the first text lines with the Russian model alone
# (it starts in a twentieth of the time of OSD or of the Polish model): it reads Cyrillic
# with high confidence and Latin text as low-confidence noise.
SCRIPT_PROBE_LANGUAGE = "rus"
SCRIPT_PROBE_LINES = 3
# Latin read by the Russian model is all low-confidence words, each of which Tesseract would
# also try upside down (white on black): not needed to tell the script.
SCRIPT_PROBE_CONFIG = "--oem 1 --psm 6 -c tessedit_do_invert=0"
# The band is read from its first ink this wide at most: enough words, half the work.
SCRIPT_PROBE_WIDTH = 1400
SCRIPT_PROBE_BANDS = 3
# Runs of inked rows shorter than this are specks or rules, not text lines.
MIN_LINE_ROWS = 8
MIN_CYRILLIC_CONFIDENCE = 62
MIN_PROBE_WORDS = 3
DEFAULT_LANGUAGES = "pol+eng"
# OSD (orientation) runs only for pages that look turned or read badly: it costs as much
# as reading the page, and almost every scan is upright.
MIN_OSD_CONFIDENCE = 1.5
# A page read upright has most words above this mean confidence (0..100); an upside-down
# or sideways page reads as low-confidence noise.
MIN_UPRIGHT_CONFIDENCE = 55
MIN_WORDS_TO_JUDGE = 12
# The column profile of a sideways page is sharper than its row profile by far.
SIDEWAYS_PROFILE_RATIO = 1.5
# Scans below about 250 DPI are upscaled to the width of an A4 page at 300 DPI: Tesseract
# misreads small glyphs far more often than it is slowed by larger images.
MIN_OCR_WIDTH = 2000
TARGET_OCR_WIDTH = 2480
# Skew search: scanners and phone photos tilt pages a few degrees at most.
MAX_SKEW_DEGREES = 5.0
SKEW_COARSE_STEP = 0.5
SKEW_FINE_STEP = 0.1
SKEW_SAMPLE_WIDTH = 800
# Grey levels below this are ink (0 black, 255 white).
INK_LEVEL = 160
# Below this tilt word boxes need no correction; from the next one the image is turned.
MIN_SKEW_TO_FIX = 0.2
MIN_SKEW_TO_ROTATE = 1.0
OCR_TIMEOUT_SECONDS = 120
TESSERACT_CONFIG = "--oem 1 --psm 3"
# A region read again (an invoice number Tesseract misread on the page) is scaled up by
# this and read as one line of text.
REREAD_SCALE = 2
REREAD_CONFIG = "--oem 1 --psm 6"
REREAD_MARGIN = 12

# Pillow refuses images above twice this many pixels by itself; we check below it too.
Image.MAX_IMAGE_PIXELS = Limits().max_image_pixels
# Truncated JPEG/PNG files raise instead of returning half a picture.
ImageFile.LOAD_TRUNCATED_IMAGES = False


def _tesseract_env() -> None:
    # pytesseract starts Tesseract with our environment: this makes each one single-threaded.
    os.environ["OMP_THREAD_LIMIT"] = "1"


def load_images(data: bytes, limits: Limits) -> list[Image.Image]:
    """Decode an image file (PNG, JPEG, TIFF with several pages) within the pixel limit."""
    try:
        with warnings.catch_warnings():
            # The pixel limit is checked below with a clear reason; Pillow's warning is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"the image is a decompression bomb: {exc}") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise UnsupportedFile(f"the file is not an image we can read: {exc}") from exc
    frames = []
    frame_count = getattr(image, "n_frames", 1)
    if frame_count > limits.max_pages:
        from backoffice.invoices.errors import TooManyPages

        raise TooManyPages(f"the image has {frame_count} pages (limit {limits.max_pages})")
    for index in range(frame_count):
        image.seek(index)
        width, height = image.size
        if width * height > limits.max_image_pixels:
            raise ImageTooLarge(
                f"the image is {width}x{height} = {width * height:,} pixels "
                f"(limit {limits.max_image_pixels:,})"
            )
        try:
            frame = ImageOps.exif_transpose(image.copy()).convert("L")
        except (OSError, SyntaxError) as exc:
            raise UnsupportedFile(f"the image is damaged or cut short: {exc}") from exc
        frames.append(frame)
    return frames


def _osd(image: Image.Image) -> int:
    """Clockwise degrees (0, 90, 180, 270) that make the page upright, 0 when unsure."""
    try:
        info = pytesseract.image_to_osd(
            image, config="--psm 0", output_type=pytesseract.Output.DICT, timeout=30
        )
    except (pytesseract.TesseractError, RuntimeError):
        return 0
    confident = info.get("orientation_conf", 0) >= MIN_OSD_CONFIDENCE
    return int(info.get("rotate", 0)) if confident else 0


def _ink(image: Image.Image) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Coordinates of the ink pixels of a small copy of the page, and its size."""
    scale = SKEW_SAMPLE_WIDTH / max(image.width, 1)
    sample = image.convert("L").resize((SKEW_SAMPLE_WIDTH, max(1, int(image.height * scale))))
    ys, xs = np.nonzero(np.asarray(sample) < INK_LEVEL)
    return xs.astype(np.float64), ys.astype(np.float64), sample.width, sample.height


def _profile_score(along: np.ndarray, across: np.ndarray, angle: float, size: int) -> float:
    # Rows of the page turned by ``angle`` (PIL's counter-clockwise rotate): text lines
    # make the ink per row alternate sharply between lines and gaps.
    shifted = along - across * np.tan(np.radians(angle))
    offset = across.size and abs(np.tan(np.radians(MAX_SKEW_DEGREES))) * across.max()
    rows = np.bincount(np.clip(shifted + offset, 0, None).astype(np.int64), minlength=size)
    return float(np.sum(np.diff(rows.astype(np.float64)) ** 2))


def _best_angle(along: np.ndarray, across: np.ndarray, size: int) -> tuple[float, float]:
    steps = int(MAX_SKEW_DEGREES / SKEW_COARSE_STEP)
    coarse = [step * SKEW_COARSE_STEP for step in range(-steps, steps + 1)]
    best = max(coarse, key=lambda angle: _profile_score(along, across, angle, size))
    fine = [best + step * SKEW_FINE_STEP for step in range(-4, 5)]
    angle = max(fine, key=lambda angle: _profile_score(along, across, angle, size))
    return angle, _profile_score(along, across, angle, size)


def estimate_skew(image: Image.Image) -> float:
    """The angle (degrees, counter-clockwise) that makes text lines horizontal."""
    xs, ys, _, height = _ink(image)
    if not xs.size:
        return 0.0
    return _best_angle(ys, xs, height)[0]


def _skew_and_sideways(image: Image.Image) -> tuple[float, bool]:
    xs, ys, width, height = _ink(image)
    if not xs.size:
        return 0.0, False
    angle, rows = _best_angle(ys, xs, height)
    # The same measure on columns: on a page turned sideways the text lines are columns.
    columns = _best_angle(xs, -ys, width)[1]
    return angle, columns > rows * SIDEWAYS_PROFILE_RATIO


def _upscaled(image: Image.Image) -> Image.Image:
    image = image.convert("L")
    if image.width < MIN_OCR_WIDTH:
        factor = TARGET_OCR_WIDTH / image.width
        image = image.resize(
            (TARGET_OCR_WIDTH, int(image.height * factor)), Image.Resampling.LANCZOS
        )
    return image


def _as_pgm(image: Image.Image) -> Image.Image:
    # pytesseract hands Tesseract a temporary file in the image's format: uncompressed
    # PGM is written ten times faster than PNG, and Tesseract decodes it as fast.
    image.format = "PPM"
    return image


@dataclass
class _Words:
    chunks: list[Chunk]
    mean_confidence: float


def _read_words(image: Image.Image, languages: str, config: str, number: int) -> _Words:
    try:
        data = pytesseract.image_to_data(
            _as_pgm(image),
            lang=languages,
            config=config,
            output_type=pytesseract.Output.DICT,
            timeout=OCR_TIMEOUT_SECONDS,
        )
    except (pytesseract.TesseractError, pytesseract.TesseractNotFoundError, RuntimeError) as exc:
        raise OcrUnavailable(f"Tesseract failed on page {number}: {exc}") from exc
    chunks = []
    confidences = []
    for index, word in enumerate(data["text"]):
        confidence = float(data["conf"][index])
        if not word or not word.strip() or confidence < 0:
            continue
        left, top = data["left"][index], data["top"][index]
        box = (left, top, left + data["width"][index], top + data["height"][index])
        chunks.append(Chunk(word, box, confidence / 100))
        confidences.append(confidence)
    mean = sum(confidences) / len(confidences) if confidences else 0.0
    return _Words(chunks, mean)


def _straighten(chunks: list[Chunk], skew: float, image: Image.Image) -> list[Chunk]:
    """Word boxes moved as if the page had been turned by ``skew`` degrees.

    Tesseract reads lines tilted a few degrees well by itself, but a tilted page puts the
    left and right ends of one line at different heights; turning the boxes instead of the
    image costs nothing and does not blur the glyphs.
    """
    if abs(skew) < MIN_SKEW_TO_FIX:
        return chunks
    sin, cos = math.sin(math.radians(skew)), math.cos(math.radians(skew))
    cx, cy = image.width / 2, image.height / 2
    moved = []
    for chunk in chunks:
        left, top, right, bottom = chunk.box
        x, y = (left + right) / 2 - cx, (top + bottom) / 2 - cy
        half_w, half_h = (right - left) / 2, (bottom - top) / 2
        nx, ny = cx + x * cos + y * sin, cy - x * sin + y * cos
        box = (nx - half_w, ny - half_h, nx + half_w, ny + half_h)
        moved.append(Chunk(chunk.text, box, chunk.confidence))
    return moved


def _turned_upright(image: Image.Image) -> Image.Image:
    """The page turned as OSD says makes it upright (the same image when it already is)."""
    rotate = _osd(image)
    # OSD reports the clockwise rotation that makes the page upright; PIL turns
    # counter-clockwise.
    return image.rotate(-rotate, expand=True, fillcolor=255) if rotate else image


def _deskewed(image: Image.Image, skew: float) -> tuple[Image.Image, float]:
    """The page turned level when it tilts much, and the tilt its word boxes still have.

    Tesseract finds the lines of a page tilted by a degree or less by itself; beyond that
    it merges close lines (a two-column header), so the image is turned. Nearest-pixel
    turning costs a fifth of bilinear; at 300 DPI its one-pixel steps are far thinner than
    a stroke and Tesseract binarises the page anyway.
    """
    if abs(skew) < MIN_SKEW_TO_ROTATE:
        return image, skew
    return image.rotate(skew, expand=True, fillcolor=255), 0.0


@dataclass
class OcrPage:
    """One page as read: its text, and the image and tilt its word boxes refer to."""

    text: PageText
    image: Image.Image
    skew: float
    languages: str


def _text_bands(image: Image.Image) -> list[Image.Image]:
    """Bands of whole text lines from the top of the page, a few lines each.

    Lines are the runs of rows with ink; a band cut through a line would read its halves
    as noise.
    """
    inked = (np.asarray(image) < INK_LEVEL).sum(axis=1) > image.width * 0.005
    edges = np.flatnonzero(np.diff(np.concatenate(([0], inked.astype(np.int8), [0]))))
    runs = [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    lines = [(a, b) for a, b in runs if b - a >= MIN_LINE_ROWS]
    bands = []
    for first in range(
        0, min(len(lines), SCRIPT_PROBE_LINES * SCRIPT_PROBE_BANDS), SCRIPT_PROBE_LINES
    ):
        group = lines[first : first + SCRIPT_PROBE_LINES]
        top = max(0, group[0][0] - REREAD_MARGIN)
        bottom = min(image.height, group[-1][1] + REREAD_MARGIN)
        columns = np.flatnonzero((np.asarray(image)[top:bottom] < INK_LEVEL).any(axis=0))
        left = max(0, int(columns[0]) - REREAD_MARGIN) if columns.size else 0
        right = min(image.width, left + SCRIPT_PROBE_WIDTH)
        bands.append(image.crop((left, top, right, bottom)))
    return bands


def probe_script(image: Image.Image, number: int = 1) -> str | None:
    """Latin or Cyrillic by how confidently the Russian model reads the first lines.

    None when the bands hold too few words to tell.
    """
    confident: list[float] = []
    for band in _text_bands(image):
        words = _read_words(band, SCRIPT_PROBE_LANGUAGE, SCRIPT_PROBE_CONFIG, number)
        confident += [c.confidence for c in words.chunks if sum(map(str.isalpha, c.text)) >= 3]
        if len(confident) >= MIN_PROBE_WORDS:
            # The median: a band cuts through some line and reads its halves as noise.
            middle = 100 * statistics.median(confident)
            return "Cyrillic" if middle >= MIN_CYRILLIC_CONFIDENCE else "Latin"
    return None


def _languages(image: Image.Image, number: int) -> str:
    return LANGUAGES_BY_SCRIPT.get(probe_script(image, number) or "", DEFAULT_LANGUAGES)


def read_page(image: Image.Image, number: int, languages: str | None = None) -> OcrPage:
    """OCR one page image into positioned lines (pixels, origin top-left), upright.

    OSD runs only for a page that looks turned or reads as noise; the script comes from
    ``probe_script`` unless ``languages`` is given.
    """
    _tesseract_env()
    image = _upscaled(image)
    skew, sideways = _skew_and_sideways(image)
    if sideways:
        image = _turned_upright(image)
        skew = estimate_skew(image)
    image, skew = _deskewed(image, skew)
    langs = languages or _languages(image, number)
    words = _read_words(image, langs, TESSERACT_CONFIG, number)
    if not sideways and (
        len(words.chunks) < MIN_WORDS_TO_JUDGE or words.mean_confidence < MIN_UPRIGHT_CONFIDENCE
    ):
        turned = _turned_upright(image)
        if turned is not image:
            turned, turned_skew = _deskewed(turned, estimate_skew(turned))
            turned_langs = languages or _languages(turned, number)
        elif languages is None:
            # Upright, yet read as noise: the script was told wrong; read with the other.
            turned, turned_skew = image, skew
            turned_langs = next(v for v in LANGUAGES_BY_SCRIPT.values() if v != langs)
        else:
            turned_langs = ""
        if turned_langs:
            again = _read_words(turned, turned_langs, TESSERACT_CONFIG, number)
            if again.mean_confidence > words.mean_confidence:
                image, skew, langs, words = turned, turned_skew, turned_langs, again
    chunks = [Chunk(normalise_script(c.text, None), c.box, c.confidence) for c in words.chunks]
    script = dominant_script(" ".join(c.text for c in chunks))
    chunks = [Chunk(normalise_script(c.text, script), c.box, c.confidence) for c in chunks]
    chunks = _straighten(chunks, skew, image)
    text = PageText(number, Source.OCR, build_lines(chunks, number), image.width, image.height)
    return OcrPage(text, image, skew, langs)


def ocr_page(image: Image.Image, number: int, languages: str | None = None) -> PageText:
    """OCR one page image into positioned lines (pixels, origin top-left)."""
    return read_page(image, number, languages).text


def _region(page: OcrPage, box: tuple[float, float, float, float]) -> Image.Image:
    """The region under ``box`` (straightened coordinates) as scanned, level, scaled up."""
    left, top, right, bottom = box
    sin, cos = math.sin(math.radians(page.skew)), math.cos(math.radians(page.skew))
    cx, cy = page.image.width / 2, page.image.height / 2
    # Straightened -> as scanned: the inverse turn of _straighten, for the four corners.
    xs, ys = [], []
    for x, y in ((left, top), (right, top), (left, bottom), (right, bottom)):
        dx, dy = x - cx, y - cy
        xs.append(cx + dx * cos - dy * sin)
        ys.append(cy + dx * sin + dy * cos)
    crop = page.image.crop(
        (
            max(0, int(min(xs)) - REREAD_MARGIN),
            max(0, int(min(ys)) - REREAD_MARGIN),
            min(page.image.width, int(max(xs)) + REREAD_MARGIN),
            min(page.image.height, int(max(ys)) + REREAD_MARGIN),
        )
    )
    if abs(page.skew) >= MIN_SKEW_TO_FIX:
        crop = crop.rotate(page.skew, expand=True, fillcolor=255)
    return crop.resize(
        (crop.width * REREAD_SCALE, crop.height * REREAD_SCALE), Image.Resampling.LANCZOS
    )


def reread_regions(page: OcrPage, boxes: list[tuple[float, float, float, float]]) -> list[str]:
    """Read regions of ``page`` again, scaled up, in one Tesseract run: for values the
    page-wide pass misread (small glyphs of codes, lines set close together).

    ``boxes`` are in the straightened coordinates of ``page.text``; the regions are cut
    from the image as scanned, stacked one under another with white between, and each
    word read is given back to the region it lies in.
    """
    if not boxes:
        return []
    regions = [_region(page, box) for box in boxes]
    gap = REREAD_MARGIN * REREAD_SCALE * 2
    sheet = Image.new(
        "L",
        (max(r.width for r in regions), sum(r.height + gap for r in regions) + gap),
        255,
    )
    spans = []
    y = gap
    for region in regions:
        sheet.paste(region, (0, y))
        spans.append((y, y + region.height))
        y += region.height + gap
    # The Russian model alone reads Cyrillic codes better than with English beside it,
    # which turns the Ф of "СФ-360" into "®".
    languages = SCRIPT_PROBE_LANGUAGE if page.languages.startswith("rus") else page.languages
    words = _read_words(sheet, languages, REREAD_CONFIG, page.text.number)
    texts: list[list[Chunk]] = [[] for _ in regions]
    for chunk in words.chunks:
        middle = (chunk.box[1] + chunk.box[3]) / 2
        for index, (start, end) in enumerate(spans):
            if start - gap / 2 <= middle < end + gap / 2:
                texts[index].append(chunk)
                break
    return [
        " ".join(normalise_script(c.text, None) for c in sorted(found, key=lambda c: c.box[0]))
        for found in texts
    ]


def read_pages(images: list[tuple[int, Image.Image]], workers: int | None = None) -> list[OcrPage]:
    """OCR several pages at once: one single-threaded Tesseract process per core."""
    if len(images) == 1:
        number, image = images[0]
        return [read_page(image, number)]
    # One thread more than cores: while a thread decodes, measures and cuts its page in
    # Python, the cores keep running the other threads' Tesseract processes.
    workers = workers or max(1, min(len(images), (os.cpu_count() or 1) + 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda item: read_page(item[1], item[0]), images))


def ocr_pages(images: list[tuple[int, Image.Image]], workers: int | None = None) -> list[PageText]:
    """The text of several pages (see ``read_pages``)."""
    return [page.text for page in read_pages(images, workers)]


# --- Latin and Cyrillic look-alikes ----------------------------------------------------------

# Letters drawn the same in both scripts: with Polish, Russian and English loaded Tesseract
# may return either for the same glyph ("CN-2026" with a Cyrillic С, "OOO" for "ООО").
_LATIN_LOOKALIKES = "ABCEHKMOPTXaceopxy"
_CYRILLIC_LOOKALIKES = "АВСЕНКМОРТХасеорху"
_TO_CYRILLIC = str.maketrans(_LATIN_LOOKALIKES, _CYRILLIC_LOOKALIKES)
_TO_LATIN = str.maketrans(_CYRILLIC_LOOKALIKES, _LATIN_LOOKALIKES)
_LOOKALIKES = set(_LATIN_LOOKALIKES + _CYRILLIC_LOOKALIKES)


def _script_of(char: str) -> str | None:
    if char in _LOOKALIKES or not char.isalpha():
        return None
    return "Cyrillic" if "\u0400" <= char <= "\u04ff" else "Latin"


def dominant_script(text: str) -> str | None:
    """Latin or Cyrillic, by the letters that exist in only one of them; None if neither."""
    latin = cyrillic = 0
    for char in text:
        script = _script_of(char)
        if script == "Latin":
            latin += 1
        elif script == "Cyrillic":
            cyrillic += 1
    if not latin and not cyrillic:
        return None
    return "Cyrillic" if cyrillic > latin else "Latin"


def normalise_script(word: str, page_script: str | None) -> str:
    """``word`` with look-alike letters written in one script.

    A word whose other letters are all of one script takes that script ("СФ-360" read
    with a Latin C); a word of look-alikes only takes the page's script.
    """
    scripts = {_script_of(char) for char in word} - {None}
    if len(scripts) > 1:
        return word
    target = next(iter(scripts), page_script)
    if target == "Cyrillic":
        return word.translate(_TO_CYRILLIC)
    if target == "Latin":
        return word.translate(_TO_LATIN)
    return word
