# ruff: noqa: E501, S311 - XML templates are long literals; random only makes synthetic data
"""A labelled corpus of synthetic invoices for tests and the accuracy benchmark.

Every invoice is random but seeded (the same seed gives the same files), with ground truth
beside it. Layouts differ on purpose (one column, two-column parties, table-heavy headers,
with and without line items, credit notes, Russian "счёт-фактура" and "счёт на оплату",
several VAT rates) so that the extractor is measured on invoices in general, not on one
generator. Variants: text PDFs, scans (rotated, noisy, JPEG, fax-like binarised) and
structured XML (Factur-X PDF, UBL, KSeF FA(3)).

reportlab is needed only here (the ``dev`` extra): the product never writes these files.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from xml.sax.saxutils import escape

FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FONT_BOLD_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
CENT = Decimal("0.01")
A4 = (595.2756, 841.8898)
# Share of invoices with a deliberately wrong tax ID or IBAN checksum (flagged in the truth).
WRONG_TAX_ID_SHARE = 0.08
WRONG_IBAN_SHARE = 0.05

NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)
INN10_WEIGHTS = (2, 4, 10, 3, 5, 9, 4, 6, 8)
INN12_WEIGHTS_1 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
INN12_WEIGHTS_2 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)

# --- random identities with correct (or deliberately wrong) checksums -----------------------


def make_nip(rng: random.Random, valid: bool = True) -> str:
    """A Polish NIP; with ``valid=False`` the check digit is wrong."""
    while True:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(8)]
        check = sum(d * w for d, w in zip(digits, NIP_WEIGHTS, strict=True)) % 11
        if check == 10:
            continue
        if not valid:
            check = (check + rng.randint(1, 9)) % 10
        return "".join(map(str, digits)) + str(check)


def make_inn(rng: random.Random, valid: bool = True, length: int = 10) -> str:
    """A Russian INN of 10 (company) or 12 (person) digits."""
    if length == 10:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(8)]
        check = sum(d * w for d, w in zip(digits, INN10_WEIGHTS, strict=True)) % 11 % 10
        if not valid:
            check = (check + rng.randint(1, 9)) % 10
        return "".join(map(str, digits)) + str(check)
    digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(9)]
    first = sum(d * w for d, w in zip(digits, INN12_WEIGHTS_1, strict=True)) % 11 % 10
    digits.append(first)
    second = sum(d * w for d, w in zip(digits, INN12_WEIGHTS_2, strict=True)) % 11 % 10
    if not valid:
        second = (second + rng.randint(1, 9)) % 10
    return "".join(map(str, digits)) + str(second)


def make_iban(rng: random.Random, country: str, valid: bool = True) -> str:
    """An IBAN with correct ISO 7064 check digits (or wrong ones)."""
    length = {"PL": 24, "DE": 18, "GB": 18}[country]
    if country == "GB":
        bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4))
        bban += "".join(str(rng.randint(0, 9)) for _ in range(14))
    else:
        bban = "".join(str(rng.randint(0, 9)) for _ in range(length))
    numeric = "".join(str(int(ch, 36)) for ch in bban + country) + "00"
    check = 98 - int(numeric) % 97
    if not valid:
        check = (check + rng.randint(1, 50)) % 100
        check = 2 if check < 2 else check
    return f"{country}{check:02d}{bban}"


# --- the invoice as ground truth ------------------------------------------------------------


@dataclass
class Party:
    """Seller or buyer."""

    name: str
    tax_id: str
    tax_id_valid: bool
    address: str
    city: str
    kpp: str = ""


@dataclass
class Item:
    """One line of the invoice."""

    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    rate: int

    @property
    def net(self) -> Decimal:
        """Quantity times unit price."""
        return (self.quantity * self.unit_price).quantize(CENT, ROUND_HALF_UP)

    @property
    def tax(self) -> Decimal:
        """VAT of the line."""
        return (self.net * self.rate / 100).quantize(CENT, ROUND_HALF_UP)


@dataclass
class Invoice:
    """A synthetic invoice: everything a layout prints and the truth to compare with."""

    language: str
    kind: str
    number: str
    issue_date: dt.date
    sale_date: dt.date
    due_date: dt.date
    currency: str
    seller: Party
    buyer: Party
    iban: str | None
    iban_valid: bool
    items: list[Item]
    show_items: bool = True
    paid: Decimal = Decimal(0)

    def rates(self) -> dict[int, tuple[Decimal, Decimal]]:
        """Per-rate net and VAT, rounded per rate as invoices print them."""
        result: dict[int, tuple[Decimal, Decimal]] = {}
        for item in self.items:
            net, _ = result.get(item.rate, (Decimal(0), Decimal(0)))
            result[item.rate] = (net + item.net, Decimal(0))
        return {
            rate: (net, (net * rate / 100).quantize(CENT, ROUND_HALF_UP))
            for rate, (net, _) in sorted(result.items(), reverse=True)
        }

    @property
    def net(self) -> Decimal:
        """Total net."""
        return sum((net for net, _ in self.rates().values()), Decimal(0))

    @property
    def tax(self) -> Decimal:
        """Total VAT."""
        return sum((tax for _, tax in self.rates().values()), Decimal(0))

    @property
    def gross(self) -> Decimal:
        """Total gross."""
        return self.net + self.tax

    @property
    def due(self) -> Decimal:
        """Amount still to pay."""
        return self.gross - self.paid

    def truth(self) -> dict[str, object]:
        """Ground truth in the JSON contract's value formats."""
        return {
            "invoice_number": self.number,
            "issue_date": self.issue_date.isoformat(),
            "sale_date": self.sale_date.isoformat(),
            "due_date": self.due_date.isoformat(),
            "currency": self.currency,
            "total_net": str(self.net),
            "total_tax": str(self.tax),
            "total_gross": str(self.gross),
            "amount_due": str(self.due),
            "seller_name": self.seller.name,
            "seller_tax_id": self.seller.tax_id,
            "buyer_name": self.buyer.name,
            "buyer_tax_id": self.buyer.tax_id,
            "iban": self.iban,
            "tax_breakdown": [
                {"rate": str(rate), "net": str(net), "tax": str(tax)}
                for rate, (net, tax) in self.rates().items()
            ],
        }


