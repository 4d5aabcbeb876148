# ruff: noqa: E501 - HTML templates are long literals; random only makes synthetic data
"""HTML invoices printed to PDF by headless Chromium: a second, differently made corpus.

Our own corpus (keywords/backoffice/invoices/corpus.py) is drawn with reportlab: one text
object per string, simple label/value lines. Many real invoicing systems write HTML + CSS
and print it with a browser instead, and Chromium's text layer looks different: kerned
glyph runs, no-break spaces, table cells, values in the next cell or under their label,
vertically centred cells beside wrapped descriptions. This module writes such invoices in
layouts of real invoicing tools (a Polish "Faktura VAT" with Sprzedawca/Nabywca boxes, a
Russian 1C "Счёт на оплату" with its bank table and a "Счёт-фактура" form, an English SaaS
invoice, a German "Rechnung" with the seller in the footer), prints them with Chromium and
measures ``extract`` on them with bench/accuracy.py's scoring.

The data (parties with valid tax IDs and IBANs, items, rates) come from corpus.make_invoice
where it fits; the layouts, wording and number formats are this module's own. The truth is
computed from the same data the HTML is built from.

Usage: .venv/bin/python bench/html_invoices.py [--out var/html-corpus] [--count 90]
       [--seed N] [--jobs 2] [--no-render] [--show-errors FIELD]
Needs /usr/bin/chromium (scripts/install-system.sh --test).
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from num2words import num2words

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "keywords"))

from backoffice.invoices import corpus  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-pdf-header-footer",
)
PRINT_TIMEOUT = 120
CENT = Decimal("0.01")
LAYOUTS = (
    "pl_faktura",
    "ru_schet",
    "en_saas",
    "pl_faktura",
    "ru_faktura",
    "en_saas",
    "de_rechnung",
)
LANGUAGE = {
    "pl_faktura": "pl",
    "ru_schet": "ru",
    "ru_faktura": "ru",
    "en_saas": "en",
    "de_rechnung": "de",
}

# --- data -------------------------------------------------------------------------------------


@dataclass
class Row:
    """One printed line: the amount is quantity x price less the discount, rounded."""

    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    rate: int
    discount: Decimal = Decimal(0)

    @property
    def amount(self) -> Decimal:
        """What the line's amount column prints (net, or gross where prices include VAT)."""
        value = self.quantity * self.unit_price * (1 - self.discount / 100)
        return value.quantize(CENT, ROUND_HALF_UP)


@dataclass
class HtmlInvoice:
    """An invoice as this module prints it, with its truth."""

    layout: str
    language: str
    number: str
    issue_date: dt.date
    sale_date: dt.date | None
    due_date: dt.date | None
    currency: str
    seller: corpus.Party
    buyer: corpus.Party
    seller_tax_id: str
    buyer_tax_id: str | None
    iban: str | None
    iban_valid: bool
    tax_id_valid: bool
    rows: list[Row]
    # Prices include VAT (Russian "в том числе НДС"): amounts are gross, VAT is worked out.
    vat_included: bool = False
    # A discount off the whole subtotal (percent), as SaaS invoices print it.
    discount: Decimal = Decimal(0)
    bank: dict[str, str] = field(default_factory=dict)

    def rates(self) -> dict[int, tuple[Decimal, Decimal]]:
        """Net and VAT per rate as the invoice prints them."""
        result: dict[int, tuple[Decimal, Decimal]] = {}
        for row in self.rows:
            net, tax = result.get(row.rate, (Decimal(0), Decimal(0)))
            line_tax = (row.amount * row.rate / 100).quantize(CENT, ROUND_HALF_UP)
            result[row.rate] = (net + row.amount, tax + line_tax)
        out = {}
        for rate, (net, line_taxes) in sorted(result.items(), reverse=True):
            if self.vat_included:
                gross = net
                tax = (gross * rate / (100 + rate)).quantize(CENT, ROUND_HALF_UP)
                out[rate] = (gross - tax, tax)
                continue
            net = (net * (1 - self.discount / 100)).quantize(CENT, ROUND_HALF_UP)
            # Russian invoices add VAT per line (НК РФ ст. 168); PL/EU per rate.
            tax = (
                line_taxes
                if self.language == "ru"
                else (net * rate / 100).quantize(CENT, ROUND_HALF_UP)
            )
            out[rate] = (net, tax)
        return out

    @property
    def subtotal(self) -> Decimal:
        """Sum of the line amounts as printed."""
        return sum((row.amount for row in self.rows), Decimal(0))

    # Totals from rates() as corpus.Invoice adds them up (the amount due is the gross:
    # nothing was paid).
    net = corpus.Invoice.net
    tax = corpus.Invoice.tax
    gross = corpus.Invoice.gross

    def entry(self, name: str) -> dict[str, object]:
        """The truth in bench/accuracy.py's corpus format."""
        truth = {
            "invoice_number": self.number,
            "issue_date": self.issue_date.isoformat(),
            "sale_date": self.sale_date.isoformat() if self.sale_date else None,
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "currency": self.currency,
            "total_net": str(self.net),
            "total_tax": str(self.tax),
            "total_gross": str(self.gross),
            "amount_due": str(self.gross),
            "seller_name": self.seller.name,
            "seller_tax_id": self.seller_tax_id,
            "buyer_name": self.buyer.name,
            "buyer_tax_id": self.buyer_tax_id,
            "iban": self.iban,
            "tax_breakdown": [
                {"rate": str(rate), "net": str(net), "tax": str(tax)}
                for rate, (net, tax) in self.rates().items()
            ],
        }
        lines = (
            []
            if self.vat_included
            else [
                {
                    "description": row.description,
                    "quantity": str(row.quantity),
                    "unit_price": str(row.unit_price),
                    "net": str(row.amount),
                    "tax_rate": str(row.rate),
                }
                for row in self.rows
            ]
        )
        return {
            "file": name,
            "variant": "html",
            "format": "pdf",
            "layout": self.layout,
            "language": self.language,
            "kind": "invoice",
            "truth": truth,
            "lines": lines,
            "flags": {"seller_tax_id_valid": self.tax_id_valid, "iban_valid": self.iban_valid},
        }


