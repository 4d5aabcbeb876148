"""Field labels as printed on invoices in Polish, Russian, English and German.

Each entry is a regular expression (case-insensitive). Listing them in one place keeps the
extractor template-free: it looks for *meaning* (a label) near a *shape* (a date, an amount,
a tax ID), whatever the layout.
"""

from __future__ import annotations

import re
import re._casefix as _casefix
from collections.abc import Iterator
from functools import lru_cache

_FLAGS = re.IGNORECASE


# Characters that IGNORECASE matches beyond plain lower-casing (long s, dotless i, Greek
# and old Cyrillic variants, ...), as Python's regex compiler lists them; a text holding
# one is matched the slow exact way. Basic Latin and Cyrillic letters lower-case plainly.
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzабвгдежзийклмнопрстуфхцчшщъыьэюяё")
_EXTRA_CASE = "".join(
    sorted({chr(c) for key, more in _casefix._EXTRA_CASES.items() for c in (key, *more)} - _PLAIN)
)
_NEEDS_EXACT = re.compile(f"[{re.escape(_EXTRA_CASE)}]")
# Upper-case escapes (\W, \S, \D, \B, \A, \Z) change meaning when lower-cased.
_UPPER_ESCAPE = re.compile(r"\\[A-Z]")


# The extractor asks a dozen labels about the same line and cell texts.
@lru_cache(maxsize=4096)
def _lowered(text: str) -> str | None:
    """``text`` lower-cased, or None when the lower-cased text cannot stand in for it."""
    lowered = text.lower()
    if len(lowered) == len(text) and not _NEEDS_EXACT.search(lowered):
        return lowered
    return None


class Label:
    """A case-insensitive label pattern that runs on the lower-cased text.

    Python's IGNORECASE folds the case of every character it tries, and alternations of
    folded literals get no fast first-character scan: the same pattern lower-cased, on the
    lower-cased text, finds the same matches three times faster. Texts whose lower-casing
    changes their length (so positions would move) or that hold a character IGNORECASE
    treats specially use the exact IGNORECASE pattern. Match positions are those of the
    given text; matched groups are lower-cased.
    """

    __slots__ = ("_exact", "_lower", "pattern")

    def __init__(self, source: str) -> None:
        if _UPPER_ESCAPE.search(source) or _NEEDS_EXACT.search(source.lower()):
            raise ValueError(f"label pattern cannot be lower-cased: {source}")
        self.pattern = source
        self._exact = re.compile(source, _FLAGS)
        self._lower = re.compile(source.lower())

    def _pick(self, text: str) -> tuple[re.Pattern[str], str]:
        lowered = _lowered(text)
        if lowered is None:
            return self._exact, text
        return self._lower, lowered

    def search(self, text: str) -> re.Match[str] | None:
        """The first match in ``text``, as ``re.Pattern.search`` with IGNORECASE."""
        # _pick written out: the extractor calls this a few hundred times a document.
        lowered = _lowered(text)
        if lowered is None:
            return self._exact.search(text)
        return self._lower.search(lowered)

    def match(self, text: str) -> re.Match[str] | None:
        """A match at the start of ``text``, as ``re.Pattern.match`` with IGNORECASE."""
        pattern, subject = self._pick(text)
        return pattern.match(subject)

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        """All matches in ``text``, as ``re.Pattern.finditer`` with IGNORECASE."""
        pattern, subject = self._pick(text)
        return pattern.finditer(subject)


def _compile(*patterns: str) -> Label:
    return Label("|".join(f"(?:{pattern})" for pattern in patterns))