PL_WORDS = [
    "Kowalski",
    "Nowak",
    "Bud",
    "Trans",
    "Polmex",
    "Infotech",
    "Agro",
    "Metal",
    "Elektro",
    "Mazowsze",
    "Wisła",
    "Orzeł",
    "Zielony",
    "Dom",
    "Serwis",
    "Logistyka",
    "Handel",
]
PL_FORMS = ["Sp. z o.o.", "S.A.", "sp.j.", "Sp. z o.o. sp.k."]
RU_WORDS = [
    "Ромашка",
    "Вектор",
    "Сибирь",
    "Альфа",
    "Техно",
    "Строй",
    "Север",
    "Гранит",
    "Импульс",
    "Магистраль",
    "Волга",
    "Логистик",
    "Энерго",
    "Сервис",
]
RU_FORMS = ["ООО", "АО", "ПАО"]
EN_WORDS = [
    "Acme",
    "Northwind",
    "Bright",
    "Harbour",
    "Summit",
    "Blue River",
    "Oak",
    "Granite",
    "Pioneer",
    "Atlas",
    "Redwood",
    "Silverline",
    "Maple",
]
EN_FORMS = ["Ltd", "Limited", "LLC", "Inc.", "plc"]
PL_CITIES = [
    ("ul. Marszałkowska 10", "00-590 Warszawa"),
    ("ul. Długa 5", "80-827 Gdańsk"),
    ("ul. Piotrkowska 120", "90-006 Łódź"),
    ("ul. Floriańska 3", "31-019 Kraków"),
]
RU_CITIES = [
    ("ул. Тверская, д. 7", "125009, г. Москва"),
    ("Невский пр., д. 28", "191186, г. Санкт-Петербург"),
    ("ул. Ленина, д. 15", "630099, г. Новосибирск"),
]
EN_CITIES = [
    ("12 High Street", "London EC1A 1BB"),
    ("4 Station Road", "Leeds LS1 4DY"),
    ("77 King Street", "Manchester M2 4WQ"),
]
GOODS = {
    "pl": [
        "Usługa programistyczna",
        "Licencja oprogramowania",
        "Konsultacje",
        "Papier A4",
        "Toner do drukarki",
        "Transport towaru",
        "Szkolenie BHP",
        "Abonament serwisowy",
        "Monitor 27 cali",
        "Montaż instalacji",
    ],
    "ru": [
        "Консультационные услуги",
        "Лицензия на ПО",
        "Бумага А4",
        "Картридж для принтера",
        "Доставка груза",
        "Техническое обслуживание",
        "Монитор 27 дюймов",
        "Обучение персонала",
    ],
    "en": [
        "Software development",
        "Software licence",
        "Consulting services",
        "A4 paper",
        "Printer toner",
        "Freight transport",
        "Maintenance subscription",
        "27-inch monitor",
        "Installation work",
    ],
}
UNITS = {
    "pl": ["szt.", "godz.", "usł.", "kpl."],
    "ru": ["шт.", "час", "усл.", "компл."],
    "en": ["pcs", "hrs", "ea", "unit"],
}
RATES = {"pl": [23, 23, 23, 8, 5], "ru": [20, 20, 20, 10], "en": [20, 20, 5]}
CURRENCIES = {"pl": ["PLN", "PLN", "PLN", "EUR"], "ru": ["RUB"], "en": ["GBP", "EUR", "USD"]}


def _company(rng: random.Random, language: str) -> str:
    if language == "pl":
        return f"{rng.choice(PL_WORDS)}{rng.choice(['', '-' + rng.choice(PL_WORDS)])} {rng.choice(PL_FORMS)}"
    if language == "ru":
        return f'{rng.choice(RU_FORMS)} "{rng.choice(RU_WORDS)}{rng.choice(["", "-" + rng.choice(RU_WORDS)])}"'
    return f"{rng.choice(EN_WORDS)} {rng.choice(['Trading', 'Systems', 'Supplies', 'Services', 'Labs'])} {rng.choice(EN_FORMS)}"


def _party(rng: random.Random, language: str, valid: bool) -> Party:
    street, city = rng.choice({"pl": PL_CITIES, "ru": RU_CITIES, "en": EN_CITIES}[language])
    if language == "pl":
        tax_id = make_nip(rng, valid)
    elif language == "ru":
        tax_id = make_inn(rng, valid)
    else:
        tax_id = "GB" + "".join(str(rng.randint(0, 9)) for _ in range(9))
        valid = _gb_vat_valid(tax_id)
    kpp = "".join(str(rng.randint(0, 9)) for _ in range(9)) if language == "ru" else ""
    return Party(_company(rng, language), tax_id, valid, street, city, kpp)


def _gb_vat_valid(value: str) -> bool:
    from stdnum.gb import vat

    return vat.is_valid(value)


def make_invoice(
    rng: random.Random,
    language: str,
    kind: str = "invoice",
    show_items: bool = True,
    multi_rate: bool = False,
) -> Invoice:
    """A random invoice in ``language`` (pl/ru/en)."""
    issue = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randint(0, 360))
    seller_valid = rng.random() >= WRONG_TAX_ID_SHARE
    seller = _party(rng, language, seller_valid)
    if language == "en":
        while not seller.tax_id_valid:
            seller = _party(rng, language, True)
    buyer = _party(rng, language, True)
    if language == "en":
        while not buyer.tax_id_valid:
            buyer = _party(rng, language, True)
    rates = RATES[language]
    count = rng.randint(1, 7)
    items = []
    for _ in range(count):
        quantity = Decimal(rng.choice([1, 1, 2, 3, 5, 10, 12, 40]))
        price = Decimal(rng.randint(500, 600_000)) / 100
        rate = rng.choice(rates) if multi_rate else rates[0]
        items.append(
            Item(
                rng.choice(GOODS[language]),
                quantity,
                rng.choice(UNITS[language]),
                price.quantize(CENT),
                rate,
            )
        )
    if multi_rate and len({item.rate for item in items}) == 1:
        items.append(
            Item(
                rng.choice(GOODS[language]),
                Decimal(1),
                UNITS[language][0],
                Decimal(rng.randint(1000, 90000)) / 100,
                rates[-1],
            )
        )
    year = issue.year
    seq = rng.randint(1, 999)
    number = rng.choice(
        {
            "pl": [
                f"FV/{year}/{issue.month:02d}/{seq:04d}",
                f"{seq}/{issue.month:02d}/{year}",
                f"F{year}-{seq:05d}",
            ],
            "ru": [str(seq), f"{seq}-{issue.month:02d}", f"СФ-{seq}"],
            "en": [f"INV-{year}-{seq:04d}", f"{seq:06d}", f"INV{seq:05d}"],
        }[language]
    )
    if kind == "credit_note":
        number = {"pl": f"KOR/{year}/{seq:03d}", "ru": f"К-{seq}", "en": f"CN-{year}-{seq:04d}"}[
            language
        ]
    iban_valid = rng.random() >= WRONG_IBAN_SHARE
    iban = None
    if language == "pl":
        iban = make_iban(rng, "PL", iban_valid)
    elif language == "en":
        iban = make_iban(rng, rng.choice(["GB", "DE"]), iban_valid)
    return Invoice(
        language=language,
        kind=kind,
        number=number,
        issue_date=issue,
        sale_date=issue - dt.timedelta(days=rng.choice([0, 0, 1, 3, 5])),
        due_date=issue + dt.timedelta(days=rng.choice([7, 14, 14, 21, 30])),
        currency=rng.choice(CURRENCIES[language]),
        seller=seller,
        buyer=buyer,
        iban=iban,
        iban_valid=iban_valid if iban else True,
        items=items,
        show_items=show_items,
        paid=Decimal(0),
    )


# --- printing formats -----------------------------------------------------------------------

PL_MONTHS = [
    "stycznia",
    "lutego",
    "marca",
    "kwietnia",
    "maja",
    "czerwca",
    "lipca",
    "sierpnia",
    "września",
    "października",
    "listopada",
    "grudnia",
]
RU_MONTHS = [
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
]
EN_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


