"""The invoice PDF for people, in the customer's language (pl, ru, en).

Drawn with reportlab through the suite's DejaVu canvas (``invoices.corpus.Canvas``, the one
the corpus generator uses), so Polish and Cyrillic text print in one font. What it prints:

- Poland (faktura VAT, art. 106e): number, issue and sale dates, names and addresses, NIP
  of both, lines (net), net/VAT/gross per rate, VAT in PLN for a foreign currency, the
  amount due, the due date, our IBAN and the payment reference (the number);
- Russia (счёт-фактура): the same with ИНН/КПП of both, VAT per line and per rate,
  «Всего к оплате», and the bank details (р/с, банк, БИК, к/с).
"""

from __future__ import annotations

from decimal import Decimal

from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics

from backoffice.billing.document import IssuedDocument
from backoffice.billing.model import Party, plain
from backoffice.invoices.corpus import Canvas

LEFT = 40.0
RIGHT = 555.0
PAGE_BOTTOM = 790.0
FONT = "DejaVu"

LABELS: dict[str, dict[str, str]] = {
    "pl": {
        "th_unit_price": "Cena netto",
        "th_net": "Netto",
        "th_rate": "VAT %",
        "th_vat": "VAT",
        "th_gross": "Brutto",
        "title": "Faktura VAT nr {number}",
        "issue_date": "Data wystawienia",
        "sale_date": "Data sprzedaży",
        "seller": "Sprzedawca",
        "buyer": "Nabywca",
        "kpp": "KPP",
        "no": "Lp.",
        "description": "Nazwa towaru lub usługi",
        "quantity": "Ilość",
        "unit": "J.m.",
        "unit_price": "Cena netto",
        "net": "Wartość netto",
        "rate": "Stawka VAT",
        "vat": "Kwota VAT",
        "gross": "Wartość brutto",
        "summary": "Podsumowanie według stawek VAT",
        "total": "Razem",
        "vat_pln": "Kwota VAT w PLN (kurs {rate})",
        "due": "Do zapłaty",
        "due_date": "Termin płatności",
        "method": "Forma płatności",
        "transfer": "przelew",
        "account": "Numer rachunku",
        "bank": "Bank",
        "bic": "BIC/SWIFT",
        "corr": "Rachunek korespondencyjny",
        "reference": "Tytuł przelewu",
        "contract": "Umowa",
        "page": "Strona {page}",
    },
    "ru": {
        "th_unit_price": "Цена",
        "th_net": "Без НДС",
        "th_rate": "Ставка",
        "th_vat": "НДС",
        "th_gross": "С НДС",
        "title": "Счёт-фактура № {number} от {date}",
        "issue_date": "Дата выставления",
        "sale_date": "Дата отгрузки",
        "seller": "Продавец",
        "buyer": "Покупатель",
        "kpp": "КПП",
        "no": "№",
        "description": "Наименование товара (работ, услуг)",
        "quantity": "Кол-во",
        "unit": "Ед.",
        "unit_price": "Цена без НДС",
        "net": "Стоимость без НДС",
        "rate": "Ставка НДС",
        "vat": "Сумма НДС",
        "gross": "Стоимость с НДС",
        "summary": "Итого по ставкам НДС",
        "total": "Итого",
        "vat_pln": "Сумма НДС в PLN (курс {rate})",
        "due": "Всего к оплате",
        "due_date": "Срок оплаты",
        "method": "Способ оплаты",
        "transfer": "банковский перевод",
        "account": "Расчётный счёт",
        "bank": "Банк",
        "bic": "БИК",
        "corr": "Корр. счёт",
        "reference": "Назначение платежа",
        "contract": "Договор",
        "page": "Страница {page}",
    },
    "en": {
        "th_unit_price": "Unit price",
        "th_net": "Net",
        "th_rate": "VAT %",
        "th_vat": "VAT",
        "th_gross": "Gross",
        "title": "VAT invoice No. {number}",
        "issue_date": "Issue date",
        "sale_date": "Date of supply",
        "seller": "Seller",
        "buyer": "Buyer",
        "kpp": "KPP",
        "no": "No.",
        "description": "Description",
        "quantity": "Qty",
        "unit": "Unit",
        "unit_price": "Unit price",
        "net": "Net amount",
        "rate": "VAT rate",
        "vat": "VAT amount",
        "gross": "Gross amount",
        "summary": "VAT summary by rate",
        "total": "Total",
        "vat_pln": "VAT in PLN (rate {rate})",
        "due": "Amount due",
        "due_date": "Payment due date",
        "method": "Payment method",
        "transfer": "bank transfer",
        "account": "Bank account",
        "bank": "Bank",
        "bic": "BIC/SWIFT",
        "corr": "Correspondent account",
        "reference": "Payment reference",
        "contract": "Contract",
        "page": "Page {page}",
    },
}

#: The name of a tax ID by the party's country, per language.
TAX_ID_LABELS: dict[str, dict[str, str]] = {
    "pl": {"PL": "NIP", "RU": "INN", "": "NIP UE / VAT ID"},
    "ru": {"PL": "NIP", "RU": "ИНН", "": "VAT ID"},
    "en": {"PL": "Tax ID (NIP)", "RU": "Tax ID (INN)", "": "VAT ID"},
}


