"""Limits that keep one hostile file from taking the robot down (bombs, huge documents)."""

from __future__ import annotations

from dataclasses import dataclass

# An invoice with more pages than this is not read: a 3,000-page PDF is refused at once
# instead of being OCRed for an hour.
MAX_PAGES = 50
# Pages without a text layer that are OCRed per document (the rest are reported).
MAX_OCR_PAGES = 10
# Bytes read from one file; mail attachments above this are not invoices we can trust.
MAX_FILE_BYTES = 50 * 1024 * 1024
# Pixels in one image or rendered page: A4 at 600 DPI is about 35 million.
MAX_IMAGE_PIXELS = 60_000_000
# Rendering resolution for OCR; Tesseract reads best between 250 and 400 DPI.
OCR_DPI = 300
# Bytes of XML read from one structured invoice.
MAX_XML_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """The limits in force for one extraction (tests lower them)."""

    max_pages: int = MAX_PAGES
    max_ocr_pages: int = MAX_OCR_PAGES
    max_file_bytes: int = MAX_FILE_BYTES
    max_image_pixels: int = MAX_IMAGE_PIXELS
    ocr_dpi: int = OCR_DPI
