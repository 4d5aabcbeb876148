"""Plain-language texts of the invoice rules and the correction email, in pl, ru and en.

Each rule's message is a ``Template`` with one text per language; ``render`` fills in the
values found, each formatted the way readers of that language expect (amounts "1 234,56"
in Polish and Russian, "1,234.56" in English; dates "20.08.2026" or "2026-08-20"). A text
missing in a language falls back to English.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

LANGUAGES = ("pl", "ru", "en")
FALLBACK_LANGUAGE = "en"
# NIP as Polish invoices print it: 123-456-78-90.
NIP_GROUPS = (3, 3, 2, 2)
IBAN_GROUP = 4

Value = str | Decimal | dt.date | int


@dataclass(frozen=True)
class Texts:
    """One message in every language the suite writes."""

    pl: str
    ru: str
    en: str

    def in_language(self, language: str | None) -> str:
        """The text in ``language``, English when the suite does not write that language."""
        return getattr(self, language) if language in LANGUAGES else self.en

    def to_json(self) -> dict[str, str]:
        """JSON form: language code to text."""
        return {"pl": self.pl, "ru": self.ru, "en": self.en}


@dataclass(frozen=True)
class Template:
    """A message with ``{placeholders}``, one text per language."""

    pl: str
    ru: str
    en: str

    def render(self, **values: Value | Texts) -> Texts:
        """Fill in ``values``, formatting amounts and dates for each language.

        A value given as ``Texts`` (a field's name, say) is taken in the same language.
        """
        return Texts(
            **{
                language: getattr(self, language).format(
                    **{name: _shown(value, language) for name, value in values.items()}
                )
                for language in LANGUAGES
            }
        )


def format_amount(value: Decimal, language: str) -> str:
    """An amount with two decimals: "1 234,56" (pl, ru) or "1,234.56" (en)."""
    text = f"{value:,.2f}"
    if language == "en":
        return text
    return text.replace(",", "\u00a0").replace(".", ",")


def format_date(value: dt.date, language: str) -> str:
    """A date: "20.08.2026" (pl, ru) or "2026-08-20" (en)."""
    return value.isoformat() if language == "en" else value.strftime("%d.%m.%Y")


def format_tax_id(value: str, scheme: str) -> str:
    """A tax ID as people write it: a Polish NIP grouped 123-456-78-90, others as given."""
    if scheme == "pl_nip" and value.isdigit() and len(value) == sum(NIP_GROUPS):
        parts, start = [], 0
        for size in NIP_GROUPS:
            parts.append(value[start : start + size])
            start += size
        return "-".join(parts)
    return value


def format_iban(value: str) -> str:
    """An IBAN in groups of four: PL61 1090 1014 ..."""
    compact = value.replace(" ", "")
    return " ".join(compact[i : i + IBAN_GROUP] for i in range(0, len(compact), IBAN_GROUP))


def _shown(value: Value | Texts, language: str) -> str:
    if isinstance(value, Texts):
        return value.in_language(language)
    if isinstance(value, Decimal):
        return format_amount(value, language)
    if isinstance(value, dt.date):
        return format_date(value, language)
    return str(value)


# --- names of fields and tax-ID schemes ------------------------------------------------------

FIELD_LABELS = {
    "invoice_number": Texts("numer faktury", "номер счёта", "invoice number"),
    "issue_date": Texts("data wystawienia", "дата выставления", "issue date"),
    "sale_date": Texts("data sprzedaży", "дата отгрузки", "date of supply"),
    "due_date": Texts("termin płatności", "срок оплаты", "due date"),
    "currency": Texts("waluta", "валюта", "currency"),
    "total_net": Texts("suma netto", "сумма без НДС", "net total"),
    "total_tax": Texts("suma VAT", "сумма НДС", "VAT total"),
    "total_gross": Texts("suma brutto", "сумма с НДС", "gross total"),
    "amount_due": Texts("kwota do zapłaty", "сумма к оплате", "amount due"),
    "tax_breakdown": Texts("zestawienie stawek VAT", "расшифровка НДС", "VAT breakdown"),
    "seller_name": Texts("nazwa sprzedawcy", "наименование продавца", "seller's name"),
    "seller_tax_id": Texts("NIP sprzedawcy", "ИНН продавца", "seller's tax ID"),
    "buyer_name": Texts("nazwa nabywcy", "наименование покупателя", "buyer's name"),
    "buyer_tax_id": Texts("NIP nabywcy", "ИНН покупателя", "buyer's tax ID"),
    "iban": Texts("numer rachunku bankowego", "номер банковского счёта", "bank account (IBAN)"),
    "lines": Texts("pozycje faktury", "строки счёта", "invoice lines"),
}
"""How each field is called in a message (a name a sender recognises)."""

SCHEME_NAMES = {
    "pl_nip": Texts("NIP", "NIP", "NIP"),
    "ru_inn": Texts("INN", "ИНН", "INN"),
    "eu_vat": Texts("numer VAT UE", "номер плательщика НДС ЕС", "EU VAT number"),
    "unknown": Texts("numer identyfikacji podatkowej", "налоговый номер", "tax ID"),
}
"""How each tax-ID scheme is called."""

ROLE_NAMES = {
    "seller": Texts("sprzedawcy", "продавца", "seller's"),
    "buyer": Texts("nabywcy", "покупателя", "buyer's"),
}
"""The party a tax ID belongs to, as the word following (pl, ru) or preceding (en) it."""


def field_name(name: str) -> Texts:
    """The people's name of field ``name`` (the name itself when none is known)."""
    return FIELD_LABELS.get(name, Texts(name, name, name))


# --- rule messages ---------------------------------------------------------------------------

TAX_ID_CHECKSUM = Template(
    pl="{scheme} {value} {role} ma błędną sumę kontrolną.",
    ru="У {scheme} {role} {value} неверное контрольное число.",
    en="The {role} {scheme} {value} has a wrong check digit.",
)
IBAN_CHECKSUM = Template(
    pl="Numer rachunku bankowego {value} ma błędną sumę kontrolną.",
    ru="У номера банковского счёта {value} неверное контрольное число.",
    en="The bank account number {value} has a wrong check digit.",
)
NET_PLUS_TAX = Template(
    pl="Suma netto {net} plus VAT {tax} daje {expected}, a faktura podaje brutto {gross}.",
    ru="Сумма без НДС {net} плюс НДС {tax} даёт {expected}, а в счёте итог с НДС {gross}.",
    en="The net total {net} plus VAT {tax} makes {expected}, but the invoice shows a gross "
    "total of {gross}.",
)
LINES_SUM = Template(
    pl="Pozycje faktury sumują się do {expected} netto, a faktura podaje sumę netto {net}.",
    ru="Строки счёта в сумме дают {expected} без НДС, а в счёте итог без НДС {net}.",
    en="The invoice lines add up to {expected} net, but the invoice shows a net total of {net}.",
)
BREAKDOWN_SUM = Template(
    pl="Zestawienie stawek VAT sumuje się do {expected} ({what}), a faktura podaje {total}.",
    ru="Расшифровка НДС по ставкам даёт {expected} ({what}), а в счёте {total}.",
    en="The VAT breakdown adds up to {expected} ({what}), but the invoice shows {total}.",
)
RATE_TAX = Template(
    pl="VAT {rate}% od {net} to {expected}, a faktura podaje {tax}.",
    ru="НДС {rate}% от {net} составляет {expected}, а в счёте {tax}.",
    en="VAT at {rate}% of {net} is {expected}, but the invoice shows {tax}.",
)
VAT_RATE_INVALID = Template(
    pl="Stawka VAT {rate} nie obowiązuje w kraju {country} w dniu {date}.",
    ru="Ставка НДС {rate} не применяется в стране {country} на дату {date}.",
    en="The VAT rate {rate} is not a valid rate in {country} on {date}.",
)
DUE_BEFORE_ISSUE = Template(
    pl="Termin płatności {due} jest wcześniejszy niż data wystawienia {issue}.",
    ru="Срок оплаты {due} раньше даты выставления {issue}.",
    en="The due date {due} is before the issue date {issue}.",
)
DATE_IN_FUTURE = Template(
    pl="Data {date} ({name}) jest w przyszłości.",
    ru="Дата {date} ({name}) ещё не наступила.",
    en="The {name} {date} is in the future.",
)
SALE_AFTER_ISSUE = Template(
    pl="Data sprzedaży {sale} jest o ponad {days} dni późniejsza niż data wystawienia {issue}.",
    ru="Дата отгрузки {sale} более чем на {days} дней позже даты выставления {issue}.",
    en="The date of supply {sale} is more than {days} days after the issue date {issue}.",
)
REQUIRED_FIELD_MISSING = Template(
    pl="Na fakturze brakuje pola: {name}.",
    ru="В счёте не указано: {name}.",
    en="The invoice does not show the {name}.",
)
BUYER_NOT_US = Template(
    pl="Faktura jest wystawiona na nabywcę o numerze {value}, który nie jest naszym numerem.",
    ru="Счёт выставлен на покупателя с номером {value}, это не наш налоговый номер.",
    en="The invoice is made out to the buyer tax ID {value}, which is not ours.",
)
DUPLICATE_NUMBER = Template(
    pl="Faktura {number} od sprzedawcy {seller} została już otrzymana ({earlier}).",
    ru="Счёт {number} от продавца {seller} уже был получен ({earlier}).",
    en="Invoice {number} from seller {seller} was already received ({earlier}).",
)
DUPLICATE_FILE = Template(
    pl="Ten sam plik został już otrzymany ({earlier}).",
    ru="Этот же файл уже был получен ({earlier}).",
    en="The very same file was already received ({earlier}).",
)
BANK_ACCOUNT_CHANGED = Template(
    pl="Rachunek bankowy {value} różni się od znanego rachunku sprzedawcy {seller}: {known}.",
    ru="Банковский счёт {value} отличается от известного счёта продавца {seller}: {known}.",
    en="The bank account {value} differs from the account known for seller {seller}: {known}.",
)
LOW_CONFIDENCE = Template(
    pl="Pole {name} odczytano niepewnie (pewność {confidence}): {value}.",
    ru="Поле «{name}» распознано неуверенно (уверенность {confidence}): {value}.",
    en="The {name} was read with low confidence ({confidence}): {value}.",
)
KIND_NOT_INVOICE = Template(
    pl="Dokument nie jest zwykłą fakturą (rozpoznano: {kind}).",
    ru="Документ не является обычным счётом (распознано: {kind}).",
    en="The document is not a plain invoice (read as: {kind}).",
)
READ_PROBLEM = Template(
    pl="Problem przy odczycie dokumentu: {message}",
    ru="Проблема при чтении документа: {message}",
    en="A problem reading the document: {message}",
)
RULE_FAILED = Template(
    pl="Reguła {rule} nie mogła zostać sprawdzona: {error}",
    ru="Правило {rule} не удалось проверить: {error}",
    en="The rule {rule} could not be checked: {error}",
)

# Polish continues the greeting's sentence in lower case; Russian and English start anew.
# --- the correction email --------------------------------------------------------------------

CORRECTION_SUBJECT = Template(
    pl="Prośba o korektę faktury {number}",
    ru="Просьба исправить счёт {number}",
    en="Correction needed: invoice {number}",
)
CORRECTION_GREETING = Texts("Dzień dobry,", "Здравствуйте!", "Hello,")
CORRECTION_INTRO = Template(
    pl="dziękujemy za fakturę {number} z dnia {date}. Zanim będziemy mogli ją przyjąć, "
    "prosimy o poprawienie następujących rzeczy:",
    ru="Благодарим за счёт {number} от {date}. Прежде чем мы сможем его принять, просим "
    "исправить следующее:",
    en="Thank you for invoice {number} of {date}. Before we can accept it, please correct "
    "the following:",
)
CORRECTION_INTRO_UNDATED = Template(
    pl="dziękujemy za fakturę {number}. Zanim będziemy mogli ją przyjąć, prosimy o "
    "poprawienie następujących rzeczy:",
    ru="Благодарим за счёт {number}. Прежде чем мы сможем его принять, просим исправить следующее:",
    en="Thank you for invoice {number}. Before we can accept it, please correct the following:",
)
CORRECTION_REQUEST = Texts(
    "Prosimy o przesłanie poprawionej faktury (lub faktury korygującej) w odpowiedzi na tę "
    "wiadomość.",
    "Пожалуйста, пришлите исправленный счёт в ответ на это письмо.",
    "Please send a corrected invoice in reply to this message.",
)
CORRECTION_CLOSING = Texts(
    "Z poważaniem\nDział księgowości",
    "С уважением,\nбухгалтерия",
    "Kind regards,\nAccounts payable",
)
UNNUMBERED = Texts("bez numeru", "без номера", "without a number")
