"""CAMT.053 (v2 and v8) and CAMT.054 read back exactly what the bank booked."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from backoffice.payments import IdBasis, StatementFormat, parse_statement

from tests.payments.builders import (
    CUSTOMER_IBAN,
    GERMAN_IBAN,
    OUR_IBAN,
    RU_ACCOUNT,
    RU_CUSTOMER_ACCOUNT,
    SUPPLIER_IBAN,
    TOP_KEYS,
    TX_KEYS,
    CamtStatement,
    Entry,
    Payment,
    camt053,
    camt054,
    header,
    rows,
)

DAY = dt.date(2026, 11, 20)


def _entries() -> list[Entry]:
    return [
        Entry(
            [
                Payment(
                    Decimal("1230.00"),
                    DAY,
                    "Jan Kowalski Usługi Informatyczne",
                    CUSTOMER_IBAN,
                    "Zapłata za fakturę FV/2026/11/0042",
                    bank_ref="BR2611200001",
                    end_to_end="E2E-KOWALSKI-42",
                    value=dt.date(2026, 11, 19),
                )
            ]
        ),
        Entry(
            [
                Payment(
                    Decimal("-99.99"),
                    DAY,
                    "PGE Obrót S.A.",
                    SUPPLIER_IBAN,
                    "Opłata za prąd 10/2026",
                    bank_ref="BR2611200002",
                )
            ]
        ),
        # A batch: three incoming payments booked as one entry of 1,650.50.
        Entry(
            [
                Payment(
                    Decimal("400.00"), DAY, "Müller GmbH", GERMAN_IBAN, "Invoice FV/2026/10/0007"
                ),
                Payment(
                    Decimal("1000.50"),
                    DAY,
                    "Anna Nowak",
                    None,
                    "FV 2026/11/0001 czesc 1",
                    end_to_end="NOWAK-1",
                ),
                Payment(
                    Decimal("250.00"),
                    DAY,
                    "Piotr Zieliński",
                    SUPPLIER_IBAN,
                    "F-ra 2026/11/0003",
                    bank_ref="TX-OWN-3",
                ),
            ],
            bank_ref="BATCH-2611-77",
        ),
    ]


@pytest.mark.parametrize("version", ["001.02", "001.04", "001.08"])
def test_camt053_reads_every_entry_and_splits_batches(version: str) -> None:
    [statement] = parse_statement(camt053([CamtStatement(_entries())], version=version))

    assert statement.format is StatementFormat.CAMT_053
    assert statement.version == version
    assert header(statement) == (OUR_IBAN, "PLN", Decimal("10000.00"), Decimal("12780.51"), [])
    assert statement.closing_balance.date == DAY
    assert rows(statement) == [
        (
            Decimal("1230.00"),
            "Jan Kowalski Usługi Informatyczne",
            CUSTOMER_IBAN,
            "Zapłata za fakturę FV/2026/11/0042",
        ),
        (Decimal("-99.99"), "PGE Obrót S.A.", SUPPLIER_IBAN, "Opłata za prąd 10/2026"),
        (Decimal("400.00"), "Müller GmbH", GERMAN_IBAN, "Invoice FV/2026/10/0007"),
        (Decimal("1000.50"), "Anna Nowak", None, "FV 2026/11/0001 czesc 1"),
        (Decimal("250.00"), "Piotr Zieliński", SUPPLIER_IBAN, "F-ra 2026/11/0003"),
    ]
    first = statement.transactions[0]
    assert (first.booking_date, first.value_date) == (DAY, dt.date(2026, 11, 19))
    assert first.bank_reference == "BR2611200001"
    assert first.end_to_end_id == "E2E-KOWALSKI-42"
    assert first.transaction_code == "PMNT/RCDT/DMCT"
    # Batch payments: own reference where the bank gave one, else the entry's part n.
    assert [tx.bank_reference for tx in statement.transactions[2:]] == [
        "BATCH-2611-77/1",
        "BATCH-2611-77/2",
        "TX-OWN-3",
    ]
    assert len({tx.id for tx in statement.transactions}) == 5
    assert statement.opening_balance.amount + statement.total == statement.closing_balance.amount


def test_camt053_without_namespace_or_with_a_prefix_reads_the_same() -> None:
    plain = parse_statement(camt053([CamtStatement(_entries())], namespace=False))[0]
    standard = parse_statement(camt053([CamtStatement(_entries())]))[0]
    prefixed_bytes = (
        camt053([CamtStatement(_entries())])
        .replace(b'xmlns="urn:', b'xmlns:c="urn:')
        .replace(b"<", b"<c:")
        .replace(b"<c:/", b"</c:")
        .replace(b"<c:?xml", b"<?xml")
        .replace(b"c:xmlns:xsi", b"xmlns:xsi")
    )
    prefixed = parse_statement(prefixed_bytes)[0]
    assert plain.version is None
    assert plain.to_json() == standard.to_json() == prefixed.to_json()


def test_camt053_json_contract_has_signed_strings_and_iso_dates() -> None:
    [statement] = parse_statement(camt053([CamtStatement(_entries())]))
    result = statement.to_json()
    assert list(result) == TOP_KEYS
    assert result["opening_balance"] == "10000.00"
    debit = result["transactions"][1]
    assert list(debit) == TX_KEYS
    assert debit["amount"] == "-99.99"
    assert debit["booking_date"] == "2026-11-20"


def test_pending_entries_are_left_out_and_said() -> None:
    entries = _entries()
    entries.append(Entry([Payment(Decimal("77.00"), DAY, "X", None, "pending")], status="PDNG"))
    [statement] = parse_statement(camt053([CamtStatement(entries)]))
    assert len(statement.transactions) == 5
    assert [p.code for p in statement.problems] == ["ENTRIES_NOT_BOOKED"]


def test_balance_that_does_not_add_up_is_reported() -> None:
    source = CamtStatement(_entries(), closing=Decimal("12780.00"))
    [statement] = parse_statement(camt053([source]))
    [problem] = statement.problems
    assert problem.code == "BALANCE_MISMATCH"
    assert "12780.51" in problem.message and "12780.00" in problem.message
    assert len(statement.transactions) == 5


def test_batch_whose_payments_do_not_add_up_stays_one_transaction() -> None:
    batch = Entry(
        [
            Payment(Decimal("100.00"), DAY, "A", None, "FV/1"),
            Payment(Decimal("200.00"), DAY, "B", None, "FV/2"),
        ],
        bank_ref="BATCH-BAD",
        amount_override=Decimal("310.00"),
    )
    [statement] = parse_statement(camt053([CamtStatement([batch])]))
    [tx] = statement.transactions
    assert tx.amount == Decimal("310.00")
    assert tx.remittance == "FV/1 FV/2"
    assert tx.counterparty_name is None  # two different payers: none of them is "the" one
    assert [p.code for p in statement.problems] == ["ENTRY_DETAILS_MISMATCH"]


def test_russian_account_without_iban_keeps_its_number() -> None:
    source = CamtStatement(
        [
            Entry(
                [
                    Payment(
                        Decimal("15000.00"),
                        DAY,
                        'ООО "Ромашка"',
                        RU_CUSTOMER_ACCOUNT,
                        "Оплата по счету № 17 от 01.11.2026, НДС не облагается",
                        bank_ref="RU-0001",
                    )
                ]
            )
        ],
        currency="RUB",
        other_account=RU_ACCOUNT,
    )
    [statement] = parse_statement(camt053([source]))
    assert statement.account_iban == RU_ACCOUNT
    [tx] = statement.transactions
    assert (tx.currency, tx.counterparty_iban) == ("RUB", RU_CUSTOMER_ACCOUNT)
    assert tx.counterparty_name == 'ООО "Ромашка"'
    assert tx.remittance.startswith("Оплата по счету № 17")


def test_camt054_notification_has_no_balances() -> None:
    [notification] = parse_statement(camt054(CamtStatement(_entries())))
    assert notification.format is StatementFormat.CAMT_054
    assert notification.opening_balance is None and notification.closing_balance is None
    assert notification.problems == []
    assert [tx.amount for tx in notification.transactions] == [
        Decimal("1230.00"),
        Decimal("-99.99"),
        Decimal("400.00"),
        Decimal("1000.50"),
        Decimal("250.00"),
    ]
    assert notification.transactions[0].id_basis is IdBasis.BANK_REFERENCE


def test_several_statements_of_one_account_merge_and_gaps_are_reported() -> None:
    day2 = dt.date(2026, 11, 21)
    first = CamtStatement(_entries()[:1], statement_id="S1")
    second = CamtStatement(
        [Entry([Payment(Decimal("-30.00"), day2, "Orlen", None, "Paliwo", bank_ref="BR-2")])],
        statement_id="S2",
        opening=Decimal("11230.00"),
        day=day2,
    )
    third = CamtStatement(
        [Entry([Payment(Decimal("5.00"), day2, "Bank", None, "Odsetki", bank_ref="BR-3")])],
        statement_id="S3",
        opening=Decimal("11000.00"),  # the day before closed at 11200.00: one is missing
        day=day2,
    )
    [merged] = parse_statement(camt053([first, second, third]))
    assert merged.statement_ids == ["S1", "S2", "S3"]
    assert merged.opening_balance.amount == Decimal("10000.00")
    assert merged.closing_balance.amount == Decimal("11005.00")
    assert len(merged.transactions) == 3
    assert [p.code for p in merged.problems] == ["BALANCE_GAP"]


def test_statements_of_two_accounts_in_one_file_stay_apart() -> None:
    from tests.payments.builders import OTHER_OWN_IBAN

    mine = CamtStatement(_entries()[:2])
    other = CamtStatement(_entries()[2:], iban=OTHER_OWN_IBAN, currency="EUR")
    statements = parse_statement(camt053([mine, other]))
    assert [(s.account_iban, s.currency, len(s.transactions)) for s in statements] == [
        (OUR_IBAN, "PLN", 2),
        (OTHER_OWN_IBAN, "EUR", 3),
    ]