INVOICE_NUMBER = _compile(
    r"faktur[ay]\s+(?:vat\s+)?(?:korygując[aej]+\s+)?(?:vat\s+)?(?:nr|numer)\.?",
    r"korekt[ay]\s+(?:faktury\s+)?nr\.?",
    r"faktura\s+(?:vat|pro\s*forma)(?=\s*[:#]?\s*[A-Z0-9]*\d)",
    r"n(?:ume)?r\.?\s+faktury",
    r"(?:invoice|credit\s+note|debit\s+note|bill)\s*(?:no\.?|number|num\.?|#|nr\.?|id)",
    r"(?:document|doc\.?)\s*(?:no\.?|number|#)",
    r"rechnungs?\s*-?\s*(?:nummer|nr\.?)",
    r"(?:gutschrift|rechnung|beleg)\s*(?:nr\.?|nummer)",
    r"(?:корректировочный\s+)?сч[её]т[\s-]*фактура\s*№?",
    r"сч[её]т\s+на\s+оплату\s*№?",
    r"сч[её]т\s*№",
    r"инвойс\s*№?",
    r"номер\s+(?:сч[её]та|документа)",
)
# Bare document titles followed directly by the number ("Invoice INV-1", "Faktura 12/2026").
INVOICE_TITLE = _compile(
    r"^(?:faktura|invoice|rechnung|gutschrift|credit\s+note|сч[её]т)\s*[:#№]?\s*(?=[A-Z0-9/-]*\d)",
)
# A title alone in its cell, the number on the line below ("Faktura VAT" / "nr 12/2026").
INVOICE_TITLE_ALONE = _compile(
    r"^(?:faktura(?:\s+vat)?|invoice|tax\s+invoice|rechnung|сч[её]т(?:[\s-]*фактура)?)\s*$",
)

ISSUE_DATE = _compile(
    r"data\s+(?:wystawienia|faktury|dokumentu)",
    r"miejsce\s+i\s+data\s+wystawienia",
    r"(?:invoice|issue|document)\s+date",
    r"date\s+of\s+(?:issue|invoice)",
    r"date\s+issued",
    r"rechnungsdatum",
    r"ausstellungsdatum",
    r"belegdatum",
    r"дата\s+(?:выставления|сч[её]та|составления|документа)",
    r"issued(?:\s+on)?",
)
# "... nr 12 z dnia", "№ 12 от", "dated", "vom": the date of whatever was just named,
# the invoice in its title line, but as often a contract or an order in a description.
ISSUE_DATE_AFTER_NUMBER = _compile(
    r"z\s+dnia",
    r"(?<=\d)\s+от",
    r"(?<=\w)\s+(?:dated|vom)",
)
ISSUE_DATE_GENERIC = _compile(r"^(?:date|datum|data|дата)\s*:")

SALE_DATE = _compile(
    r"data\s+(?:sprzedaży|sprzedazy|dostawy|wykonania\s+usługi|dokonania\s+dostawy|zakończenia\s+dostawy)",
    r"(?:delivery|supply|service|sale)\s+date",
    r"date\s+of\s+(?:supply|delivery|service|sale)",
    r"tax\s+point",
    r"leistungsdatum",
    r"lieferdatum",
    r"liefer-\s*/?\s*leistungsdatum",
    r"дата\s+(?:поставки|отгрузки|оказания\s+услуг|реализации)",
)
DUE_DATE = _compile(
    r"termin\s+(?:płatności|platnosci|zapłaty|zaplaty)",
    r"płatne\s+do",
    r"zapłacić\s+do",
    r"(?:payment\s+)?due\s+(?:date|by|on)",
    r"payment\s+due",
    r"date\s+due",
    r"pay\s+by",
    r"fällig(?:keitsdatum|\s+am|\s+bis)?",
    r"zahlbar\s+(?:ohne\s+abzug\s+)?bis(?:\s+zum)?",
    r"zahlungsziel",
    r"срок\s+оплаты",
    r"оплатить\s+(?:до|не\s+позднее)",
    r"оплата\s+до",
)

GROSS = _compile(
    r"(?:wartość|wartosc|suma|kwota|razem)\s+brutto",
    r"brutto",
    r"grand\s+total",
    r"total\s+(?:amount|incl|gross|invoice|including|with)",
    r"invoice\s+total",
    r"^total\b",
    r"\btotal\s*:",
    r"gesamt(?:betrag|summe)",
    r"rechnungsbetrag",
    r"bruttobetrag",
    r"endbetrag",
    r"summe\s+brutto",
    r"(?:итого|всего)\s+(?:с|c|включая)\s+ндс",
    r"(?:итого|всего)(?!\s+(?:без|к\s+оплате))",
    r"^razem\b",
    r"\bsumma\b",
)
DUE = _compile(
    r"(?:pozostało|razem|kwota)?\s*do\s+zapłaty",
    r"do\s+zaplaty",
    r"(?:amount|balance|total)\s+(?:due|payable)",
    r"to\s+pay",
    r"zu\s+zahlen",
    r"zahlbetrag",
    r"(?:итого|всего)?\s*к\s+оплате",
)
NET = _compile(
    r"(?:wartość|wartosc|suma|kwota|razem)\s+netto",
    r"netto",
    r"sub\s*-?total",
    r"(?:total\s+)?net(?:\s+(?:amount|total|value))?(?!\w)",
    r"total\s+(?:excl|without|before)",
    r"nettobetrag",
    r"zwischensumme",
    r"(?:итого|всего|сумма)\s+без\s+ндс",
)
TAX = _compile(
    r"(?:kwota|podatek|razem|suma|wartość)\s+vat",
    r"\bvat\b",
    r"\b(?:sales\s+)?tax\b",
    r"\bust\b",
    r"\bmwst\b",
    r"umsatzsteuer",
    r"mehrwertsteuer",
    r"ндс",
)

