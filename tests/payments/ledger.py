"""Helpers of the payments tests: invoices issued through billing, statement files in the
watch folder, and the store's payment state read back as plain values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

from backoffice.billing.model import parse_request
from backoffice.billing.models import IssuedInvoice
from backoffice.billing.service import IssueOutcome, issue_invoice
from backoffice.config import Settings
from backoffice.payments.models import (
    BankTransactionRecord,
    PaymentAllocation,
    PaymentMail,
    StatementImport,
)
from backoffice.store import ReviewItem, Store
from sqlalchemy import select

from tests.billing.requests import pl_request

#: The booking day of the statements (the day after the invoices were issued).
BOOKED = dt.date(2026, 11, 21)
#: A day after the invoices' due date (issued 2026-11-20, due in 14 days).
LATE = dt.date(2026, 12, 10)


def issue(
    store: Store,
    settings: Settings,
    key: str,
    net: str = "1000.00",
    *,
    buyer: dict[str, Any] | None = None,
    currency: str = "PLN",
) -> IssueOutcome:
    """Issue one invoice (one line at 23 % VAT) through the billing use case."""
    data = pl_request(
        key,
        currency=currency,
        lines=[
            {
                "description": "Abonament",
                "quantity": "1",
                "unit": "szt.",
                "unit_price": net,
                "vat_rate": "23",
            }
        ],
    )
    if currency != "PLN":
        data["exchange_rate"] = "4.2500"
    if buyer:
        data["buyer"] = {**data["buyer"], **buyer}
    return issue_invoice(store, settings, parse_request(data))


def drop(settings: Settings, name: str, data: bytes) -> Path:
    """Put a statement file into the watch folder."""
    assert settings.payments_watch_dir is not None
    path = Path(settings.payments_watch_dir) / name
    path.write_bytes(data)
    return path


def invoice(store: Store, invoice_id: int) -> tuple[str, Decimal, dt.datetime | None]:
    """(status, paid_total, paid_at) of an issued invoice."""
    with store.session() as session:
        row = session.get(IssuedInvoice, invoice_id)
        assert row is not None
        return row.status, Decimal(row.paid_total), row.paid_at


def reviews(store: Store, subject_type: str | None = None) -> list[tuple[str, str]]:
    """(reason code, reason) of the open review items, oldest first."""
    with store.session() as session:
        query = select(ReviewItem).where(ReviewItem.status == "open").order_by(ReviewItem.id)
        if subject_type:
            query = query.where(ReviewItem.subject_type == subject_type)
        return [(item.reason_code, item.reason) for item in session.scalars(query)]


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every payments record and every invoice's paid state, to compare before and after."""
    with store.session() as session:
        return {
            "imports": [
                (r.source_key, r.status, r.reason_code, r.transactions, r.transactions_new)
                for r in session.scalars(select(StatementImport).order_by(StatementImport.id))
            ],
            "transactions": [
                (r.tx_id, r.amount, r.status, r.matched_by, r.unallocated, r.reason_code)
                for r in session.scalars(
                    select(BankTransactionRecord).order_by(BankTransactionRecord.id)
                )
            ],
            "allocations": [
                (r.transaction_pk, r.invoice_pk, r.amount)
                for r in session.scalars(select(PaymentAllocation).order_by(PaymentAllocation.id))
            ],
            "invoices": [
                (r.number, r.status, r.paid_total, r.paid_at)
                for r in session.scalars(select(IssuedInvoice).order_by(IssuedInvoice.id))
            ],
            "reviews": [
                (r.subject_type, r.subject_ref, r.reason_code, r.status)
                for r in session.scalars(select(ReviewItem).order_by(ReviewItem.id))
            ],
            "mails": [
                (r.message_pk, r.verdict, r.reason_code)
                for r in session.scalars(select(PaymentMail).order_by(PaymentMail.id))
            ],
        }


def transactions(store: Store) -> list[BankTransactionRecord]:
    """Every stored bank transaction, in id order (detached)."""
    with store.session() as session:
        return list(
            session.scalars(select(BankTransactionRecord).order_by(BankTransactionRecord.id))
        )


def seed_invoices(
    store: Store, count: int, gross: Decimal = Decimal("1230.00"), *, start: int = 1
) -> list[tuple[int, str]]:
    """``count`` emailed invoices FV/2026/11/NNNN of one buyer, as billing leaves them, stored
    directly (no documents: for the tests and benchmarks that need many); [(id, number)]."""
    buyer = {
        "name": "Kowalski i Wspólnicy sp.k.",
        "address": "ul. Długa 5/7",
        "postal_code": "00-950",
        "city": "Warszawa",
        "country": "PL",
        "tax_id": "5260001246",
        "kpp": "",
        "email": "jan.kowalski@example.test",
    }
    net = (gross / Decimal("1.23")).quantize(Decimal("0.01"))
    issued = dt.date(2026, 11, 20)
    with store.session() as session:
        rows = [
            IssuedInvoice(
                source_key=f"seed:{seq}",
                series="FV",
                period="2026-11",
                seq=seq,
                number=f"FV/2026/11/{seq:04}",
                issue_date=issued,
                sale_date=issued,
                due_date=issued + dt.timedelta(days=14),
                currency="PLN",
                language="pl",
                buyer=buyer,
                buyer_email=buyer["email"],
                total_net=net,
                total_vat=gross - net,
                total_gross=gross,
                status="emailed",
            )
            for seq in range(start, start + count)
        ]
        session.add_all(rows)
        session.flush()
        return [(row.id, row.number) for row in rows]