class Style:
    """How one invoice prints numbers and dates (chosen once per invoice)."""

    def __init__(self, rng: random.Random, language: str) -> None:
        self.language = language
        self.group = {
            "pl": rng.choice([" ", "\u00a0", ".", ""]),
            "ru": rng.choice([" ", "\u00a0", ""]),
            "en": rng.choice([",", ""]),
        }[language]
        self.decimal = "." if language == "en" else ","
        self.date_style = rng.choice(
            {
                "pl": ["dmy", "iso", "words"],
                "ru": ["dmy", "words"],
                "en": ["iso", "words", "dmy_slash"],
            }[language]
        )

    def money(self, value: Decimal) -> str:
        """1 230,00 / 1.230,00 / 1,230.00 / 1230.00."""
        sign = "-" if value < 0 else ""
        whole, frac = f"{abs(value):.2f}".split(".")
        groups = []
        while len(whole) > 3:
            groups.insert(0, whole[-3:])
            whole = whole[:-3]
        groups.insert(0, whole)
        return f"{sign}{self.group.join(groups)}{self.decimal}{frac}"

    def date(self, value: dt.date) -> str:
        """A date as this invoice prints it."""
        if self.date_style == "iso":
            return value.isoformat()
        if self.date_style == "dmy_slash":
            return value.strftime("%d/%m/%Y")
        if self.date_style == "dmy":
            return value.strftime("%d.%m.%Y")
        if self.language == "pl":
            return f"{value.day} {PL_MONTHS[value.month - 1]} {value.year}"
        if self.language == "ru":
            return f"{value.day} {RU_MONTHS[value.month - 1]} {value.year} г."
        return f"{EN_MONTHS[value.month - 1]} {value.day}, {value.year}"

    def qty(self, value: Decimal) -> str:
        """Quantities print without decimals when whole."""
        return str(int(value)) if value == value.to_integral() else str(value)


TEXTS = {
    "pl": {
        "invoice": "Faktura VAT nr",
        "credit_note": "Faktura korygująca nr",
        "seller": "Sprzedawca",
        "buyer": "Nabywca",
        "tax": "NIP",
        "issue": "Data wystawienia",
        "sale": "Data sprzedaży",
        "due": "Termin płatności",
        "no": "Lp.",
        "desc": "Nazwa towaru/usługi",
        "qty": "Ilość",
        "unit": "J.m.",
        "price": "Cena netto",
        "net": "Wartość netto",
        "rate": "Stawka VAT",
        "taxamt": "Kwota VAT",
        "gross": "Wartość brutto",
        "total": "Razem",
        "topay": "Do zapłaty",
        "iban": "Nr konta",
        "method": "Sposób płatności: przelew",
        "currency": "Waluta",
        "words": "Słownie",
        "number_label": "Nr faktury",
        "subtotal": "Razem netto",
        "vat_total": "Razem VAT",
        "gross_total": "Razem brutto",
    },
    "ru": {
        "invoice": "Счёт-фактура №",
        "credit_note": "Корректировочный счёт-фактура №",
        "seller": "Продавец",
        "buyer": "Покупатель",
        "tax": "ИНН/КПП",
        "issue": "Дата выставления",
        "sale": "Дата отгрузки",
        "due": "Срок оплаты",
        "no": "№",
        "desc": "Наименование товара",
        "qty": "Кол-во",
        "unit": "Ед.",
        "price": "Цена",
        "net": "Стоимость без НДС",
        "rate": "Ставка",
        "taxamt": "Сумма НДС",
        "gross": "Стоимость с НДС",
        "total": "Итого",
        "topay": "Всего к оплате",
        "iban": "р/с",
        "method": "Оплата безналичным расчётом",
        "currency": "Валюта",
        "words": "Сумма прописью",
        "number_label": "Номер счёта",
        "subtotal": "Итого без НДС",
        "vat_total": "В т.ч. НДС",
        "gross_total": "Итого с НДС",
    },
    "en": {
        "invoice": "Invoice No",
        "credit_note": "Credit Note No",
        "seller": "Seller",
        "buyer": "Bill to",
        "tax": "VAT No",
        "issue": "Invoice date",
        "sale": "Delivery date",
        "due": "Due date",
        "no": "#",
        "desc": "Description",
        "qty": "Qty",
        "unit": "Unit",
        "price": "Unit price",
        "net": "Net amount",
        "rate": "VAT %",
        "taxamt": "VAT",
        "gross": "Gross",
        "total": "Total",
        "topay": "Amount due",
        "iban": "IBAN",
        "method": "Payment by bank transfer",
        "currency": "Currency",
        "words": "In words",
        "number_label": "Invoice number",
        "subtotal": "Subtotal",
        "vat_total": "VAT total",
        "gross_total": "Total",
    },
}


class Canvas:
    """A small drawing helper over reportlab with the Unicode DejaVu font."""

    def __init__(self) -> None:
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont
        from reportlab.pdfgen import canvas

        # Each face on its own: another module may have registered one of the names.
        registered = pdfmetrics.getRegisteredFontNames()
        for name, path in (("DejaVu", FONT_PATH), ("DejaVu-Bold", FONT_BOLD_PATH)):
            if name not in registered:
                pdfmetrics.registerFont(TTFont(name, str(path)))
        self.buffer = io.BytesIO()
        self.canvas = canvas.Canvas(self.buffer, pagesize=A4)
        self.canvas.setTitle("Invoice")

    def text(
        self,
        x: float,
        y: float,
        value: str,
        size: float = 9,
        bold: bool = False,
        align: str = "left",
    ) -> None:
        """Draw ``value`` at (x, y from the top)."""
        self.canvas.setFont("DejaVu-Bold" if bold else "DejaVu", size)
        top = A4[1] - y
        if align == "right":
            self.canvas.drawRightString(x, top, value)
        elif align == "center":
            self.canvas.drawCentredString(x, top, value)
        else:
            self.canvas.drawString(x, top, value)

    def rule(self, x0: float, y: float, x1: float) -> None:
        """A horizontal line."""
        self.canvas.line(x0, A4[1] - y, x1, A4[1] - y)

    def box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """A rectangle (table cell)."""
        self.canvas.rect(x0, A4[1] - y1, x1 - x0, y1 - y0)

    def finish(self) -> bytes:
        """The PDF bytes."""
        self.canvas.showPage()
        self.canvas.save()
        return self.buffer.getvalue()


# --- layouts ----------------------------------------------------------------------------------


def _party_lines(inv: Invoice, party: Party, t: dict[str, str]) -> list[str]:
    tax = f"{t['tax']}: {party.tax_id}" + (f"/{party.kpp}" if party.kpp else "")
    if inv.language == "pl" and party is inv.seller and hash(party.name) % 3 == 0:
        tax = f"NIP: {party.tax_id[:3]}-{party.tax_id[3:6]}-{party.tax_id[6:8]}-{party.tax_id[8:]}"
    return [party.name, party.address, party.city, tax]


