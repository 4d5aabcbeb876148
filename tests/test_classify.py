"""intake.classify over the bundled sample mailbox and a few crafted real files."""

from __future__ import annotations

import io
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from backoffice.intake.classify import classify, normalize
from backoffice.intake.parse import parse_message

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples" / "mailbox"
FIXTURES = ROOT / "tests" / "fixtures" / "mail"

# sample → (kind, minimum confidence, a phrase one of the reasons must contain)
EXPECTED = {
    "01-faktura-pdf.eml": ("invoice", 0.8, "first page text contains 'faktura vat'"),
    "02-skan-faktury-png.eml": ("invoice", 0.4, "file name"),
    "03-ubl-einvoice.eml": ("invoice", 0.95, "XML root is UBL Invoice"),
    "04-camt053-wyciag.eml": ("bank_statement", 0.95, "XML root is camt.053 BkToCstmrStmt"),
    "05-schet-faktura-ru.eml": ("invoice", 0.8, "счет-фактура"),
    "06-contract-signed-en.eml": ("signed_contract", 0.8, "'signature'"),
    "07-zip-z-faktura.eml": ("invoice", 0.8, "faktura vat"),
    "08-broken-truncated.eml": ("invoice", 0.3, "the PDF could not be read"),
    "09-mt940-wyciag.eml": ("bank_statement", 0.9, "MT940 statement lines"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample_is_classified_as_intended(name: str) -> None:
    parsed = parse_message((SAMPLES / name).read_bytes())
    (attachment,) = parsed.attachments
    result = classify(
        attachment.filename,
        attachment.content_type,
        attachment.data,
        subject=parsed.subject,
        body=parsed.body_text,
    )
    kind, confidence, phrase = EXPECTED[name]
    assert result.kind == kind, result
    assert result.confidence >= confidence, result
    assert 0 <= result.confidence <= 1
    assert any(phrase in reason for reason in result.reasons), result.reasons


def test_every_sample_is_covered() -> None:
    assert {p.name for p in SAMPLES.glob("*.eml")} == set(EXPECTED)


def test_image_and_scan_are_less_sure_than_text() -> None:
    image = classify("scan.png", "image/png", b"\x89PNG\r\n\x1a\n", subject="Faktura 1/2024")
    assert image.kind == "invoice"
    assert image.confidence < 0.5
    assert any("image" in reason for reason in image.reasons)
    nothing = classify("IMG_0001.jpg", "image/jpeg", b"\xff\xd8\xff\xe0")
    assert nothing.kind == "other"


def test_cii_and_ksef_and_camt054_roots() -> None:
    cii = (
        b'<?xml version="1.0"?><rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:'
        b'data:standard:CrossIndustryInvoice:100"><rsm:ExchangedDocument/>'
        b"</rsm:CrossIndustryInvoice>"
    )
    assert classify("x.xml", "application/xml", cii).reasons == [
        "XML root is CII CrossIndustryInvoice"
    ]
    ksef = b'<Faktura xmlns="http://crd.gov.pl/wzor/2023/06/29/12648/"><Naglowek/></Faktura>'
    assert classify("fa.xml", "text/xml", ksef).kind == "invoice"
    camt054 = (
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">'
        b"<BkToCstmrDbtCdtNtfctn/></Document>"
    )
    result = classify("n.xml", "application/xml", camt054)
    assert result.kind == "bank_statement"
    assert result.reasons == ["XML root is camt.054 BkToCstmrDbtCdtNtfctn"]


def test_hostile_xml_does_not_expand() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<lolz>&lol2;</lolz>"
    )
    result = classify("faktura.xml", "application/xml", bomb)
    assert result.kind == "invoice"  # by its name only
    assert any("could not be read safely" in reason for reason in result.reasons)


def test_encrypted_or_broken_pdf_falls_back_to_the_name() -> None:
    result = classify("umowa_podpisana.pdf", "application/pdf", b"%PDF-1.7\n1 0 obj garbage")
    assert result.kind == "signed_contract"
    assert any("could not be read" in reason for reason in result.reasons)


def test_pdf_over_the_limit_is_not_read() -> None:
    data = (SAMPLES / "01-faktura-pdf.eml").read_bytes()
    parsed = parse_message(data)
    pdf_bytes = parsed.attachments[0].data
    result = classify("scan.pdf", "application/pdf", pdf_bytes, max_pdf_bytes=1000)
    assert result.kind == "other"
    assert any("over the 1,000-byte limit" in reason for reason in result.reasons)


def test_embedded_factur_x_xml_wins() -> None:
    """A real hybrid PDF: the sample invoice with a CII XML attached as factur-x.xml."""
    parsed = parse_message((SAMPLES / "06-contract-signed-en.eml").read_bytes())
    pdf = pdfium.PdfDocument(parsed.attachments[0].data)
    attachment = pdf.new_attachment("factur-x.xml")
    attachment.set_data(
        b'<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:'
        b'CrossIndustryInvoice:100"/>'
    )
    out = io.BytesIO()
    pdf.save(out)
    pdf.close()
    result = classify("x.pdf", "application/pdf", out.getvalue())
    assert result.kind == "invoice"
    assert result.reasons == ["the PDF embeds factur-x.xml (XML root is CII CrossIndustryInvoice)"]


def test_digital_signature_with_contract_words() -> None:
    parsed = parse_message((SAMPLES / "06-contract-signed-en.eml").read_bytes())
    data = parsed.attachments[0].data
    # An incremental update appending a signature dictionary, as signing tools do.
    signed = data + (
        b"\n99 0 obj\n<< /Type /Sig /Filter /Adobe.PPKLite /ByteRange [0 10 20 30] "
        b"/Contents <00> >>\nendobj\n"
    )
    result = classify("agreement.pdf", "application/pdf", signed)
    assert result.kind == "signed_contract"
    assert result.reasons[0] == "the PDF carries a digital signature (/ByteRange with /Sig)"


def test_mt940_and_plain_text() -> None:
    mt = b":20:X\r\n:25:/PL61109010140000071219812874\r\n:28C:1/1\r\n:60F:C240101PLN1,00\r\n"
    mt += b":62F:C240101PLN1,00\r\n-\r\n"
    assert classify("stmt.txt", "text/plain", mt).kind == "bank_statement"
    assert classify("notes.txt", "text/plain", b"lunch menu").kind == "other"


def test_normalize_ignores_case_and_diacritics() -> None:
    assert normalize("WYCIĄG Łódź") == "wyciag lodz"
    assert normalize("СЧЁТ-ФАКТУРА") == "счет-фактура"
