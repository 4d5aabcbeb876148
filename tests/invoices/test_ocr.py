"""Scans: rotated, noisy and turned pages are read through Tesseract."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from backoffice.invoices import corpus, extract
from backoffice.invoices.readers import ocr
from PIL import Image


@pytest.mark.parametrize(("language", "kind"), [("pl", "photo"), ("ru", "pdf"), ("en", "fax")])
def test_scan_key_fields(tmp_path: Path, language: str, kind: str) -> None:
    rng = random.Random(99)
    invoice = corpus.make_invoice(rng, language)
    pdf = corpus.render_pdf(invoice, "classic", corpus.Style(rng, language))
    data, suffix = corpus.scan(pdf, rng, kind)
    path = tmp_path / f"scan{suffix}"
    path.write_bytes(data)
    result = extract(path)
    assert result.source.value == "ocr"
    assert result.language == language
    assert result.value("total_gross") == invoice.gross
    assert result.value("seller_tax_id") == invoice.seller.tax_id
    assert result.value("issue_date") == invoice.issue_date
    assert result.fields["total_gross"].source.value == "ocr"


def test_page_turned_sideways_is_uprighted(tmp_path: Path) -> None:
    rng = random.Random(5)
    invoice = corpus.make_invoice(rng, "en")
    pdf = corpus.render_pdf(invoice, "one_column", corpus.Style(rng, "en"))
    data, _ = corpus.scan(pdf, rng, "png")
    turned = Image.open(io.BytesIO(data)).rotate(90, expand=True)
    path = tmp_path / "turned.png"
    turned.save(path)
    result = extract(path)
    assert result.value("total_gross") == invoice.gross
    assert result.value("invoice_number") == invoice.number


def test_page_upside_down_is_read_after_osd(tmp_path: Path) -> None:
    # Read upside down, the page is noise: OSD is asked then, and the page read again.
    rng = random.Random(8)
    invoice = corpus.make_invoice(rng, "pl")
    pdf = corpus.render_pdf(invoice, "classic", corpus.Style(rng, "pl"))
    data, _ = corpus.scan(pdf, rng, "png")
    path = tmp_path / "upside-down.png"
    Image.open(io.BytesIO(data)).rotate(180, expand=True).save(path)
    result = extract(path)
    assert result.value("invoice_number") == invoice.number
    assert result.value("total_gross") == invoice.gross


def _scan_image(language: str, seed: int, layout: str = "classic") -> tuple[Image.Image, object]:
    rng = random.Random(seed)
    invoice = corpus.make_invoice(rng, language)
    pdf = corpus.render_pdf(invoice, layout, corpus.Style(rng, language))
    data, _ = corpus.scan(pdf, rng, "png")
    return Image.open(io.BytesIO(data)).convert("L"), invoice


@pytest.mark.parametrize(
    ("language", "script"), [("ru", "Cyrillic"), ("pl", "Latin"), ("en", "Latin")]
)
def test_script_is_told_without_osd(language: str, script: str) -> None:
    image, _ = _scan_image(language, 21)
    assert ocr.probe_script(ocr._upscaled(image)) == script


def test_skew_is_measured_on_a_tilted_page() -> None:
    image, _ = _scan_image("en", 22)
    level = ocr.estimate_skew(image)
    tilted = image.rotate(2.0, expand=True, fillcolor=255)
    assert abs(ocr.estimate_skew(tilted) - (level - 2.0)) <= 0.3


def test_words_of_one_line_share_a_line_on_a_tilted_page() -> None:
    # Tilts below a degree are not turned out of the image: the word boxes are.
    image, invoice = _scan_image("pl", 23)
    tilted = image.rotate(ocr.estimate_skew(image) - 0.8, expand=True, fillcolor=255)
    page = ocr.read_page(tilted, 1)
    assert abs(page.skew) >= ocr.MIN_SKEW_TO_FIX
    (line,) = [line for line in page.text.lines if invoice.number in line.text]
    assert line.text.startswith("Faktura")


def test_a_region_is_read_again() -> None:
    image, invoice = _scan_image("ru", 24, "ru_schet")
    page = ocr.read_page(image, 1)
    (line,) = [line for line in page.text.lines if "оплату" in line.text]
    (text,) = ocr.reread_regions(page, [line.box])
    assert invoice.number in text


@pytest.mark.parametrize(
    ("word", "page_script", "expected"),
    [
        ("CФ-360", None, "СФ-360"),  # Latin C beside Cyrillic Ф
        ("CN-2026", "Cyrillic", "CN-2026"),  # N exists only in Latin
        ("OOO", "Cyrillic", "ООО"),
        ("ООО", "Latin", "OOO"),
        ("Сбербанк", "Latin", "Сбербанк"),
        ("2026", "Cyrillic", "2026"),
    ],
)
def test_lookalike_letters_take_one_script(
    word: str, page_script: str | None, expected: str
) -> None:
    assert ocr.normalise_script(word, page_script) == expected


def test_dominant_script() -> None:
    assert ocr.dominant_script("Счёт-фактура № СФ-1 от 01.02.2026") == "Cyrillic"
    assert ocr.dominant_script("Faktura VAT nr FV/1/2026 ООО") == "Latin"
    assert ocr.dominant_script("12 345,00 OOO") is None