LONG_DETAILS = {
    "pl": [
        "zgodnie z umową nr {n}/{y} z dnia {d}, etap {k}",
        "wraz z dokumentacją powykonawczą i odbiorem technicznym w siedzibie klienta",
        "okres rozliczeniowy: {m}, obejmuje wsparcie w dni robocze",
    ],
    "ru": [
        "по договору № {n} от {d}, этап {k}",
        "включая выезд специалиста и составление акта выполненных работ",
        "за период {m}, в рабочие дни с 9:00 до 18:00",
    ],
    "en": [
        "per order {n}, phase {k}, including onboarding of up to 25 users",
        "billed monthly for the period {m}; includes priority e-mail support",
        "according to the statement of work dated {d}",
    ],
    "de": [
        "gemäß Auftrag Nr. {n} vom {d}, Abschnitt {k}",
        "inklusive Anfahrt und Abnahmeprotokoll beim Kunden",
        "Leistungszeitraum {m}, Support an Werktagen",
    ],
}
DE_GOODS = [
    "Softwarelizenz",
    "Beratungsleistung",
    "Wartungsvertrag",
    "Druckerpapier A4",
    "Montagearbeiten",
    "Schulung Mitarbeiter",
    "Transportkosten",
]
DE_NAMES = ["Müller", "Schneider", "Nordlicht", "Alpen", "Rheintal", "Becker", "Sonnenfeld"]
DE_FORMS = ["GmbH", "AG", "GmbH & Co. KG", "UG (haftungsbeschränkt)"]
DE_CITIES = [
    ("Hauptstraße 12", "10115 Berlin"),
    ("Marienplatz 3", "80331 München"),
    ("Königsallee 40", "40212 Düsseldorf"),
]
SAAS_NAMES = ["Cloudnest", "Taskly", "Datapulse", "Quillbase", "Brightdesk", "Formstack"]
RU_BANKS = ["ПАО СБЕРБАНК г. Москва", 'АО "ТБанк" г. Москва', 'АО "АЛЬФА-БАНК" г. Москва']
PL_BANKS = [
    "mBank S.A.",
    "PKO Bank Polski S.A.",
    "ING Bank Śląski S.A.",
    "Santander Bank Polska S.A.",
]


def _de_vat(rng: random.Random) -> str:
    from stdnum.iso7064 import mod_11_10

    body = str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(7))
    return "DE" + body + mod_11_10.calc_check_digit(body)


def _digits(rng: random.Random, count: int) -> str:
    return "".join(str(rng.randint(0, 9)) for _ in range(count))


def _number(rng: random.Random, layout: str, issue: dt.date) -> str:
    seq = rng.randint(1, 480)
    y, m = issue.year, issue.month
    return rng.choice(
        {
            "pl_faktura": [
                f"FV {seq}/{m:02d}/{y}",
                f"{seq}/{m:02d}/{y}",
                f"FS/{y}/{m:02d}/{seq:03d}",
                f"FV/{seq}/{y}",
            ],
            "ru_schet": [str(seq), f"ЦБ-{seq}", f"00БП-{seq:06d}"],
            "ru_faktura": [str(seq), f"{seq}/{m:02d}", f"УТ-{seq}"],
            "en_saas": [
                f"{rng.choice(['A1B2', 'F7E3', 'C0DE', '9K2X'])}{_digits(rng, 4)}-{seq:04d}",
                f"INV-{y}{m:02d}-{seq:04d}",
                f"{y}-{seq:05d}",
            ],
            "de_rechnung": [f"RE-{y}-{seq:04d}", f"{y}{seq:04d}", f"R{seq:05d}/{y % 100}"],
        }[layout]
    )


def _long(rng: random.Random, language: str, base: str, issue: dt.date) -> str:
    detail = rng.choice(LONG_DETAILS[language]).format(
        n=rng.randint(2, 99),
        y=issue.year,
        d=(issue - dt.timedelta(days=rng.randint(20, 90))).strftime("%d.%m.%Y"),
        k=rng.randint(1, 4),
        m=f"{issue.month:02d}/{issue.year}",
    )
    return f"{base} – {detail}"


