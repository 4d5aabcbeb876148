"""MT940: the Polish ZBP flavour in its encodings, Russian exports, plain SWIFT."""

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
    SUPPLIER_IBAN,
    Mt940Block,
    Payment,
    header,
    mt940,
    rows,
)

DAY = dt.date(2026, 11, 20)
PAYMENTS = [
    Payment(
        Decimal("1230.00"),
        DAY,
        "Jan Kowalski Usługi Informatyczne Spółka Jawna",
        CUSTOMER_IBAN,
        "Zapłata za fakturę FV/2026/11/0042 z dnia 05.11.2026, dziękuję",
        bank_ref="64605005000005",
        value=dt.date(2026, 11, 19),
    ),
    Payment(
        Decimal("-99.99"),
        DAY,
        "PGE Obrót S.A.",
        SUPPLIER_IBAN,
        "Opłata za prąd 10/2026",
        bank_ref="64605021000016",
    ),
    Payment(Decimal("500.00"), DAY, "Anna Nowak", None, "Zwrot kaucji"),
]


@pytest.mark.parametrize("encoding", ["cp1250", "cp852", "utf-8"])
@pytest.mark.parametrize("separator", ["~", "<"])
def test_polish_zbp_flavour(encoding: str, separator: str) -> None:
    data = mt940([Mt940Block(PAYMENTS)], encoding=encoding, separator=separator)
    [statement] = parse_statement(data)

    assert statement.format is StatementFormat.MT940
    assert header(statement) == (OUR_IBAN, "PLN", Decimal("10000.00"), Decimal("11630.01"), [])
    assert rows(statement) == [
        (
            Decimal("1230.00"),
            # ~32/~33 are 27 characters wide; the wrapped name is glued back together.
            "Jan Kowalski Usługi Informatyczne Spółka Jawna",
            CUSTOMER_IBAN,
            "Zapłata za fakturę FV/2026/11/0042 z dnia 05.11.2026, dziękuję",
        ),
        (Decimal("-99.99"), "PGE Obrót S.A.", SUPPLIER_IBAN, "Opłata za prąd 10/2026"),
        (Decimal("500.00"), "Anna Nowak", None, "Zwrot kaucji"),
    ]
    first = statement.transactions[0]
    assert (first.booking_date, first.value_date) == (DAY, dt.date(2026, 11, 19))
    assert first.bank_reference == "64605005000005"
    assert first.id_basis is IdBasis.BANK_REFERENCE
    assert first.transaction_code.startswith("020")
    assert statement.transactions[2].id_basis is IdBasis.CONTENT


def test_counterparty_account_from_sort_code_and_number_when_no_iban_given() -> None:
    # ~30 (bank sort code) + ~31 (account) without ~38: the IBAN is rebuilt with its check digits.
    text = (
        ":20:ST1\r\n:25:/" + OUR_IBAN + "\r\n:28C:1\r\n:60F:C261120PLN100,00\r\n"
        ":61:2611201120C50,00N152NONREF//BR1\r\n"
        ":86:020~00VE02\r\n~20FV/2026/11/0099\r\n~21˙\r\n~3010201026\r\n~310000123456789012\r\n"
        "~32JAN KOWALSKI\r\n:62F:C261120PLN150,00\r\n-\r\n"
    ).encode("cp1250")
    [tx] = parse_statement(text)[0].transactions
    assert tx.counterparty_iban == CUSTOMER_IBAN
    assert tx.remittance == "FV/2026/11/0099"


def test_ing_flavour_with_account_in_29_and_code_only_86_line() -> None:
    digits = CUSTOMER_IBAN[2:]
    text = (
        ":20:MT940\r\n:25:" + OUR_IBAN + "PLN\r\n:28C:00001\r\n:60F:C261120PLN0,00\r\n"
        ":61:2611201120C12,30S15000000029217\r\n:86:150\r\n"
        ":86:150~00B150PRZELEW ZEWNĘTRZNY PRZY\r\n~20Faktura FV 12/2026\r\n~21\r\n~22\r\n"
        "~29" + digits + "\r\n~32KOWALSKI SPÓŁKA Z O.O.    \r\n~33        UL. DŁUGA 104\r\n"
        "~34150\r\n~6222-222 WARSZAWA\r\n:62F:C261120PLN12,30\r\n"
    ).encode("cp1250")
    [statement] = parse_statement(text)
    assert statement.account_iban == OUR_IBAN  # the currency appended to :25: is dropped
    [tx] = statement.transactions
    assert tx.counterparty_iban == CUSTOMER_IBAN
    assert tx.remittance == "Faktura FV 12/2026"
    assert tx.counterparty_name == "KOWALSKI SPÓŁKA Z O.O. UL. DŁUGA 104"
    assert tx.bank_reference is None and tx.id_basis is IdBasis.CONTENT


def test_russian_export_in_windows_1251() -> None:
    payments = [
        Payment(
            Decimal("15000.00"),
            DAY,
            'ООО "Ромашка"',
            None,
            "Оплата по счету № 17 от 01.11.2026 за услуги связи, НДС не облагается",
            bank_ref="RU0000001",
        ),
        Payment(Decimal("-1200.50"), DAY, "ПАО Сбербанк", None, "Комиссия за ведение счета"),
    ]
    block = Mt940Block(payments, account=RU_ACCOUNT, currency="RUR", opening=Decimal("0"))
    [statement] = parse_statement(mt940([block], flavour="free", encoding="cp1251"))
    assert statement.account_iban == RU_ACCOUNT
    assert statement.currency == "RUB"  # RUR, the old code Russian banks still print
    assert statement.closing_balance.amount == Decimal("13799.50")
    assert statement.problems == []
    assert [tx.remittance for tx in statement.transactions] == [
        'ООО "Ромашка" Оплата по счету № 17 от 01.11.2026 за услуги связи, НДС не облагается',
        "ПАО Сбербанк Комиссия за ведение счета",
    ]
    assert {tx.currency for tx in statement.transactions} == {"RUB"}


