"""The issued documents: the PDF's legal content per language, the embedded Factur-X XML
read back by the factur-x library, and the KSeF FA(3) file read back by our own reader."""

from __future__ import annotations

from decimal import Decimal

import pypdfium2 as pdfium
import pytest
from backoffice.billing.model import parse_request
from backoffice.billing.models import IssuedInvoice
from backoffice.billing.service import issue_invoice
from backoffice.invoices.readers.xml import read_invoice_xml
from backoffice.store import OutboxMessage, open_store
from facturx import get_xml_from_pdf
from lxml import etree
from sqlalchemy import select

from tests.billing.requests import pl_request, ru_request

CII = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}
FA3 = "http://crd.gov.pl/wzor/2025/06/25/13775/"


def issue(settings, data):
    """Issue one request; return the row and the stored PDF (and FA(3) XML) bytes."""
    store = open_store(settings)
    try:
        outcome = issue_invoice(store, settings, parse_request(data))
        with store.session() as session:
            row = session.get(IssuedInvoice, outcome.invoice_id)
            mail = session.scalar(
                select(OutboxMessage).where(OutboxMessage.idempotency_key == row.outbox_key)
            )
            pdf = store.blobs.read(row.pdf_path)
            ksef = store.blobs.read(row.ksef_path) if row.ksef_path else None
        return row, mail, pdf, ksef
    finally:
        store.dispose()


def pdf_text(pdf: bytes) -> str:
    document = pdfium.PdfDocument(pdf)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


def test_polish_invoice_pdf_has_the_legal_fields(seller_settings) -> None:
    row, mail, pdf, _ksef = issue(seller_settings("PL"), pl_request())
    text = pdf_text(pdf)
    for expected in [
        f"Faktura VAT nr {row.number}",
        f"Data wystawienia: {row.issue_date.isoformat()}",
        f"Data sprzedaży: {row.sale_date.isoformat()}",
        "Sprzedawca",
        "Firma Testowa sp. z o.o.",
        "ul. Prosta 1",
        "NIP: 1234563218",
        "Nabywca",
        "Kowalski i Wspólnicy sp.k.",
        "NIP: 5260001246",
        # 23 %: 200.00 + 149.99 (1.5 × 99.99 = 149.985, half up) -> VAT 80.50 on the sum
        "23% 349,99 80,50 430,49",
        "5% 99,99 5,00 104,99",
        "Razem 449,98 85,50 535,48",
        "Do zapłaty: 535,48 PLN",
        f"Termin płatności: {row.due_date.isoformat()}",
        "PL61 1090 1014 0000 0712 1981 2874",
        f"Tytuł przelewu: {row.number}",
        "Umowa: UM/2026/0042",
    ]:
        assert expected in text, f"{expected!r} not in the PDF text:\n{text}"
    assert (row.total_net, row.total_vat, row.total_gross) == (
        Decimal("449.98"),
        Decimal("85.50"),
        Decimal("535.48"),
    )
    assert mail.subject == f"Faktura VAT nr {row.number}"
    assert mail.language == "pl" and mail.to_addrs == ["jan.kowalski@example.test"]
    assert "Kwota do zapłaty: 535,48 PLN" in mail.body_text
    assert [a["filename"] for a in mail.attachments] == [
        f"{row.number.replace('/', '_')}.pdf",
        f"{row.number.replace('/', '_')}.xml",
    ]


def test_russian_invoice_pdf_has_inn_kpp_vat_per_line_and_bank_details(seller_settings) -> None:
    row, mail, pdf, ksef = issue(seller_settings("RU"), ru_request())
    text = pdf_text(pdf)
    for expected in [
        f"Счёт-фактура № {row.number} от {row.issue_date:%d.%m.%Y}",
        "Продавец",
        "ООО «Ромашка»",
        "ИНН: 7707083893",
        "КПП: 773601001",
        "Покупатель",
        "ИНН: 7830002293",
        "КПП: 784201001",
        # VAT per line: 10.03 × 20 % = 2.006 -> 2.01 each, so 4.02 (not 4.01 on the sum)
        "20% 20,06 4,02 24,08",
        "Всего к оплате: 24,08 RUB",
        "Расчётный счёт: 40702810938000012345",
        "БИК: 044525225",
        "Корр. счёт: 30101810400000000225",
        f"Назначение платежа: {row.number}",
    ]:
        assert expected in text, f"{expected!r} not in the PDF text:\n{text}"
    assert text.count("2,01") >= 2
    assert ksef is None, "FA(3) is for Polish sellers only"
    assert mail.subject == f"Счёт-фактура № {row.number}" and mail.language == "ru"
    assert [a["content_type"] for a in mail.attachments] == ["application/pdf"]