def make(rng: random.Random, layout: str) -> HtmlInvoice:
    """A random invoice for ``layout`` (valid tax IDs and IBANs, a few deliberately wrong)."""
    language = LANGUAGE[layout]
    base = corpus.make_invoice(
        rng, "en" if language == "de" else language, multi_rate=rng.random() < 0.35
    )
    seller, buyer = base.seller, base.buyer
    iban, iban_valid = base.iban, base.iban_valid
    tax_id_valid = seller.tax_id_valid
    rows = [
        Row(item.description, item.quantity, item.unit, item.unit_price, item.rate)
        for item in base.items
    ]
    seller_tax_id: str = seller.tax_id
    buyer_tax_id: str | None = buyer.tax_id
    currency = base.currency
    if language == "de":
        names = rng.sample(DE_NAMES, 2)
        cities = rng.sample(DE_CITIES, 2)
        seller = corpus.Party(
            f"{names[0]} {rng.choice(['Software', 'Technik', 'Handel'])} {rng.choice(DE_FORMS)}",
            _de_vat(rng),
            True,
            *cities[0],
        )
        buyer = corpus.Party(f"{names[1]} {rng.choice(DE_FORMS)}", _de_vat(rng), True, *cities[1])
        # German invoices to German companies rarely print the buyer's VAT ID.
        seller_tax_id = seller.tax_id
        buyer_tax_id = buyer.tax_id if rng.random() < 0.3 else None
        multi = len({row.rate for row in rows}) > 1
        first_rate = rows[0].rate
        for row in rows:
            row.description = rng.choice(DE_GOODS)
            row.unit = rng.choice(["Stk.", "Std.", "pauschal"])
            row.rate = 19 if row.rate == first_rate or not multi else 7
        currency = "EUR"
        iban_valid = rng.random() >= corpus.WRONG_IBAN_SHARE
        iban = corpus.make_iban(rng, "DE", iban_valid)
    elif layout == "en_saas":
        # A SaaS company in the EU or the UK, customers anywhere in the EU: VAT IDs with
        # their country prefix.
        seller = corpus.Party(
            f"{rng.choice(SAAS_NAMES)} {rng.choice(['Ltd', 'Inc.', 'B.V.', 'GmbH'])}",
            seller.tax_id,
            True,
            seller.address,
            seller.city,
        )
        if rng.random() < 0.5:
            seller_tax_id = _de_vat(rng)
            seller.tax_id = seller_tax_id
        if rng.random() < 0.5:
            nip = corpus.make_nip(rng)
            buyer.tax_id = "PL" + nip
            buyer_tax_id = nip  # the extract contract gives a Polish VAT ID as the bare NIP
        currency = rng.choice(["EUR", "EUR", "GBP", "USD"])
        for row in rows:
            row.rate = rows[0].rate
    issue = base.issue_date
    for row in rows:
        if rng.random() < 0.25:
            row.description = _long(rng, language, row.description, issue)
    discount = Decimal(0)
    if layout == "pl_faktura" and rng.random() < 0.3:
        for row in rows:
            row.discount = Decimal(rng.choice([0, 5, 10, 15]))
    if layout == "en_saas" and rng.random() < 0.35:
        discount = Decimal(rng.choice([10, 15, 20, 25]))
    vat_included = layout == "ru_schet" and rng.random() < 0.4
    if vat_included:
        for row in rows:
            row.rate = rows[0].rate
    bank: dict[str, str] = {}
    if language == "ru":
        bank = {
            "name": rng.choice(RU_BANKS),
            "bik": "04" + _digits(rng, 7),
            "account": "40702810" + _digits(rng, 12),
            "corr": "30101810" + _digits(rng, 12),
        }
    elif language == "pl":
        bank = {"name": rng.choice(PL_BANKS)}
    sale = base.sale_date if layout in ("pl_faktura", "de_rechnung") else None
    due = None if layout == "ru_faktura" else base.due_date
    return HtmlInvoice(
        layout=layout,
        language=language,
        number=_number(rng, layout, issue),
        issue_date=issue,
        sale_date=sale,
        due_date=due,
        currency=currency,
        seller=seller,
        buyer=buyer,
        seller_tax_id=seller_tax_id,
        buyer_tax_id=buyer_tax_id,
        iban=None if language == "ru" else iban,
        iban_valid=iban_valid if language != "ru" else True,
        tax_id_valid=tax_id_valid if language in ("pl", "ru") else True,
        rows=rows,
        vat_included=vat_included,
        discount=discount,
        bank=bank,
    )


# --- how one invoice prints ---------------------------------------------------------------------

SYMBOLS = {"PLN": "zł", "EUR": "€", "GBP": "£", "USD": "$", "RUB": "₽"}
MONTHS = {
    "pl": corpus.PL_MONTHS,
    "ru": corpus.RU_MONTHS,
    "en": corpus.EN_MONTHS,
    "de": [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ],
}


class Look:
    """Number, date and cell style of one invoice (chosen once per invoice)."""

    def __init__(self, rng: random.Random, language: str) -> None:
        self.language = language
        self.decimal = "." if language == "en" else ","
        self.group = rng.choice(
            {
                "pl": [" ", "\u00a0", ".", ""],
                "ru": [" ", "\u00a0", "\u202f", ""],
                "en": [",", ",", "\u00a0", ""],
                "de": [".", ".", "\u00a0"],
            }[language]
        )
        # Where the currency goes in amount cells: a symbol before or after, the code
        # after, or nowhere (a column header or a "Waluta" line says it).
        self.currency_at = rng.choice(
            {
                "pl": ["after_symbol", "after_code", "none"],
                "ru": ["none", "none", "after_symbol"],
                "en": ["before_symbol", "before_symbol", "after_code"],
                "de": ["after_symbol", "after_symbol", "after_code"],
            }[language]
        )
        self.dates = rng.choice(
            {
                "pl": ["dmy", "iso", "words"],
                "ru": ["dmy", "words", "quoted"],
                "en": ["words_us", "words_uk", "iso", "dmy_slash"],
                "de": ["dmy", "words"],
            }[language]
        )
        # Label and value in one cell ("Data: x"), in the next cell, or the value below.
        self.meta = rng.choice(["same", "next", "below"])
        self.valign = rng.choice(["top", "middle", "bottom"])
        self.font = rng.choice(["'DejaVu Sans'", "'DejaVu Serif'", "'DejaVu Sans Condensed'"])
        self.size = rng.choice([8, 8.5, 9, 10])
        self.heading_spacing = rng.choice(["0", "0.02em", "0.08em"])
        self.upper = rng.random() < 0.4

    def money(self, value: Decimal, currency: str | None = None) -> str:
        """1 230,00 / 1.230,00 / 1,230.00 with the currency where this invoice puts it."""
        sign = "−" if value < 0 else ""
        # Grouped as corpus.Style groups (it reads only .group and .decimal).
        number = corpus.Style.money(self, abs(value))  # type: ignore[arg-type]
        if currency is None or self.currency_at == "none":
            return sign + number
        symbol = SYMBOLS.get(currency, currency)
        if self.currency_at == "before_symbol":
            return f"{sign}{symbol}{number}"
        if self.currency_at == "after_symbol":
            return f"{sign}{number}\u00a0{symbol}"
        return f"{sign}{number}\u00a0{currency}"

    def date(self, value: dt.date) -> str:
        """A date as this invoice prints it."""
        months = MONTHS[self.language]
        if self.dates == "iso":
            return value.isoformat()
        if self.dates == "dmy_slash":
            return value.strftime("%d/%m/%Y")
        if self.dates == "dmy":
            return value.strftime("%d.%m.%Y")
        if self.dates == "quoted":
            return f"«{value.day:02d}» {months[value.month - 1]} {value.year} г."
        if self.dates == "words_us":
            return f"{months[value.month - 1]} {value.day}, {value.year}"
        if self.dates == "words_uk":
            return f"{value.day} {months[value.month - 1][:3]} {value.year}"
        if self.language == "de":
            return f"{value.day}. {months[value.month - 1]} {value.year}"
        suffix = {"pl": " r.", "ru": " г."}.get(self.language, "")
        return f"{value.day} {months[value.month - 1]} {value.year}{suffix}"

    def qty(self, value: Decimal) -> str:
        """Quantities print without decimals when whole, else with the decimal comma."""
        text = str(int(value)) if value == value.to_integral() else f"{value:.2f}"
        return text.replace(".", self.decimal)

    def css(self, landscape: bool = False) -> str:
        """The page's style sheet."""
        return f"""
@page {{ size: A4{" landscape" if landscape else ""}; margin: 12mm 13mm 14mm 13mm; }}
body {{ font-family: {self.font}; font-size: {self.size}pt; color: #1d1d1d; margin: 0; }}
h1 {{ font-size: 17pt; letter-spacing: {self.heading_spacing}; margin: 6px 0;
      {"text-transform: uppercase;" if self.upper else ""} }}
table {{ border-collapse: collapse; }}
.items {{ width: 100%; margin-top: 10px; }}
.items th {{ background: #eee; font-size: 0.85em; font-weight: bold; border: 1px solid #999;
             padding: 3px 4px; vertical-align: bottom; }}
.items td {{ border: 1px solid #999; padding: 3px 4px; vertical-align: {self.valign}; }}
.n {{ text-align: right; white-space: nowrap; }}
.c {{ text-align: center; }}
.lbl {{ color: #555; }}
.small {{ font-size: 0.8em; }}
.box {{ border: 1px solid #777; padding: 6px 8px; vertical-align: top; }}
.meta td {{ padding: 1px 10px 1px 0; vertical-align: top; }}
.cells {{ display: flex; gap: 18px; margin: 8px 0; }}
.cells .lbl {{ font-size: 0.8em; text-transform: uppercase; }}
.sum td {{ padding: 2px 6px; }}
.right {{ margin-left: auto; }}
.big {{ font-size: 1.5em; font-weight: bold; }}
.muted {{ color: #777; font-size: 0.85em; }}
"""