def _items_table(
    c: Canvas,
    inv: Invoice,
    s: Style,
    t: dict[str, str],
    y: float,
    grid: bool = False,
    with_gross: bool = True,
) -> float:
    cols = [
        (40, t["no"], "left"),
        (58, t["desc"], "left"),
        (265, t["qty"], "right"),
        (272, t["unit"], "left"),
        (370, t["price"], "right"),
        (440, t["net"], "right"),
        (478, t["rate"], "right"),
    ]
    if with_gross:
        cols.append((560, t["gross"], "right"))
    for x, label, align in cols:
        if len(label) < 12 or x < 100:
            c.text(x, y, label, 7.5, True, align)
        else:
            # Long headers wrap onto a second line, as narrow table columns do.
            first, _, rest = label.partition(" ")
            c.text(x, y, first, 7.5, True, align)
            c.text(x, y + 9, rest, 7.5, True, align)
    y += 9
    if grid:
        c.rule(38, y + 4, 562)
    y += 14
    for index, item in enumerate(inv.items, 1):
        values = [
            str(index),
            item.description,
            s.qty(item.quantity),
            item.unit,
            s.money(item.unit_price),
            s.money(item.net),
            f"{item.rate}%",
        ]
        if with_gross:
            values.append(s.money(item.net + item.tax))
        for (x, _, align), value in zip(cols, values, strict=True):
            c.text(x, y, value, 8, False, align)
        if grid:
            c.rule(38, y + 4, 562)
        y += 13
    return y + 6


def _summary(
    c: Canvas, inv: Invoice, s: Style, t: dict[str, str], y: float, table: bool = True
) -> float:
    cur = inv.currency
    if table:
        for x, label in ((340, t["rate"]), (420, t["net"]), (490, t["taxamt"]), (560, t["gross"])):
            first, _, rest = label.partition(" ") if len(label) >= 12 else (label, "", "")
            c.text(x, y, first, 7.5, True, "right")
            if rest:
                c.text(x, y + 9, rest, 7.5, True, "right")
        y += 22
        for rate, (net, tax) in inv.rates().items():
            c.text(340, y, f"{rate}%", 8, False, "right")
            c.text(420, y, s.money(net), 8, False, "right")
            c.text(490, y, s.money(tax), 8, False, "right")
            c.text(560, y, s.money(net + tax), 8, False, "right")
            y += 12
        c.text(280, y, t["total"], 8, True)
        c.text(420, y, s.money(inv.net), 8, True, "right")
        c.text(490, y, s.money(inv.tax), 8, True, "right")
        c.text(560, y, s.money(inv.gross), 8, True, "right")
        y += 22
    else:
        for label, value in (
            (t["subtotal"], inv.net),
            (t["vat_total"], inv.tax),
            (t["gross_total"], inv.gross),
        ):
            c.text(400, y, f"{label}:", 9)
            c.text(560, y, f"{s.money(value)} {cur}", 9, False, "right")
            y += 13
        y += 8
    c.text(300, y, f"{t['topay']}: {s.money(inv.due)} {cur}", 12, True)
    return y + 24


def _payment(c: Canvas, inv: Invoice, s: Style, t: dict[str, str], y: float) -> float:
    c.text(40, y, t["method"], 8)
    y += 12
    c.text(40, y, f"{t['due']}: {s.date(inv.due_date)}", 8)
    y += 12
    if inv.iban:
        c.text(40, y, f"{t['iban']}: {_spaced_iban(inv.iban)}", 8)
        y += 12
    elif inv.language == "ru":
        c.text(40, y, f"р/с 40702810{inv.seller.tax_id}00 БИК 044525225", 8)
        y += 12
    return y


def _spaced_iban(iban: str) -> str:
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def _title(inv: Invoice, t: dict[str, str]) -> str:
    return f"{t[inv.kind]} {inv.number}"


def layout_classic(c: Canvas, inv: Invoice, s: Style) -> None:
    """Title, dates on the right, two-column parties, items, VAT summary table."""
    t = TEXTS[inv.language]
    c.text(40, 60, _title(inv, t), 15, True)
    c.text(555, 90, f"{t['issue']}: {s.date(inv.issue_date)}", 8, False, "right")
    c.text(555, 102, f"{t['sale']}: {s.date(inv.sale_date)}", 8, False, "right")
    c.text(40, 140, f"{t['seller']}:", 9, True)
    c.text(310, 140, f"{t['buyer']}:", 9, True)
    for i, (a, b) in enumerate(
        zip(_party_lines(inv, inv.seller, t), _party_lines(inv, inv.buyer, t), strict=True)
    ):
        c.text(40, 154 + i * 12, a, 9)
        c.text(310, 154 + i * 12, b, 9)
    y = _items_table(c, inv, s, t, 230) if inv.show_items else 230
    y = _summary(c, inv, s, t, y + 10, table=True)
    _payment(c, inv, s, t, y)


def layout_one_column(c: Canvas, inv: Invoice, s: Style) -> None:
    """Everything stacked in one column, label: value lines, no table grid."""
    t = TEXTS[inv.language]
    y = 50
    c.text(40, y, _title(inv, t), 14, True)
    y += 26
    for label, value in ((t["issue"], s.date(inv.issue_date)), (t["sale"], s.date(inv.sale_date))):
        c.text(40, y, f"{label}: {value}", 9)
        y += 12
    y += 10
    for role, party in (("seller", inv.seller), ("buyer", inv.buyer)):
        c.text(40, y, f"{t[role]}:", 9, True)
        y += 12
        for value in _party_lines(inv, party, t):
            c.text(40, y, value, 9)
            y += 12
        y += 8
    if inv.show_items:
        y = _items_table(c, inv, s, t, y + 6)
    y = _summary(c, inv, s, t, y + 6, table=False)
    _payment(c, inv, s, t, y)


def layout_table_heavy(c: Canvas, inv: Invoice, s: Style) -> None:
    """Header data in a grid of cells (label above value), grid lines everywhere."""
    t = TEXTS[inv.language]
    c.text(
        300,
        50,
        re.sub(r"\s+(?:nr|№|No)$", "", t[inv.kind]),
        14,
        True,
        "center",
    )
    cells = [
        (t["number_label"], inv.number),
        (t["issue"], s.date(inv.issue_date)),
        (t["sale"], s.date(inv.sale_date)),
        (t["currency"], inv.currency),
    ]
    for i, (label, value) in enumerate(cells):
        x = 40 + i * 130
        c.box(x, 70, x + 128, 100)
        c.text(x + 4, 80, label, 7, True)
        c.text(x + 4, 94, value, 9)
    for i, (role, party) in enumerate((("seller", inv.seller), ("buyer", inv.buyer))):
        x = 40 + i * 260
        c.box(x, 110, x + 255, 185)
        c.text(x + 4, 122, t[role], 8, True)
        for j, value in enumerate(_party_lines(inv, party, t)):
            c.text(x + 4, 136 + j * 12, value, 8.5)
    y = _items_table(c, inv, s, t, 205, grid=True) if inv.show_items else 205
    y = _summary(c, inv, s, t, y + 10, table=True)
    _payment(c, inv, s, t, y)


