"""Scans: rotated, noisy and turned pages are read through Tesseract."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from backoffice.invoices import corpus, extract
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
