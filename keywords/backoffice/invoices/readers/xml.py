"""Structured e-invoices: CII (Factur-X/ZUGFeRD/XRechnung), UBL 2.1 / Peppol BIS 3, KSeF FA.

XML comes from senders we do not trust, so it is parsed with defusedxml only: DTDs with
entities (billion laughs) and external references (XXE) are refused with XML_UNSAFE.
Elements are matched by local name, so namespace versions (FA(2) vs FA(3), CII D16B vs D22B)
need no separate code.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from backoffice.invoices.errors import XmlInvalid, XmlUnsafe
from backoffice.invoices.ids import classify_tax_id, iban_is_valid, normalise_tax_id
from backoffice.invoices.model import Kind, LineItem, TaxRate

# Confidence of a value read from a structured field: exact unless its checksum fails.
XML_CONFIDENCE = 1.0
XML_INVALID_CHECKSUM_CONFIDENCE = 0.9

CII_ROOT = "CrossIndustryInvoice"
UBL_ROOTS = ("Invoice", "CreditNote")
KSEF_ROOT = "Faktura"
CII_CREDIT_NOTE_CODES = ("381", "396", "532")
UBL_CREDIT_NOTE_CODES = ("381", "396")
KSEF_CORRECTION_KINDS = ("KOR", "KOR_ZAL", "KOR_ROZ")

# KSeF per-rate fields: (net element, VAT element, rate as printed).
KSEF_RATES = (
    ("P_13_1", "P_14_1", "23"),
    ("P_13_2", "P_14_2", "8"),
    ("P_13_3", "P_14_3", "5"),
    ("P_13_4", "P_14_4", "4"),
    ("P_13_5", "P_14_5", "oss"),
    ("P_13_6_1", None, "0"),
    ("P_13_6_2", None, "0 WDT"),
    ("P_13_6_3", None, "0 EX"),
    ("P_13_7", None, "zw"),
    ("P_13_8", None, "np"),
    ("P_13_9", None, "np"),
    ("P_13_10", None, "oo"),
    ("P_13_11", None, "marża"),
)


@dataclass
class XmlInvoice:
    """The fields of a structured invoice; None where the document has no such element."""

    syntax: str
    kind: Kind
    values: dict[str, object] = field(default_factory=dict)
    lines: list[LineItem] = field(default_factory=list)
    invalid: dict[str, str] = field(default_factory=dict)


def parse_xml_bytes(data: bytes) -> ET.Element:
    """Parse untrusted XML, refusing DTD entities and external references."""
    try:
        return SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise XmlUnsafe(
            f"the XML declares entities or external references ({type(exc).__name__}); "
            "it was not read because that can leak files or exhaust memory"
        ) from exc
    except ET.ParseError as exc:
        raise XmlInvalid(f"the XML is not well-formed: {exc}") from exc


def local(tag: str) -> str:
    """Tag name without its namespace."""
    return tag.rsplit("}", 1)[-1]


def children(node: ET.Element | None, name: str) -> Iterator[ET.Element]:
    """Direct children of ``node`` with local name ``name``."""
    if node is None:
        return iter(())
    return (child for child in node if local(child.tag) == name)


def find(node: ET.Element | None, path: str) -> ET.Element | None:
    """First element along a "/"-separated path of local names."""
    current = node
    for step in path.split("/"):
        current = next(children(current, step), None)
        if current is None:
            return None
    return current


def find_all(node: ET.Element | None, path: str) -> list[ET.Element]:
    """All elements along a path of local names (the last step may match many)."""
    *head, last = path.split("/")
    parent = find(node, "/".join(head)) if head else node
    return list(children(parent, last))


def text(node: ET.Element | None, path: str) -> str | None:
    """Stripped text of the element at ``path`` or None."""
    found = find(node, path)
    if found is None or found.text is None or not found.text.strip():
        return None
    return found.text.strip()


def amount(node: ET.Element | None, path: str) -> Decimal | None:
    """Decimal value of the element at ``path`` (XML uses "." and no grouping)."""
    raw = text(node, path)
    if raw is None:
        return None
    try:
        return Decimal(raw)
    except InvalidOperation:
        return None


def iso_date(raw: str | None) -> dt.date | None:
    """A date in CII format 102 (YYYYMMDD) or ISO (YYYY-MM-DD)."""
    if raw is None:
        return None
    digits = raw.replace("-", "")[:8]
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def syntax_of(root: ET.Element) -> str | None:
    """ "cii", "ubl", "ksef" or None for an XML we do not read as an invoice."""
    name = local(root.tag)
    if name == CII_ROOT:
        return "cii"
    if name in UBL_ROOTS and "oasis" in root.tag:
        return "ubl"
    if name == KSEF_ROOT:
        return "ksef"
    return None


def read_invoice_xml(data: bytes) -> XmlInvoice | None:
    """Read a structured invoice; None when the XML is not an invoice syntax we know."""
    root = parse_xml_bytes(data)
    syntax = syntax_of(root)
    if syntax == "cii":
        return _read_cii(root)
    if syntax == "ubl":
        return _read_ubl(root)
    if syntax == "ksef":
        return _read_ksef(root)
    return None


def _rate(raw: Decimal | str | None) -> str | None:
    if raw is None:
        return None
    value = Decimal(raw) if not isinstance(raw, Decimal) else raw
    return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")


def _tax_id(result: XmlInvoice, name: str, raw: str | None, country_hint: str | None) -> None:
    if raw is None:
        return
    compact = normalise_tax_id(raw)
    _, valid = classify_tax_id(compact, country_hint)
    result.values[name] = compact
    if not valid:
        result.invalid[name] = "checksum"


def _iban(result: XmlInvoice, raw: str | None) -> None:
    if raw is None:
        return
    compact = raw.replace(" ", "").upper()
    if compact.isdigit() and len(compact) == 26:
        compact = "PL" + compact
    result.values["iban"] = compact
    if not iban_is_valid(compact):
        result.invalid["iban"] = "checksum"


def _read_cii(root: ET.Element) -> XmlInvoice:
    document = find(root, "ExchangedDocument")
    type_code = text(document, "TypeCode")
    kind = Kind.CREDIT_NOTE if type_code in CII_CREDIT_NOTE_CODES else Kind.INVOICE
    result = XmlInvoice("cii", kind)
    values = result.values
    values["invoice_number"] = text(document, "ID")
    values["issue_date"] = iso_date(text(document, "IssueDateTime/DateTimeString"))
    transaction = find(root, "SupplyChainTradeTransaction")
    agreement = find(transaction, "ApplicableHeaderTradeAgreement")
    for role, party_name in (("seller", "SellerTradeParty"), ("buyer", "BuyerTradeParty")):
        party = find(agreement, party_name)
        values[f"{role}_name"] = text(party, "Name")
        registrations = find_all(party, "SpecifiedTaxRegistration")
        tax_ids = [text(reg, "ID") for reg in registrations if text(reg, "ID")]
        _tax_id(result, f"{role}_tax_id", tax_ids[0] if tax_ids else None, None)
    delivery = find(transaction, "ApplicableHeaderTradeDelivery")
    values["sale_date"] = iso_date(
        text(delivery, "ActualDeliverySupplyChainEvent/OccurrenceDateTime/DateTimeString")
    )
    settlement = find(transaction, "ApplicableHeaderTradeSettlement")
    values["currency"] = text(settlement, "InvoiceCurrencyCode")
    _iban(
        result,
        text(
            settlement,
            "SpecifiedTradeSettlementPaymentMeans/PayeePartyCreditorFinancialAccount/IBANID",
        ),
    )
    values["due_date"] = iso_date(
        text(settlement, "SpecifiedTradePaymentTerms/DueDateDateTime/DateTimeString")
    )
    summation = find(settlement, "SpecifiedTradeSettlementHeaderMonetarySummation")
    values["total_net"] = amount(summation, "TaxBasisTotalAmount")
    values["total_tax"] = amount(summation, "TaxTotalAmount")
    values["total_gross"] = amount(summation, "GrandTotalAmount")
    values["amount_due"] = amount(summation, "DuePayableAmount")
    rates = [
        TaxRate(
            rate=_rate(amount(tax, "RateApplicablePercent")) or text(tax, "CategoryCode") or "",
            net=amount(tax, "BasisAmount"),
            tax=amount(tax, "CalculatedAmount"),
        )
        for tax in find_all(settlement, "ApplicableTradeTax")
    ]
    values["tax_breakdown"] = tuple(rates) if rates else None
    for item in find_all(transaction, "IncludedSupplyChainTradeLineItem"):
        result.lines.append(
            LineItem(
                description=text(item, "SpecifiedTradeProduct/Name") or "",
                quantity=amount(item, "SpecifiedLineTradeDelivery/BilledQuantity"),
                unit_price=amount(
                    item, "SpecifiedLineTradeAgreement/NetPriceProductTradePrice/ChargeAmount"
                ),
                net=amount(
                    item,
                    "SpecifiedLineTradeSettlement/SpecifiedTradeSettlementLineMonetarySummation"
                    "/LineTotalAmount",
                ),
                tax_rate=_rate(
                    amount(
                        item,
                        "SpecifiedLineTradeSettlement/ApplicableTradeTax/RateApplicablePercent",
                    )
                ),
            )
        )
    return result


def _read_ubl(root: ET.Element) -> XmlInvoice:
    is_credit = local(root.tag) == "CreditNote"
    type_code = text(root, "InvoiceTypeCode") or text(root, "CreditNoteTypeCode")
    kind = Kind.CREDIT_NOTE if is_credit or type_code in UBL_CREDIT_NOTE_CODES else Kind.INVOICE
    result = XmlInvoice("ubl", kind)
    values = result.values
    values["invoice_number"] = text(root, "ID")
    values["issue_date"] = iso_date(text(root, "IssueDate"))
    values["due_date"] = iso_date(
        text(root, "DueDate") or text(root, "PaymentMeans/PaymentDueDate")
    )
    values["sale_date"] = iso_date(
        text(root, "Delivery/ActualDeliveryDate") or text(root, "TaxPointDate")
    )
    values["currency"] = text(root, "DocumentCurrencyCode")
    for role, party_path in (
        ("seller", "AccountingSupplierParty/Party"),
        ("buyer", "AccountingCustomerParty/Party"),
    ):
        party = find(root, party_path)
        values[f"{role}_name"] = text(party, "PartyLegalEntity/RegistrationName") or text(
            party, "PartyName/Name"
        )
        _tax_id(
            result,
            f"{role}_tax_id",
            text(party, "PartyTaxScheme/CompanyID") or text(party, "PartyLegalEntity/CompanyID"),
            None,
        )
    _iban(result, text(root, "PaymentMeans/PayeeFinancialAccount/ID"))
    totals = find(root, "LegalMonetaryTotal")
    values["total_net"] = amount(totals, "TaxExclusiveAmount")
    values["total_gross"] = amount(totals, "TaxInclusiveAmount")
    values["amount_due"] = amount(totals, "PayableAmount")
    tax_total = find(root, "TaxTotal")
    values["total_tax"] = amount(tax_total, "TaxAmount")
    rates = [
        TaxRate(
            rate=_rate(amount(sub, "TaxCategory/Percent")) or text(sub, "TaxCategory/ID") or "",
            net=amount(sub, "TaxableAmount"),
            tax=amount(sub, "TaxAmount"),
        )
        for sub in find_all(tax_total, "TaxSubtotal")
    ]
    values["tax_breakdown"] = tuple(rates) if rates else None
    line_name = "CreditNoteLine" if is_credit else "InvoiceLine"
    quantity_name = "CreditedQuantity" if is_credit else "InvoicedQuantity"
    for line in find_all(root, line_name):
        result.lines.append(
            LineItem(
                description=text(line, "Item/Name") or text(line, "Item/Description") or "",
                quantity=amount(line, quantity_name),
                unit_price=amount(line, "Price/PriceAmount"),
                net=amount(line, "LineExtensionAmount"),
                tax_rate=_rate(amount(line, "Item/ClassifiedTaxCategory/Percent")),
            )
        )
    return result


def _read_ksef(root: ET.Element) -> XmlInvoice:
    invoice = find(root, "Fa")
    kind = (
        Kind.CREDIT_NOTE
        if text(invoice, "RodzajFaktury") in KSEF_CORRECTION_KINDS
        else Kind.INVOICE
    )
    result = XmlInvoice("ksef", kind)
    values = result.values
    for role, path in (("seller", "Podmiot1"), ("buyer", "Podmiot2")):
        ident = find(root, f"{path}/DaneIdentyfikacyjne")
        values[f"{role}_name"] = text(ident, "Nazwa")
        raw_id = text(ident, "NIP")
        if raw_id is None and text(ident, "NrVatUE"):
            raw_id = (text(ident, "KodUE") or "") + (text(ident, "NrVatUE") or "")
        _tax_id(result, f"{role}_tax_id", raw_id, "pl")
    values["currency"] = text(invoice, "KodWaluty")
    values["issue_date"] = iso_date(text(invoice, "P_1"))
    values["invoice_number"] = text(invoice, "P_2")
    values["sale_date"] = iso_date(text(invoice, "P_6"))
    values["total_gross"] = amount(invoice, "P_15")
    rates = []
    net_total = Decimal(0)
    tax_total = Decimal(0)
    for net_name, tax_name, rate in KSEF_RATES:
        net = amount(invoice, net_name)
        if net is None:
            continue
        tax = amount(invoice, tax_name) if tax_name else Decimal("0.00")
        rates.append(TaxRate(rate=rate, net=net, tax=tax))
        net_total += net
        tax_total += tax or 0
    values["tax_breakdown"] = tuple(rates) if rates else None
    if rates:
        values["total_net"] = net_total
        values["total_tax"] = tax_total
    payment = find(invoice, "Platnosc")
    values["due_date"] = iso_date(text(payment, "TerminPlatnosci/Termin"))
    _iban(result, text(payment, "RachunekBankowy/NrRB"))
    values["amount_due"] = values["total_gross"]
    for row in find_all(invoice, "FaWiersz"):
        result.lines.append(
            LineItem(
                description=text(row, "P_7") or "",
                quantity=amount(row, "P_8B"),
                unit_price=amount(row, "P_9A"),
                net=amount(row, "P_11"),
                tax_rate=text(row, "P_12"),
                gross=amount(row, "P_11A"),
            )
        )
    return result