def layout_modern(c: Canvas, inv: Invoice, s: Style) -> None:
    """Seller block top-left, meta block top-right, buyer below, simple totals list."""
    t = TEXTS[inv.language]
    c.text(40, 50, inv.seller.name, 13, True)
    for i, value in enumerate(_party_lines(inv, inv.seller, t)[1:]):
        c.text(40, 66 + i * 11, value, 8)
    c.text(
        555,
        50,
        t[inv.kind].removesuffix(" No").upper()
        if inv.language == "en"
        else t[inv.kind].replace(" nr", "").replace(" №", ""),
        16,
        True,
        "right",
    )
    meta = [
        (t["number_label"], inv.number),
        (t["issue"], s.date(inv.issue_date)),
        (t["sale"], s.date(inv.sale_date)),
        (t["due"], s.date(inv.due_date)),
    ]
    for i, (label, value) in enumerate(meta):
        c.text(400, 72 + i * 12, f"{label}:", 8)
        c.text(555, 72 + i * 12, value, 8, False, "right")
    c.text(40, 140, f"{t['buyer']}:", 9, True)
    for i, value in enumerate(_party_lines(inv, inv.buyer, t)):
        c.text(40, 153 + i * 12, value, 9)
    c.text(300, 140, f"{t['seller']}: {inv.seller.name}", 8)
    y = _items_table(c, inv, s, t, 225, with_gross=False) if inv.show_items else 225
    y = _summary(c, inv, s, t, y + 8, table=False)
    _payment(c, inv, s, t, y)


def layout_ru_schet(c: Canvas, inv: Invoice, s: Style) -> None:
    """Russian "счёт на оплату": bank block, Поставщик/Покупатель lines, Итого, В т.ч. НДС."""
    t = TEXTS["ru"]
    c.text(40, 50, "Банк получателя: ПАО Сбербанк г. Москва   БИК 044525225", 8)
    c.text(
        40,
        62,
        f"ИНН {inv.seller.tax_id}   КПП {inv.seller.kpp}   Сч. № 40702810{inv.seller.tax_id}00",
        8,
    )
    kind = "Корректировочный счёт" if inv.kind == "credit_note" else "Счет на оплату"
    c.text(40, 95, f"{kind} № {inv.number} от {s.date(inv.issue_date)}", 14, True)
    c.rule(40, 102, 555)
    c.text(
        40,
        122,
        f"Поставщик: {inv.seller.name}, ИНН {inv.seller.tax_id}, КПП {inv.seller.kpp}, {inv.seller.city}",
        8,
    )
    c.text(
        40,
        136,
        f"Покупатель: {inv.buyer.name}, ИНН {inv.buyer.tax_id}, КПП {inv.buyer.kpp}, {inv.buyer.city}",
        8,
    )
    c.text(40, 150, f"Дата отгрузки: {s.date(inv.sale_date)}", 8)
    y = _items_table(c, inv, s, t, 175, with_gross=False) if inv.show_items else 175
    c.text(470, y, "Итого:", 9, True, "right")
    c.text(560, y, s.money(inv.net), 9, False, "right")
    for rate, (_, tax) in inv.rates().items():
        y += 13
        c.text(470, y, f"В т.ч. НДС {rate}%:", 9, True, "right")
        c.text(560, y, s.money(tax), 9, False, "right")
    y += 13
    c.text(470, y, "Всего к оплате:", 9, True, "right")
    c.text(560, y, s.money(inv.gross), 9, False, "right")
    y += 24
    c.text(40, y, f"Всего наименований {len(inv.items)}, на сумму {s.money(inv.gross)} руб.", 8)
    c.text(40, y + 14, f"Оплатить до {s.date(inv.due_date)}", 8)


def layout_ru_faktura(c: Canvas, inv: Invoice, s: Style) -> None:
    """Russian "счёт-фактура": labelled lines, ИНН/КПП продавца/покупателя, table with НДС."""
    t = TEXTS["ru"]
    c.text(40, 50, f"{_title(inv, t)} от {s.date(inv.issue_date)}", 13, True)
    rows = [
        f"Продавец: {inv.seller.name}",
        f"Адрес: {inv.seller.city}, {inv.seller.address}",
        f"ИНН/КПП продавца: {inv.seller.tax_id}/{inv.seller.kpp}",
        "Грузоотправитель и его адрес: он же",
        f"Покупатель: {inv.buyer.name}",
        f"Адрес: {inv.buyer.city}, {inv.buyer.address}",
        f"ИНН/КПП покупателя: {inv.buyer.tax_id}/{inv.buyer.kpp}",
        "Валюта: наименование, код Российский рубль, 643",
    ]
    for i, row in enumerate(rows):
        c.text(40, 75 + i * 12, row, 8)
    y = _items_table(c, inv, s, t, 190, grid=True) if inv.show_items else 190
    c.text(60, y, "Всего к оплате", 9, True)
    c.text(440, y, s.money(inv.net), 9, True, "right")
    c.text(490, y, s.money(inv.tax), 9, True, "right")
    c.text(560, y, s.money(inv.gross), 9, True, "right")
    c.text(40, y + 30, f"Срок оплаты: {s.date(inv.due_date)}", 8)


def layout_no_items(c: Canvas, inv: Invoice, s: Style) -> None:
    """A service invoice without a line table: a sentence and the totals."""
    t = TEXTS[inv.language]
    c.text(40, 50, _title(inv, t), 14, True)
    c.text(40, 70, f"{t['issue']}: {s.date(inv.issue_date)}", 9)
    c.text(40, 95, f"{t['seller']}: {inv.seller.name}, {t['tax']} {inv.seller.tax_id}", 9)
    c.text(40, 108, f"{t['buyer']}: {inv.buyer.name}, {t['tax']} {inv.buyer.tax_id}", 9)
    desc = inv.items[0].description
    c.text(40, 140, desc, 9)
    y = _summary(c, inv, s, t, 170, table=False)
    _payment(c, inv, s, t, y)


LAYOUTS: dict[str, Callable[[Canvas, Invoice, Style], None]] = {
    "classic": layout_classic,
    "one_column": layout_one_column,
    "table_heavy": layout_table_heavy,
    "modern": layout_modern,
    "no_items": layout_no_items,
    "ru_schet": layout_ru_schet,
    "ru_faktura": layout_ru_faktura,
}
LAYOUTS_BY_LANGUAGE = {
    "pl": ["classic", "one_column", "table_heavy", "modern", "no_items"],
    "ru": ["ru_schet", "ru_faktura", "classic", "table_heavy", "one_column"],
    "en": ["classic", "one_column", "table_heavy", "modern", "no_items"],
}


def render_pdf(inv: Invoice, layout: str, style: Style) -> bytes:
    """The invoice as a text PDF in ``layout``."""
    canvas = Canvas()
    LAYOUTS[layout](canvas, inv, style)
    return canvas.finish()


# --- scans ---------------------------------------------------------------------------------


