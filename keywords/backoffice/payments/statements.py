"""Read a bank statement file (CAMT.053 / CAMT.054 / CAMT.052 XML or MT940) into ``Statement``.

The use case behind ``backoffice statement FILE --json`` and, later, the payments robot:

    statements = read_statement_file(path)          # one per account and currency
    check_own_account(statements[0], own_ibans)     # ForeignAccount for someone else's

A file that cannot be trusted as a statement raises a ``StatementError`` with a code and a
sentence (malformed or unsafe XML, not CAMT, a cut MT940, an unknown currency, a bad IBAN);
a statement that reads but does not add up carries ``Problem`` entries instead
(``BALANCE_MISMATCH``, ``BALANCE_GAP``, ``ENTRY_DETAILS_MISMATCH``...).

Several statements of one account in a file (an MT940 with a ``:20:`` block per day, a CAMT
with several ``Stmt``) are merged into one: opening balance of the first, closing balance
of the last, every transaction in file order.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

from backoffice.payments.accounts import check_own_account
from backoffice.payments.camt import parse_camt
from backoffice.payments.errors import StatementTooLarge, UnknownStatementFormat
from backoffice.payments.identity import assign_ids
from backoffice.payments.model import Problem, Statement
from backoffice.payments.swift import parse_mt940

__all__ = [
    "check_own_account",
    "check_own_accounts",
    "detect_format",
    "parse_statement",
    "read_statement_file",
]

#: No real statement file comes near this (a year of a busy account in CAMT is ~20 MB).
MAX_STATEMENT_BYTES = 64 * 1024 * 1024
#: MT940 tags that a statement cannot do without; three of them make the text MT940.
_MT940_TAGS = (b":20:", b":25:", b":28C:", b":60F:", b":60M:", b":61:", b":62F:", b":62M:")


def read_statement_file(path: Path | str, encoding: str | None = None) -> list[Statement]:
    """Read a statement file: one ``Statement`` per account and currency in it."""
    file = Path(path)
    size = file.stat().st_size
    if size > MAX_STATEMENT_BYTES:
        raise StatementTooLarge(
            f"{file.name} is {size} bytes, more than the {MAX_STATEMENT_BYTES} a statement "
            "file can plausibly be; it was not read"
        )
    return parse_statement(file.read_bytes(), encoding=encoding)


def parse_statement(data: bytes, encoding: str | None = None) -> list[Statement]:
    """Parse statement bytes (format detected); ``encoding`` only overrides MT940 detection."""
    if len(data) > MAX_STATEMENT_BYTES:
        raise StatementTooLarge(f"the statement is {len(data)} bytes; it was not read")
    kind = detect_format(data)
    blocks = parse_camt(data) if kind == "xml" else parse_mt940(data, encoding)
    return merge(blocks)


def detect_format(data: bytes) -> str:
    """``"xml"`` or ``"mt940"``; ``UnknownStatementFormat`` for anything else."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "xml"
    sample = data[:65536].upper()
    if sum(1 for tag in _MT940_TAGS if tag in sample) >= 3:
        return "mt940"
    raise UnknownStatementFormat(
        "the file is neither ISO 20022 XML (camt.053/054/052) nor MT940 text; "
        "it was not read as a bank statement"
    )


def merge(blocks: list[Statement]) -> list[Statement]:
    """Merge the blocks of each (account, currency), check balances, assign the ids."""
    groups: dict[tuple[str, str], list[Statement]] = {}
    for block in blocks:
        key = (block.account_iban or block.account, block.currency)
        groups.setdefault(key, []).append(block)
    out = []
    for (account, currency), parts in groups.items():
        first, last = parts[0], parts[-1]
        problems = [problem for part in parts for problem in part.problems]
        problems += _balance_problems(parts)
        transactions = [tx for part in parts for tx in part.transactions]
        out.append(
            Statement(
                format=first.format,
                version=first.version,
                account=first.account,
                account_iban=first.account_iban,
                currency=currency,
                opening_balance=first.opening_balance,
                closing_balance=last.closing_balance,
                transactions=assign_ids(account, currency, transactions),
                statement_ids=[sid for part in parts for sid in part.statement_ids],
                problems=problems,
            )
        )
    return out


def _balance_problems(parts: list[Statement]) -> list[Problem]:
    """Opening + transactions = closing in each block; each block opens where the last closed."""
    problems = []
    for part in parts:
        if part.opening_balance is None or part.closing_balance is None:
            continue
        expected = part.opening_balance.amount + part.total
        if expected != part.closing_balance.amount:
            problems.append(
                Problem(
                    "BALANCE_MISMATCH",
                    f"statement {', '.join(part.statement_ids)}: opening balance "
                    f"{part.opening_balance.amount} plus {len(part.transactions)} transactions "
                    f"({_signed(part.total)}) is {expected}, but the closing balance is "
                    f"{part.closing_balance.amount}; a transaction may be missing or misread",
                )
            )
    for before, after in itertools.pairwise(parts):
        if before.closing_balance is None or after.opening_balance is None:
            continue
        if before.closing_balance.amount != after.opening_balance.amount:
            problems.append(
                Problem(
                    "BALANCE_GAP",
                    f"statement {', '.join(after.statement_ids)} opens at "
                    f"{after.opening_balance.amount}, but the one before it closed at "
                    f"{before.closing_balance.amount}; a statement in between may be missing",
                )
            )
    return problems


def check_own_accounts(statements: Iterable[Statement], own_accounts: Iterable[str]) -> None:
    """``check_own_account`` for every statement of a file."""
    accounts = list(own_accounts)
    for statement in statements:
        check_own_account(statement, accounts)


def _signed(amount: Decimal) -> str:
    return f"+{amount}" if amount >= 0 else str(amount)
