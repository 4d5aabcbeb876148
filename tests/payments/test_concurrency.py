"""Several payments robots at once on PostgreSQL: each transaction stored once and
allocated once, every invoice paid exactly what its payments brought."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from backoffice.billing.models import IssuedInvoice
from backoffice.config import load_settings
from backoffice.payments.models import BankTransactionRecord, PaymentAllocation, StatementImport
from backoffice.payments.service import run_payments
from backoffice.store import open_store
from sqlalchemy import func, select

from tests.billing.requests import PL_SELLER
from tests.payments.builders import CUSTOMER_IBAN, CamtStatement, Entry, Payment, camt053
from tests.payments.ledger import BOOKED, seed_invoices

INVOICES = 40
ROBOTS = 3


def _robot(values: dict[str, Any], out: Any) -> None:
    settings = load_settings(_env_file=None, **values)
    store = open_store(settings)
    try:
        report = run_payments(store, settings)
        out.put((values["worker_id"], report.payments_allocated, report.transactions_new))
    finally:
        store.dispose()


@pytest.mark.slow
def test_robots_at_once_store_and_allocate_each_transaction_once(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BACKOFFICE_NOW", raising=False)
    watch = tmp_path / "statements"
    watch.mkdir()
    values: dict[str, Any] = {
        **PL_SELLER,
        "home": str(tmp_path / "home"),
        "database_url": pg_url,
        "payments_watch_dir": str(watch),
    }
    store = open_store(load_settings(_env_file=None, **values))
    invoices = seed_invoices(store, INVOICES)
    # Three part payments of 410.00 per invoice (1230.00), each in the title, spread over
    # three statements that overlap by a third; and some payments nobody can match.
    payments = [
        Payment(
            Decimal("410.00"),
            BOOKED,
            "KOWALSKI I WSPOLNICY",
            CUSTOMER_IBAN,
            f"{number} rata {part}",
            bank_ref=f"R{seq}-{part}",
        )
        for seq, (_id, number) in enumerate(invoices)
        for part in range(3)
    ] + [Payment(Decimal("5.00"), BOOKED, "Ktoś", None, "?", bank_ref=f"X{n}") for n in range(20)]
    third = len(payments) // 3
    for n, chunk in enumerate((payments[: 2 * third], payments[third:], payments[2 * third :])):
        statement = CamtStatement([Entry([p]) for p in chunk], statement_id=f"S{n}", day=BOOKED)
        (watch / f"s{n}.xml").write_bytes(camt053([statement]))

    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    robots = [
        context.Process(target=_robot, args=({**values, "worker_id": f"robot-{i}"}, out))
        for i in range(ROBOTS)
    ]
    for robot in robots:
        robot.start()
    results = [out.get(timeout=300) for _ in robots]
    for robot in robots:
        robot.join(timeout=60)
        assert robot.exitcode == 0

    with store.session() as session:
        stored = list(session.scalars(select(BankTransactionRecord)))
        allocations = list(session.scalars(select(PaymentAllocation)))
        paid = {
            row.id: row.paid_total
            for row in session.execute(select(IssuedInvoice.id, IssuedInvoice.paid_total))
        }
        paid_at = session.scalar(select(func.count()).where(IssuedInvoice.paid_at.is_not(None)))
        imports = session.scalar(select(func.count()).select_from(StatementImport))
    store.dispose()
    assert len(stored) == len(payments) == len({tx.tx_id for tx in stored})
    assert sum(new for _w, _a, new in results) == len(payments)
    assert imports == 3
    per_tx = Counter(a.transaction_pk for a in allocations)
    assert max(per_tx.values()) == 1, "a transaction was allocated twice"
    assert len(per_tx) == 3 * INVOICES
    assert sum(allocated for _w, allocated, _n in results) == 3 * INVOICES
    assert set(paid.values()) == {Decimal("1230.00")} and paid_at == INVOICES
    by_invoice: Counter[int] = Counter()
    for allocation in allocations:
        by_invoice[allocation.invoice_pk] += allocation.amount
    assert by_invoice == {invoice_id: Decimal("1230.00") for invoice_id, _n in invoices}
    statuses = Counter(tx.status for tx in stored)
    assert statuses == {"allocated": 3 * INVOICES, "review": 20}
