"""Structured invoices shaped like the public examples others write (Peppol, EN 16931, XRechnung,
ZUGFeRD, KSeF): several tax registrations, payment means and terms, VAT in a second currency,
prepaid amounts, KSeF zero-filled rates and payment marks, hostile numbers.

Each fixture is a small document written here that reproduces one shape; none is copied.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from backoffice.invoices import extract
from backoffice.invoices.model import ExtractionResult

UBL_NS = (
    'xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" '
    'xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" '
    'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"'
)
CII_NS = (
    'xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100" '
    'xmlns:ram="urn:un:unece:uncefact:data:standard:'
    'ReusableAggregateBusinessInformationEntity:100" '
    'xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"'
)
FA2_NS = "http://crd.gov.pl/wzor/2023/06/29/12648/"
FA3_NS = "http://crd.gov.pl/wzor/2025/06/25/13775/"
FA1_NS = "http://crd.gov.pl/wzor/2021/11/29/11089/"
VALID_DE_IBAN = "DE89370400440532013000"
VALID_PL_NRB = "61109010140000071219812874"


def _read(tmp_path: Path, xml: str) -> ExtractionResult:
    path = tmp_path / "invoice.xml"
    path.write_text(xml, encoding="utf-8")
    result = extract(path)
    assert result.source is not None and result.source.value == "xml", result.problems
    return result


def _ubl(body: str, *, type_code: str = "380", currency: str = "EUR") -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Invoice {UBL_NS}>'
        f"<cbc:ID>UBL-7</cbc:ID><cbc:IssueDate>2024-05-02</cbc:IssueDate>"
        f"<cbc:InvoiceTypeCode>{type_code}</cbc:InvoiceTypeCode>"
        f"<cbc:DocumentCurrencyCode>{currency}</cbc:DocumentCurrencyCode>{body}</Invoice>"
    )


def test_ubl_vat_total_in_the_document_currency_when_the_tax_currency_comes_first(
    tmp_path: Path,
) -> None:
    result = _read(
        tmp_path,
        _ubl(
            '<cac:TaxTotal><cbc:TaxAmount currencyID="SEK">2275.40</cbc:TaxAmount></cac:TaxTotal>'
            '<cac:TaxTotal><cbc:TaxAmount currencyID="EUR">200.00</cbc:TaxAmount><cac:TaxSubtotal>'
            '<cbc:TaxableAmount currencyID="EUR">800.00</cbc:TaxableAmount>'
            '<cbc:TaxAmount currencyID="EUR">200.00</cbc:TaxAmount>'
            "<cac:TaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>25</cbc:Percent></cac:TaxCategory>"
            "</cac:TaxSubtotal></cac:TaxTotal>"
            '<cac:LegalMonetaryTotal><cbc:TaxExclusiveAmount currencyID="EUR">800.00'
            '</cbc:TaxExclusiveAmount><cbc:TaxInclusiveAmount currencyID="EUR">1000.00'
            "</cbc:TaxInclusiveAmount>"
            '<cbc:PrepaidAmount currencyID="EUR">300.00</cbc:PrepaidAmount>'
            '<cbc:PayableRoundingAmount currencyID="EUR">0.40</cbc:PayableRoundingAmount>'
            '<cbc:PayableAmount currencyID="EUR">700.40</cbc:PayableAmount>'
            "</cac:LegalMonetaryTotal>"
        ),
    )
    assert result.value("total_tax") == Decimal("200.00")
    assert [(r.rate, r.net, r.tax) for r in result.value("tax_breakdown")] == [
        ("25", Decimal("800.00"), Decimal("200.00"))
    ]
    assert result.value("total_gross") == Decimal("1000.00")
    assert result.value("amount_due") == Decimal("700.40")


def test_ubl_vat_registration_chosen_over_other_tax_schemes(tmp_path: Path) -> None:
    result = _read(
        tmp_path,
        _ubl(
            "<cac:AccountingSupplierParty><cac:Party>"
            "<cac:PartyTaxScheme><cbc:CompanyID>201/113/40209</cbc:CompanyID>"
            "<cac:TaxScheme><cbc:ID>FC</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>"
            "<cac:PartyTaxScheme><cbc:CompanyID>DE 136 695 976</cbc:CompanyID>"
            "<cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>"
            "<cac:PartyLegalEntity><cbc:RegistrationName>Nord GmbH</cbc:RegistrationName>"
            "</cac:PartyLegalEntity></cac:Party></cac:AccountingSupplierParty>"
        ),
    )
    assert result.value("seller_tax_id") == "DE136695976"
    assert result.fields["seller_tax_id"].confidence == 1.0
    assert result.value("seller_name") == "Nord GmbH"


def test_ubl_payee_account_and_due_date_from_later_payment_means_and_terms(
    tmp_path: Path,
) -> None:
    result = _read(
        tmp_path,
        _ubl(
            "<cac:PaymentMeans><cbc:PaymentMeansCode>48</cbc:PaymentMeansCode></cac:PaymentMeans>"
            "<cac:PaymentMeans><cbc:PaymentMeansCode>30</cbc:PaymentMeansCode>"
            "<cac:PayeeFinancialAccount><cbc:ID>DE00 1234 5678 9012 3456 78</cbc:ID>"
            "</cac:PayeeFinancialAccount></cac:PaymentMeans>"
            "<cac:PaymentMeans><cbc:PaymentMeansCode>58</cbc:PaymentMeansCode>"
            f"<cac:PayeeFinancialAccount><cbc:ID>{VALID_DE_IBAN}</cbc:ID>"
            "</cac:PayeeFinancialAccount></cac:PaymentMeans>"
            "<cac:PaymentTerms><cbc:Note>14 days net</cbc:Note></cac:PaymentTerms>"
            "<cac:PaymentTerms><cbc:PaymentDueDate>2024-05-16</cbc:PaymentDueDate></cac:PaymentTerms>"
        ),
    )
    assert result.value("iban") == VALID_DE_IBAN
    assert result.fields["iban"].confidence == 1.0
    assert result.value("due_date") == dt.date(2024, 5, 16)


def test_ubl_credit_note_type_codes_beyond_381(tmp_path: Path) -> None:
    assert _read(tmp_path, _ubl("", type_code="261")).kind.value == "credit_note"
    assert _read(tmp_path, _ubl("", type_code="384")).kind.value == "invoice"


def _cii(agreement: str, settlement: str, *, type_code: str = "380") -> str:
    # Other prefixes than the usual rsm/ram/udt on purpose: only local names count.
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><rsm:CrossIndustryInvoice {CII_NS}>'
        f"<rsm:ExchangedDocument><ram:ID>CII-9</ram:ID><ram:TypeCode>{type_code}</ram:TypeCode>"
        '<ram:IssueDateTime><udt:DateTimeString format="102">20240502</udt:DateTimeString>'
        "</ram:IssueDateTime></rsm:ExchangedDocument><rsm:SupplyChainTradeTransaction>"
        f"<ram:ApplicableHeaderTradeAgreement>{agreement}</ram:ApplicableHeaderTradeAgreement>"
        "<ram:ApplicableHeaderTradeSettlement><ram:InvoiceCurrencyCode>GBP</ram:InvoiceCurrencyCode>"
        f"{settlement}</ram:ApplicableHeaderTradeSettlement>"
        "</rsm:SupplyChainTradeTransaction></rsm:CrossIndustryInvoice>"
    )
    for usual, other in (("rsm", "inv"), ("ram", "a")):
        xml = xml.replace(f"{usual}:", f"{other}:").replace(f"xmlns:{usual}=", f"xmlns:{other}=")
    return xml


def test_cii_vat_id_over_local_tax_number_and_vat_total_in_invoice_currency(
    tmp_path: Path,
) -> None:
    xml = _cii(
        "<ram:SellerTradeParty><ram:Name>Sud AG</ram:Name>"
        '<ram:SpecifiedTaxRegistration><ram:ID schemeID="FC">201/113/40209</ram:ID>'
        "</ram:SpecifiedTaxRegistration>"
        '<ram:SpecifiedTaxRegistration><ram:ID schemeID="VA">DE136695976</ram:ID>'
        "</ram:SpecifiedTaxRegistration></ram:SellerTradeParty>",
        "<ram:TaxCurrencyCode>EUR</ram:TaxCurrencyCode>"
        "<ram:SpecifiedTradeSettlementHeaderMonetarySummation>"
        "<ram:TaxBasisTotalAmount>100.00</ram:TaxBasisTotalAmount>"
        '<ram:TaxTotalAmount currencyID="EUR">22.44</ram:TaxTotalAmount>'
        '<ram:TaxTotalAmount currencyID="GBP">19.00</ram:TaxTotalAmount>'
        "<ram:GrandTotalAmount>119.00</ram:GrandTotalAmount>"
        "<ram:TotalPrepaidAmount>50.00</ram:TotalPrepaidAmount>"
        "<ram:DuePayableAmount>69.00</ram:DuePayableAmount>"
        "</ram:SpecifiedTradeSettlementHeaderMonetarySummation>",
    )
    assert "<a:ID>CII-9</a:ID>" in xml and "ram:" not in xml
    result = _read(tmp_path, xml)
    assert result.value("invoice_number") == "CII-9"
    assert result.value("seller_tax_id") == "DE136695976"
    assert result.value("currency") == "GBP"
    assert result.value("total_tax") == Decimal("19.00")
    assert result.value("amount_due") == Decimal("69.00")


def test_cii_payee_account_and_due_date_from_later_means_and_terms(tmp_path: Path) -> None:
    xml = _cii(
        "<ram:SellerTradeParty><ram:Name>Sud AG</ram:Name></ram:SellerTradeParty>",
        # Direct debit first: the debtor account is the buyer's and must not be read.
        "<ram:SpecifiedTradeSettlementPaymentMeans><ram:TypeCode>59</ram:TypeCode>"
        "<ram:PayerPartyDebtorFinancialAccount><ram:IBANID>GB29NWBK60161331926819</ram:IBANID>"
        "</ram:PayerPartyDebtorFinancialAccount></ram:SpecifiedTradeSettlementPaymentMeans>"
        "<ram:SpecifiedTradeSettlementPaymentMeans><ram:TypeCode>58</ram:TypeCode>"
        f"<ram:PayeePartyCreditorFinancialAccount><ram:IBANID>{VALID_DE_IBAN[:4]} "
        f"{VALID_DE_IBAN[4:]}</ram:IBANID></ram:PayeePartyCreditorFinancialAccount>"
        "</ram:SpecifiedTradeSettlementPaymentMeans>"
        "<ram:SpecifiedTradePaymentTerms><ram:Description>2% within 10 days</ram:Description>"
        "</ram:SpecifiedTradePaymentTerms>"
        "<ram:SpecifiedTradePaymentTerms><ram:DueDateDateTime>"
        '<udt:DateTimeString format="102">20240601</udt:DateTimeString></ram:DueDateDateTime>'
        "</ram:SpecifiedTradePaymentTerms>",
    )
    result = _read(tmp_path, xml)
    assert result.value("iban") == VALID_DE_IBAN
    assert result.value("due_date") == dt.date(2024, 6, 1)


def test_cii_hostile_numbers_are_missing_fields_not_a_crash(tmp_path: Path) -> None:
    xml = _cii(
        "<ram:SellerTradeParty><ram:Name>Sud AG</ram:Name></ram:SellerTradeParty>",
        "<ram:ApplicableTradeTax><ram:CalculatedAmount>NaN</ram:CalculatedAmount>"
        "<ram:BasisAmount>100</ram:BasisAmount><ram:CategoryCode>S</ram:CategoryCode>"
        "<ram:RateApplicablePercent>sNaN</ram:RateApplicablePercent></ram:ApplicableTradeTax>"
        "<ram:SpecifiedTradeSettlementHeaderMonetarySummation>"
        "<ram:GrandTotalAmount>Infinity</ram:GrandTotalAmount>"
        "<ram:DuePayableAmount>1,234.00</ram:DuePayableAmount>"
        "</ram:SpecifiedTradeSettlementHeaderMonetarySummation>",
    )
    result = _read(tmp_path, xml)
    assert [(p.code, p.field) for p in result.problems] == [
        ("XML_VALUE_INVALID", "total_gross"),
        ("XML_VALUE_INVALID", "amount_due"),
    ]
    assert "'1,234.00'" in result.problems[1].message
    assert "total_gross" not in result.fields and "amount_due" not in result.fields
    assert [(r.rate, r.net, r.tax) for r in result.value("tax_breakdown")] == [
        ("S", Decimal("100"), None)
    ]


def _ksef(namespace: str, fa: str, *, buyer: str = "<NIP>5260250274</NIP>") -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Faktura xmlns="{namespace}">'
        "<Podmiot1><DaneIdentyfikacyjne><NIP>5260001246</NIP><Nazwa>Hurt Sp. z o.o.</Nazwa>"
        "</DaneIdentyfikacyjne></Podmiot1>"
        f"<Podmiot2><DaneIdentyfikacyjne>{buyer}<Nazwa>Klient</Nazwa></DaneIdentyfikacyjne>"
        f"</Podmiot2><Fa><KodWaluty>PLN</KodWaluty><P_1>2024-05-02</P_1><P_2>FV/1/05/2024</P_2>"
        f"{fa}</Fa></Faktura>"
    )


def test_ksef_fa2_paid_invoice_owes_nothing_and_zero_filled_rates_are_not_rates(
    tmp_path: Path,
) -> None:
    result = _read(
        tmp_path,
        _ksef(
            FA2_NS,
            "<P_13_1>100.00</P_13_1><P_14_1>23.00</P_14_1><P_13_2>0</P_13_2><P_14_2>0</P_14_2>"
            "<P_13_3>0</P_13_3><P_14_3>0</P_14_3><P_13_7>50.00</P_13_7><P_15>173.00</P_15>"
            "<RodzajFaktury>VAT</RodzajFaktury>"
            "<Platnosc><Zaplacono>1</Zaplacono><DataZaplaty>2024-05-02</DataZaplaty></Platnosc>",
        ),
    )
    assert [(r.rate, r.net, r.tax) for r in result.value("tax_breakdown")] == [
        ("23", Decimal("100.00"), Decimal("23.00")),
        ("zw", Decimal("50.00"), Decimal("0.00")),
    ]
    assert result.value("total_net") == Decimal("150.00")
    assert result.value("total_tax") == Decimal("23.00")
    assert result.value("total_gross") == Decimal("173.00")
    assert result.value("amount_due") == Decimal("0")


def test_ksef_fa3_partial_payments_foreign_buyer_and_later_account(tmp_path: Path) -> None:
    result = _read(
        tmp_path,
        _ksef(
            FA3_NS,
            "<P_13_1>1000.00</P_13_1><P_14_1>230.00</P_14_1><P_15>1230.00</P_15>"
            "<RodzajFaktury>VAT</RodzajFaktury><Platnosc>"
            "<ZnacznikZaplatyCzesciowej>1</ZnacznikZaplatyCzesciowej>"
            "<ZaplataCzesciowa><KwotaZaplatyCzesciowej>200.00</KwotaZaplatyCzesciowej>"
            "<DataZaplatyCzesciowej>2024-04-20</DataZaplatyCzesciowej></ZaplataCzesciowa>"
            "<ZaplataCzesciowa><KwotaZaplatyCzesciowej>30.00</KwotaZaplatyCzesciowej>"
            "<DataZaplatyCzesciowej>2024-04-25</DataZaplatyCzesciowej></ZaplataCzesciowa>"
            "<TerminPlatnosci><TerminOpis><Ilosc>14</Ilosc><Jednostka>dni</Jednostka>"
            "<ZdarzeniePoczatkowe>wystawienie</ZdarzeniePoczatkowe></TerminOpis></TerminPlatnosci>"
            "<TerminPlatnosci><Termin>2024-05-16</Termin></TerminPlatnosci>"
            "<RachunekBankowy><NrRB>00 1111 2222 3333 4444 5555 6666</NrRB></RachunekBankowy>"
            f"<RachunekBankowy><NrRB>{VALID_PL_NRB}</NrRB></RachunekBankowy></Platnosc>",
            buyer="<KodKraju>UA</KodKraju><NrID>3012345678</NrID>",
        ),
    )
    assert result.value("amount_due") == Decimal("1000.00")
    assert result.value("buyer_tax_id") == "3012345678"
    assert result.value("due_date") == dt.date(2024, 5, 16)
    assert result.value("iban") == "PL" + VALID_PL_NRB


def test_ksef_fa1_full_name_and_zero_rate(tmp_path: Path) -> None:
    xml = _ksef(
        FA1_NS,
        "<P_13_6>500.00</P_13_6><P_15>500.00</P_15><RodzajFaktury>VAT</RodzajFaktury>",
    ).replace("<Nazwa>Hurt Sp. z o.o.</Nazwa>", "<PelnaNazwa>Hurt Sp. z o.o.</PelnaNazwa>")
    result = _read(tmp_path, xml)
    assert result.value("seller_name") == "Hurt Sp. z o.o."
    assert [(r.rate, r.net, r.tax) for r in result.value("tax_breakdown")] == [
        ("0", Decimal("500.00"), Decimal("0.00"))
    ]
    assert result.value("amount_due") == Decimal("500.00")
