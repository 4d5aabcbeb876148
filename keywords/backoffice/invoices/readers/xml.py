"""Structured e-invoices: CII (Factur-X/ZUGFeRD 2.x/XRechnung), ZUGFeRD 1.0, UBL 2.1 / Peppol
BIS 3, KSeF FA, and the Russian FNS счёт-фактура / УПД XML (formats 5.01, 5.02, 5.03).

XML comes from senders we do not trust, so it is parsed with defusedxml only: DTDs with
entities (billion laughs) and external references (XXE) are refused with XML_UNSAFE.
Elements are matched by local name, so namespace versions and prefixes (FA(2) vs FA(3), CII
D16B vs D22B, ``ubl:``/``ns0:``/default namespaces) need no separate code.

Checked against public examples written by others (Peppol BIS 3, CEN EN 16931, XRechnung test
suite, FeRD ZUGFeRD samples, KSeF FA(2)/FA(3)): a document may carry several tax registrations,
payment means and payment terms, the VAT total a second time in the VAT accounting currency, a
prepaid amount and a rounding amount, and KSeF per-rate fields filled with zeros; each is read
for what it means, not taken first-come.

ZUGFeRD 1.0 (``rsm:CrossIndustryDocument``) is CII under older element names, so one CII reader
takes a table of those names. The FNS XML (root ``Файл``, ``Документ/СвСчФакт``; usually
windows-1251, which the XML declaration names and the parser honours) keeps its values in
attributes; a document is known by its structure, not by its ``ИдФайл``, because EDO operators
and 1C name files in their own ways. A seller's КПП and Russian settlement account (р/с) have
no field in our model (``iban`` holds IBANs only, as for printed Russian invoices), so they are
left out rather than put where they do not belong.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import defusedxml.ElementTree as SafeET
import pycountry
from defusedxml import DefusedXmlException

from backoffice.invoices.errors import XmlInvalid, XmlUnsafe
from backoffice.invoices.ids import classify_tax_id, iban_is_valid, normalise_tax_id
from backoffice.invoices.model import Kind, LineItem, Problem, TaxRate

# Problem code of a structured field whose text is not what its element holds (an amount that
# is not a number, a date that is not a date): the field is left out and staff see why.
XML_VALUE_INVALID = "XML_VALUE_INVALID"
# How much of a bad value a problem message quotes (the rest is the sender's, not ours to echo).
QUOTE_LIMIT = 40

# Confidence of a value read from a structured field: exact unless its checksum fails.
XML_CONFIDENCE = 1.0
XML_INVALID_CHECKSUM_CONFIDENCE = 0.9

CII_ROOT = "CrossIndustryInvoice"
ZUGFERD1_ROOT = "CrossIndustryDocument"
FNS_ROOT = "Файл"
UBL_ROOTS = ("Invoice", "CreditNote")
KSEF_ROOT = "Faktura"
# UNTDID 1001 document types EN 16931 counts as credit notes (BT-3); every other code is an
# invoice (380, 384 corrected invoice, 389 self-billed invoice, 386 prepayment invoice, ...).
CREDIT_NOTE_TYPE_CODES = frozenset(
    ("81", "83", "261", "262", "296", "308", "381", "396", "420", "458", "532")
)
KSEF_CORRECTION_KINDS = ("KOR", "KOR_ZAL", "KOR_ROZ")
# Scheme of a VAT registration: CII schemeID "VA" (BT-31/BT-48), UBL TaxScheme ID "VAT".
CII_VAT_SCHEME = "VA"
UBL_VAT_SCHEME = "VAT"
KSEF_PAID = "1"

# FNS: the rate printed for goods without VAT (УСН payers, exempt supplies), as printed.
FNS_NO_VAT = "без НДС"
# "20/120": the VAT share of a gross amount (advances, agents); its nominal rate is the first.
_FNS_CALCULATED_RATE = re.compile(r"(\d+(?:[.,]\d+)?)\s*/\s*1\d\d")
_FNS_PERCENT = re.compile(r"(\d+(?:[.,]\d+)?)\s*%?")
# The party element under ИдСв: organisation, sole trader (ИП), person, foreign organisation
# (СвЮЛ/СвФЛ in the 2013 format).
FNS_PARTY_KINDS = ("СвЮЛУч", "СвЮЛ", "СвИП", "СвФЛУч", "СвФЛ", "СвИнНеУч")
FNS_SOLE_TRADER = "СвИП"
FNS_SOLE_TRADER_PREFIX = "ИП"
# ISO 4217 codes that name no money: 999 "no currency" and 963 "for testing".
NOT_CURRENCIES = ("XXX", "XTS")

# KSeF per-rate fields: (net element, VAT element, rate as printed).
KSEF_RATES = (
    ("P_13_1", "P_14_1", "23"),
    ("P_13_2", "P_14_2", "8"),
    ("P_13_3", "P_14_3", "5"),
    ("P_13_4", "P_14_4", "4"),
    ("P_13_5", "P_14_5", "oss"),
    ("P_13_6", None, "0"),
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
    problems: list[Problem] = field(default_factory=list)

    def money(self, name: str, node: ET.Element | None, path: str | None = None) -> Decimal | None:
        """Amount field ``name`` at ``path`` under ``node`` (or ``node`` itself).

        A text that is no amount becomes a problem and the field is left out.
        """
        raw = text(node, path) if path else own_text(node)
        return self._checked(name, raw, decimal_of, "an amount")

    def date(
        self,
        name: str,
        raw: str | None,
        parse: Callable[[str | None], dt.date | None] | None = None,
    ) -> dt.date | None:
        """Date field ``name`` (ISO/CII 102 unless ``parse`` says); no date becomes a problem."""
        return self._checked(name, raw, parse or iso_date, "a date")

    def money_text(self, name: str, raw: str | None) -> Decimal | None:
        """Amount field ``name`` from ``raw`` (an attribute value); no amount becomes a problem."""
        return self._checked(name, raw, decimal_of, "an amount")

    def _checked(self, name, raw, parse, what):  # type: ignore[no-untyped-def]
        if raw is None:
            return None
        value = parse(raw)
        if value is None:
            quoted = raw[:QUOTE_LIMIT] + ("..." if len(raw) > QUOTE_LIMIT else "")
            self.problems.append(
                Problem(
                    XML_VALUE_INVALID,
                    f"the XML gives {quoted!r} for {name}, which is not {what}; "
                    "the field was left out",
                    name,
                )
            )
        return value


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
    return own_text(find(node, path))


def own_text(node: ET.Element | None) -> str | None:
    """Stripped text of ``node`` itself, or None when it has none."""
    if node is None or node.text is None or not node.text.strip():
        return None
    return node.text.strip()


def amount(node: ET.Element | None, path: str) -> Decimal | None:
    """Decimal value of the element at ``path`` (XML uses "." and no grouping)."""
    return decimal_of(text(node, path))


def decimal_of(raw: str | None) -> Decimal | None:
    """A finite Decimal from XML text, or None (NaN, Infinity and garbage are not amounts)."""
    if raw is None:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


_DATE_102 = re.compile(r"(\d{4})(\d{2})(\d{2})")
_DATE_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


def iso_date(raw: str | None) -> dt.date | None:
    """A date in CII format 102 (YYYYMMDD) or ISO (YYYY-MM-DD, maybe with a time or zone after)."""
    if raw is None:
        return None
    raw = raw.strip()
    match = _DATE_ISO.match(raw) or _DATE_102.fullmatch(raw[:8])
    if match is None:
        return None
    try:
        return dt.date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


_DATE_RU = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")


def ru_date(raw: str | None) -> dt.date | None:
    """A date written dd.mm.yyyy, as the FNS formats do."""
    match = _DATE_RU.fullmatch(raw.strip()) if raw else None
    if match is None:
        return None
    day, month, year = (int(part) for part in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def first_text(nodes: list[ET.Element], path: str) -> str | None:
    """Text at ``path`` under the first of ``nodes`` that has one."""
    return next((found for node in nodes if (found := text(node, path))), None)


def with_currency(elements: list[ET.Element], currency: str | None) -> ET.Element | None:
    """The amount element stated in ``currency`` (BT-110 vs BT-111), else one without a currency."""
    if not elements:
        return None
    for element in elements:
        if currency and element.get("currencyID") == currency:
            return element
    return next((e for e in elements if not e.get("currencyID")), elements[0])


def syntax_of(root: ET.Element) -> str | None:
    """ "cii", "zugferd1", "ubl", "ksef", "fns" or None for an XML we do not read as an invoice."""
    name = local(root.tag)
    if name == CII_ROOT:
        return "cii"
    if name == ZUGFERD1_ROOT:
        return "zugferd1"
    if name == FNS_ROOT and find(root, "Документ") is not None:
        return "fns"
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
        return _read_cii(root, CII_NAMES)
    if syntax == "zugferd1":
        return _read_cii(root, ZUGFERD1_NAMES)
    if syntax == "fns":
        return _read_fns(root)
    if syntax == "ubl":
        return _read_ubl(root)
    if syntax == "ksef":
        return _read_ksef(root)
    return None


def _rate(raw: Decimal | None) -> str | None:
    if raw is None:
        return None
    return format(raw.normalize(), "f") if raw == raw.to_integral() else format(raw, "f")


def _tax_id(result: XmlInvoice, name: str, raw: str | None, country_hint: str | None) -> None:
    if raw is None:
        return
    compact = normalise_tax_id(raw)
    _, valid = classify_tax_id(compact, country_hint)
    result.values[name] = compact
    if not valid:
        result.invalid[name] = "checksum"


def _iban(result: XmlInvoice, candidates: list[str]) -> None:
    """The payee account: the first valid IBAN of the payment means, else the first one given."""
    accounts = []
    for raw in candidates:
        compact = raw.replace(" ", "").upper()
        if compact.isdigit() and len(compact) == 26:
            # A Polish NRB is an IBAN without its "PL".
            compact = "PL" + compact
        accounts.append(compact)
    if not accounts:
        return
    valid = [account for account in accounts if iban_is_valid(account)]
    result.values["iban"] = valid[0] if valid else accounts[0]
    if not valid:
        result.invalid["iban"] = "checksum"


def _kind(type_code: str | None) -> Kind:
    return Kind.CREDIT_NOTE if type_code in CREDIT_NOTE_TYPE_CODES else Kind.INVOICE


@dataclass(frozen=True)
class CiiNames:
    """Element names that differ between CII D16B+ (ZUGFeRD 2.x, Factur-X) and ZUGFeRD 1.0."""

    syntax: str
    document: str
    transaction: str
    agreement: str
    delivery: str
    settlement: str
    summation: str
    percent: str
    line_agreement: str
    line_delivery: str
    line_settlement: str
    line_summation: str


CII_NAMES = CiiNames(
    syntax="cii",
    document="ExchangedDocument",
    transaction="SupplyChainTradeTransaction",
    agreement="ApplicableHeaderTradeAgreement",
    delivery="ApplicableHeaderTradeDelivery",
    settlement="ApplicableHeaderTradeSettlement",
    summation="SpecifiedTradeSettlementHeaderMonetarySummation",
    percent="RateApplicablePercent",
    line_agreement="SpecifiedLineTradeAgreement",
    line_delivery="SpecifiedLineTradeDelivery",
    line_settlement="SpecifiedLineTradeSettlement",
    line_summation="SpecifiedTradeSettlementLineMonetarySummation",
)
ZUGFERD1_NAMES = CiiNames(
    syntax="zugferd1",
    document="HeaderExchangedDocument",
    transaction="SpecifiedSupplyChainTradeTransaction",
    agreement="ApplicableSupplyChainTradeAgreement",
    delivery="ApplicableSupplyChainTradeDelivery",
    settlement="ApplicableSupplyChainTradeSettlement",
    summation="SpecifiedTradeSettlementMonetarySummation",
    percent="ApplicablePercent",
    line_agreement="SpecifiedSupplyChainTradeAgreement",
    line_delivery="SpecifiedSupplyChainTradeDelivery",
    line_settlement="SpecifiedSupplyChainTradeSettlement",
    line_summation="SpecifiedTradeSettlementMonetarySummation",
)


def _read_cii(root: ET.Element, names: CiiNames) -> XmlInvoice:
    document = find(root, names.document)
    result = XmlInvoice(names.syntax, _kind(text(document, "TypeCode")))
    values = result.values
    values["invoice_number"] = text(document, "ID")
    values["issue_date"] = result.date("issue_date", text(document, "IssueDateTime/DateTimeString"))
    transaction = find(root, names.transaction)
    agreement = find(transaction, names.agreement)
    for role, party_name in (("seller", "SellerTradeParty"), ("buyer", "BuyerTradeParty")):
        party = find(agreement, party_name)
        values[f"{role}_name"] = text(party, "Name")
        registrations = [
            found
            for reg in find_all(party, "SpecifiedTaxRegistration")
            if (found := find(reg, "ID")) is not None and found.text and found.text.strip()
        ]
        # The VAT ID (schemeID "VA") over a local tax number ("FC"), whatever their order.
        registrations.sort(key=lambda reg: reg.get("schemeID", "").upper() != CII_VAT_SCHEME)
        raw_id = registrations[0].text.strip() if registrations else None
        _tax_id(result, f"{role}_tax_id", raw_id, None)
    delivery = find(transaction, names.delivery)
    values["sale_date"] = iso_date(
        text(delivery, "ActualDeliverySupplyChainEvent/OccurrenceDateTime/DateTimeString")
    )
    settlement = find(transaction, names.settlement)
    currency = text(settlement, "InvoiceCurrencyCode")
    values["currency"] = currency
    # Only IBANID is an IBAN: ProprietaryID holds national account numbers (a Russian
    # settlement account), and the debtor account of a direct debit is the buyer's.
    accounts = find_all(settlement, "SpecifiedTradeSettlementPaymentMeans")
    _iban(
        result,
        [
            iban
            for item in accounts
            if (iban := text(item, "PayeePartyCreditorFinancialAccount/IBANID"))
        ],
    )
    values["due_date"] = result.date(
        "due_date",
        first_text(
            find_all(settlement, "SpecifiedTradePaymentTerms"), "DueDateDateTime/DateTimeString"
        ),
    )
    summation = find(settlement, names.summation)
    values["total_net"] = result.money("total_net", summation, "TaxBasisTotalAmount")
    # BT-110 in the invoice currency; BT-111 repeats the VAT in the VAT accounting currency.
    tax_total = with_currency(find_all(summation, "TaxTotalAmount"), currency)
    values["total_tax"] = result.money("total_tax", tax_total)
    values["total_gross"] = result.money("total_gross", summation, "GrandTotalAmount")
    values["amount_due"] = result.money("amount_due", summation, "DuePayableAmount")
    rates = [
        TaxRate(
            rate=_rate(amount(tax, names.percent)) or text(tax, "CategoryCode") or "",
            net=amount(tax, "BasisAmount"),
            tax=amount(tax, "CalculatedAmount"),
        )
        for tax in find_all(settlement, "ApplicableTradeTax")
    ]
    values["tax_breakdown"] = tuple(rates) if rates else None
    for item in find_all(transaction, "IncludedSupplyChainTradeLineItem"):
        line_settlement = find(item, names.line_settlement)
        result.lines.append(
            LineItem(
                description=text(item, "SpecifiedTradeProduct/Name") or "",
                quantity=amount(item, f"{names.line_delivery}/BilledQuantity"),
                unit_price=amount(
                    item, f"{names.line_agreement}/NetPriceProductTradePrice/ChargeAmount"
                ),
                net=amount(line_settlement, f"{names.line_summation}/LineTotalAmount"),
                tax_rate=_rate(amount(line_settlement, f"ApplicableTradeTax/{names.percent}")),
            )
        )
    return result


def _ubl_tax_id(party: ET.Element | None) -> str | None:
    """BT-31/BT-48: the VAT PartyTaxScheme, else another tax scheme, else the legal ID."""
    schemes = [
        (text(scheme, "TaxScheme/ID") or "", company_id)
        for scheme in find_all(party, "PartyTaxScheme")
        if (company_id := text(scheme, "CompanyID"))
    ]
    schemes.sort(key=lambda item: item[0].upper() != UBL_VAT_SCHEME)
    if schemes:
        return schemes[0][1]
    return text(party, "PartyLegalEntity/CompanyID")


def _read_ubl(root: ET.Element) -> XmlInvoice:
    is_credit = local(root.tag) == "CreditNote"
    type_code = text(root, "InvoiceTypeCode") or text(root, "CreditNoteTypeCode")
    kind = Kind.CREDIT_NOTE if is_credit else _kind(type_code)
    result = XmlInvoice("ubl", kind)
    values = result.values
    values["invoice_number"] = text(root, "ID")
    values["issue_date"] = result.date("issue_date", text(root, "IssueDate"))
    means = find_all(root, "PaymentMeans")
    values["due_date"] = result.date(
        "due_date",
        text(root, "DueDate")
        or first_text(means, "PaymentDueDate")
        or first_text(find_all(root, "PaymentTerms"), "PaymentDueDate"),
    )
    values["sale_date"] = iso_date(
        text(root, "Delivery/ActualDeliveryDate") or text(root, "TaxPointDate")
    )
    currency = text(root, "DocumentCurrencyCode")
    values["currency"] = currency
    for role, party_path in (
        ("seller", "AccountingSupplierParty/Party"),
        ("buyer", "AccountingCustomerParty/Party"),
    ):
        party = find(root, party_path)
        values[f"{role}_name"] = text(party, "PartyLegalEntity/RegistrationName") or text(
            party, "PartyName/Name"
        )
        _tax_id(result, f"{role}_tax_id", _ubl_tax_id(party), None)
    _iban(result, [iban for item in means if (iban := text(item, "PayeeFinancialAccount/ID"))])
    totals = find(root, "LegalMonetaryTotal")
    values["total_net"] = result.money("total_net", totals, "TaxExclusiveAmount")
    values["total_gross"] = result.money("total_gross", totals, "TaxInclusiveAmount")
    values["amount_due"] = result.money("amount_due", totals, "PayableAmount")
    # BT-110 is the TaxTotal in the document currency (the one with the subtotals); a second
    # TaxTotal may state the VAT in the VAT accounting currency (BT-111, TaxCurrencyCode).
    tax_totals = find_all(root, "TaxTotal")
    amounts = [found for total in tax_totals if (found := find(total, "TaxAmount")) is not None]
    values["total_tax"] = result.money("total_tax", with_currency(amounts, currency))
    subtotals = [sub for total in tax_totals for sub in find_all(total, "TaxSubtotal")]
    rates = [
        TaxRate(
            rate=_rate(amount(sub, "TaxCategory/Percent")) or text(sub, "TaxCategory/ID") or "",
            net=amount(sub, "TaxableAmount"),
            tax=amount(sub, "TaxAmount"),
        )
        for sub in subtotals
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


def _ksef_party(result: XmlInvoice, role: str, ident: ET.Element | None) -> None:
    # FA(1) names the party PelnaNazwa, FA(2)/FA(3) Nazwa.
    result.values[f"{role}_name"] = text(ident, "Nazwa") or text(ident, "PelnaNazwa")
    raw_id = text(ident, "NIP")
    if raw_id is None and text(ident, "NrVatUE"):
        # An EU buyer: the VAT number is written without its country code (KodUE).
        raw_id = (text(ident, "KodUE") or "") + (text(ident, "NrVatUE") or "")
    if raw_id is None:
        # A buyer outside the EU: its own tax ID as issued (NrID, country in KodKraju).
        raw_id = text(ident, "NrID")
    _tax_id(result, f"{role}_tax_id", raw_id, "pl")


def _ksef_amount_due(invoice: ET.Element | None, gross: Decimal | None) -> Decimal | None:
    """P_15 less what the invoice says was paid: all of it (Zaplacono) or in parts."""
    if gross is None:
        return None
    payment = find(invoice, "Platnosc")
    if text(payment, "Zaplacono") == KSEF_PAID:
        return Decimal("0.00")
    parts = [
        paid
        for part in find_all(payment, "ZaplataCzesciowa")
        if (paid := amount(part, "KwotaZaplatyCzesciowej")) is not None
    ]
    return gross - sum(parts, Decimal(0)) if parts else gross


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
        _ksef_party(result, role, find(root, f"{path}/DaneIdentyfikacyjne"))
    values["currency"] = text(invoice, "KodWaluty")
    values["issue_date"] = result.date("issue_date", text(invoice, "P_1"))
    values["invoice_number"] = text(invoice, "P_2")
    values["sale_date"] = iso_date(text(invoice, "P_6"))
    values["total_gross"] = result.money("total_gross", invoice, "P_15")
    rates = []
    net_total = Decimal(0)
    tax_total = Decimal(0)
    found_any = False
    for net_name, tax_name, rate in KSEF_RATES:
        net = amount(invoice, net_name)
        if net is None:
            continue
        found_any = True
        tax = amount(invoice, tax_name) if tax_name else Decimal("0.00")
        net_total += net
        tax_total += tax or 0
        # Generators fill every rate's fields with zeros: a rate with nothing at it is not one.
        if net or tax:
            rates.append(TaxRate(rate=rate, net=net, tax=tax))
    values["tax_breakdown"] = tuple(rates) if rates else None
    if found_any:
        values["total_net"] = net_total
        values["total_tax"] = tax_total
    payment = find(invoice, "Platnosc")
    values["due_date"] = result.date(
        "due_date", first_text(find_all(payment, "TerminPlatnosci"), "Termin")
    )
    _iban(
        result,
        [nrb for account in find_all(payment, "RachunekBankowy") if (nrb := text(account, "NrRB"))],
    )
    values["amount_due"] = _ksef_amount_due(invoice, values["total_gross"])
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


def _fns_rate(raw: str | None) -> str | None:
    """НалСт as our rate: "20%" -> "20", "20/120" -> "20", "без НДС" kept as printed."""
    if raw is None or not raw.strip():
        return None
    raw = raw.strip()
    match = _FNS_CALCULATED_RATE.fullmatch(raw) or _FNS_PERCENT.fullmatch(raw)
    if match is None:
        return raw  # "без НДС", "НДС исчисляется налоговым агентом": words, as printed
    return _rate(Decimal(match.group(1).replace(",", ".")))


def _fns_tax(result: XmlInvoice, name: str, node: ET.Element | None) -> Decimal | None:
    """A СумНал-type element: an amount in <СумНал>, or zero when it says <БезНДС>."""
    if node is None:
        return None
    if find(node, "СумНал") is not None:
        return result.money(name, node, "СумНал")
    if find(node, "БезНДС") is not None:
        return Decimal(0)
    return None


def _fns_party(result: XmlInvoice, role: str, party: ET.Element | None) -> None:
    """Name and ИНН of СвПрод/СвПокуп: organisation, sole trader (as "ИП Фамилия Имя Отчество")."""
    ident = next(
        (node for kind in FNS_PARTY_KINDS if (node := find(party, f"ИдСв/{kind}")) is not None),
        None,
    )
    if ident is None:
        return
    name = ident.get("НаимОрг")
    if not name:
        person = find(ident, "ФИО")
        if person is not None:
            parts = (person.get(key) for key in ("Фамилия", "Имя", "Отчество"))
            name = " ".join(part.strip() for part in parts if part and part.strip())
        else:
            name = ident.get("ФИО")  # the 2013 format wrote the name as one attribute
        if name and local(ident.tag) == FNS_SOLE_TRADER:
            name = f"{FNS_SOLE_TRADER_PREFIX} {name}"
    result.values[f"{role}_name"] = name.strip() if name and name.strip() else None
    _tax_id(result, f"{role}_tax_id", ident.get("ИННЮЛ") or ident.get("ИННФЛ"), "ru")


def _fns_currency(result: XmlInvoice, code: str | None) -> str | None:
    """ОКВ numeric code (ISO 4217 numeric) as the ISO letter code; unknown codes are a problem."""
    if code is None or not code.strip():
        return None
    code = code.strip()
    found = pycountry.currencies.get(numeric=code.zfill(3)) if code.isdigit() else None
    if found is None or found.alpha_3 in NOT_CURRENCIES:
        quoted = code[:QUOTE_LIMIT]
        result.problems.append(
            Problem(
                XML_VALUE_INVALID,
                f"the XML gives {quoted!r} as the currency code (КодОКВ), which is not an "
                "ISO 4217 currency; the field was left out",
                "currency",
            )
        )
        return None
    return found.alpha_3


def _read_fns(root: ET.Element) -> XmlInvoice:
    """The seller's title of a счёт-фактура / УПД (Функция СЧФ, СЧФДОП or ДОП)."""
    document = find(root, "Документ")
    invoice = find(document, "СвСчФакт")
    if invoice is None:
        # A buyer's title, a correction (УКД, СвКСчФ), a tax return: FNS, but no invoice here.
        result = XmlInvoice("fns", Kind.NOT_INVOICE)
        file_id = (root.get("ИдФайл") or "")[:QUOTE_LIMIT]
        result.problems.append(
            Problem(
                "NOT_AN_INVOICE",
                f"the XML is a Russian FNS e-document (КНД {document.get('КНД', '?')}, "
                f"ИдФайл {file_id!r}) without a счёт-фактура / УПД (СвСчФакт): not read",
            )
        )
        return result
    result = XmlInvoice("fns", Kind.INVOICE)
    values = result.values
    # 5.01 names them НомерСчФ/ДатаСчФ/КодОКВ; 5.02 (order 970) and 5.03 НомерДок/ДатаДок/ДенИзм.
    number = (invoice.get("НомерСчФ") or invoice.get("НомерДок") or "").strip()
    values["invoice_number"] = number or None
    values["issue_date"] = result.date(
        "issue_date", invoice.get("ДатаСчФ") or invoice.get("ДатаДок"), ru_date
    )
    currency = find(invoice, "ДенИзм")
    values["currency"] = _fns_currency(
        result, invoice.get("КодОКВ") or (currency.get("КодОКВ") if currency is not None else None)
    )
    _fns_party(result, "seller", find(invoice, "СвПрод"))
    _fns_party(result, "buyer", find(invoice, "СвПокуп"))
    transfer = find(document, "СвПродПер/СвПер")
    values["sale_date"] = ru_date(transfer.get("ДатаПер")) if transfer is not None else None
    table = find(document, "ТаблСчФакт")
    totals = find(table, "ВсегоОпл")
    if totals is not None:
        values["total_net"] = result.money_text("total_net", totals.get("СтТовБезНДСВсего"))
        values["total_gross"] = result.money_text("total_gross", totals.get("СтТовУчНалВсего"))
        values["total_tax"] = _fns_tax(result, "total_tax", find(totals, "СумНалВсего"))
    # A УПД carries no payment terms or prepayments: what it asks to be paid is its total.
    values["amount_due"] = values.get("total_gross")
    breakdown: dict[str, list[Decimal | None]] = {}
    for row in find_all(table, "СведТов"):
        rate = _fns_rate(row.get("НалСт"))
        line = LineItem(
            description=(row.get("НаимТов") or "").strip(),
            quantity=decimal_of(row.get("КолТов")),
            unit_price=decimal_of(row.get("ЦенаТов")),
            net=decimal_of(row.get("СтТовБезНДС")),
            tax_rate=rate,
            gross=decimal_of(row.get("СтТовУчНал")),
        )
        result.lines.append(line)
        tax = _fns_tax(result, "tax_breakdown", find(row, "СумНал"))
        sums = breakdown.setdefault(rate or "", [Decimal(0), Decimal(0), Decimal(0)])
        # A rate's sum is unknown (None) as soon as one of its lines does not say.
        for index, part in enumerate((line.net, tax, line.gross)):
            current = sums[index]
            sums[index] = None if current is None or part is None else current + part
    rates = tuple(
        TaxRate(rate=rate, net=net, tax=tax, gross=gross)
        for rate, (net, tax, gross) in breakdown.items()
    )
    values["tax_breakdown"] = rates or None
    return result
