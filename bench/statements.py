"""Bank statements: transactions parsed per second against the mt-940 library's own parse.

Baseline: ``mt940.parse_statements`` with its defaults over the same MT940 bytes (it splits
blocks, reads the tags and signs amounts). Ours does that through the same library plus
encoding detection, the Polish ``:86:`` sub-fields, IBAN checks, currency checks, balance
checks and stable ids, so the ratio says what that costs. Target: ratio >= 0.5.
Also: CAMT.053 transactions per second against a bare defusedxml parse of the same files
(the floor for any reader), for information.
Matching transactions to open invoices is measured later, with the matching step.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import defusedxml.ElementTree as SafeET
import mt940
from backoffice.payments import parse_statement

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
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
    return lines
