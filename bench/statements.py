"""Bank statements: transactions parsed per second against the mt-940 library's own parse.

Baseline: ``mt940.parse_statements`` with its defaults over the same MT940 bytes (it splits
blocks, reads the tags and signs amounts). Ours does that through the same library plus
encoding detection, the Polish ``:86:`` sub-fields, IBAN checks, currency checks, balance
checks and stable ids, so the ratio says what that costs. Target: ratio >= 0.5.
Also: CAMT.053 transactions per second against a bare defusedxml parse of the same files
(the floor for any reader), for information.
Parse AND match: the payments robot's whole path over MT940 files whose credits pay a store
of open invoices (SQLite, the default store): parse, own-account check, every transaction
stored once in a committed transaction, then each credit matched by the invoice number in its
title (spellings vary) with its allocation, paid_total and paid_at committed; against the
same mt-940 parse of the same files. Target: ratio >= 0.25.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import defusedxml.ElementTree as SafeET
import mt940
from backoffice.payments import parse_statement

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
#: Open invoices in the store the credits are matched against (each paid in two parts).
OPEN_INVOICES = int(os.environ.get("BENCH_OPEN_INVOICES", "2000"))
#: How payers write the number of invoice FV/2026/11/<seq> in the title.
_SPELLINGS = (
    "Zapłata za fakturę FV/2026/11/{seq:04}",
    "FV 2026 11 {seq}",
    "fv202611{seq:04}",
    "FAKTURA FV-2026-11-{seq:04} czesc",
    "2026/11/{seq:04} abonament",
)
FILES = int(os.environ.get("BENCH_STATEMENT_FILES", "20"))
DAYS = 5
PER_DAY = 40


def _files() -> tuple[list[bytes], list[bytes], list[bytes]]:
    """(Polish ZBP MT940, plain SWIFT MT940, CAMT.053) files, same bookings in each."""
    sys.path.insert(0, str(ROOT))
    from tests.payments.builders import (
        CUSTOMER_IBAN,
        SUPPLIER_IBAN,
        CamtStatement,
        Entry,
        Mt940Block,
        Payment,
        camt053,
    )
    from tests.payments.builders import mt940 as write_mt940

    rng = random.Random(5)
    zbp, plain, camt = [], [], []
    for n in range(FILES):
        blocks, statements = [], []
        opening = Decimal("25000.00")
        for day_index in range(DAYS):
            day = dt.date(2026, 11, 2) + dt.timedelta(days=7 * n + day_index)
            payments = [
                Payment(
                    Decimal(rng.randint(-90000, 250000)) / 100 or Decimal("1.00"),
                    day,
                    rng.choice(
                        ["Jan Kowalski Usługi", "PGE Obrót S.A.", "Żabka Polska sp. z o.o."]
                    ),
                    rng.choice([CUSTOMER_IBAN, SUPPLIER_IBAN, None]),
                    f"Zapłata za fakturę FV/2026/{day.month:02}/{rng.randint(1, 9999):04}",
                    bank_ref=f"{n:03}{day_index}{i:04}" if i % 3 else None,
                )
                for i in range(PER_DAY)
            ]
            block = Mt940Block(payments, opening=opening, reference=f"ST{n}-{day_index}", day=day)
            blocks.append(block)
            statements.append(
                CamtStatement(
                    [Entry([p]) for p in payments],
                    opening=opening,
                    statement_id=f"S{n}-{day_index}",
                    day=day,
                )
            )
            opening = block.closing_balance()
        zbp.append(write_mt940(blocks))
        plain.append(write_mt940(blocks, flavour="free", encoding="utf-8", newline="\n"))
        camt.append(camt053(statements))
    return zbp, plain, camt


def _rate(parse: Callable[[bytes], int], files: list[bytes]) -> float:
    """Transactions per second of ``parse`` (returning the count it read) over ``files``."""
    start = time.perf_counter()
    count = sum(parse(data) for data in files)
    elapsed = time.perf_counter() - start
    expected = FILES * DAYS * PER_DAY
    assert count == expected, f"read {count} transactions, expected {expected}"
    return count / elapsed


def _ours(data: bytes) -> int:
    statements = parse_statement(data)
    assert all(not s.problems for s in statements), statements[0].problems
    return sum(len(s.transactions) for s in statements)


def _library(data: bytes) -> int:
    return sum(len(block) for block in mt940.parse_statements(data))


def _bare_xml(data: bytes) -> int:
    root = SafeET.fromstring(data)
    return sum(1 for element in root.iter() if element.tag.endswith("}Ntry"))


def _paying_files() -> list[bytes]:
    """MT940 (ZBP) files whose credits pay the open invoices in two parts, plus debits."""
    from tests.payments.builders import CUSTOMER_IBAN, GERMAN_IBAN, Mt940Block, Payment, mt940

    rng = random.Random(7)
    credits = [(seq, part) for seq in range(1, OPEN_INVOICES + 1) for part in range(2)]
    rng.shuffle(credits)
    per_file = len(credits) // FILES + 1
    files = []
    for n in range(FILES):
        chunk = credits[n * per_file : (n + 1) * per_file]
        day = dt.date(2026, 11, 21) + dt.timedelta(days=n % 10)  # before the due date
        payments = [
            Payment(
                Decimal("615.00"),
                day,
                "KOWALSKI I WSPOLNICY SP.K.",
                CUSTOMER_IBAN,
                _SPELLINGS[(seq + part) % len(_SPELLINGS)].format(seq=seq),
                bank_ref=f"P{seq:05}{part}",
            )
            for seq, part in chunk
        ]
        payments += [
            Payment(
                Decimal("-12.34"), day, "PGE Obrót S.A.", GERMAN_IBAN, "Energia", f"D{n:02}{i:04}"
            )
            for i in range(len(chunk) // 10)
        ]
        files.append(mt940([Mt940Block(payments, reference=f"PAY{n}", day=day)]))
    return files


def _store_with_invoices(folder: Path, files: list[bytes]) -> tuple[object, object]:
    """A fresh SQLite store with the open invoices, and the files in its watch folder."""
    from backoffice.config import load_settings
    from backoffice.store import open_store

    from tests.billing.requests import PL_SELLER
    from tests.payments.ledger import seed_invoices

    watch = folder / "watch"
    watch.mkdir(parents=True)
    settings = load_settings(
        _env_file=None, home=folder / "home", payments_watch_dir=watch, **PL_SELLER
    )
    store = open_store(settings)
    seed_invoices(store, OPEN_INVOICES, Decimal("1230.00"))
    for n, data in enumerate(files):
        (watch / f"{n:03}.sta").write_bytes(data)
    return settings, store


def _parse_and_match(files: list[bytes]) -> tuple[float, int]:
    """(transactions per second, invoices paid) of import + match over ``files``."""
    from backoffice.payments.service import run_payments

    folder = Path(tempfile.mkdtemp(prefix="bench-payments-"))
    try:
        settings, store = _store_with_invoices(folder, files)
        start = time.perf_counter()
        report = run_payments(store, settings)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - start
        store.dispose()  # type: ignore[attr-defined]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert report.statements_rejected == 0 and report.to_review == 0, report.reasons[:3]
    return report.transactions_new / elapsed, report.invoices_paid


def _matching_lines() -> list[str]:
    files = _paying_files()
    count = sum(sum(len(block) for block in mt940.parse_statements(data)) for data in files)
    ours, base = [], []
    paid = 0
    for _ in range(ROUNDS):
        start = time.perf_counter()
        parsed = sum(sum(len(block) for block in mt940.parse_statements(data)) for data in files)
        base.append(parsed / (time.perf_counter() - start))
        rate, paid = _parse_and_match(files)
        ours.append(rate)
    assert paid == OPEN_INVOICES, f"{paid} of {OPEN_INVOICES} invoices paid"
    ratio = statistics.median(o / b for o, b in zip(ours, base, strict=True))
    return [
        f"parse+store+match: ours {statistics.median(ours):,.0f} tx/s, mt-940 parse alone "
        f"{statistics.median(base):,.0f} tx/s over {count} transactions against "
        f"{OPEN_INVOICES} open invoices (all paid) x {ROUNDS} rounds, SQLite store",
        f"RATIO parse+match ours/mt-940 = {ratio:.2f} (target >= 0.25)",
    ]


def run() -> list[str]:
    """Measure and return the lines to print."""
    zbp, plain, camt = _files()
    lines = []
    total = FILES * DAYS * PER_DAY
    for label, files in (("MT940 Polish ZBP", zbp), ("MT940 plain", plain)):
        ours, base = [], []
        for _ in range(ROUNDS):
            base.append(_rate(_library, files))
            ours.append(_rate(_ours, files))
        ratio = statistics.median(o / b for o, b in zip(ours, base, strict=True))
        lines.append(
            f"{label}: ours {statistics.median(ours):,.0f} tx/s, mt-940 alone "
            f"{statistics.median(base):,.0f} tx/s over {total} transactions x {ROUNDS} rounds"
        )
        lines.append(f"RATIO {label} ours/mt-940 = {ratio:.2f} (target >= 0.5)")
    ours, base = [], []
    for _ in range(ROUNDS):
        base.append(_rate(_bare_xml, camt))
        ours.append(_rate(_ours, camt))
    lines.append(
        f"CAMT.053: ours {statistics.median(ours):,.0f} tx/s, bare defusedxml parse "
        f"{statistics.median(base):,.0f} entries/s"
    )
    ratio = statistics.median(o / b for o, b in zip(ours, base, strict=True))
    lines.append(f"RATIO CAMT.053 ours/bare-xml-parse = {ratio:.2f} (information)")
    lines += _matching_lines()
    return lines
