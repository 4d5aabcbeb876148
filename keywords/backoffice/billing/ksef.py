"""The invoice as a KSeF FA(3) XML file (Polish sellers).

Element names and order follow the FA(3) schema (``http://crd.gov.pl/wzor/2025/06/25/13775/``):
``Naglowek``, ``Podmiot1`` (us), ``Podmiot2`` (the buyer, with the FA(3) ``JST``/``GV``
flags), ``Fa`` (``KodWaluty``, ``P_1`` issue date, ``P_2`` number, ``P_6`` sale date,
``P_13_x``/``P_14_x`` net and VAT per rate, ``P_14_xW`` VAT in PLN for a foreign
currency, ``P_15`` amount due, ``Adnotacje``, ``RodzajFaktury``, ``FaWiersz`` lines,
``Platnosc`` with the due date and our account, ``WarunkiTransakcji`` with the contract).
"""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from backoffice.billing.document import IssuedDocument
from backoffice.billing.model import Party, plain

NAMESPACE = "http://crd.gov.pl/wzor/2025/06/25/13775/"
SYSTEM_INFO = "backoffice-robots"
#: VAT rate → (net field, VAT field, VAT-in-PLN field, P_12 code of a line).
RATE_FIELDS: dict[Decimal, tuple[str, str | None, str | None, str]] = {
    Decimal(23): ("P_13_1", "P_14_1", "P_14_1W", "23"),
    Decimal(8): ("P_13_2", "P_14_2", "P_14_2W", "8"),
    Decimal(5): ("P_13_3", "P_14_3", "P_14_3W", "5"),
    Decimal(0): ("P_13_6_1", None, None, "0 KR"),
}
#: FormaPlatnosci 6 = przelew (bank transfer).
BANK_TRANSFER = "6"
#: "1" yes, "2" no; the annotations a plain domestic VAT invoice carries.
_ADNOTACJE = (
    ("P_16", "2"),  # metoda kasowa
    ("P_17", "2"),  # samofakturowanie
    ("P_18", "2"),  # odwrotne obciążenie
    ("P_18A", "2"),  # mechanizm podzielonej płatności
)


def _el(parent: etree._Element, name: str, text: str | None = None, **attrs: str):
    node = etree.SubElement(parent, f"{{{NAMESPACE}}}{name}", attrs)
    if text is not None:
        node.text = text
    return node


def _amount(value: Decimal) -> str:
    return f"{value:.2f}"


def _address(parent: etree._Element, party: Party) -> None:
    address = _el(parent, "Adres")
    _el(address, "KodKraju", party.country)
    _el(address, "AdresL1", party.address or party.city)
    second = " ".join(part for part in (party.postal_code, party.city) if part)
    if second and party.address:
        _el(address, "AdresL2", second)


def _buyer_id(parent: etree._Element, buyer: Party) -> None:
    ident = _el(parent, "DaneIdentyfikacyjne")
    if buyer.country == "PL" and buyer.tax_id:
        _el(ident, "NIP", buyer.tax_id)
    elif buyer.tax_id and buyer.tax_id[:2].isalpha():
        _el(ident, "KodUE", buyer.tax_id[:2])
        _el(ident, "NrVatUE", buyer.tax_id[2:])
    elif buyer.tax_id:
        _el(ident, "KodKraju", buyer.country)
        _el(ident, "NrID", buyer.tax_id)
    else:
        _el(ident, "BrakID", "1")
    _el(ident, "Nazwa", buyer.name)


def ksef_xml(doc: IssuedDocument) -> bytes:
    """The FA(3) XML of an invoice issued by a Polish seller."""
    root = etree.Element(f"{{{NAMESPACE}}}Faktura", nsmap={None: NAMESPACE})
    header = _el(root, "Naglowek")
    _el(header, "KodFormularza", "FA", kodSystemowy="FA (3)", wersjaSchemy="1-0E")
    _el(header, "WariantFormularza", "3")
    _el(header, "DataWytworzeniaFa", doc.issued_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
    _el(header, "SystemInfo", SYSTEM_INFO)

    seller = _el(root, "Podmiot1")
    ident = _el(seller, "DaneIdentyfikacyjne")
    _el(ident, "NIP", doc.seller.tax_id)
    _el(ident, "Nazwa", doc.seller.name)
    _address(seller, doc.seller)

    buyer = _el(root, "Podmiot2")
    _buyer_id(buyer, doc.buyer)
    if doc.buyer.address or doc.buyer.city:
        _address(buyer, doc.buyer)
    if doc.buyer.email:
        _el(_el(buyer, "DaneKontaktowe"), "Email", doc.buyer.email)
    _el(buyer, "JST", "2")  # not a unit of local government
    _el(buyer, "GV", "2")  # not a member of a VAT group

    fa = _el(root, "Fa")
    _el(fa, "KodWaluty", doc.currency)
    _el(fa, "P_1", doc.issue_date.isoformat())
    _el(fa, "P_2", doc.number)
    _el(fa, "P_6", doc.sale_date.isoformat())
    by_rate = {rate.rate: rate for rate in doc.rates}
    # The schema's order: P_13_1, P_14_1, P_14_1W, P_13_2, ... (RATE_FIELDS is in it).
    for rate, (net_field, vat_field, pln_field, _code) in RATE_FIELDS.items():
        total = by_rate.get(rate)
        if total is None:
            continue
        _el(fa, net_field, _amount(total.net))
        if vat_field:
            _el(fa, vat_field, _amount(total.vat))
            pln = doc.vat_in_pln(total.vat)
            if pln is not None and pln_field:
                _el(fa, pln_field, _amount(pln))
    _el(fa, "P_15", _amount(doc.total_gross))
    notes = _el(fa, "Adnotacje")
    for name, value in _ADNOTACJE:
        _el(notes, name, value)
    _el(_el(notes, "Zwolnienie"), "P_19N", "1")
    _el(_el(notes, "NoweSrodkiTransportu"), "P_22N", "1")
    _el(notes, "P_23", "2")
    _el(_el(notes, "PMarzy"), "P_PMarzyN", "1")
    _el(fa, "RodzajFaktury", "VAT")
    for n, line in enumerate(doc.lines, 1):
        row = _el(fa, "FaWiersz")
        _el(row, "NrWierszaFa", str(n))
        _el(row, "P_7", line.description)
        if line.unit:
            _el(row, "P_8A", line.unit)
        _el(row, "P_8B", plain(line.quantity))
        _el(row, "P_9A", plain(line.unit_price))
        _el(row, "P_11", _amount(line.net))
        _el(row, "P_12", RATE_FIELDS[line.vat_rate][3])
    payment = _el(fa, "Platnosc")
    _el(_el(payment, "TerminPlatnosci"), "Termin", doc.due_date.isoformat())
    _el(payment, "FormaPlatnosci", BANK_TRANSFER)
    account = _el(payment, "RachunekBankowy")
    # A Polish account is written as its 26-digit NRB, a foreign one as the full IBAN.
    number = doc.bank.account
    _el(account, "NrRB", number[2:] if number.startswith("PL") else number)
    if doc.bank.bic:
        _el(account, "SWIFT", doc.bank.bic)
    if doc.bank.bank_name:
        _el(account, "NazwaBanku", doc.bank.bank_name)
    if doc.contract_ref:
        terms = _el(fa, "WarunkiTransakcji")
        _el(_el(terms, "Umowy"), "NrUmowy", doc.contract_ref)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
