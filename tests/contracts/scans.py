"""Making "returned scans" from issued contract PDFs: print, sign by hand, scan, and tamper.

Pages are rendered with pypdfium2 like a printer would, signatures are pen strokes drawn with
PIL inside the issued boxes, and the scanner adds a small rotation, a shift, specks and JPEG
artefacts. A clause is edited the way a forger with an editor would: the words are covered
with white and the new ones typed over them in the same font and size.
"""

from __future__ import annotations

import io
import math
import random
from pathlib import Path

import pypdfium2 as pdfium
from backoffice.contracts.model import Box, IssuedContract, Rect
from PIL import Image, ImageDraw, ImageFont

FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def render(pdf: bytes, dpi: int = 200) -> list[Image.Image]:
    """Each page as a greyscale image, like a printout lying on the scanner glass."""
    document = pdfium.PdfDocument(pdf)
    try:
        return [page.render(scale=dpi / 72).to_pil().convert("L") for page in document]
    finally:
        document.close()


def _to_pixels(rect: Rect, page_height: float, dpi: int) -> tuple[float, float, float, float]:
    s = dpi / 72
    return rect.x0 * s, (page_height - rect.y1) * s, rect.x1 * s, (page_height - rect.y0) * s


def sign(
    image: Image.Image, box: Box, page_height: float, dpi: int = 200, *, seed: int = 0
) -> None:
    """Draw a hand-written-looking stroke (a signature, initials or a date) inside ``box``."""
    rng = random.Random(seed)
    left, top, right, bottom = _to_pixels(box.rect, page_height, dpi)
    width, height = right - left, bottom - top
    points = []
    steps = 60
    for step in range(steps + 1):
        t = step / steps
        x = left + width * (0.12 + 0.7 * t)
        y = top + height * (0.55 + 0.25 * math.sin(t * math.pi * (4 + rng.random() * 3)))
        points.append((x, y + rng.uniform(-1.5, 1.5)))
    draw = ImageDraw.Draw(image)
    draw.line(points, fill=20, width=max(2, dpi // 70), joint="curve")
    # A flourish under the name, as most signatures have.
    draw.line(
        [(left + width * 0.2, top + height * 0.8), (left + width * 0.75, top + height * 0.72)],
        fill=30,
        width=max(2, dpi // 90),
    )


def sign_all(issued: IssuedContract, pages: list[Image.Image], dpi: int = 200) -> None:
    """Fill every box of every page (the customer did everything right)."""
    for box in issued.boxes:
        sign(pages[box.page - 1], box, issued.page_size[1], dpi, seed=box.page * 10 + len(box.kind))


def edit_clause(
    issued: IssuedContract, page: Image.Image, number: int, old: str, new: str, dpi: int = 200
) -> None:
    """Cover ``old`` on page ``number`` with white and type ``new`` over it (same size)."""
    document = pdfium.PdfDocument(issued.pdf)
    try:
        textpage = document[number - 1].get_textpage()
        searcher = textpage.search(old, match_case=True)
        found = searcher.get_next()
        assert found, f"{old!r} is not on page {number}"
        first, count = found
        boxes = [textpage.get_charbox(i) for i in range(first, first + count)]
    finally:
        document.close()
    s = dpi / 72
    height = issued.page_size[1]
    left = min(b[0] for b in boxes) * s
    right = max(b[2] for b in boxes) * s
    bottom = max(height - b[1] for b in boxes) * s
    top = min(height - b[3] for b in boxes) * s
    draw = ImageDraw.Draw(page)
    draw.rectangle((left - 1, top - 3, right + 1, bottom + 3), fill=255)
    font = ImageFont.truetype(str(FONT_PATH), round(10 * s))
    ascent, _descent = font.getmetrics()
    baseline = bottom - (bottom - top) * 0.05
    draw.text((left, baseline - ascent), new, font=font, fill=0)


def scan(
    page: Image.Image,
    *,
    angle: float = 0.0,
    shift: tuple[int, int] = (0, 0),
    noise: float = 0.0,
    jpeg_quality: int | None = None,
    seed: int = 0,
) -> Image.Image:
    """What a scanner makes of a page: turned a little, shifted, specks, JPEG blocks."""
    rng = random.Random(seed)
    out = page.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    if shift != (0, 0):
        moved = Image.new("L", out.size, 255)
        moved.paste(out, shift)
        out = moved
    if noise:
        pixels = out.load()
        count = int(out.width * out.height * noise)
        for _ in range(count):
            x, y = rng.randrange(out.width), rng.randrange(out.height)
            pixels[x, y] = rng.choice((0, 60, 255))
    if jpeg_quality:
        buffer = io.BytesIO()
        out.save(buffer, "JPEG", quality=jpeg_quality)
        out = Image.open(io.BytesIO(buffer.getvalue())).convert("L")
    return out


def to_pdf(pages: list[Image.Image], dpi: int = 200) -> bytes:
    """The scanned pages as one PDF of images, as scanners send them."""
    buffer = io.BytesIO()
    pages[0].save(buffer, "PDF", save_all=True, append_images=pages[1:], resolution=dpi)
    return buffer.getvalue()
