"""Transaction ids: the same booking has the same id in every file, different bookings differ."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from backoffice.payments import IdBasis, parse_statement

from tests.payments.builders import (
    CUSTOMER_IBAN,
    OTHER_OWN_IBAN,
    CamtStatement,
    Entry,
    Mt940Block,
    Payment,
    camt053,
    camt054,
    mt940,
)

D1, D2, D3 = dt.date(2026, 11, 18), dt.date(2026, 11, 19), dt.date(2026, 11, 20)


def _day(day: dt.date, refs: bool) -> list[Payment]:
    """A day's bookings, among them two identical card payments (same amount, shop, title)."""
    tag = day.strftime("%d")
    card = Payment(Decimal("-12.50"), day, "Żabka 1234", None, "Płatność kartą")
    return [
        Payment(
            Decimal("1230.00"),
            day,
            "Jan Kowalski",
            CUSTOMER_IBAN,
            f"FV/2026/11/00{tag}",
            bank_ref=f"BR{tag}01" if refs else None,
        ),
        card,
        card,
        Payment(Decimal("-99.99"), day, "PGE Obrót S.A.", None, "Opłata za prąd", f"BR{tag}02")
        if refs
        else Payment(Decimal("-99.99"), day, "PGE Obrót S.A.", None, "Opłata za prąd"),
    ]


def _mt940_file(days: list[dt.date], refs: bool) -> bytes:
    blocks = []
    opening = Decimal("5000.00")
    for day in days:
        block = Mt940Block(_day(day, refs), opening=opening, reference=f"ST{day:%m%d}", day=day)
        blocks.append(block)
        opening = block.closing_balance()
    return mt940(blocks)


def _camt_file(days: list[dt.date], refs: bool) -> bytes:
    statements = []
    opening = Decimal("5000.00")
    for day in days:
        statement = CamtStatement(
            [Entry([p]) for p in _day(day, refs)],
            opening=opening,
            statement_id=f"S{day:%m%d}",
            day=day,
        )
        statements.append(statement)
        opening = statement.closing_balance()
    return camt053(statements)


@pytest.mark.parametrize("build", [_mt940_file, _camt_file])
@pytest.mark.parametrize("refs", [True, False], ids=["bank-references", "content-only"])
def test_overlapping_statements_give_the_same_ids(build, refs: bool) -> None:
    [early] = parse_statement(build([D1, D2], refs))
    [late] = parse_statement(build([D2, D3], refs))
    [again] = parse_statement(build([D1, D2], refs))

    early_ids = [tx.id for tx in early.transactions]
    assert len(set(early_ids)) == 8  # every booking its own id, the identical card payments too
    assert early_ids == [tx.id for tx in again.transactions]  # imported twice: same ids
    day2_early = [tx.id for tx in early.transactions if tx.booking_date == D2]
    day2_late = [tx.id for tx in late.transactions if tx.booking_date == D2]
    assert day2_early == day2_late and len(day2_early) == 4
    union = {tx.id for tx in early.transactions} | {tx.id for tx in late.transactions}
    assert len(union) == 12  # three days of four bookings: stored once each
    expected_basis = IdBasis.BANK_REFERENCE if refs else IdBasis.CONTENT
    assert early.transactions[0].id_basis is expected_basis


def test_notification_and_statement_with_the_same_bank_reference_share_ids() -> None:
    statement = CamtStatement([Entry([p]) for p in _day(D1, refs=True)], day=D1)
    [notified] = parse_statement(camt054(statement))
    [booked] = parse_statement(camt053([statement], version="001.02"))
    assert [tx.id for tx in notified.transactions] == [tx.id for tx in booked.transactions]


def test_same_reference_on_another_account_is_another_transaction() -> None:
    mine = CamtStatement([Entry([p]) for p in _day(D1, refs=True)], day=D1)
    other = CamtStatement(mine.entries, day=D1, iban=OTHER_OWN_IBAN)
    [a] = parse_statement(camt053([mine]))
    [b] = parse_statement(camt053([other]))
    assert not {tx.id for tx in a.transactions} & {tx.id for tx in b.transactions}


def test_a_changed_amount_or_title_is_a_different_transaction() -> None:
    [base] = parse_statement(_mt940_file([D1], refs=False))
    payments = _day(D1, refs=False)
    payments[0] = Payment(Decimal("1230.01"), D1, "Jan Kowalski", CUSTOMER_IBAN, "FV/2026/11/0018")
    payments[3] = Payment(Decimal("-99.99"), D1, "PGE Obrót S.A.", None, "Opłata za gaz")
    [changed] = parse_statement(mt940([Mt940Block(payments)]))
    before = [tx.id for tx in base.transactions]
    after = [tx.id for tx in changed.transactions]
    assert before[1:3] == after[1:3]
    assert before[0] != after[0] and before[3] != after[3]
