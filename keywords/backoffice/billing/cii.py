"""The invoice as Factur-X / EN 16931 CII XML, embedded into the PDF by the factur-x library.

Built with lxml in the element order of the Factur-X EN 16931 XSD, checked with
``facturx.xml_check_xsd`` before it is embedded (``generate_from_binary`` checks it again).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from lxml import etree

from backoffice.billing.document import IssuedDocument
from backoffice.billing.model import Party, plain

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
NSMAP = {"rsm": RSM, "ram": RAM, "qdt": QDT, "udt": UDT}
EN16931 = "urn:cen.eu:en16931:2017"
#: UN/ECE rec 20 "one" (piece): the unit code when the printed unit is free text.
UNIT_ONE = "C62"
#: UNTDID 4461: 58 = SEPA credit transfer, 30 = credit transfer.
SEPA_TRANSFER = "58"
CREDIT_TRANSFER = "30"
_SEPA_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CH",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GB",
        "GR",
        "HR",
        "HU",
        "IE",
        "IS",
        "IT",
        "LI",
        "LT",
        "LU",
        "LV",
        "MC",
        "MT",
        "NL",
        "NO",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
        "SM",
        "VA",
    ]
)


def _ram(parent: etree._Element, name: str, text: str | None = None, **attrs: str):
    node = etree.SubElement(parent, f"{{{RAM}}}{name}", attrs)
    if text is not None:
        node.text = text
    return node


def _date(parent: etree._Element, name: str, value) -> None:
    holder = _ram(parent, name)
    node = etree.SubElement(holder, f"{{{UDT}}}DateTimeString", format="102")
    node.text = f"{value:%Y%m%d}"


def _amount(value: Decimal) -> str:
    return f"{value:.2f}"


def category(rate: Decimal) -> str:
    """EN 16931 VAT category: S (standard) above 0 %, Z (zero rated) at 0 %."""
    return "S" if rate > 0 else "Z"


def _party(parent: etree._Element, tag: str, party: Party) -> None:
    node = _ram(parent, tag)
    _ram(node, "Name", party.name)
    address = _ram(node, "PostalTradeAddress")
    if party.postal_code:
        _ram(address, "PostcodeCode", party.postal_code)
    if party.address:
        _ram(address, "LineOne", party.address)
    if party.city:
        _ram(address, "CityName", party.city)
    _ram(address, "CountryID", party.country)
    if party.email:
        uri = _ram(node, "URIUniversalCommunication")
        _ram(uri, "URIID", party.email, schemeID="EM")
    if party.tax_id:
        registration = _ram(node, "SpecifiedTaxRegistration")
        if party.country == "PL":
            _ram(registration, "ID", "PL" + party.tax_id, schemeID="VA")
        elif party.tax_id[:2].isalpha():
            _ram(registration, "ID", party.tax_id, schemeID="VA")
        else:  # ИНН and other national numbers: a tax number, not an EU VAT ID
            _ram(registration, "ID", party.tax_id, schemeID="FC")


def cii_xml(doc: IssuedDocument) -> bytes:
    """The EN 16931 CII XML of an issued invoice."""
    root = etree.Element(f"{{{RSM}}}CrossIndustryInvoice", nsmap=NSMAP)
    context = etree.SubElement(root, f"{{{RSM}}}ExchangedDocumentContext")
    guideline = _ram(context, "GuidelineSpecifiedDocumentContextParameter")
    _ram(guideline, "ID", EN16931)

    header = etree.SubElement(root, f"{{{RSM}}}ExchangedDocument")
    _ram(header, "ID", doc.number)
    _ram(header, "TypeCode", "380")
    _date(header, "IssueDateTime", doc.issue_date)

    transaction = etree.SubElement(root, f"{{{RSM}}}SupplyChainTradeTransaction")
    for n, line in enumerate(doc.lines, 1):
        item = _ram(transaction, "IncludedSupplyChainTradeLineItem")
        _ram(_ram(item, "AssociatedDocumentLineDocument"), "LineID", str(n))
        _ram(_ram(item, "SpecifiedTradeProduct"), "Name", line.description)
        agreement = _ram(item, "SpecifiedLineTradeAgreement")
        _ram(_ram(agreement, "NetPriceProductTradePrice"), "ChargeAmount", plain(line.unit_price))
        delivery = _ram(item, "SpecifiedLineTradeDelivery")
        _ram(delivery, "BilledQuantity", plain(line.quantity), unitCode=UNIT_ONE)
        settlement = _ram(item, "SpecifiedLineTradeSettlement")
        tax = _ram(settlement, "ApplicableTradeTax")
        _ram(tax, "TypeCode", "VAT")
        _ram(tax, "CategoryCode", category(line.vat_rate))
        _ram(tax, "RateApplicablePercent", plain(line.vat_rate))
        summation = _ram(settlement, "SpecifiedTradeSettlementLineMonetarySummation")
        _ram(summation, "LineTotalAmount", _amount(line.net))

    agreement = _ram(transaction, "ApplicableHeaderTradeAgreement")
    _party(agreement, "SellerTradeParty", doc.seller)
    _party(agreement, "BuyerTradeParty", doc.buyer)
    if doc.contract_ref:
        _ram(_ram(agreement, "ContractReferencedDocument"), "IssuerAssignedID", doc.contract_ref)

    delivery = _ram(transaction, "ApplicableHeaderTradeDelivery")
    _date(_ram(delivery, "ActualDeliverySupplyChainEvent"), "OccurrenceDateTime", doc.sale_date)

    settlement = _ram(transaction, "ApplicableHeaderTradeSettlement")
    _ram(settlement, "PaymentReference", doc.payment_reference)
    tax_currency = "PLN" if doc.vat_in_pln(Decimal(0)) is not None else None
    if tax_currency:
        _ram(settlement, "TaxCurrencyCode", tax_currency)
    _ram(settlement, "InvoiceCurrencyCode", doc.currency)
    means = _ram(settlement, "SpecifiedTradeSettlementPaymentMeans")
    sepa = doc.bank.is_iban and doc.bank.account[:2] in _SEPA_COUNTRIES and doc.currency == "EUR"
    _ram(means, "TypeCode", SEPA_TRANSFER if sepa else CREDIT_TRANSFER)
    account = _ram(means, "PayeePartyCreditorFinancialAccount")
    if doc.bank.is_iban:
        _ram(account, "IBANID", doc.bank.account)
    else:
        _ram(account, "ProprietaryID", doc.bank.account)
    if doc.bank.bic:
        institution = _ram(means, "PayeeSpecifiedCreditorFinancialInstitution")
        _ram(institution, "BICID", doc.bank.bic)
    for rate in doc.rates:
        tax = _ram(settlement, "ApplicableTradeTax")
        _ram(tax, "CalculatedAmount", _amount(rate.vat))
        _ram(tax, "TypeCode", "VAT")
        _ram(tax, "BasisAmount", _amount(rate.net))
        _ram(tax, "CategoryCode", category(rate.rate))
        _ram(tax, "RateApplicablePercent", plain(rate.rate))
    terms = _ram(settlement, "SpecifiedTradePaymentTerms")
    _date(terms, "DueDateDateTime", doc.due_date)
    totals = _ram(settlement, "SpecifiedTradeSettlementHeaderMonetarySummation")
    _ram(totals, "LineTotalAmount", _amount(doc.total_net))
    _ram(totals, "TaxBasisTotalAmount", _amount(doc.total_net))
    _ram(totals, "TaxTotalAmount", _amount(doc.total_vat), currencyID=doc.currency)
    pln = doc.vat_in_pln(doc.total_vat)
    if pln is not None:
        _ram(totals, "TaxTotalAmount", _amount(pln), currencyID="PLN")
    _ram(totals, "GrandTotalAmount", _amount(doc.total_gross))
    _ram(totals, "DuePayableAmount", _amount(doc.total_gross))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def check_cii(xml: bytes) -> None:
    """Validate against the Factur-X EN 16931 XSD; raises ``Exception`` when invalid."""
    from facturx import xml_check_xsd

    logging.getLogger("factur-x").setLevel(logging.ERROR)
    xml_check_xsd(xml, flavor="factur-x", level="en16931")


def embed(pdf: bytes, xml: bytes, *, language: str, title: str, author: str) -> bytes:
    """The PDF with the CII XML embedded as Factur-X EN 16931 (PDF/A-3 metadata)."""
    from facturx import generate_from_binary

    check_cii(xml)
    return generate_from_binary(
        pdf,
        xml,
        flavor="factur-x",
        level="en16931",
        check_xsd=True,
        lang=language,
        pdf_metadata={
            "author": author,
            "keywords": "Factur-X, Invoice",
            "title": title,
            "subject": title,
        },
    )
