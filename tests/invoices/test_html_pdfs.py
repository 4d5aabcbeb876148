"""Invoices written as HTML and printed by Chromium, and the generic fixes they led to.

The first part prints invoices of bench/html_invoices.py (a Polish Faktura VAT, a 1C Счёт
на оплату, a Счёт-фактура form, an English SaaS invoice, a German Rechnung) with the real
headless Chromium and reads them back. The rest checks each fix at the function it changed,
on positioned text built here, so it runs without a browser.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from backoffice.invoices import extract
from backoffice.invoices import labels as L
from backoffice.invoices.fields import TextFieldExtractor, _invoice_number
from backoffice.invoices.layout import Chunk, PageText, build_lines
from backoffice.invoices.limits import Limits
from backoffice.invoices.model import Source
from backoffice.invoices.readers.pdf import _unoverlap, read_pdf

from bench import html_invoices

needs_chromium = pytest.mark.skipif(
    not html_invoices.chromium_available(),
    reason=f"{html_invoices.CHROMIUM} is not installed (scripts/install-system.sh --test)",
)
LAYOUTS = ["pl_faktura", "ru_schet", "ru_faktura", "en_saas", "de_rechnung"]


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, object]]:
    """Two invoices per layout, printed by Chromium once for the module."""
    if not html_invoices.chromium_available():
        pytest.skip(f"{html_invoices.CHROMIUM} is not installed (scripts/install-system.sh --test)")
    folder = tmp_path_factory.mktemp("html")
    rng = random.Random(20261124)
    invoices = {}
    pairs = []
    for layout in LAYOUTS:
        for n in range(2):
            invoice, page = html_invoices.build(rng, layout)
            source = folder / f"{layout}_{n}.html"
            source.write_text(page, encoding="utf-8")
            pairs.append((source, folder / f"{layout}_{n}.pdf"))
            invoices[f"{layout}_{n}"] = (folder / f"{layout}_{n}.pdf", invoice)
    html_invoices.print_all(pairs, jobs=2)
    return invoices


@needs_chromium
@pytest.mark.parametrize("name", [f"{layout}_{n}" for layout in LAYOUTS for n in range(2)])
def test_chromium_invoice_key_fields(printed: dict, name: str) -> None:
    path, invoice = printed[name]
    result = extract(path)
    assert result.source.value == "text"
    assert result.language == invoice.language
    assert result.kind.value == "invoice"
    assert result.value("invoice_number") == invoice.number
    assert result.value("issue_date") == invoice.issue_date
    assert result.value("total_gross") == invoice.gross
    assert result.value("total_net") == invoice.net
    assert result.value("total_tax") == invoice.tax
    assert result.value("currency") == invoice.currency
    if invoice.due_date:
        assert result.value("due_date") == invoice.due_date
    # A German Rechnung names neither party; the buyer's VAT ID under the address window
    # comes first, the seller's stands in the footer with the bank details.
    assert result.value("seller_tax_id") == invoice.seller_tax_id
    if invoice.buyer_tax_id:
        assert result.value("buyer_tax_id") == invoice.buyer_tax_id
    if invoice.iban:
        assert result.value("iban") == invoice.iban


@needs_chromium
def test_chromium_text_layer_is_read_as_words(printed: dict) -> None:
    # Chromium writes kerned glyph runs; the page must read as words, not letters.
    path, invoice = printed["pl_faktura_0"]
    content = read_pdf(path.read_bytes(), Limits())
    text = content.pages[0].text
    assert "Sprzedawca" in text
    assert "Nabywca" in text
    assert invoice.seller.name in text
    assert " a " not in text.replace("Sp. z o.o.", "")


# --- the fixes, function by function ---------------------------------------------------------


def _page(rows: list[list[tuple[float, str]]], gap: float = 14.0) -> list[PageText]:
    """Lines of (x, text) segments, 9 pt high, ``gap`` points apart, as one page."""
    chunks = []
    for number, row in enumerate(rows):
        top = 40 + number * gap
        for x, text in row:
            chunks.append(Chunk(text, (x, top, x + 4.6 * len(text), top + 9)))
    return [PageText(1, Source.TEXT, build_lines(chunks, 1), 595.0, 842.0)]


def _fields(rows: list[list[tuple[float, str]]], gap: float = 14.0) -> dict:
    fields, lines, _, _ = TextFieldExtractor(_page(rows, gap)).run()
    return {name: field.value for name, field in fields.items()} | {"lines": lines}


def test_overlapping_runs_are_narrowed_apart() -> None:
    # "k" kerned under "t": each box stops where the other began (PDF coordinates).
    boxes = [[76.4, 789.8, 88.4, 774.4], [88.3, 788.7, 97.1, 774.4], [99.1, 785.5, 110.1, 774.2]]
    _unoverlap(boxes)
    assert boxes[0][2] < 88.3 < boxes[1][0]
    assert boxes[0][0] < boxes[0][2]
    assert boxes[1][0] < boxes[1][2]
    assert boxes[2] == [99.1, 785.5, 110.1, 774.2]


def test_runs_on_different_lines_are_left_alone() -> None:
    boxes = [[50.0, 700.0, 90.0, 690.0], [60.0, 680.0, 120.0, 670.0]]
    _unoverlap(boxes)
    assert boxes == [[50.0, 700.0, 90.0, 690.0], [60.0, 680.0, 120.0, 670.0]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" FV 418/11/2026", "FV 418/11/2026"),
        (": СФ 45", "СФ 45"),
        (" 16/12/2026", "16/12/2026"),
        (" FS/2026/02/436", "FS/2026/02/436"),
        (" 15.08.2026", None),
        (" 15 sierpnia 2026", None),
        (" konta 12", None),
    ],
)
def test_invoice_number_shapes(text: str, expected: str | None) -> None:
    found = _invoice_number(text)
    assert (found[0][0] if found else None) == expected


@pytest.mark.parametrize(
    ("label", "text"),
    [
        (L.ISSUE_DATE, "Issued"),
        (L.DUE_DATE, "Date due"),
        (L.DUE_DATE, "Zahlbar ohne Abzug bis zum 26.03.2026"),
        (L.DUE_DATE, "Оплатить не позднее 25.03.2026"),
        (L.INVOICE_TITLE_ALONE, "FAKTURA VAT"),
        (L.ISSUE_DATE_AFTER_NUMBER, "Договор № 5 от 01.02.2026"),
    ],
)
def test_label_variants(label: L.Label, text: str) -> None:
    assert label.search(text)


def test_number_under_a_title_alone() -> None:
    got = _fields([[(200, "FAKTURA VAT")], [(205, "nr FS/2026/02/436")], [(40, "Razem 1,00")]])
    assert got["invoice_number"] == "FS/2026/02/436"


def test_labelled_issue_date_beats_a_contract_date_in_the_items() -> None:
    got = _fields(
        [
            [(300, "DATA WYSTAWIENIA"), (420, "DATA SPRZEDAŻY")],
            [(300, "07.04.2026"), (420, "05.04.2026")],
            [(40, "Faktura VAT nr 12/04/2026")],
            [(40, "Szkolenie – zgodnie z umową nr 9/2026 z dnia 01.10.2025"), (400, "100,00")],
        ]
    )
    assert got["issue_date"] == dt.date(2026, 4, 7)
    assert got["sale_date"] == dt.date(2026, 4, 5)


def test_date_after_the_invoice_number_beats_the_contract_date() -> None:
    got = _fields(
        [
            [(40, "Счёт на оплату № 57 от 17.03.2026")],
            [(40, "Основание:"), (150, "Договор № 22 от 05.02.2026")],
            [(40, "Всего к оплате:"), (400, "1 200,00")],
        ]
    )
    assert got["invoice_number"] == "57"
    assert got["issue_date"] == dt.date(2026, 3, 17)


def test_a_date_wrapped_onto_the_next_line() -> None:
    got = _fields(
        [
            [(40, "Счёт на оплату № 00БП-000182 от 17 марта")],
            [(40, "2026 г.")],
            [(40, "Основание:"), (150, "Договор № 22 от 05.02.2026")],
            [(40, "Всего к оплате:"), (400, "1 200,00")],
        ],
        gap=12,
    )
    assert got["issue_date"] == dt.date(2026, 3, 17)


def test_net_from_vat_included_in_the_total() -> None:
    got = _fields(
        [
            [(40, "Счёт на оплату № 5 от 17.03.2026")],
            [(300, "Итого:"), (450, "1 200,00")],
            [(300, "В том числе НДС (20%):"), (450, "200,00")],
            [(300, "Всего к оплате:"), (450, "1 200,00")],
        ]
    )
    assert got["total_gross"] == Decimal("1200.00")
    assert got["total_tax"] == Decimal("200.00")
    assert got["total_net"] == Decimal("1000.00")


def test_item_header_wrapped_upwards() -> None:
    # Bottom-aligned header cells: "Cena" and "Wartość" sit over their "netto".
    header_top = [(240, "Cena"), (300, "Wartość"), (360, "Stawka"), (420, "Wartość")]
    header = [(40, "Lp."), (60, "Nazwa"), (200, "Ilość"), (240, "netto"), (300, "netto")]
    header += [(360, "VAT"), (420, "brutto")]
    first = [(40, "1"), (60, "Usługa"), (200, "2"), (240, "50,00"), (300, "100,00")]
    second = [(40, "2"), (60, "Licencja"), (200, "1"), (240, "200,00"), (300, "200,00")]
    rows = [[*first, (360, "23%"), (420, "123,00")], [*second, (360, "23%"), (420, "246,00")]]
    got = _fields(
        [[(40, "Faktura VAT nr 1/2026")], header_top, header, *rows, [(40, "Razem 369,00")]],
        gap=10,
    )
    assert [line.net for line in got["lines"]] == [Decimal("100.00"), Decimal("200.00")]
    assert [line.unit_price for line in got["lines"]] == [Decimal("50.00"), Decimal("200.00")]


def test_two_small_lines_beside_a_tall_word_stay_apart() -> None:
    chunks = [
        Chunk("Metal-Agro", (40, 40, 120, 58)),
        Chunk("Miejsce wystawienia:", (300, 40, 390, 48)),
        Chunk("Kraków", (395, 40, 425, 48)),
        Chunk("Data wystawienia:", (300, 50, 380, 58)),
        Chunk("8 lutego 2026 r.", (385, 50, 450, 58)),
    ]
    texts = [line.text for line in build_lines(chunks, 1)]
    assert texts == [
        "Metal-Agro   Miejsce wystawienia: Kraków",
        "Data wystawienia: 8 lutego 2026 r.",
    ]


def test_party_details_end_at_the_next_party_label() -> None:
    # The seller's INN has a wrong check digit: the buyer's valid one below must not win.
    got = _fields(
        [
            [(40, "Счёт на оплату № 5 от 17.03.2026")],
            [(40, "Поставщик"), (150, 'ООО "Гранит", ИНН 1689408565, КПП 871003046,')],
            [(40, "(Исполнитель):"), (150, "Невский пр., д. 28")],
            [(40, "Покупатель"), (150, 'ПАО "Волга", ИНН 3953000771, КПП 842503947')],
            [(40, "Всего к оплате:"), (400, "1 200,00")],
        ]
    )
    assert got["seller_tax_id"] == "1689408565"
    assert got["buyer_tax_id"] == "3953000771"
    assert got["seller_name"] == 'ООО "Гранит"'


@needs_chromium
def test_unlabelled_vat_ids_the_one_with_the_bank_details_is_the_sellers(tmp_path: Path) -> None:
    # A German letter: the buyer's VAT ID under the address window comes first, the
    # seller's stands in the footer beside the IBAN; no heading says whose is whose.
    rng = random.Random(7)
    invoice, page = html_invoices.build(rng, "de_rechnung")
    while not invoice.buyer_tax_id:
        invoice, page = html_invoices.build(rng, "de_rechnung")
    source, target = tmp_path / "rechnung.html", tmp_path / "rechnung.pdf"
    source.write_text(page, encoding="utf-8")
    html_invoices.print_pdf(source, target)
    document = pdfium.PdfDocument(target)
    text = document[0].get_textpage().get_text_range()
    document.close()
    assert text.index(invoice.buyer_tax_id) < text.index(invoice.seller_tax_id)
    result = extract(target)
    assert result.value("seller_tax_id") == invoice.seller_tax_id
    assert result.value("buyer_tax_id") == invoice.buyer_tax_id