def scan(pdf: bytes, rng: random.Random, kind: str) -> tuple[bytes, str]:
    """Render as a scan: ``photo`` (JPEG, rotated, noisy), ``fax`` (binarised TIFF G4),
    ``png`` (clean greyscale, slightly rotated) or ``pdf`` (image-only PDF of a JPEG scan)."""
    import pypdfium2 as pdfium
    from PIL import Image, ImageFilter

    dpi = {
        "photo": rng.choice([200, 300]),
        "fax": 200,
        "png": 300,
        "pdf": rng.choice([150, 200, 300]),
    }[kind]
    document = pdfium.PdfDocument(pdf)
    image = document[0].render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
    document.close()
    angle = rng.uniform(-3, 3)
    image = image.rotate(angle, expand=True, fillcolor=255, resample=Image.Resampling.BICUBIC)
    if kind in ("photo", "pdf"):
        noise = Image.effect_noise(image.size, rng.uniform(10, 25))
        image = Image.blend(image, noise, 0.12)
        if rng.random() < 0.5:
            image = image.filter(ImageFilter.GaussianBlur(0.6))
    out = io.BytesIO()
    if kind == "fax":
        image = image.point(lambda value: 255 if value > 150 else 0).convert("1")
        image.save(out, format="TIFF", compression="group4", dpi=(dpi, dpi))
        return out.getvalue(), ".tif"
    if kind == "png":
        image.save(out, format="PNG", dpi=(dpi, dpi))
        return out.getvalue(), ".png"
    if kind == "photo":
        image.save(out, format="JPEG", quality=rng.randint(45, 85), dpi=(dpi, dpi))
        return out.getvalue(), ".jpg"
    jpeg = io.BytesIO()
    image.save(jpeg, format="JPEG", quality=rng.randint(50, 85))
    Image.open(jpeg).save(out, format="PDF", resolution=dpi)
    return out.getvalue(), ".pdf"


# --- structured XML -------------------------------------------------------------------------


def cii_xml(inv: Invoice) -> bytes:
    """Factur-X / ZUGFeRD EN 16931 CII XML."""
    type_code = "381" if inv.kind == "credit_note" else "380"

    def d(value: dt.date) -> str:
        return f'<udt:DateTimeString format="102">{value:%Y%m%d}</udt:DateTimeString>'

    def party(tag: str, p: Party) -> str:
        country = {"pl": "PL", "ru": "RU", "en": "GB"}[inv.language]
        scheme = "VA" if inv.language != "ru" else "FC"
        vat = p.tax_id if inv.language != "pl" else "PL" + p.tax_id
        return (
            f"<ram:{tag}><ram:Name>{escape(p.name)}</ram:Name>"
            f"<ram:PostalTradeAddress><ram:LineOne>{escape(p.address)}</ram:LineOne>"
            f"<ram:CityName>{escape(p.city)}</ram:CityName><ram:CountryID>{country}</ram:CountryID>"
            f"</ram:PostalTradeAddress>"
            f'<ram:SpecifiedTaxRegistration><ram:ID schemeID="{scheme}">{vat}</ram:ID>'
            f"</ram:SpecifiedTaxRegistration></ram:{tag}>"
        )

    lines = "".join(
        f"<ram:IncludedSupplyChainTradeLineItem><ram:AssociatedDocumentLineDocument>"
        f"<ram:LineID>{i}</ram:LineID></ram:AssociatedDocumentLineDocument>"
        f"<ram:SpecifiedTradeProduct><ram:Name>{escape(item.description)}</ram:Name></ram:SpecifiedTradeProduct>"
        f"<ram:SpecifiedLineTradeAgreement><ram:NetPriceProductTradePrice><ram:ChargeAmount>{item.unit_price}"
        f"</ram:ChargeAmount></ram:NetPriceProductTradePrice></ram:SpecifiedLineTradeAgreement>"
        f'<ram:SpecifiedLineTradeDelivery><ram:BilledQuantity unitCode="C62">{item.quantity}</ram:BilledQuantity>'
        f"</ram:SpecifiedLineTradeDelivery><ram:SpecifiedLineTradeSettlement><ram:ApplicableTradeTax>"
        f"<ram:TypeCode>VAT</ram:TypeCode><ram:CategoryCode>S</ram:CategoryCode>"
        f"<ram:RateApplicablePercent>{item.rate}</ram:RateApplicablePercent></ram:ApplicableTradeTax>"
        f"<ram:SpecifiedTradeSettlementLineMonetarySummation><ram:LineTotalAmount>{item.net}"
        f"</ram:LineTotalAmount></ram:SpecifiedTradeSettlementLineMonetarySummation>"
        f"</ram:SpecifiedLineTradeSettlement></ram:IncludedSupplyChainTradeLineItem>"
        for i, item in enumerate(inv.items, 1)
    )
    taxes = "".join(
        f"<ram:ApplicableTradeTax><ram:CalculatedAmount>{tax}</ram:CalculatedAmount>"
        f"<ram:TypeCode>VAT</ram:TypeCode><ram:BasisAmount>{net}</ram:BasisAmount>"
        f"<ram:CategoryCode>S</ram:CategoryCode><ram:RateApplicablePercent>{rate}"
        f"</ram:RateApplicablePercent></ram:ApplicableTradeTax>"
        for rate, (net, tax) in inv.rates().items()
    )
    iban = (
        f"<ram:SpecifiedTradeSettlementPaymentMeans><ram:TypeCode>58</ram:TypeCode>"
        f"<ram:PayeePartyCreditorFinancialAccount><ram:IBANID>{inv.iban}</ram:IBANID>"
        f"</ram:PayeePartyCreditorFinancialAccount></ram:SpecifiedTradeSettlementPaymentMeans>"
        if inv.iban
        else ""
    )
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100" '
        'xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100" '
        'xmlns:qdt="urn:un:unece:uncefact:data:standard:QualifiedDataType:100" '
        'xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100">'
        "<rsm:ExchangedDocumentContext><ram:GuidelineSpecifiedDocumentContextParameter>"
        "<ram:ID>urn:cen.eu:en16931:2017</ram:ID></ram:GuidelineSpecifiedDocumentContextParameter>"
        "</rsm:ExchangedDocumentContext>"
        f"<rsm:ExchangedDocument><ram:ID>{escape(inv.number)}</ram:ID><ram:TypeCode>{type_code}</ram:TypeCode>"
        f"<ram:IssueDateTime>{d(inv.issue_date)}</ram:IssueDateTime></rsm:ExchangedDocument>"
        f"<rsm:SupplyChainTradeTransaction>{lines}"
        f"<ram:ApplicableHeaderTradeAgreement>{party('SellerTradeParty', inv.seller)}"
        f"{party('BuyerTradeParty', inv.buyer)}</ram:ApplicableHeaderTradeAgreement>"
        f"<ram:ApplicableHeaderTradeDelivery><ram:ActualDeliverySupplyChainEvent><ram:OccurrenceDateTime>"
        f"{d(inv.sale_date)}</ram:OccurrenceDateTime></ram:ActualDeliverySupplyChainEvent>"
        f"</ram:ApplicableHeaderTradeDelivery>"
        f"<ram:ApplicableHeaderTradeSettlement><ram:InvoiceCurrencyCode>{inv.currency}</ram:InvoiceCurrencyCode>"
        f"{iban}{taxes}<ram:SpecifiedTradePaymentTerms><ram:DueDateDateTime>{d(inv.due_date)}"
        f"</ram:DueDateDateTime></ram:SpecifiedTradePaymentTerms>"
        f"<ram:SpecifiedTradeSettlementHeaderMonetarySummation><ram:LineTotalAmount>{inv.net}</ram:LineTotalAmount>"
        f"<ram:TaxBasisTotalAmount>{inv.net}</ram:TaxBasisTotalAmount>"
        f'<ram:TaxTotalAmount currencyID="{inv.currency}">{inv.tax}</ram:TaxTotalAmount>'
        f"<ram:GrandTotalAmount>{inv.gross}</ram:GrandTotalAmount>"
        f"<ram:DuePayableAmount>{inv.due}</ram:DuePayableAmount>"
        f"</ram:SpecifiedTradeSettlementHeaderMonetarySummation></ram:ApplicableHeaderTradeSettlement>"
        f"</rsm:SupplyChainTradeTransaction></rsm:CrossIndustryInvoice>"
    )
    return xml.encode("utf-8")


