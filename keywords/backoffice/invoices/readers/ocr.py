"""OCR for scans and images: orientation and skew corrected, then Tesseract word boxes.

Tesseract runs one single-threaded process per page (``OMP_THREAD_LIMIT=1``): on a 2-core
machine its OpenMP threading made one page five times slower, so parallelism belongs to the
pipeline (a thread pool of Tesseract processes across the cores), not to OpenMP.
"""

from __future__ import annotations

import io
import itertools
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytesseract
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from backoffice.invoices.errors import ImageTooLarge, OcrUnavailable, UnsupportedFile
from backoffice.invoices.layout import Chunk, PageText, build_lines
from backoffice.invoices.limits import Limits
from backoffice.invoices.model import Source

# Tesseract languages by the script OSD reports; English rides along for codes and labels.
LANGUAGES_BY_SCRIPT = {"Cyrillic": "rus+eng", "Latin": "pol+eng"}
DEFAULT_LANGUAGES = "pol+eng"
ALL_LANGUAGES = "pol+rus+eng"
# OSD is only trusted above this confidence; it guesses on sparse pages.
MIN_OSD_CONFIDENCE = 1.5
MIN_SCRIPT_CONFIDENCE = {"Cyrillic": 0.3, "Latin": 1.5}
# Scans below about 250 DPI are upscaled to the width of an A4 page at 300 DPI: Tesseract
# misreads small glyphs far more often than it is slowed by larger images.
MIN_OCR_WIDTH = 2000
TARGET_OCR_WIDTH = 2480
# Skew search: scanners and phone photos tilt pages a few degrees at most.
MAX_SKEW_DEGREES = 5.0
SKEW_COARSE_STEP = 0.5
SKEW_FINE_STEP = 0.1
SKEW_SAMPLE_WIDTH = 800
# Below this tilt the correction costs more (resampling blur) than it gains.
MIN_SKEW_TO_FIX = 0.2
OCR_TIMEOUT_SECONDS = 120
TESSERACT_CONFIG = "--oem 1 --psm 3"

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


def _osd(image: Image.Image) -> tuple[int, str | None]:
    try:
        info = pytesseract.image_to_osd(
            image, config="--psm 0", output_type=pytesseract.Output.DICT, timeout=30
        )
    except (pytesseract.TesseractError, RuntimeError):
        return 0, None
    confident = info.get("orientation_conf", 0) >= MIN_OSD_CONFIDENCE
    rotate = int(info.get("rotate", 0)) if confident else 0
    script = info.get("script")
    # OSD tells Cyrillic from Latin reliably even at low confidence on invoices (the
    # page is full of text); below this floor we OCR with all languages instead.
    if info.get("script_conf", 0) < MIN_SCRIPT_CONFIDENCE.get(script, MIN_OSD_CONFIDENCE):
        script = None
    return rotate, script


def _row_profile_score(image: Image.Image, angle: float) -> float:
    rotated = image.rotate(angle, expand=False, fillcolor=0)
    profile = list(rotated.resize((1, rotated.height), Image.Resampling.BOX).get_flattened_data())
    return float(sum((a - b) ** 2 for a, b in itertools.pairwise(profile)))


def estimate_skew(image: Image.Image) -> float:
    """The angle (degrees, counter-clockwise) that makes text lines horizontal."""
    scale = SKEW_SAMPLE_WIDTH / max(image.width, 1)
    sample = image.resize((SKEW_SAMPLE_WIDTH, max(1, int(image.height * scale))))
    # Ink as white on black so rotation fills the corners with "no ink".
    sample = ImageOps.invert(sample).point(lambda value: 255 if value > 96 else 0)
    best = max(
        (
            step * SKEW_COARSE_STEP
            for step in range(
                -int(MAX_SKEW_DEGREES / SKEW_COARSE_STEP),
                int(MAX_SKEW_DEGREES / SKEW_COARSE_STEP) + 1,
            )
        ),
        key=lambda angle: _row_profile_score(sample, angle),
    )
    fine = [best + step * SKEW_FINE_STEP for step in range(-4, 5)]
    return max(fine, key=lambda angle: _row_profile_score(sample, angle))


def prepare(image: Image.Image) -> tuple[Image.Image, str | None]:
    """Upright and deskewed greyscale image, plus the script OSD saw (Latin/Cyrillic)."""
    _tesseract_env()
    if image.width < MIN_OCR_WIDTH:
        factor = TARGET_OCR_WIDTH / image.width
        image = image.convert("L").resize(
            (TARGET_OCR_WIDTH, int(image.height * factor)), Image.Resampling.LANCZOS
        )
    rotate, script = _osd(image)
    if rotate:
        # OSD reports the clockwise rotation that makes the page upright; PIL turns
        # counter-clockwise.
        image = image.rotate(-rotate, expand=True, fillcolor=255)
    skew = estimate_skew(image)
    if abs(skew) >= MIN_SKEW_TO_FIX:
        image = image.rotate(skew, expand=True, fillcolor=255, resample=Image.Resampling.BICUBIC)
    return image, script


def ocr_page(image: Image.Image, number: int, languages: str | None = None) -> PageText:
    """OCR one page image into positioned lines (pixels, origin top-left)."""
    _tesseract_env()
    image, script = prepare(image)
    langs = languages or LANGUAGES_BY_SCRIPT.get(script or "", ALL_LANGUAGES)
    try:
        data = pytesseract.image_to_data(
            image,
            lang=langs,
            config=TESSERACT_CONFIG,
            output_type=pytesseract.Output.DICT,
            timeout=OCR_TIMEOUT_SECONDS,
        )
    except (pytesseract.TesseractError, pytesseract.TesseractNotFoundError, RuntimeError) as exc:
        raise OcrUnavailable(f"Tesseract failed on page {number}: {exc}") from exc
    chunks = []
    for index, word in enumerate(data["text"]):
        confidence = float(data["conf"][index])
        if not word or not word.strip() or confidence < 0:
            continue
        left, top = data["left"][index], data["top"][index]
        box = (left, top, left + data["width"][index], top + data["height"][index])
        chunks.append(Chunk(word, box, confidence / 100))
    return PageText(number, Source.OCR, build_lines(chunks, number), image.width, image.height)


def ocr_pages(images: list[tuple[int, Image.Image]], workers: int | None = None) -> list[PageText]:
    """OCR several pages at once: one single-threaded Tesseract process per core."""
    if len(images) == 1:
        number, image = images[0]
        return [ocr_page(image, number)]
    workers = workers or max(1, min(len(images), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda item: ocr_page(item[1], item[0]), images))