def e(text: object) -> str:
    """HTML-escaped text."""
    return html.escape(str(text), quote=False)


def meta_block(pairs: list[tuple[str, str]], look: Look, align_right: bool = False) -> str:
    """Label/value pairs in this invoice's style: one cell, the next cell, or below."""
    if look.meta == "same":
        return "".join(f"<div><span class=lbl>{e(k)}:</span> {e(v)}</div>" for k, v in pairs)
    if look.meta == "next":
        rows = "".join(f"<tr><td class=lbl>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in pairs)
        style = ' style="margin-left:auto"' if align_right else ""
        return f"<table class=meta{style}>{rows}</table>"
    cells = "".join(
        f"<div><div class=lbl>{e(k)}</div><div><b>{e(v)}</b></div></div>" for k, v in pairs
    )
    return f"<div class=cells>{cells}</div>"


def page(look: Look, body: str, landscape: bool = False, lang: str = "en") -> str:
    """A whole HTML document."""
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>Invoice</title><style>{look.css(landscape)}</style></head>"
        f"<body>{body}</body></html>"
    )


def words(value: Decimal, language: str, currency: str) -> str:
    """The amount in words, as invoices print it under the total."""
    whole = int(value)
    cents = int((value - whole) * 100)
    if language == "pl":
        return f"{num2words(whole, lang='pl')} {currency} {cents:02d}/100"
    if language == "ru":
        text = num2words(value, lang="ru", to="currency", currency="RUB")
        return text[:1].upper() + text[1:]
    if language == "de":
        return f"{num2words(whole, lang='de')} {currency} {cents:02d}/100"
    return f"{num2words(whole, lang='en')} {currency} and {cents:02d}/100"


# --- layouts ------------------------------------------------------------------------------------


def _nip(value: str, rng: random.Random) -> str:
    if len(value) == 10 and value.isdigit() and rng.random() < 0.4:
        return f"{value[:3]}-{value[3:6]}-{value[6:8]}-{value[8:]}"
    return value


