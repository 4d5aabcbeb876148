"""The payments robot over a real store (SQLite and PostgreSQL): statements from the watch
folder stored once, credits matched to invoices issued through billing, and everything it
cannot settle handed to staff with the reason."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from backoffice.config import Settings
from backoffice.payments.models import NOT_PAYMENT
from backoffice.payments.service import run_payments
from backoffice.store import Store, open_store

from tests.payments.builders import (
    CUSTOMER_IBAN,
    GERMAN_IBAN,
    OTHER_OWN_IBAN,
    OUR_IBAN,
    SUPPLIER_IBAN,
    CamtStatement,
    Entry,
    Mt940Block,
    Payment,
    camt053,
    camt054,
    mt940,
)
from tests.payments.ledger import (
    BOOKED,
    LATE,
    drop,
    invoice,
    issue,
    reviews,
    snapshot,
    transactions,
)

PAYER = "KOWALSKI I WSPOLNICY SP.K."


def _camt(*payments: Payment, statement_id: str = "S1", **kwargs: object) -> bytes:
    day = payments[0].booking if payments else BOOKED
    return camt053(
        [
            CamtStatement(
                [Entry([p]) for p in payments], statement_id=statement_id, day=day, **kwargs
            )
        ]  # type: ignore[arg-type]
    )


def test_a_statement_pays_the_invoice_it_names_and_importing_it_again_changes_nothing(
    payments_store: tuple[Settings, Store],
) -> None:
    settings, store = payments_store
    first = issue(store, settings, "order-1")
    assert first.number == "FV/2026/11/0001" and first.total_gross == Decimal("1230.00")
    data = _camt(
        Payment(
            Decimal("1230.00"),
            BOOKED,
            PAYER,
            CUSTOMER_IBAN,
            "Zapłata za FV/2026/11/0001",
            bank_ref="B1",
        )
    )
    drop(settings, "wyciag.xml", data)

    report = run_payments(store, settings)

    assert (report.statements_imported, report.transactions_new) == (1, 1), report.summary()
    assert (report.payments_allocated, report.invoices_paid, report.to_review) == (1, 1, 0)
    status, paid, paid_at = invoice(store, first.invoice_id)
    assert (status, paid) == ("paid", Decimal("1230.00"))
    assert paid_at is not None and paid_at.tzinfo is not None
    watch = Path(settings.payments_watch_dir or "")
    assert [p.name for p in watch.iterdir() if p.is_file()] == []
    assert (watch / "done" / "wyciag.xml").read_bytes() == data
    before = snapshot(store)

    # The same file again (as a copy under another name), and the whole run again.
    drop(settings, "wyciag-kopia.xml", data)
    again = run_payments(store, settings)
    run_payments(store, settings)

    assert (again.statements_imported, again.statements_known, again.transactions_new) == (0, 1, 0)
    assert snapshot(store) == before
    assert (watch / "done" / "wyciag-kopia.xml").exists()


def test_overlapping_statements_and_a_notification_store_each_transaction_once(
    payments_store: tuple[Settings, Store],
) -> None:
    settings, store = payments_store
    days = [BOOKED + dt.timedelta(days=n) for n in range(3)]
    day_payments = [
        [
            Payment(
                Decimal("100.00") + n,
                day,
                "Jan Nowak",
                SUPPLIER_IBAN,
                f"Wpłata {n}",
                bank_ref=f"R{n}A",
            ),
            Payment(
                Decimal("-40.00") - n,
                day,
                "PGE Obrót S.A.",
                GERMAN_IBAN,
                "Energia",
                bank_ref=f"R{n}B",
            ),
        ]
        for n, day in enumerate(days)
    ]
    blocks = []
    opening = Decimal("5000.00")
    for n, (day, payments) in enumerate(zip(days, day_payments, strict=True)):
        block = Mt940Block(payments, opening=opening, reference=f"ST{n}", day=day)
        blocks.append(block)
        opening = block.closing_balance()
    # Days 1-2, then days 2-3 (the second day in both), then a CAMT.054 of day 3.
    drop(settings, "a.sta", mt940(blocks[:2]))
    drop(settings, "b.sta", mt940(blocks[1:]))
    notice = CamtStatement([Entry([p], bank_ref=p.bank_ref) for p in day_payments[2]], day=days[2])
    drop(settings, "c.xml", camt054(notice))

    report = run_payments(store, settings)

    assert report.statements_imported == 3, report.reasons
    stored = transactions(store)
    assert len(stored) == 6
    assert report.transactions_new == 6 and report.transactions_known == 4
    assert sorted(tx.amount for tx in stored) == sorted(
        p.amount for payments in day_payments for p in payments
    )
    debits = [tx for tx in stored if tx.amount < 0]
    assert {tx.status for tx in debits} == {NOT_PAYMENT}


def test_partial_payments_add_up_until_the_invoice_is_paid(
    payments_store: tuple[Settings, Store],
) -> None:
    settings, store = payments_store
    inv = issue(store, settings, "order-1")
    drop(
        settings,
        "1.xml",
        _camt(
            Payment(
                Decimal("500.00"), BOOKED, PAYER, CUSTOMER_IBAN, "FV 2026 11 1 cz. 1", bank_ref="P1"
            ),
            statement_id="S1",
        ),
    )
    run_payments(store, settings)
    assert invoice(store, inv.invoice_id) == ("emailed", Decimal("500.00"), None)
    assert reviews(store) == []  # before the due date a part payment is just a part payment

    day = BOOKED + dt.timedelta(days=2)
    drop(
        settings,
        "2.xml",
        _camt(
            Payment(
                Decimal("730.00"), day, PAYER, CUSTOMER_IBAN, "fv2026110001 reszta", bank_ref="P2"
            ),
            statement_id="S2",
        ),
    )
    report = run_payments(store, settings)

    status, paid, paid_at = invoice(store, inv.invoice_id)
    assert (status, paid, report.invoices_paid) == ("paid", Decimal("1230.00"), 1)
    assert paid_at == dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)  # never later than now
    assert reviews(store) == []


def test_the_invoice_number_is_found_in_any_common_spelling(
    payments_store: tuple[Settings, Store],
) -> None:
    settings, store = payments_store
    titles = [
        "Zapłata za fakturę FV/2026/11/0001",
        "FV 2026 11 2",
        "fv2026110003",
        "FAKTURA NR FV-2O26-11-OOO4",  # OCR-ish O for 0
        "платеж по счету FV\\2026\\11\\0005",
        "2026/11/0006 abonament",
        "F.V. 2026.11.0007",
    ]
    issued = [issue(store, settings, f"order-{n}") for n in range(1, len(titles) + 1)]
    # The payer's name says nothing: only the number can match.
    payments = [
        Payment(inv.total_gross, BOOKED, "Anonim", None, title, bank_ref=f"T{n}")
        for n, (inv, title) in enumerate(zip(issued, titles, strict=True))
    ]
    drop(settings, "s.xml", _camt(*payments))

    report = run_payments(store, settings)

    assert report.payments_allocated == len(titles), report.reasons
    for inv in issued:
        assert invoice(store, inv.invoice_id)[0] == "paid", inv.number
    assert {tx.matched_by for tx in transactions(store)} == {"number"}


def test_without_a_number_the_amount_and_the_customer_match(
    payments_store: tuple[Settings, Store],
) -> None:
    settings, store = payments_store
    small = issue(store, settings, "order-1", "100.00")  # 123.00
    large = issue(store, settings, "order-2", "1000.00")  # 1230.00
    other = issue(
        store,
        settings,
        "order-3",
        "100.00",
        buyer={"name": "Jan Nowak", "tax_id": "", "country": "PL"},
    )
    # By name (the bank cut it short), then by the IBAN learned from that payment, then by
    # the buyer's NIP in the title.
    drop(
        settings,
        "1.xml",
        _camt(
            Payment(
                Decimal("123.00"),
                BOOKED,
                "KOWALSKI I WSPOL",
                CUSTOMER_IBAN,
                "abonament",
                bank_ref="N1",
            ),
            statement_id="S1",
        ),
    )
    run_payments(store, settings)
    drop(
        settings,
        "2.xml",
        _camt(
            Payment(Decimal("1230.00"), BOOKED, "J. K.", CUSTOMER_IBAN, "przelew", bank_ref="N2"),
            statement_id="S2",
        ),
    )
    drop(
        settings,
        "3.xml",
        _camt(
            Payment(Decimal("123.00"), BOOKED, "NOWAK JAN", SUPPLIER_IBAN, "opłata", bank_ref="N3"),
            statement_id="S3",
        ),
    )

    report = run_payments(store, settings)

    assert report.payments_allocated == 2 and reviews(store) == [], report.reasons
    assert [invoice(store, i.invoice_id)[0] for i in (small, large, other)] == ["paid"] * 3
    assert [tx.matched_by for tx in transactions(store)] == [
        "amount+name",
        "amount+iban",
        "amount+name",
    ]


def test_over_under_unmatched_double_and_foreign_currency_payments_go_to_staff_with_the_reason(
    payments_store: tuple[Settings, Store],
) -> None:
    settings, store = payments_store
    over = issue(store, settings, "order-1")
    under = issue(store, settings, "order-2")
    paid = issue(store, settings, "order-3")
    eur = issue(store, settings, "order-4", currency="EUR")
    payments = [
        Payment(Decimal("1300.00"), BOOKED, PAYER, CUSTOMER_IBAN, "FV/2026/11/0001", bank_ref="O1"),
        Payment(Decimal("1000.00"), LATE, PAYER, CUSTOMER_IBAN, "FV/2026/11/0002", bank_ref="U1"),
        Payment(Decimal("1230.00"), BOOKED, PAYER, CUSTOMER_IBAN, "FV/2026/11/0003", bank_ref="D1"),
        Payment(
            Decimal("1230.00"), BOOKED, PAYER, CUSTOMER_IBAN, "FV/2026/11/0003 again", bank_ref="D2"
        ),
        Payment(Decimal("1230.00"), BOOKED, PAYER, CUSTOMER_IBAN, "FV/2026/11/0004", bank_ref="C1"),
        Payment(
            Decimal("77.00"), BOOKED, "Nieznany Płatnik", GERMAN_IBAN, "darowizna", bank_ref="X1"
        ),
    ]
    drop(settings, "s.xml", _camt(*payments))

    report = run_payments(store, settings)

    codes = [code for code, _reason in reviews(store, "bank_transaction")]
    assert codes == [
        "PAYMENT_OVERPAID",
        "PAYMENT_UNDERPAID",
        "PAYMENT_ALREADY_PAID",
        "PAYMENT_CURRENCY_MISMATCH",
        "PAYMENT_UNMATCHED",
    ]
    reasons = dict(reviews(store, "bank_transaction"))
    assert "70.00 PLN more than invoice FV/2026/11/0001" in reasons["PAYMENT_OVERPAID"]
    assert (
        "230.00 PLN of invoice FV/2026/11/0002 unpaid after its due date 2026-12-04"
        in (reasons["PAYMENT_UNDERPAID"])
    )
    assert "FV/2026/11/0003, which is already paid in full" in reasons["PAYMENT_ALREADY_PAID"]
    assert "FV/2026/11/0004, which is in EUR" in reasons["PAYMENT_CURRENCY_MISMATCH"]
    assert "Nieznany Płatnik" in reasons["PAYMENT_UNMATCHED"]
    assert report.to_review == 5
    assert invoice(store, over.invoice_id)[1:] == (
        Decimal("1230.00"),
        invoice(store, over.invoice_id)[2],
    )
    assert invoice(store, over.invoice_id)[2] is not None  # paid in full; the 70.00 waits
    assert invoice(store, under.invoice_id)[1:] == (Decimal("1000.00"), None)
    assert invoice(store, paid.invoice_id)[1] == Decimal("1230.00")
    assert invoice(store, eur.invoice_id)[1:] == (Decimal("0.00"), None)
    unallocated = {tx.bank_reference: tx.unallocated for tx in transactions(store)}
    assert unallocated == {
        "O1": Decimal("70.00"),
        "U1": Decimal("0.00"),
        "D1": Decimal("0.00"),
        "D2": Decimal("1230.00"),
        "C1": Decimal("1230.00"),
        "X1": Decimal("77.00"),
    }


def test_bad_statements_are_rejected_with_their_reason_and_the_robot_goes_on(
    payments_store: tuple[Settings, Store],
) -> None:
    settings, store = payments_store
    inv = issue(store, settings, "order-1")
    good = _camt(
        Payment(Decimal("1230.00"), BOOKED, PAYER, CUSTOMER_IBAN, "FV/2026/11/0001", bank_ref="G1")
    )
    cut = mt940([Mt940Block([Payment(Decimal("5.00"), BOOKED, "A", None, "x", bank_ref="Z1")])])
    drop(settings, "1-wrong.xml", b"<Document><BkToCstmrStmt><Stmt>")
    drop(settings, "2-truncated.sta", cut[: len(cut) // 2 + 40])
    drop(
        settings,
        "3-currency.xml",
        good.replace(b'Ccy="PLN"', b'Ccy="XYZ"').replace(b"<Ccy>PLN</Ccy>", b"<Ccy>XYZ</Ccy>"),
    )
    drop(
        settings,
        "4-other-account.xml",
        _camt(
            Payment(
                Decimal("1230.00"), BOOKED, PAYER, CUSTOMER_IBAN, "FV/2026/11/0001", bank_ref="F1"
            ),
            iban=OTHER_OWN_IBAN,
        ),
    )
    drop(settings, "5-not-a-statement.txt", b"Dzien dobry, w zalaczeniu wyciag.")
    drop(settings, "6-good.xml", good)

    report = run_payments(store, settings)

    assert (report.statements_imported, report.statements_rejected) == (1, 5), report.reasons
    codes = [code for code, _reason in reviews(store, "statement_import")]
    assert codes == [
        "STATEMENT_XML_MALFORMED",
        "STATEMENT_TRUNCATED",
        "STATEMENT_UNKNOWN_CURRENCY",
        "STATEMENT_FOREIGN_ACCOUNT",
        "STATEMENT_UNKNOWN_FORMAT",
    ]
    foreign = dict(reviews(store, "statement_import"))["STATEMENT_FOREIGN_ACCOUNT"]
    assert OTHER_OWN_IBAN in foreign and "not one of our accounts" in foreign
    assert [tx.bank_reference for tx in transactions(store)] == ["G1"]
    assert invoice(store, inv.invoice_id)[0] == "paid"
    watch = Path(settings.payments_watch_dir or "")
    assert sorted(p.name for p in (watch / "failed").iterdir()) == [
        "1-wrong.xml",
        "2-truncated.sta",
        "3-currency.xml",
        "4-other-account.xml",
        "5-not-a-statement.txt",
    ]
    before = snapshot(store)
    run_payments(store, settings)
    assert snapshot(store) == before


def test_own_accounts_setting_accepts_our_second_account(
    pay_settings: Callable[..., Settings],
) -> None:
    settings = pay_settings(own_accounts=f"{OUR_IBAN},{OTHER_OWN_IBAN}")
    store = open_store(settings)
    try:
        drop(
            settings,
            "a.xml",
            _camt(
                Payment(Decimal("9.00"), BOOKED, "A", None, "x", bank_ref="A1"), iban=OTHER_OWN_IBAN
            ),
        )
        report = run_payments(store, settings)
        assert (report.statements_imported, report.statements_rejected) == (1, 0), report.reasons
    finally:
        store.dispose()


def test_a_reminder_queued_before_the_payment_is_withdrawn_and_never_sent(
    pay_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    from backoffice.outbox import send_due
    from backoffice.receivables.service import chase_receivables
    from backoffice.store import OutboxEvent, OutboxMessage
    from sqlalchemy import select

    settings = pay_settings()
    store = open_store(settings)
    try:
        paid = issue(store, settings, "pays-in-time")
        open_ = issue(store, settings, "still-open")
        # A week before the due date both get a reminder, queued, not yet sent.
        monkeypatch.setenv("BACKOFFICE_NOW", "2026-11-27T09:00:00+00:00")
        assert chase_receivables(store, settings, import_payments=None).reminders == 2
        drop(
            settings,
            "wyciag.xml",
            _camt(Payment(Decimal("1230.00"), BOOKED, PAYER, CUSTOMER_IBAN, f"FV {paid.number}")),
        )

        assert run_payments(store, settings).invoices_paid == 1
        send_due(store, settings)

        with store.session() as session:
            mails = {
                (row.subject_ref, row.idempotency_key.split("/")[1]): row
                for row in session.scalars(select(OutboxMessage))
            }
            reminder = mails[(str(paid.invoice_id), "reminder")]
            assert reminder.status == "withdrawn" and reminder.sent_at is None
            assert (
                session.scalars(
                    select(OutboxEvent.status).where(OutboxEvent.outbox_pk == reminder.id)
                ).all()[-1]
                == "withdrawn"
            )
            # The other invoice's reminder and both invoice emails went out.
            assert mails[(str(open_.invoice_id), "reminder")].status == "sent"
            assert {row.status for key, row in mails.items() if key[1] != "reminder"} == {"sent"}
    finally:
        store.dispose()
