"""Accounts and currencies on a statement: IBANs checked with schwifty, codes with pycountry.

Polish statements often give the 26-digit domestic number (NRB) without "PL", or the bank
sort code and the account apart; both are turned into the IBAN they stand for. Russia has
no IBAN: a 20-digit account number is kept as it is.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import pycountry
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from backoffice.payments.errors import AccountInvalid, ForeignAccount, UnknownCurrency
from backoffice.payments.model import Problem, Statement

_IBAN_SHAPE = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{8,30}$")
_NRB_LENGTH = 26
#: Bank code + account pairs that name an IBAN: Polish sort code (8) + account (16), as in
#: ZBP ~30/~31; German "BLZ/Kontonummer" (8 + up to 10), as in :25: and ?30/?31.
_DOMESTIC = (("PL", 8, range(16, 17)), ("DE", 8, range(1, 11)))
#: Russian banks still print RUR (the rouble's ISO 4217 code until 1998) for today's RUB.
_CURRENCY_ALIASES = {"RUR": "RUB"}


def currency_code(raw: str | None, where: str) -> str:
    """The ISO 4217 alphabetic code for ``raw``; ``UnknownCurrency`` when there is none."""
    code = (raw or "").strip().upper()
    code = _CURRENCY_ALIASES.get(code, code)
    if len(code) != 3 or pycountry.currencies.get(alpha_3=code) is None:
        raise UnknownCurrency(
            f"{where} is in currency {raw!r}, which is not an ISO 4217 currency code; "
            "the statement was not read"
        )
    return code


def compact(raw: str) -> str:
    """Account text without spaces, dashes and a leading slash, upper case."""
    return re.sub(r"[\s\-]", "", raw).lstrip("/").upper()


def as_iban(raw: str | None, bank_code: str | None = None) -> str | None:
    """The valid IBAN ``raw`` stands for (IBAN, Polish NRB, or sort code + account), or None."""
    if not raw:
        return None
    value = compact(raw)
    if _IBAN_SHAPE.match(value):
        return _valid(value)
    if value.isdigit() and len(value) == _NRB_LENGTH:
        return _valid("PL" + value)
    code = compact(bank_code or "")
    if code.isdigit() and value.isdigit():
        for country, code_length, account_lengths in _DOMESTIC:
            if len(code) == code_length and len(value) in account_lengths:
                return _generate(country, code, value)
    return None


def counterparty_account(
    raw: str | None, bank_code: str | None, where: str, problems: list[Problem]
) -> str | None:
    """The other side's IBAN, or its plain account number where there is no IBAN (Russia).

    An IBAN with a wrong checksum is dropped with an ``COUNTERPARTY_IBAN_INVALID`` problem:
    matching must not trust it, and the rest of the statement is still good.
    """
    if not raw:
        return None
    iban = as_iban(raw, bank_code)
    if iban:
        return iban
    value = compact(raw)
    if _IBAN_SHAPE.match(value):
        problems.append(
            Problem(
                "COUNTERPARTY_IBAN_INVALID",
                f"{where}: the counterparty's IBAN {value} has wrong check digits; it was left out",
            )
        )
        return None
    return value


def statement_account(raw: str | None, where: str) -> tuple[str, str]:
    """(the account as printed, its IBAN or plain account number) for a statement's own account.

    MT940 ``:25:`` may carry ``BIC/IBAN``, ``/IBAN``, ``IBANCCY`` or ``sortcode/account``.
    An IBAN-shaped account with a wrong checksum raises ``AccountInvalid``.
    """
    text = (raw or "").strip()
    parts = [part for part in compact(text).split("/") if part]
    if not parts:
        raise AccountInvalid(f"{where} names no account; the statement was not read")
    candidate = parts[-1]
    if len(parts) >= 2 and parts[-1].isdigit() and parts[-2].isdigit():
        iban = as_iban(parts[-1], parts[-2])
        if iban:
            return text, iban
    # Some banks append the currency to the account (PL61...1234PLN).
    if len(candidate) > 3 and candidate[-3:].isalpha() and candidate[-4].isdigit():
        candidate = candidate[:-3]
    iban = as_iban(candidate)
    if iban:
        return text, iban
    if _IBAN_SHAPE.match(candidate):
        raise AccountInvalid(
            f"{where} gives account {candidate}, which looks like an IBAN but its check digits "
            "are wrong; the statement was not read"
        )
    return text, candidate


def check_own_account(statement: Statement, own_accounts: Iterable[str]) -> None:
    """Refuse a statement whose account is not one of ``own_accounts`` (``ForeignAccount``).

    ``own_accounts`` are IBANs (any spacing, or a Polish NRB) or plain account numbers
    (Russia). An empty list means the check is off.
    """
    own = {as_iban(account) or compact(account) for account in own_accounts if account.strip()}
    if not own:
        return
    mine = statement.account_iban or compact(statement.account)
    if mine not in own:
        raise ForeignAccount(
            f"the statement is for account {mine}, which is not one of our accounts "
            f"({', '.join(sorted(own))}); none of its transactions were taken in"
        )


@functools.lru_cache(maxsize=4096)
def _valid(value: str) -> str | None:
    # Cached: a statement names the same few counterparties many times.
    try:
        return str(IBAN(value).compact)
    except (SchwiftyException, ValueError):
        return None


def _generate(country: str, bank_code: str, account: str) -> str | None:
    try:
        return str(IBAN.generate(country, bank_code=bank_code, account_code=account).compact)
    except (SchwiftyException, ValueError):
        return None