def _spaced(iban: str) -> str:
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def pl_faktura(inv: HtmlInvoice, look: Look, rng: random.Random) -> str:
    """A Polish "Faktura VAT": meta on the right, Sprzedawca/Nabywca boxes side by side,
    a bordered items table, a per-rate summary, "Razem do zapłaty" and "Słownie"."""
    cur = inv.currency
    money = look.money
    title = rng.choice(
        [
            f"<h1>Faktura VAT nr {e(inv.number)}</h1>",
            f"<h1>Faktura VAT</h1><div class=big>nr {e(inv.number)}</div>",
            f"<h1>Faktura nr {e(inv.number)}</h1>",
            f"<h1>Faktura {e(inv.number)}</h1><div class=muted>oryginał</div>",
        ]
    )
    meta = [
        ("Miejsce wystawienia", inv.seller.city.split(" ", 1)[-1]),
        ("Data wystawienia", look.date(inv.issue_date)),
        (
            rng.choice(["Data sprzedaży", "Data dostawy", "Data wykonania usługi"]),
            look.date(inv.sale_date or inv.issue_date),
        ),
    ]
    parties = []
    for heading, party, tax_id in (
        ("Sprzedawca", inv.seller, inv.seller_tax_id),
        ("Nabywca", inv.buyer, inv.buyer_tax_id),
    ):
        lines = [f"<b>{e(party.name)}</b>", e(party.address), e(party.city)]
        lines.append(f"NIP: {e(_nip(tax_id, rng))}")
        if party is inv.seller and inv.iban and rng.random() < 0.5:
            lines.append(f"{e(inv.bank['name'])}")
            lines.append(f"Nr konta: {e(_spaced(inv.iban))}")
        parties.append(
            f'<td class=box style="width:50%"><div class=lbl>{heading}</div>{"<br>".join(lines)}</td>'
        )
    discount = any(row.discount for row in inv.rows)
    heads = ["Lp.", "Nazwa towaru lub usługi", "Ilość", "J.m.", "Cena netto"]
    if discount:
        heads.append("Rabat")
    heads += ["Wartość netto", "Stawka VAT", "Kwota VAT", "Wartość brutto"]
    body_rows = []
    for index, row in enumerate(inv.rows, 1):
        tax = (row.amount * row.rate / 100).quantize(CENT, ROUND_HALF_UP)
        cells = [
            f"<td class=c>{index}</td>",
            f"<td>{e(row.description)}</td>",
            f"<td class=n>{look.qty(row.quantity)}</td>",
            f"<td>{e(row.unit)}</td>",
            f"<td class=n>{money(row.unit_price)}</td>",
        ]
        if discount:
            cells.append(f"<td class=n>{row.discount:.0f}%</td>")
        cells += [
            f"<td class=n>{money(row.amount)}</td>",
            f"<td class=c>{row.rate}%</td>",
            f"<td class=n>{money(tax)}</td>",
            f"<td class=n>{money(row.amount + tax)}</td>",
        ]
        body_rows.append(f"<tr>{''.join(cells)}</tr>")
    items = (
        "<table class=items><tr>"
        + "".join(f"<th>{h}</th>" for h in heads)
        + "</tr>"
        + "".join(body_rows)
        + "</table>"
    )
    summary_rows = "".join(
        f"<tr><td class=c>{rate}%</td><td class=n>{money(net)}</td><td class=n>{money(tax)}</td>"
        f"<td class=n>{money(net + tax)}</td></tr>"
        for rate, (net, tax) in inv.rates().items()
    )
    summary = (
        '<table class="items" style="width:60%;margin-left:auto"><tr><th>Stawka VAT</th>'
        "<th>Wartość netto</th><th>Kwota VAT</th><th>Wartość brutto</th></tr>"
        f"{summary_rows}<tr><td><b>Razem</b></td><td class=n><b>{money(inv.net)}</b></td>"
        f"<td class=n><b>{money(inv.tax)}</b></td><td class=n><b>{money(inv.gross)}</b></td></tr></table>"
    )
    to_pay_label = rng.choice(["Razem do zapłaty", "Do zapłaty", "Pozostało do zapłaty"])
    to_pay = money(inv.gross, cur) if look.currency_at != "none" else f"{money(inv.gross)} {cur}"
    due_text = look.date(inv.due_date) if inv.due_date else ""
    if inv.due_date and rng.random() < 0.4:
        due_text += f" ({(inv.due_date - inv.issue_date).days} dni)"
    payment = meta_block(
        [("Sposób płatności", "przelew"), ("Termin płatności", due_text)]
        + ([("Numer konta", _spaced(inv.iban))] if inv.iban else [])
        + ([("Waluta", cur)] if look.currency_at == "none" and rng.random() < 0.5 else []),
        look,
    )
    return page(
        look,
        f"""
<div style="display:flex;justify-content:space-between;align-items:flex-start">
  <div><div class=big style="color:#2a5d9f">{e(inv.seller.name.split(" ")[0])}</div>
  <div class=muted>{e(inv.seller.address)}, {e(inv.seller.city)}</div></div>
  <div>{meta_block(meta, look, align_right=True)}</div>
</div>
<div style="text-align:center;margin:14px 0">{title}</div>
<table style="width:100%;border-spacing:8px;border-collapse:separate"><tr>{"".join(parties)}</tr></table>
{items}
<div style="margin-top:10px">{summary}</div>
<div style="margin-top:12px;font-size:1.25em"><b>{to_pay_label}: {to_pay}</b></div>
<div>Słownie: {e(words(inv.gross, "pl", cur))}</div>
<div style="margin-top:10px">{payment}</div>
<div class=muted style="margin-top:40px;display:flex;justify-content:space-around">
<div>........................................<br>Osoba upoważniona do odbioru</div>
<div>........................................<br>Osoba upoważniona do wystawienia</div></div>
""",
        lang="pl",
    )


def _ru_party(party: corpus.Party, tax_id: str, rng: random.Random) -> str:
    name = party.name
    if rng.random() < 0.4:
        name = name.replace('"', "«", 1).replace('"', "»", 1)
    return f"{e(name)}, ИНН {tax_id}, КПП {party.kpp}, {e(party.city)}, {e(party.address)}"