def ubl_xml(inv: Invoice) -> bytes:
    """UBL 2.1 / Peppol BIS 3 Invoice or CreditNote."""
    credit = inv.kind == "credit_note"
    root = "CreditNote" if credit else "Invoice"
    line_tag = "CreditNoteLine" if credit else "InvoiceLine"
    qty_tag = "CreditedQuantity" if credit else "InvoicedQuantity"
    country = {"pl": "PL", "ru": "RU", "en": "GB"}[inv.language]

    def party(tag: str, p: Party) -> str:
        vat = "PL" + p.tax_id if inv.language == "pl" else p.tax_id
        return (
            f"<cac:{tag}><cac:Party><cac:PostalAddress><cbc:StreetName>{escape(p.address)}</cbc:StreetName>"
            f"<cbc:CityName>{escape(p.city)}</cbc:CityName><cac:Country><cbc:IdentificationCode>{country}"
            f"</cbc:IdentificationCode></cac:Country></cac:PostalAddress>"
            f"<cac:PartyTaxScheme><cbc:CompanyID>{vat}</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID>"
            f"</cac:TaxScheme></cac:PartyTaxScheme><cac:PartyLegalEntity><cbc:RegistrationName>"
            f"{escape(p.name)}</cbc:RegistrationName></cac:PartyLegalEntity></cac:Party></cac:{tag}>"
        )

    cur = inv.currency
    due = "" if credit else f"<cbc:DueDate>{inv.due_date}</cbc:DueDate>"
    type_code = "" if credit else "<cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>"
    if credit:
        type_code = "<cbc:CreditNoteTypeCode>381</cbc:CreditNoteTypeCode>"
    payment = (
        "<cac:PaymentMeans><cbc:PaymentMeansCode>30</cbc:PaymentMeansCode>"
        + (f"<cbc:PaymentDueDate>{inv.due_date}</cbc:PaymentDueDate>" if credit else "")
        + (
            f"<cac:PayeeFinancialAccount><cbc:ID>{inv.iban}</cbc:ID></cac:PayeeFinancialAccount>"
            if inv.iban
            else ""
        )
        + "</cac:PaymentMeans>"
    )
    subtotals = "".join(
        f'<cac:TaxSubtotal><cbc:TaxableAmount currencyID="{cur}">{net}</cbc:TaxableAmount>'
        f'<cbc:TaxAmount currencyID="{cur}">{tax}</cbc:TaxAmount><cac:TaxCategory><cbc:ID>S</cbc:ID>'
        f"<cbc:Percent>{rate}</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme>"
        f"</cac:TaxCategory></cac:TaxSubtotal>"
        for rate, (net, tax) in inv.rates().items()
    )
    lines = "".join(
        f'<cac:{line_tag}><cbc:ID>{i}</cbc:ID><cbc:{qty_tag} unitCode="C62">{item.quantity}</cbc:{qty_tag}>'
        f'<cbc:LineExtensionAmount currencyID="{cur}">{item.net}</cbc:LineExtensionAmount>'
        f"<cac:Item><cbc:Name>{escape(item.description)}</cbc:Name><cac:ClassifiedTaxCategory><cbc:ID>S</cbc:ID>"
        f"<cbc:Percent>{item.rate}</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme>"
        f'</cac:ClassifiedTaxCategory></cac:Item><cac:Price><cbc:PriceAmount currencyID="{cur}">'
        f"{item.unit_price}</cbc:PriceAmount></cac:Price></cac:{line_tag}>"
        for i, item in enumerate(inv.items, 1)
    )
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<{root} xmlns="urn:oasis:names:specification:ubl:schema:xsd:{root}-2" '
        'xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" '
        'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
        "<cbc:CustomizationID>urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
        "</cbc:CustomizationID><cbc:ProfileID>urn:fdc:peppol.eu:2017:poacc:billing:01:1.0</cbc:ProfileID>"
        f"<cbc:ID>{escape(inv.number)}</cbc:ID><cbc:IssueDate>{inv.issue_date}</cbc:IssueDate>{due}"
        f"{type_code}<cbc:DocumentCurrencyCode>{cur}</cbc:DocumentCurrencyCode>"
        f"{party('AccountingSupplierParty', inv.seller)}{party('AccountingCustomerParty', inv.buyer)}"
        f"<cac:Delivery><cbc:ActualDeliveryDate>{inv.sale_date}</cbc:ActualDeliveryDate></cac:Delivery>"
        f"{payment}"
        f'<cac:TaxTotal><cbc:TaxAmount currencyID="{cur}">{inv.tax}</cbc:TaxAmount>{subtotals}</cac:TaxTotal>'
        f'<cac:LegalMonetaryTotal><cbc:LineExtensionAmount currencyID="{cur}">{inv.net}</cbc:LineExtensionAmount>'
        f'<cbc:TaxExclusiveAmount currencyID="{cur}">{inv.net}</cbc:TaxExclusiveAmount>'
        f'<cbc:TaxInclusiveAmount currencyID="{cur}">{inv.gross}</cbc:TaxInclusiveAmount>'
        f'<cbc:PayableAmount currencyID="{cur}">{inv.due}</cbc:PayableAmount></cac:LegalMonetaryTotal>'
        f"{lines}</{root}>"
    )
    return xml.encode("utf-8")


KSEF_FA3_NAMESPACE = "http://crd.gov.pl/wzor/2025/06/25/13775/"
KSEF_RATE_FIELDS = {23: ("P_13_1", "P_14_1"), 8: ("P_13_2", "P_14_2"), 5: ("P_13_3", "P_14_3")}