def test_english_invoice_for_a_foreign_buyer_states_vat_in_pln(seller_settings) -> None:
    data = pl_request(
        "export-1",
        language="en",
        currency="EUR",
        exchange_rate="4.2537",
        buyer={
            "name": "Muster GmbH",
            "address": "Hauptstraße 1",
            "postal_code": "10115",
            "city": "Berlin",
            "country": "DE",
            "tax_id": "DE136695976",
            "email": "ap@example.test",
        },
    )
    row, mail, pdf, ksef = issue(seller_settings("PL"), data)
    text = pdf_text(pdf)
    for expected in [
        f"VAT invoice No. {row.number}",
        "Issue date",
        "Date of supply",
        "Tax ID (NIP): 1234563218",
        "VAT ID: DE136695976",
        "Total 449.98 85.50 535.48",
        # 85.50 EUR × 4.2537 = 363.69 PLN
        "VAT in PLN (rate 4.2537): 363.69 PLN",
        "Amount due: 535.48 EUR",
        f"Payment reference: {row.number}",
    ]:
        assert expected in text, f"{expected!r} not in the PDF text:\n{text}"
    assert mail.subject == f"Invoice {row.number}"
    fa = etree.fromstring(ksef)
    assert fa.findtext(f"{{{FA3}}}Fa/{{{FA3}}}P_14_1W") == "342.42"  # 80.50 × 4.2537 = 342.42285
    ident = fa.find(f"{{{FA3}}}Podmiot2/{{{FA3}}}DaneIdentyfikacyjne")
    assert [child.tag.split("}")[1] for child in ident] == ["KodUE", "NrVatUE", "Nazwa"]


@pytest.mark.parametrize(("country", "factory"), [("PL", pl_request), ("RU", ru_request)])
def test_factur_x_xml_reads_back_with_the_same_totals(seller_settings, country, factory) -> None:
    row, _mail, pdf, _ksef = issue(seller_settings(country), factory())
    filename, xml = get_xml_from_pdf(pdf, check_xsd=True)
    assert filename == "factur-x.xml"
    root = etree.fromstring(xml)

    def value(path: str) -> str:
        found = root.findtext(path, namespaces=CII)
        assert found is not None, path
        return found

    totals = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/"
    totals += "ram:SpecifiedTradeSettlementHeaderMonetarySummation/"
    assert value("rsm:ExchangedDocument/ram:ID") == row.number
    assert (
        value("rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID")
        == "urn:cen.eu:en16931:2017"
    )
    assert Decimal(value(totals + "ram:TaxBasisTotalAmount")) == row.total_net
    assert Decimal(value(totals + "ram:TaxTotalAmount")) == row.total_vat
    assert Decimal(value(totals + "ram:GrandTotalAmount")) == row.total_gross
    assert Decimal(value(totals + "ram:DuePayableAmount")) == row.total_gross
    taxes = root.findall(
        "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax",
        namespaces=CII,
    )
    assert sum(Decimal(t.findtext("ram:CalculatedAmount", namespaces=CII)) for t in taxes) == (
        row.total_vat
    )
    # and our own reader (accounts payable) finds the same invoice in it
    read = read_invoice_xml(xml)
    assert read is not None and read.syntax == "cii" and not read.invalid
    assert read.values["invoice_number"] == row.number
    assert read.values["total_gross"] == row.total_gross


def test_ksef_fa3_round_trip_through_our_reader(seller_settings) -> None:
    row, _mail, _pdf, ksef = issue(seller_settings("PL"), pl_request())
    read = read_invoice_xml(ksef)
    assert read is not None and read.syntax == "ksef" and not read.invalid
    values = read.values
    assert values["invoice_number"] == row.number
    assert values["issue_date"] == row.issue_date and values["sale_date"] == row.sale_date
    assert values["due_date"] == row.due_date
    assert (values["seller_tax_id"], values["buyer_tax_id"]) == ("1234563218", "5260001246")
    assert values["iban"] == "PL61109010140000071219812874"
    assert (values["total_net"], values["total_tax"], values["total_gross"]) == (
        row.total_net,
        row.total_vat,
        row.total_gross,
    )
    assert [(r.rate, r.net, r.tax) for r in values["tax_breakdown"]] == [
        ("23", Decimal("349.99"), Decimal("80.50")),
        ("5", Decimal("99.99"), Decimal("5.00")),
    ]
    assert [(line.description, line.net, line.tax_rate) for line in read.lines] == [
        ("Usługa wdrożeniowa", Decimal("200.00"), "23"),
        ("Książka „Faktury w praktyce”", Decimal("99.99"), "5"),
        ("Szkolenie", Decimal("149.99"), "23"),
    ]


def test_ksef_fa3_structure_follows_the_schema_order(seller_settings) -> None:
    _row, _mail, _pdf, ksef = issue(seller_settings("PL"), pl_request())
    root = etree.fromstring(ksef)

    def names(node) -> list[str]:
        return [etree.QName(child).localname for child in node]

    assert etree.QName(root).namespace == FA3
    assert names(root) == ["Naglowek", "Podmiot1", "Podmiot2", "Fa"]
    header = root.find(f"{{{FA3}}}Naglowek")
    code = header.find(f"{{{FA3}}}KodFormularza")
    assert (code.text, code.get("kodSystemowy"), code.get("wersjaSchemy")) == (
        "FA",
        "FA (3)",
        "1-0E",
    )
    assert header.findtext(f"{{{FA3}}}WariantFormularza") == "3"
    assert names(root.find(f"{{{FA3}}}Podmiot2"))[-2:] == ["JST", "GV"]
    fa = names(root.find(f"{{{FA3}}}Fa"))
    assert fa[:4] == ["KodWaluty", "P_1", "P_2", "P_6"]
    assert fa[4:9] == ["P_13_1", "P_14_1", "P_13_3", "P_14_3", "P_15"]
    assert fa[9:11] == ["Adnotacje", "RodzajFaktury"]
    assert fa.count("FaWiersz") == 3
    assert fa[-2:] == ["Platnosc", "WarunkiTransakcji"]
    row = root.find(f"{{{FA3}}}Fa/{{{FA3}}}FaWiersz")
    assert names(row) == ["NrWierszaFa", "P_7", "P_8A", "P_8B", "P_9A", "P_11", "P_12"]