def ru_schet(inv: HtmlInvoice, look: Look, rng: random.Random) -> str:
    """A 1C "Счёт на оплату": the bank table on top, "Поставщик/Покупатель" rows with the
    details in the next cell, items, "Итого / В том числе НДС / Всего к оплате", words."""
    money = look.money
    b = inv.bank
    bank = f"""
<table class=items style="width:100%">
<tr><td colspan=2 rowspan=2 style="border-bottom:none">{e(b["name"])}<br><br><span class=small>Банк получателя</span></td>
<td>БИК</td><td>{b["bik"]}</td></tr>
<tr><td>Сч. №</td><td>{b["corr"]}</td></tr>
<tr><td>ИНН {inv.seller_tax_id}</td><td>КПП {inv.seller.kpp}</td><td rowspan=2>Сч. №</td><td rowspan=2>{b["account"]}</td></tr>
<tr><td colspan=2>{e(inv.seller.name)}<br><br><span class=small>Получатель</span></td></tr>
</table>"""
    title = f"Счёт на оплату № {e(inv.number)} от {look.date(inv.issue_date)}"
    parties = f"""
<table class=meta style="width:100%">
<tr><td style="width:18%">Поставщик<br>(Исполнитель):</td><td><b>{_ru_party(inv.seller, inv.seller_tax_id, rng)}</b></td></tr>
<tr><td>Покупатель<br>(Заказчик):</td><td><b>{_ru_party(inv.buyer, inv.buyer_tax_id, rng)}</b></td></tr>
<tr><td>Основание:</td><td>Договор № {rng.randint(1, 90)} от {(inv.issue_date - dt.timedelta(days=40)).strftime("%d.%m.%Y")}</td></tr>
</table>"""
    rows = "".join(
        f"<tr><td class=c>{i}</td><td>{e(row.description)}</td><td class=n>{look.qty(row.quantity)}</td>"
        f"<td>{e(row.unit)}</td><td class=n>{money(row.unit_price)}</td><td class=n>{money(row.amount)}</td></tr>"
        for i, row in enumerate(inv.rows, 1)
    )
    items = (
        "<table class=items><tr><th>№</th><th>Товары (работы, услуги)</th><th>Кол-во</th>"
        f"<th>Ед.</th><th>Цена</th><th>Сумма</th></tr>{rows}</table>"
    )
    totals: list[tuple[str, Decimal]]
    if inv.vat_included:
        rate = inv.rows[0].rate
        totals = [("Итого:", inv.gross), (f"В том числе НДС ({rate}%):", inv.tax)]
    else:
        totals = [("Итого:", inv.net)]
        for rate, (_, tax) in inv.rates().items():
            totals.append((f"НДС {rate}%:", tax))
    totals.append(("Всего к оплате:", inv.gross))
    sums = "".join(
        f"<tr><td class=n><b>{e(k)}</b></td><td class=n style='width:22%'><b>{money(v)}</b></td></tr>"
        for k, v in totals
    )
    due_label = rng.choice(["Оплатить не позднее", "Срок оплаты:", "Оплата до"])
    return page(
        look,
        f"""
<div class=small style="text-align:center;margin-bottom:6px">Внимание! Оплата данного счёта означает согласие с условиями поставки товара.</div>
{bank}
<h1 style="border-bottom:2px solid #000;padding-bottom:4px;margin-top:16px">{title}</h1>
{parties}
{items}
<table class=sum style="width:100%">{sums}</table>
<div>Всего наименований {len(inv.rows)}, на сумму {money(inv.gross)} руб.</div>
<div><b>{e(words(inv.gross, "ru", "RUB"))}</b></div>
<div style="margin-top:8px">{due_label} {look.date(inv.due_date) if inv.due_date else ""}</div>
<div style="margin-top:30px;display:flex;gap:60px"><div>Руководитель ____________ / Иванов И. И. /</div>
<div>Бухгалтер ____________ / Петрова А. С. /</div></div>
""",
        lang="ru",
    )


def ru_faktura(inv: HtmlInvoice, look: Look, rng: random.Random) -> str:
    """A "Счёт-фактура" on the official form (landscape): numbered header lines with their
    codes on the right, the 11-column table with column numbers, "Всего к оплате"."""
    money = look.money

    def line(label: str, value: str, code: str) -> str:
        return (
            f'<div style="display:flex"><div style="flex:1"><span>{label}</span> '
            f'<span style="border-bottom:1px solid #000">{value}</span></div><div>({code})</div></div>'
        )

    seller_name = inv.seller.name
    header = "".join(
        [
            f'<div style="font-size:1.4em"><b>Счёт-фактура № {e(inv.number)} от {look.date(inv.issue_date)}</b> (1)</div>',
            line("Исправление №", "--  от  --", "1а"),
            line("Продавец:", e(seller_name), "2"),
            line("Адрес:", f"{e(inv.seller.city)}, {e(inv.seller.address)}", "2а"),
            line("ИНН/КПП продавца:", f"{inv.seller_tax_id}/{inv.seller.kpp}", "2б"),
            line("Грузоотправитель и его адрес:", "он же", "3"),
            line("Грузополучатель и его адрес:", e(inv.buyer.name), "4"),
            line("К платёжно-расчётному документу №", "--  от  --", "5"),
            line(
                "Документ об отгрузке: № п/п",
                f"1-{len(inv.rows)} № {e(inv.number)} от {inv.issue_date.strftime('%d.%m.%Y')}",
                "5а",
            ),
            line("Покупатель:", e(inv.buyer.name), "6"),
            line("Адрес:", f"{e(inv.buyer.city)}, {e(inv.buyer.address)}", "6а"),
            line("ИНН/КПП покупателя:", f"{inv.buyer_tax_id}/{inv.buyer.kpp}", "6б"),
            line("Валюта: наименование, код", "Российский рубль, 643", "7"),
            line(
                "Идентификатор государственного контракта, договора (соглашения) (при наличии):",
                "",
                "8",
            ),
        ]
    )
    heads = [
        "Наименование товара (описание выполненных работ, оказанных услуг), имущественного права",
        "Код вида товара",
        "Единица измерения: условное обозначение",
        "Количество (объём)",
        "Цена (тариф) за единицу измерения",
        "Стоимость товаров (работ, услуг), имущественных прав без налога — всего",
        "В том числе сумма акциза",
        "Налоговая ставка",
        "Сумма налога, предъявляемая покупателю",
        "Стоимость товаров (работ, услуг), имущественных прав с налогом — всего",
        "Страна происхождения товара",
    ]
    numbers = ["1", "1а", "2а", "3", "4", "5", "6", "7", "8", "9", "10"]
    rows = []
    for row in inv.rows:
        tax = (row.amount * row.rate / 100).quantize(CENT, ROUND_HALF_UP)
        rows.append(
            f"<tr><td>{e(row.description)}</td><td class=c>--</td><td class=c>{e(row.unit)}</td>"
            f"<td class=n>{look.qty(row.quantity)}</td><td class=n>{money(row.unit_price)}</td>"
            f"<td class=n>{money(row.amount)}</td><td class=c>без акциза</td><td class=c>{row.rate}%</td>"
            f"<td class=n>{money(tax)}</td><td class=n>{money(row.amount + tax)}</td><td class=c>--</td></tr>"
        )
    table = (
        "<table class=items><tr>"
        + "".join(f"<th>{h}</th>" for h in heads)
        + "</tr><tr>"
        + "".join(f"<th>{n}</th>" for n in numbers)
        + "</tr>"
        + "".join(rows)
        + f"<tr><td colspan=5><b>Всего к оплате (9)</b></td><td class=n><b>{money(inv.net)}</b></td>"
        f"<td colspan=2 class=c>X</td><td class=n><b>{money(inv.tax)}</b></td>"
        f"<td class=n><b>{money(inv.gross)}</b></td><td></td></tr></table>"
    )
    return page(
        look,
        f"""
<div class=small style="text-align:right">Приложение № 1 к постановлению Правительства Российской Федерации от 26 декабря 2011 г. № 1137</div>
{header}
{table}
<div style="margin-top:24px;display:flex;gap:40px" class=small>
<div>Руководитель организации или иное уполномоченное лицо ________ Иванов И. И.</div>
<div>Главный бухгалтер или иное уполномоченное лицо ________ Петрова А. С.</div></div>
""",
        landscape=True,
        lang="ru",
    )