def test_plain_swift_flavour_with_slash_keywords() -> None:
    payments = [
        Payment(
            Decimal("840.00"),
            DAY,
            "Müller GmbH",
            GERMAN_IBAN,
            "Invoice FV/2026/10/0007 and FV/2026/10/0008",
            end_to_end="MUELLER-2026-7",
        ),
        Payment(Decimal("-15.00"), DAY, None, None, "Account fee November"),
    ]
    block = Mt940Block(payments, currency="EUR", opening=Decimal("-100.00"))
    [statement] = parse_statement(mt940([block], flavour="slash", encoding="utf-8", newline="\n"))
    assert statement.opening_balance.amount == Decimal("-100.00")  # an overdraft is negative
    assert statement.closing_balance.amount == Decimal("725.00")
    first, fee = statement.transactions
    assert (first.counterparty_name, first.counterparty_iban) == ("Müller GmbH", GERMAN_IBAN)
    assert first.remittance == "Invoice FV/2026/10/0007 and FV/2026/10/0008"
    assert first.end_to_end_id == "MUELLER-2026-7"
    assert first.id_basis is IdBasis.END_TO_END_ID
    assert (fee.amount, fee.remittance, fee.counterparty_name) == (
        Decimal("-15.00"),
        "Account fee November",
        None,
    )


def test_plain_free_text_86_wrapped_at_65_characters_is_glued_back() -> None:
    title = "Payment for invoice FV/2026/11/0123456789 and FV/2026/11/0123456790 thank you"
    [statement] = parse_statement(
        mt940([Mt940Block([Payment(Decimal("1.00"), DAY, None, None, title)])], flavour="free")
    )
    assert statement.transactions[0].remittance == title


def test_german_structured_86_is_read_through_the_library() -> None:
    text = (
        ":20:STARTUMS\n:25:37040044/0532013000\n:28C:00001/001\n:60F:C261120EUR1000,00\n"
        ":61:2611201120CR250,00NTRFNONREF//BANKREF1\n"
        ":86:166?00GUTSCHR. UEBERWEISUNG?109310?20EREF+INV-2026-55?21SVWZ+Rechnung FV/2026/11/\n"
        "?220055?30COBADEFFXXX?31" + GERMAN_IBAN + "?32Max Mustermann\n"
        ":62F:C261120EUR1250,00\n-\n"
    ).encode()
    [statement] = parse_statement(text)
    assert statement.account_iban == GERMAN_IBAN  # BLZ/account turned into the IBAN
    [tx] = statement.transactions
    assert tx.amount == Decimal("250.00")
    assert tx.counterparty_name == "Max Mustermann"
    assert tx.counterparty_iban == GERMAN_IBAN
    assert "FV/2026/11/0055" in tx.remittance
    assert tx.end_to_end_id == "INV-2026-55"
    assert tx.bank_reference == "BANKREF1"


def test_reversal_of_a_credit_is_money_out() -> None:
    text = (
        ":20:R1\n:25:/" + OUR_IBAN + "\n:28C:1\n:60F:C261120PLN100,00\n"
        ":61:2611201120RC40,00NTRFNONREF//REV1\n:86:020~00STORNO~20Zwrot blednego przelewu\n"
        ":62F:C261120PLN60,00\n-\n"
    ).encode()
    [statement] = parse_statement(text)
    [tx] = statement.transactions
    assert (tx.amount, tx.reversal) == (Decimal("-40.00"), True)
    assert statement.problems == []


def test_daily_blocks_merge_into_one_statement_and_gaps_are_reported() -> None:
    day2 = dt.date(2026, 11, 21)
    first = Mt940Block(PAYMENTS[:1], reference="ST1", day=DAY)
    second = Mt940Block(
        [Payment(Decimal("-30.00"), day2, "Orlen", None, "Paliwo", bank_ref="BR-2")],
        reference="ST2",
        opening=Decimal("11230.00"),
        day=day2,
    )
    [merged] = parse_statement(mt940([first, second]))
    assert merged.statement_ids == ["ST1", "ST2"]
    assert (merged.opening_balance.amount, merged.closing_balance.amount) == (
        Decimal("10000.00"),
        Decimal("11200.00"),
    )
    assert merged.problems == []
    gap = Mt940Block(second.payments, reference="ST2", opening=Decimal("11000.00"), day=day2)
    [with_gap] = parse_statement(mt940([first, gap]))
    assert [p.code for p in with_gap.problems] == ["BALANCE_GAP"]


def test_mismatching_closing_balance_is_reported() -> None:
    [statement] = parse_statement(mt940([Mt940Block(PAYMENTS, closing=Decimal("11630.00"))]))
    assert [p.code for p in statement.problems] == ["BALANCE_MISMATCH"]


def test_invalid_counterparty_iban_is_dropped_with_a_problem() -> None:
    broken = CUSTOMER_IBAN[:-1] + ("3" if CUSTOMER_IBAN[-1] != "3" else "4")
    payment = Payment(Decimal("10.00"), DAY, "Jan", broken, "FV/1", bank_ref="B1")
    [statement] = parse_statement(mt940([Mt940Block([payment])]))
    assert statement.transactions[0].counterparty_iban is None
    assert [p.code for p in statement.problems] == ["COUNTERPARTY_IBAN_INVALID"]