def format_amount(value: Decimal, language: str) -> str:
    """``1234.5`` → ``1 234,50`` (pl, ru) or ``1,234.50`` (en)."""
    text = f"{value:,.2f}"
    if language == "en":
        return text
    return text.replace(",", " ").replace(".", ",")


def format_quantity(value: Decimal, language: str) -> str:
    """A quantity without trailing zeros, decimal comma in pl/ru."""
    text = plain(value)
    return text if language == "en" else text.replace(".", ",")


def format_date(value, language: str) -> str:
    """ISO in pl/en (as Polish invoices print it), dd.mm.yyyy in ru."""
    return f"{value:%d.%m.%Y}" if language == "ru" else value.isoformat()


def spaced_account(account: str) -> str:
    """An IBAN in groups of four, as people read it; a Russian account as is."""
    if account[:2].isalpha():
        return " ".join(account[i : i + 4] for i in range(0, len(account), 4))
    return account


def _wrap(text: str, size: float, width: float) -> list[str]:
    lines = simpleSplit(text, FONT, size, width) or [""]
    # A single word wider than the column is cut rather than drawn over the next column.
    out = []
    for line in lines:
        while pdfmetrics.stringWidth(line, FONT, size) > width and len(line) > 1:
            cut = len(line) - 1
            while cut > 1 and pdfmetrics.stringWidth(line[:cut], FONT, size) > width:
                cut -= 1
            out.append(line[:cut])
            line = line[cut:]
        out.append(line)
    return out


class _Page:
    """Cursor over the pages: moves down and starts a new page when needed."""

    def __init__(self, canvas: Canvas, labels: dict[str, str]) -> None:
        self.canvas = canvas
        self.labels = labels
        self.page = 1
        self.y = 50.0

    def need(self, height: float) -> bool:
        """Start a new page if ``height`` does not fit; True when it did."""
        if self.y + height <= PAGE_BOTTOM:
            return False
        self._footer()
        self.canvas.canvas.showPage()
        self.page += 1
        self.y = 50.0
        return True

    def _footer(self) -> None:
        self.canvas.text(RIGHT, 815, self.labels["page"].format(page=self.page), 7, align="right")

    def finish(self) -> bytes:
        """Close the last page."""
        self._footer()
        return self.canvas.finish()


def _tax_label(labels: dict[str, str], language: str, party: Party) -> str:
    names = TAX_ID_LABELS[language]
    if party.tax_id[:2].isalpha() and party.country not in ("PL", "RU"):
        return names[""]
    return names.get(party.country, names[""])


def _party_lines(doc: IssuedDocument, party: Party, labels: dict[str, str]) -> list[str]:
    lines = [party.name]
    if party.address:
        lines.append(party.address)
    place = " ".join(part for part in (party.postal_code, party.city) if part)
    if place or party.country:
        lines.append(", ".join(part for part in (place, party.country) if part))
    if party.tax_id:
        lines.append(f"{_tax_label(labels, doc.language, party)}: {party.tax_id}")
    if party.kpp:
        lines.append(f"{labels['kpp']}: {party.kpp}")
    return lines


def render_pdf(doc: IssuedDocument) -> bytes:
    """The invoice PDF (without the embedded XML; see ``cii.embed``)."""
    language = doc.language
    t = LABELS[language]
    canvas = Canvas()
    title = t["title"].format(number=doc.number, date=format_date(doc.issue_date, language))
    canvas.canvas.setTitle(title)
    canvas.canvas.setAuthor(doc.seller.name)
    page = _Page(canvas, t)

    canvas.text(LEFT, page.y, title, 15, bold=True)
    page.y += 22
    for label, value in (
        (t["issue_date"], format_date(doc.issue_date, language)),
        (t["sale_date"], format_date(doc.sale_date, language)),
    ):
        canvas.text(LEFT, page.y, f"{label}: {value}", 9)
        page.y += 12
    if doc.contract_ref:
        canvas.text(LEFT, page.y, f"{t['contract']}: {doc.contract_ref}", 9)
        page.y += 12
    page.y += 10

    seller = _party_lines(doc, doc.seller, t)
    buyer = _party_lines(doc, doc.buyer, t)
    canvas.text(LEFT, page.y, t["seller"], 10, bold=True)
    canvas.text(300, page.y, t["buyer"], 10, bold=True)
    page.y += 13
    for n in range(max(len(seller), len(buyer))):
        if n < len(seller):
            canvas.text(LEFT, page.y, _wrap(seller[n], 9, 250)[0], 9)
        if n < len(buyer):
            canvas.text(300, page.y, _wrap(buyer[n], 9, 250)[0], 9)
        page.y += 12
    page.y += 12

    _items(doc, page, t)
    _summary(doc, page, t)
    _payment(doc, page, t)
    return page.finish()