def ksef_xml(inv: Invoice) -> bytes:
    """Polish KSeF FA(3) structured invoice."""
    sums = "".join(
        f"<{KSEF_RATE_FIELDS[rate][0]}>{net}</{KSEF_RATE_FIELDS[rate][0]}>"
        f"<{KSEF_RATE_FIELDS[rate][1]}>{tax}</{KSEF_RATE_FIELDS[rate][1]}>"
        for rate, (net, tax) in sorted(inv.rates().items(), reverse=True)
    )
    rows = "".join(
        f"<FaWiersz><NrWierszaFa>{i}</NrWierszaFa><P_7>{escape(item.description)}</P_7>"
        f"<P_8A>{escape(item.unit)}</P_8A><P_8B>{item.quantity}</P_8B><P_9A>{item.unit_price}</P_9A>"
        f"<P_11>{item.net}</P_11><P_12>{item.rate}</P_12></FaWiersz>"
        for i, item in enumerate(inv.items, 1)
    )
    kind = "KOR" if inv.kind == "credit_note" else "VAT"
    account = f"<RachunekBankowy><NrRB>{inv.iban[2:]}</NrRB></RachunekBankowy>" if inv.iban else ""

    def podmiot(tag: str, p: Party) -> str:
        return (
            f"<{tag}><DaneIdentyfikacyjne><NIP>{p.tax_id}</NIP><Nazwa>{escape(p.name)}</Nazwa>"
            f"</DaneIdentyfikacyjne><Adres><KodKraju>PL</KodKraju><AdresL1>{escape(p.address)}</AdresL1>"
            f"<AdresL2>{escape(p.city)}</AdresL2></Adres></{tag}>"
        )

    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Faktura xmlns="{KSEF_FA3_NAMESPACE}">'
        '<Naglowek><KodFormularza kodSystemowy="FA (3)" wersjaSchemy="1-0E">FA</KodFormularza>'
        f"<WariantFormularza>3</WariantFormularza><DataWytworzeniaFa>{inv.issue_date}T10:00:00Z"
        "</DataWytworzeniaFa></Naglowek>"
        f"{podmiot('Podmiot1', inv.seller)}{podmiot('Podmiot2', inv.buyer)}"
        f"<Fa><KodWaluty>{inv.currency}</KodWaluty><P_1>{inv.issue_date}</P_1><P_2>{escape(inv.number)}</P_2>"
        f"<P_6>{inv.sale_date}</P_6>{sums}<P_15>{inv.gross}</P_15><RodzajFaktury>{kind}</RodzajFaktury>"
        f"{rows}<Platnosc><TerminPlatnosci><Termin>{inv.due_date}</Termin></TerminPlatnosci>"
        f"<FormaPlatnosci>6</FormaPlatnosci>{account}</Platnosc></Fa></Faktura>"
    )
    return xml.encode("utf-8")


def facturx_pdf(pdf: bytes, inv: Invoice) -> bytes:
    """A Factur-X PDF: the text PDF with the CII XML embedded by the factur-x library."""
    import logging

    from facturx import generate_from_binary

    logging.getLogger("facturx").setLevel(logging.ERROR)
    return generate_from_binary(
        pdf, cii_xml(inv), flavor="factur-x", level="en16931", check_xsd=False
    )


# --- the corpus -----------------------------------------------------------------------------


@dataclass
class CorpusEntry:
    """One file of the corpus and its truth."""

    file: str
    variant: str
    format: str
    layout: str
    language: str
    kind: str
    truth: dict[str, object]
    lines: list[dict[str, str]] = field(default_factory=list)
    flags: dict[str, bool] = field(default_factory=dict)


def _entry(inv: Invoice, name: str, variant: str, fmt: str, layout: str) -> CorpusEntry:
    truth = inv.truth()
    if layout in ("ru_schet", "ru_faktura") or inv.language == "ru":
        truth["iban"] = None
    if not inv.show_items and variant != "xml":
        lines: list[dict[str, str]] = []
    else:
        lines = [
            {
                "description": item.description,
                "quantity": str(item.quantity),
                "unit_price": str(item.unit_price),
                "net": str(item.net),
                "tax_rate": str(item.rate),
            }
            for item in inv.items
        ]
    return CorpusEntry(
        file=name,
        variant=variant,
        format=fmt,
        layout=layout,
        language=inv.language,
        kind=inv.kind,
        truth=truth,
        lines=lines,
        flags={"seller_tax_id_valid": inv.seller.tax_id_valid, "iban_valid": inv.iban_valid},
    )


def _omit_unprinted(entry: CorpusEntry, inv: Invoice) -> None:
    # Fields a layout does not print are not in the truth: nobody can read them.
    unprinted = {
        "no_items": ("sale_date",),
        "ru_schet": ("iban",),
        "ru_faktura": ("sale_date", "iban"),
    }.get(entry.layout, ())
    for name in unprinted:
        entry.truth[name] = None


def generate(out_dir: Path, count: int = 330, seed: int = 20261120) -> list[CorpusEntry]:
    """Write ``count`` invoices (text, scan and XML variants) and ``truth.json`` to ``out_dir``."""
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries: list[CorpusEntry] = []
    variants = ["text"] * 5 + ["scan"] * 3 + ["xml"] * 2
    for index in range(count):
        variant = variants[index % len(variants)]
        language = ["pl", "ru", "en"][index % 3 if variant != "xml" else rng.randint(0, 2)]
        kind = "credit_note" if rng.random() < 0.1 else "invoice"
        layout = rng.choice(LAYOUTS_BY_LANGUAGE[language])
        inv = make_invoice(
            rng,
            language,
            kind,
            show_items=layout != "no_items",
            multi_rate=rng.random() < 0.3 and layout != "no_items",
        )
        style = Style(rng, language)
        name = f"{index:04d}_{variant}_{language}_{layout}"
        pdf = render_pdf(inv, layout, style)
        if variant == "text":
            (out_dir / f"{name}.pdf").write_bytes(pdf)
            entry = _entry(inv, f"{name}.pdf", variant, "pdf", layout)
        elif variant == "scan":
            data, suffix = scan(pdf, rng, rng.choice(["photo", "photo", "fax", "png", "pdf"]))
            (out_dir / f"{name}{suffix}").write_bytes(data)
            entry = _entry(inv, f"{name}{suffix}", variant, suffix.lstrip("."), layout)
        else:
            fmt = rng.choice(["facturx", "ubl"] + (["ksef", "ksef"] if language == "pl" else []))
            if fmt == "facturx":
                data, suffix = facturx_pdf(pdf, inv), ".pdf"
            elif fmt == "ubl":
                data, suffix = ubl_xml(inv), ".xml"
            else:
                data, suffix = ksef_xml(inv), ".xml"
            name = f"{index:04d}_xml_{language}_{fmt}"
            (out_dir / f"{name}{suffix}").write_bytes(data)
            entry = _entry(inv, f"{name}{suffix}", variant, fmt, fmt)
            if language == "ru" or not inv.iban:
                entry.truth["iban"] = None
        if variant != "xml":
            _omit_unprinted(entry, inv)
            if (
                layout
                in ("ru_schet", "ru_faktura", "table_heavy", "classic", "one_column", "no_items")
                and variant != "xml"
            ):
                # These layouts print no due date unless the payment block does.
                pass
        entries.append(entry)
    (out_dir / "truth.json").write_text(
        json.dumps([asdict(entry) for entry in entries], ensure_ascii=False, indent=1),
        encoding="utf-8",
    )
    return entries