def en_saas(inv: HtmlInvoice, look: Look, rng: random.Random) -> str:
    """An English SaaS invoice: "Invoice number / Date of issue / Date due" in a table,
    seller block without a heading (or "From"), "Bill to", the amount due in large type,
    a line table with a tax column, and a right-aligned summary with discount and VAT."""
    cur = inv.currency
    money = look.money
    number_label = rng.choice(["Invoice number", "Invoice #", "Invoice no."])
    meta = [
        (number_label, inv.number),
        (rng.choice(["Date of issue", "Invoice date", "Issued"]), look.date(inv.issue_date)),
        (rng.choice(["Date due", "Due date", "Payment due"]), look.date(inv.due_date)),
    ]
    seller_head = rng.choice(["", "", "<div class=lbl>From</div>"])
    vat_word = rng.choice(["VAT ID", "VAT number", "VAT Reg. No."])
    seller = (
        f"{seller_head}<b>{e(inv.seller.name)}</b><br>{e(inv.seller.address)}<br>{e(inv.seller.city)}"
        f"<br>{vat_word}: {e(inv.seller.tax_id)}"
    )
    buyer = (
        f"<div class=lbl>Bill to</div>{e(inv.buyer.name)}<br>{e(inv.buyer.address)}<br>{e(inv.buyer.city)}"
        f"<br>{vat_word}: {e(inv.buyer.tax_id)}"
    )
    rows = "".join(
        f"<tr><td>{e(row.description)}</td><td class=n>{look.qty(row.quantity)}</td>"
        f"<td class=n>{money(row.unit_price, cur)}</td><td class=n>{row.rate}%</td>"
        f"<td class=n>{money(row.amount, cur)}</td></tr>"
        for row in inv.rows
    )
    rate = inv.rows[0].rate
    summary = [("Subtotal", money(inv.subtotal, cur))]
    if inv.discount:
        off = inv.subtotal - inv.net
        summary.append((f"Discount ({inv.discount:.0f}% off)", "−" + money(off, cur)))
        summary.append(("Total excluding tax", money(inv.net, cur)))
    summary.append((f"VAT ({rate}% on {money(inv.net, cur)})", money(inv.tax, cur)))
    summary.append(("Total", money(inv.gross, cur)))
    summary.append(("Amount due", money(inv.gross, cur)))
    summary_html = "".join(
        f"<tr><td>{'<b>' + e(k) + '</b>' if k == 'Amount due' else e(k)}</td><td class=n>{v}</td></tr>"
        for k, v in summary
    )
    pay = (
        f"<div style='margin-top:16px'><b>Pay by bank transfer</b></div>"
        f"<table class=meta><tr><td class=lbl>Account holder</td><td>{e(inv.seller.name)}</td></tr>"
        f"<tr><td class=lbl>IBAN</td><td>{_spaced(inv.iban) if inv.iban else ''}</td></tr>"
        f"<tr><td class=lbl>Reference</td><td>{e(inv.number)}</td></tr></table>"
        if inv.iban
        else ""
    )
    return page(
        look,
        f"""
<div style="display:flex;justify-content:space-between"><h1>Invoice</h1>
<div class=big style="color:#635bff">{e(inv.seller.name.split(" ")[0])}</div></div>
{meta_block(meta, look)}
<div style="display:flex;gap:60px;margin-top:18px"><div>{seller}</div><div>{buyer}</div></div>
<div class=big style="margin-top:22px">{money(inv.gross, cur)} due {look.date(inv.due_date)}</div>
<table class=items style="margin-top:18px"><tr><th style="text-align:left">Description</th><th>Qty</th>
<th>Unit price</th><th>Tax</th><th>Amount</th></tr>{rows}</table>
<table class=sum style="margin-left:auto;margin-top:8px;min-width:45%">{summary_html}</table>
{pay}
<div class=muted style="margin-top:30px">Questions? Contact billing@{inv.seller.name.split(" ")[0].lower()}.example</div>
""",
        lang="en",
    )