def _columns(doc: IssuedDocument) -> list[tuple[str, float, str]]:
    """(label key, right edge or left x, alignment) of the items table."""
    if doc.vat_per_line:
        return [
            ("no", LEFT, "left"),
            ("description", LEFT + 22, "left"),
            ("quantity", 268, "right"),
            ("unit", 274, "left"),
            ("unit_price", 350, "right"),
            ("net", 410, "right"),
            ("rate", 450, "right"),
            ("vat", 500, "right"),
            ("gross", RIGHT, "right"),
        ]
    return [
        ("no", LEFT, "left"),
        ("description", LEFT + 22, "left"),
        ("quantity", 330, "right"),
        ("unit", 336, "left"),
        ("unit_price", 418, "right"),
        ("rate", 475, "right"),
        ("net", RIGHT, "right"),
    ]


def _items(doc: IssuedDocument, page: _Page, t: dict[str, str]) -> None:
    canvas = page.canvas
    columns = _columns(doc)
    width = (columns[2][1] - 45) - columns[1][1]

    def header() -> None:
        for key, x, align in columns:
            canvas.text(x, page.y, t.get(f"th_{key}", t[key]), 7, bold=True, align=align)
        page.y += 4
        canvas.rule(LEFT, page.y, RIGHT)
        page.y += 10

    header()
    language = doc.language
    for n, line in enumerate(doc.lines, 1):
        wrapped = _wrap(line.description, 8, width)
        if page.need(11 * len(wrapped) + 4):
            header()
        values = {
            "no": str(n),
            "quantity": format_quantity(line.quantity, language),
            "unit": line.unit,
            "unit_price": format_amount(line.unit_price, language)
            if line.unit_price == line.unit_price.quantize(Decimal("0.01"))
            else format_quantity(line.unit_price, language),
            "net": format_amount(line.net, language),
            "rate": f"{plain(line.vat_rate)}%",
            "vat": format_amount(line.vat, language) if line.vat is not None else "",
            "gross": format_amount(line.net + line.vat, language) if line.vat is not None else "",
        }
        for key, x, align in columns:
            if key == "description":
                for k, part in enumerate(wrapped):
                    canvas.text(x, page.y + 11 * k, part, 8)
            else:
                canvas.text(x, page.y, values[key], 8, align=align)
        page.y += 11 * len(wrapped) + 2
    canvas.rule(LEFT, page.y - 6, RIGHT)
    page.y += 8


def _summary(doc: IssuedDocument, page: _Page, t: dict[str, str]) -> None:
    canvas = page.canvas
    language = doc.language
    page.need(30 + 12 * (len(doc.rates) + 4))
    canvas.text(300, page.y, t["summary"], 9, bold=True)
    page.y += 13
    cols = (("rate", 340), ("net", 410), ("vat", 480), ("gross", RIGHT))
    for key, x in cols:
        canvas.text(x, page.y, t.get(f"th_{key}", t[key]), 7, bold=True, align="right")
    page.y += 11
    for rate in doc.rates:
        values = (
            f"{plain(rate.rate)}%",
            format_amount(rate.net, language),
            format_amount(rate.vat, language),
            format_amount(rate.gross, language),
        )
        for (_key, x), value in zip(cols, values, strict=True):
            canvas.text(x, page.y, value, 8, align="right")
        page.y += 11
    canvas.rule(300, page.y - 7, RIGHT)
    totals = (
        t["total"],
        format_amount(doc.total_net, language),
        format_amount(doc.total_vat, language),
        format_amount(doc.total_gross, language),
    )
    for (_key, x), value in zip(cols, totals, strict=True):
        canvas.text(x, page.y + 2, value, 8, bold=True, align="right")
    page.y += 16
    pln = doc.vat_in_pln(doc.total_vat)
    if pln is not None:
        label = t["vat_pln"].format(rate=format_quantity(doc.exchange_rate or Decimal(0), language))
        canvas.text(RIGHT, page.y, f"{label}: {format_amount(pln, language)} PLN", 8, align="right")
        page.y += 12
    page.y += 6
    due = f"{t['due']}: {format_amount(doc.total_gross, language)} {doc.currency}"
    canvas.text(RIGHT, page.y, due, 12, bold=True, align="right")
    page.y += 24


def _payment(doc: IssuedDocument, page: _Page, t: dict[str, str]) -> None:
    canvas = page.canvas
    language = doc.language
    rows = [
        (t["due_date"], format_date(doc.due_date, language)),
        (t["method"], t["transfer"]),
        (t["account"], spaced_account(doc.bank.account)),
    ]
    if doc.bank.bank_name:
        rows.append((t["bank"], doc.bank.bank_name))
    if doc.bank.bic:
        rows.append((t["bic"], doc.bank.bic))
    if doc.bank.corr_account:
        rows.append((t["corr"], doc.bank.corr_account))
    rows.append((t["reference"], doc.payment_reference))
    page.need(12 * len(rows) + 4)
    for label, value in rows:
        canvas.text(LEFT, page.y, f"{label}:", 9, bold=True)
        canvas.text(LEFT + 150, page.y, value, 9)
        page.y += 13
