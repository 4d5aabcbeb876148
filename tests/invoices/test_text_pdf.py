"""Text-layer PDFs in every layout and language: the key fields are read exactly."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from backoffice.invoices import corpus, extract

from tests.invoices.helpers import write_text_pdf

CASES = [
    (language, layout)
    for language, layouts in corpus.LAYOUTS_BY_LANGUAGE.items()
    for layout in layouts
]


@pytest.mark.parametrize(("language", "layout"), CASES)
def test_key_fields(tmp_path: Path, rng: random.Random, language: str, layout: str) -> None:
    path, invoice = write_text_pdf(
        tmp_path, rng, language, layout, show_items=layout != "no_items", multi_rate=True
    )
    result = extract(path)
    assert result.source.value == "text"
    assert result.language == language
    assert result.kind.value == "invoice"
    assert result.value("invoice_number") == invoice.number
    assert result.value("issue_date") == invoice.issue_date
    assert result.value("total_gross") == invoice.gross
    assert result.value("total_net") == invoice.net
    assert result.value("total_tax") == invoice.tax
    assert result.value("currency") == invoice.currency
    assert result.value("seller_tax_id") == invoice.seller.tax_id
    assert result.value("buyer_tax_id") == invoice.buyer.tax_id
    assert result.value("seller_name") == invoice.seller.name
    if layout != "no_items":
        assert [line.net for line in result.lines] == [item.net for item in invoice.items]
    if invoice.iban:
        assert result.value("iban") == invoice.iban
    assert result.fields["total_gross"].page == 1
    assert result.fields["total_gross"].box is not None


def test_credit_note_kind(tmp_path: Path, rng: random.Random) -> None:
    path, invoice = write_text_pdf(tmp_path, rng, "pl", "classic", kind="credit_note")
    result = extract(path)
    assert result.kind.value == "credit_note"
    assert result.value("invoice_number") == invoice.number


def test_wrong_nip_is_read_with_low_confidence(tmp_path: Path) -> None:
    rng = random.Random(7)
    invoice = corpus.make_invoice(rng, "pl")
    invoice.seller.tax_id = corpus.make_nip(rng, valid=False)
    path = tmp_path / "wrong.pdf"
    path.write_bytes(corpus.render_pdf(invoice, "classic", corpus.Style(rng, "pl")))
    field = extract(path).fields["seller_tax_id"]
    assert field.value == invoice.seller.tax_id
    assert field.confidence < 0.6