def de_rechnung(inv: HtmlInvoice, look: Look, rng: random.Random) -> str:
    """A German DIN 5008-like "Rechnung": sender line over the buyer's address window,
    the meta block on the right, items, "Nettobetrag / zzgl. USt / Gesamtbetrag", and the
    seller's VAT ID and bank in a three-column footer."""
    cur = inv.currency
    money = look.money
    meta = [
        ("Rechnungsnummer", inv.number),
        ("Rechnungsdatum", look.date(inv.issue_date)),
        ("Leistungsdatum", look.date(inv.sale_date or inv.issue_date)),
        ("Kundennummer", str(rng.randint(10000, 99999))),
    ]
    buyer_vat = f"<br>USt-IdNr.: {inv.buyer_tax_id}" if inv.buyer_tax_id else ""
    rows = "".join(
        f"<tr><td class=c>{i}</td><td>{e(row.description)}</td><td class=n>{look.qty(row.quantity)}</td>"
        f"<td>{e(row.unit)}</td><td class=n>{money(row.unit_price, cur)}</td>"
        f"<td class=n>{row.rate} %</td><td class=n>{money(row.amount, cur)}</td></tr>"
        for i, row in enumerate(inv.rows, 1)
    )
    sums = [("Nettobetrag", money(inv.net, cur))]
    for rate, (_, tax) in inv.rates().items():
        sums.append((f"zzgl. {rate} % USt.", money(tax, cur)))
    sums.append(("Gesamtbetrag", money(inv.gross, cur)))
    sums_html = "".join(f"<tr><td>{e(k)}</td><td class=n>{v}</td></tr>" for k, v in sums)
    return page(
        look,
        f"""
<div style="display:flex;justify-content:space-between;margin-top:20px">
<div><div class=small style="text-decoration:underline">{e(inv.seller.name)} · {e(inv.seller.address)} · {e(inv.seller.city)}</div>
<div style="margin-top:8px">{e(inv.buyer.name)}<br>{e(inv.buyer.address)}<br>{e(inv.buyer.city)}{buyer_vat}</div></div>
<div>{meta_block(meta, look, align_right=True)}</div></div>
<h1 style="margin-top:40px">Rechnung</h1>
<p>Sehr geehrte Damen und Herren,<br>vielen Dank für Ihren Auftrag. Wir berechnen Ihnen folgende Leistungen:</p>
<table class=items><tr><th>Pos.</th><th>Bezeichnung</th><th>Menge</th><th>Einheit</th><th>Einzelpreis</th>
<th>USt.</th><th>Gesamtpreis</th></tr>{rows}</table>
<table class=sum style="margin-left:auto;margin-top:8px">{sums_html}</table>
<p>Zahlbar ohne Abzug bis zum {look.date(inv.due_date) if inv.due_date else ""}.</p>
<div class=muted style="margin-top:60px;border-top:1px solid #999;padding-top:6px;display:flex;justify-content:space-between">
<div>{e(inv.seller.name)}<br>{e(inv.seller.address)}<br>{e(inv.seller.city)}</div>
<div>Bankverbindung<br>IBAN: {_spaced(inv.iban) if inv.iban else ""}<br>BIC: COBADEFFXXX</div>
<div>USt-IdNr.: {inv.seller_tax_id}<br>Geschäftsführer: M. Muster<br>Amtsgericht Berlin HRB {rng.randint(10000, 99999)}</div>
</div>
""",
        lang="de",
    )


RENDER: dict[str, Callable[[HtmlInvoice, Look, random.Random], str]] = {
    "pl_faktura": pl_faktura,
    "ru_schet": ru_schet,
    "ru_faktura": ru_faktura,
    "en_saas": en_saas,
    "de_rechnung": de_rechnung,
}


def build(rng: random.Random, layout: str) -> tuple[HtmlInvoice, str]:
    """A random invoice in ``layout`` and its HTML."""
    inv = make(rng, layout)
    look = Look(rng, inv.language)
    return inv, RENDER[layout](inv, look, rng)


# --- printing -----------------------------------------------------------------------------------


def chromium_available() -> bool:
    """Whether Debian's chromium is installed where scripts/install-system.sh puts it."""
    return CHROMIUM.is_file()


def print_pdf(source: Path, target: Path) -> None:
    """Print one HTML file to PDF with headless Chromium (its own profile directory)."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        completed = subprocess.run(
            [
                str(CHROMIUM),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--print-to-pdf={target}",
                source.resolve().as_uri(),
            ],
            capture_output=True,
            timeout=PRINT_TIMEOUT,
            check=False,
        )
    if not target.is_file() or target.stat().st_size == 0:
        raise RuntimeError(
            f"chromium did not print {source.name} (exit {completed.returncode}): "
            f"{completed.stderr.decode(errors='replace')[-500:]}"
        )


def print_all(pairs: list[tuple[Path, Path]], jobs: int) -> None:
    """Print every (html, pdf) pair, ``jobs`` Chromium processes at a time."""
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(lambda pair: print_pdf(*pair), pairs))


def generate(
    out: Path, count: int, seed: int, jobs: int = 2, render: bool = True
) -> list[dict[str, object]]:
    """Write ``count`` HTML invoices, their PDFs and truth.json (+ by-layout/) to ``out``."""
    rng = random.Random(seed)
    (out / "html").mkdir(parents=True, exist_ok=True)
    entries = []
    pairs = []
    for index in range(count):
        layout = LAYOUTS[index % len(LAYOUTS)]
        inv, page_html = build(rng, layout)
        name = f"{index:04d}_html_{inv.language}_{layout}"
        source = out / "html" / f"{name}.html"
        source.write_text(page_html, encoding="utf-8")
        pairs.append((source, out / f"{name}.pdf"))
        entries.append(inv.entry(f"{name}.pdf"))
    if render:
        print_all(pairs, jobs)
    (out / "truth.json").write_text(
        json.dumps(entries, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    # The same truth with one variant per layout, for a table with a column per layout.
    by_layout = out / "by-layout"
    by_layout.mkdir(exist_ok=True)
    (by_layout / "truth.json").write_text(
        json.dumps(
            [
                entry | {"variant": entry["layout"], "file": f"../{entry['file']}"}
                for entry in entries
            ],
            ensure_ascii=False,
            indent=1,
        ),
        encoding="utf-8",
    )
    return entries


def measure(out: Path, show_errors: str | None) -> None:
    """Per-field accuracy with bench/accuracy.py's scoring: all files, then per layout."""
    sys.path.insert(0, str(ROOT / "bench"))
    import accuracy

    for corpus_dir, errors in ((out, show_errors), (out / "by-layout", None)):
        argv = ["accuracy.py", "--corpus", str(corpus_dir)]
        if errors:
            argv += ["--show-errors", errors]
        saved, sys.argv = sys.argv, argv
        try:
            accuracy.main()
        finally:
            sys.argv = saved
        print()


def main() -> None:
    """Generate and print the HTML corpus, then measure extraction on it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "html-corpus")
    parser.add_argument("--count", type=int, default=91)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--jobs", type=int, default=2, help="Chromium processes at a time")
    parser.add_argument(
        "--no-render", action="store_true", help="measure the PDFs already in --out"
    )
    parser.add_argument("--show-errors", metavar="FIELD", default=None)
    args = parser.parse_args()
    if not args.no_render:
        if not chromium_available():
            sys.exit(f"{CHROMIUM} is missing: run scripts/install-system.sh --test")
        if args.out.exists():
            shutil.rmtree(args.out)
        generate(args.out, args.count, args.seed, args.jobs)
    measure(args.out, args.show_errors)


if __name__ == "__main__":
    main()
