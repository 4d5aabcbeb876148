"""Structured invoices: Factur-X PDF, UBL, KSeF FA(3); unsafe XML is refused."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pytest
from backoffice.invoices import corpus, extract


def _check(result, invoice: corpus.Invoice) -> None:
    assert result.source.value == "xml"
    assert result.value("invoice_number") == invoice.number
    assert result.value("issue_date") == invoice.issue_date
    assert result.value("due_date") == invoice.due_date
    assert result.value("total_gross") == invoice.gross
    assert result.value("total_net") == invoice.net
    assert result.value("total_tax") == invoice.tax
    assert result.value("currency") == invoice.currency
    assert result.value("seller_tax_id") == invoice.seller.tax_id
    assert result.value("buyer_name") == invoice.buyer.name
    assert len(result.lines) == len(invoice.items)
    assert all(field.confidence >= 0.9 for field in result.fields.values())


@pytest.mark.parametrize("language", ["pl", "en", "ru"])
def test_facturx_pdf_reads_embedded_cii(tmp_path: Path, rng: random.Random, language: str) -> None:
    invoice = corpus.make_invoice(rng, language)
    invoice.seller.tax_id_valid = True
    pdf = corpus.render_pdf(invoice, "classic", corpus.Style(rng, language))
    path = tmp_path / "facturx.pdf"
    path.write_bytes(corpus.facturx_pdf(pdf, invoice))
    result = extract(path)
    _check(result, invoice)
    assert result.kind.value == "invoice"


def test_ubl_credit_note(tmp_path: Path, rng: random.Random) -> None:
    invoice = corpus.make_invoice(rng, "en", "credit_note")
    path = tmp_path / "cn.xml"
    path.write_bytes(corpus.ubl_xml(invoice))
    result = extract(path)
    _check(result, invoice)
    assert result.kind.value == "credit_note"


def test_ksef_fa3_per_rate_breakdown(tmp_path: Path, rng: random.Random) -> None:
    invoice = corpus.make_invoice(rng, "pl", multi_rate=True)
    path = tmp_path / "fa3.xml"
    path.write_bytes(corpus.ksef_xml(invoice))
    result = extract(path)
    _check(result, invoice)
    assert result.language == "pl"
    rates = {rate.rate: (rate.net, rate.tax) for rate in result.value("tax_breakdown")}
    assert rates == {str(k): v for k, v in invoice.rates().items()}
    assert result.value("iban") == invoice.iban


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE Invoice [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"><ID>&xxe;</ID></Invoice>
"""
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Faktura><Fa><P_2>&lol3;</P_2></Fa></Faktura>
"""


@pytest.mark.parametrize("payload", [XXE, BILLION_LAUGHS], ids=["xxe", "billion-laughs"])
def test_unsafe_xml_is_refused(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "evil.xml"
    path.write_bytes(payload)
    result = extract(path)
    assert [p.code for p in result.problems] == ["XML_UNSAFE"]
    assert result.fields == {}
    assert "root:" not in str(result.to_json())


def test_other_xml_is_not_an_invoice(tmp_path: Path) -> None:
    path = tmp_path / "order.xml"
    path.write_bytes(b"<?xml version='1.0'?><Order><ID>1</ID></Order>")
    result = extract(path)
    assert result.kind.value == "not_invoice"
    assert [p.code for p in result.problems] == ["NOT_AN_INVOICE"]


def test_xml_money_is_decimal(tmp_path: Path, rng: random.Random) -> None:
    invoice = corpus.make_invoice(rng, "pl")
    path = tmp_path / "fa3.xml"
    path.write_bytes(corpus.ksef_xml(invoice))
    assert isinstance(extract(path).value("total_gross"), Decimal)
