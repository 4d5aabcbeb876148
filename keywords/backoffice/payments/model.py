"""Plain data of a bank statement: the account, its balances and the booked transactions.

Every format (CAMT.053, CAMT.054, CAMT.052, MT940) is read into these same classes, so the
later steps (storing each transaction once, matching it to invoices) never look at a format.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any


class StatementFormat(StrEnum):
    """The file format a statement was read from (as printed in the JSON contract)."""

    CAMT_052 = "camt.052"
    CAMT_053 = "camt.053"
    CAMT_054 = "camt.054"
    MT940 = "mt940"


class IdBasis(StrEnum):
    """What a transaction id was derived from, strongest first."""

    BANK_REFERENCE = "bank_reference"
    """The bank's own unique reference (CAMT AcctSvcrRef, MT940 :61: //bank reference)."""
    END_TO_END_ID = "end_to_end_id"
    """The payer's end-to-end id (CAMT EndToEndId, SEPA EREF), when the bank gave none."""
    CONTENT = "content"
    """A hash of what the bank printed, with the position among identical ones that day."""


@dataclass(frozen=True)
class Problem:
    """Something wrong with a statement that did not stop it being read; code is UPPER_SNAKE."""

    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        """JSON form."""
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Balance:
    """A booked balance as the bank stated it: signed (negative is an overdraft)."""

    amount: Decimal
    date: dt.date | None = None


@dataclass(frozen=True)
class BankTransaction:
    """One booked movement on the account; ``amount`` is signed (credit +, debit -).

    ``id`` is stable: the same transaction read from an overlapping statement, a second
    import of the same file, or a CAMT.054 notification and the later CAMT.053 carrying the
    same bank reference gets the same id (see ``backoffice.payments.identity``).
    """

    id: str
    booking_date: dt.date | None
    value_date: dt.date | None
    amount: Decimal
    currency: str
    counterparty_name: str | None
    counterparty_iban: str | None
    remittance: str
    id_basis: IdBasis = IdBasis.CONTENT
    bank_reference: str | None = None
    end_to_end_id: str | None = None
    transaction_code: str | None = None
    reversal: bool = False

    def to_json(self) -> dict[str, Any]:
        """The transaction object of the ``backoffice statement --json`` contract."""
        return {
            "id": self.id,
            "booking_date": _iso(self.booking_date),
            "value_date": _iso(self.value_date),
            "amount": str(self.amount),
            "currency": self.currency,
            "counterparty_name": self.counterparty_name,
            "counterparty_iban": self.counterparty_iban,
            "remittance": self.remittance,
        }


@dataclass
class Statement:
    """One account's statement (or notification) as read from one file.

    ``account_iban`` is the IBAN (checksum verified) or, where the country has no IBAN
    (Russia), the bank's account number; ``account`` is what the file said, untouched.
    """

    format: StatementFormat
    account: str
    account_iban: str | None
    currency: str
    opening_balance: Balance | None = None
    closing_balance: Balance | None = None
    transactions: list[BankTransaction] = field(default_factory=list)
    statement_ids: list[str] = field(default_factory=list)
    version: str | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        """Sum of the transactions' signed amounts."""
        return sum((tx.amount for tx in self.transactions), Decimal(0))

    def to_json(self) -> dict[str, Any]:
        """The stable JSON contract of ``backoffice statement --json`` (see README)."""
        return {
            "format": str(self.format),
            "account_iban": self.account_iban,
            "currency": self.currency,
            "opening_balance": _amount(self.opening_balance),
            "closing_balance": _amount(self.closing_balance),
            "transactions": [tx.to_json() for tx in self.transactions],
        }


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _amount(balance: Balance | None) -> str | None:
    return str(balance.amount) if balance is not None else None
