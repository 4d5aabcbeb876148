"""Stable transaction ids: the same bank transaction gets the same id in every file it is in.

Statements overlap (a weekly and a daily export, a CAMT.054 notification and the day's
CAMT.053) and are imported twice; the store keeps a transaction once by this id. The id is
a hash of the account, the currency and the strongest key the bank gave:

1. the bank's own reference (CAMT ``AcctSvcrRef``, MT940 ``:61:`` ``//`` reference, mBank
   TNR) with the booking date: some banks number references per day;
2. else the payer's end-to-end id with the booking date and amount (payers reuse them);
3. else what was printed: booking date, amount, counterparty, account and title.

Two transactions with the same key on the same day (two identical card payments) are told
apart by their order among those identical ones in the file, which is the same in every file
that covers that whole day.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from dataclasses import replace
from decimal import Decimal

from backoffice.payments.model import BankTransaction, IdBasis

_SEPARATOR = "\x1f"
#: Hex digits kept from the SHA-256 (128 bits: collisions are not a concern).
ID_LENGTH = 32
#: End-to-end ids that mean "none was given".
_NO_REFERENCE = frozenset({"", "NONREF", "NOTPROVIDED", "NOT PROVIDED", "NONE"})


def meaningful(reference: str | None) -> str | None:
    """The reference, or None when it is a placeholder such as NONREF / NOTPROVIDED."""
    value = (reference or "").strip()
    return None if value.upper() in _NO_REFERENCE else value


def assign_ids(
    account: str, currency: str, transactions: list[BankTransaction]
) -> list[BankTransaction]:
    """Give every transaction of one account's statement its stable id (file order kept)."""
    seen: Counter[tuple[str, ...]] = Counter()
    out: list[BankTransaction] = []
    for tx in transactions:
        basis, key = _key(tx)
        seen[key] += 1
        material = _SEPARATOR.join((account, currency, basis, *key, str(seen[key])))
        digest = hashlib.sha256(material.encode("utf-8")).hexdigest()[:ID_LENGTH]
        out.append(replace(tx, id=digest, id_basis=basis))
    return out


def _key(tx: BankTransaction) -> tuple[IdBasis, tuple[str, ...]]:
    day = _day(tx.booking_date or tx.value_date)
    if ref := meaningful(tx.bank_reference):
        return IdBasis.BANK_REFERENCE, ("ref", ref, day)
    if e2e := meaningful(tx.end_to_end_id):
        return IdBasis.END_TO_END_ID, ("e2e", e2e, day, _money(tx.amount))
    return IdBasis.CONTENT, (
        "content",
        day,
        _money(tx.amount),
        (tx.counterparty_name or "").casefold(),
        tx.counterparty_iban or "",
        " ".join(tx.remittance.split()).casefold(),
    )


def _day(value: dt.date | None) -> str:
    return value.isoformat() if value else ""


def _money(amount: Decimal) -> str:
    # 100.5 and 100.50 are the same amount: normalise the exponent, keep the sign.
    return format(amount.normalize(), "f")