SELLER = _compile(
    r"sprzedawca",
    r"sprzedający",
    r"wystawca",
    r"dostawca",
    r"seller",
    r"supplier",
    r"vendor",
    r"^from\b",
    r"issued\s+by",
    r"bill\s+from",
    r"продавец",
    r"поставщик",
    r"исполнитель",
    r"verkäufer",
    r"lieferant",
    r"rechnungssteller",
    r"auftragnehmer",
)
BUYER = _compile(
    r"nabywca",
    r"kupujący",
    r"płatnik",
    r"buyer",
    r"customer",
    r"bill(?:ed)?\s+to",
    r"sold\s+to",
    r"^client\b",
    r"^to\b",
    r"покупатель",
    r"заказчик",
    r"плательщик",
    r"käufer",
    r"kunde",
    r"rechnungsempfänger",
    r"auftraggeber",
)
TAX_ID_LABEL = _compile(
    r"nip",
    r"vat\s*(?:id|no\.?|number|reg)",
    r"tax\s*id",
    r"ust\.?\s*-?\s*id(?:nr)?\.?",
    r"steuer\s*-?\s*(?:nr|nummer)",
    r"инн",
    r"regon",
)
IBAN_LABEL = _compile(
    r"iban",
    r"(?:nr\.?|numer)?\s*(?:konta|rachunku)",
    r"account",
    r"bankverbindung",
    r"konto",
    r"р/с",
    r"расч[её]тный\s+сч[её]т",
)
CURRENCY_LABEL = _compile(r"waluta", r"currency", r"währung", r"валюта")
ITEMS_HEADER = {
    "description": _compile(
        r"nazwa",
        r"opis",
        r"towar",
        r"usług",
        r"description",
        r"item",
        r"product",
        r"service",
        r"наименование",
        r"товар",
        r"услуг",
        r"bezeichnung",
        r"artikel",
        r"beschreibung",
        r"leistung",
    ),
    "quantity": _compile(
        r"ilość", r"ilosc", r"\bil\.", r"qty", r"quantity", r"кол", r"menge", r"anzahl"
    ),
    "unit_price": _compile(
        r"cena", r"unit\s*price", r"\bprice\b", r"rate\b", r"цена", r"einzelpreis", r"preis"
    ),
    "net": _compile(
        r"netto",
        r"\bnet\b",
        r"amount",
        r"без\s+ндс",
        r"стоимость",
        r"сумма",
        r"betrag",
        r"wartość",
        r"gesamt",
    ),
    "tax_rate": _compile(
        r"stawka", r"vat\s*%", r"%", r"tax\s+rate", r"ставка", r"ust\s*%", r"mwst", r"vat\b"
    ),
    "gross": _compile(r"brutto", r"gross", r"с\s+ндс", r"total"),
}
TOTALS_ROW = _compile(
    r"^razem",
    r"^total",
    r"^итого",
    r"^всего",
    r"^summe",
    r"^gesamt",
    r"^subtotal",
    r"^w\s+tym",
    r"^suma",
    r"^в\s+т",
)

CREDIT_NOTE = _compile(
    r"faktura\s+korygująca",
    r"korekta\s+faktury",
    r"nota\s+uznaniowa",
    r"credit\s+note",
    r"gutschrift",
    r"stornorechnung",
    r"корректировочный\s+сч[её]т",
    r"кредит[\s-]+нота",
)
INVOICE_WORDS = _compile(
    r"faktura",
    r"rachunek",
    r"invoice",
    r"rechnung",
    r"сч[её]т",
    r"счет-фактура",
    r"bill\b",
    r"инвойс",
)
