"""Locale number and date parsing, tax ID and IBAN candidates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from backoffice.invoices.dates import find_dates, parse_date
from backoffice.invoices.ids import find_ibans, find_tax_ids
from backoffice.invoices.numbers import find_amounts, parse_amount

NOV_20 = dt.date(2026, 11, 20)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 230,00", "1230.00"),
        ("1.230,00", "1230.00"),
        ("1,230.00", "1230.00"),
        ("1230.00", "1230.00"),
        ("1\u00a0230,00 zł", "1230.00"),
        ("12\u2009500,50", "12500.50"),
        ("1\u202f000\u202f000,01", "1000000.01"),
        ("-5,00", "-5.00"),
        ("€ 99.90", "99.90"),
        ("1.230", "1230"),
    ],
)
def test_amount_formats(text: str, expected: str) -> None:
    assert parse_amount(text) == Decimal(expected)


def test_amounts_in_text_keep_columns_apart() -> None:
    found = find_amounts("Razem   1 000,00   230,00   1 230,00 PLN, dnia 20.11.2026")
    assert [a.value for a in found] == [Decimal("1000.00"), Decimal("230.00"), Decimal("1230.00")]


def test_amounts_are_decimal_never_float() -> None:
    assert all(isinstance(a.value, Decimal) for a in find_amounts("0,10 0,20 0,30"))


@pytest.mark.parametrize(
    "text",
    [
        "20.11.2026",
        "2026-11-20",
        "20/11/2026",
        "20 listopada 2026",
        "20 ноября 2026 г.",
        "«20» ноября 2026 г.",
        "November 20, 2026",
        "20. November 2026",
        "20 Nov 2026",
        "11/20/2026",
        "20.11.26",
    ],
)
def test_date_formats(text: str) -> None:
    assert parse_date(text) == NOV_20


def test_impossible_dates_are_skipped() -> None:
    assert find_dates("31.02.2026 and 45.13.2026") == ()


def test_tax_ids_validated_by_checksum() -> None:
    found = find_tax_ids("NIP: 526-000-12-46, NIP 5260001247, ИНН/КПП 7707083893/773601001", "pl")
    assert [(c.value, c.scheme, c.valid) for c in found] == [
        ("5260001246", "pl_nip", True),
        ("5260001247", "pl_nip", False),
        ("7707083893", "ru_inn", True),
    ]


def test_eu_vat_numbers() -> None:
    found = find_tax_ids("USt-IdNr.: DE136695976  VAT PL5260001246")
    assert [(c.value, c.valid) for c in found] == [("DE136695976", True), ("5260001246", True)]


def test_dates_are_not_tax_ids() -> None:
    assert find_tax_ids("2026-04-05 2026") == ()


def test_iban_and_polish_nrb() -> None:
    found = find_ibans(
        "IBAN: PL61 1090 1014 0000 0712 1981 2874; konto 61 1090 1014 0000 0712 1981 2874; "
        "PL62 1090 1014 0000 0712 1981 2874"
    )
    assert [(c.value, c.valid) for c in found] == [
        ("PL61109010140000071219812874", True),
        ("PL61109010140000071219812874", True),
        ("PL62109010140000071219812874", False),
    ]
