"""SWIFT MT940 statements, read with the mt-940 library, with the Polish and Russian habits.

The library splits the file into statements (one per ``:20:``), reads the tags and signs the
amounts; we add what it leaves to the caller: the encoding of Polish (Windows-1250, DOS
852) and Russian (Windows-1251) exports, the ``:86:`` flavours (``backoffice.payments.
details``), the account as an IBAN, and a plain refusal of a cut or broken file instead of
a half-read one.
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import re
from typing import Any

import mt940
from mt940 import processors as mt940_processors

from backoffice.payments.accounts import counterparty_account, currency_code, statement_account
from backoffice.payments.details import parse_details
from backoffice.payments.errors import FieldInvalid, StatementTruncated
from backoffice.payments.identity import meaningful
from backoffice.payments.model import Balance, BankTransaction, Problem, Statement, StatementFormat

#: Every fix the library offers, among them RC (reversal of a credit) signed as money out,
#: lower-case marks, a leading BOM and ?31 as the counterparty IBAN.
OPTIONS = mt940.Options.all()
#: The library's structured ?NN details reader, plus mBank's TNR (its unique transaction id)
#: read before that reader consumes the raw text.
PROCESSORS = {
    "post_transaction_details": [
        mt940_processors.mBank_set_tnr,
        mt940_processors.transaction_details_post_processor,
    ],
}
# The library logs each tag it cannot match at ERROR (with its regular expression) and then
# raises; we turn that into a named error with the line, so its log is only noise.
logging.getLogger("mt940").setLevel(logging.CRITICAL)

#: Single-byte encodings of Polish and Russian exports, with the letters each should produce.
_POLISH = frozenset("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ")
_CANDIDATES = (
    ("cp1250", _POLISH),
    ("cp852", _POLISH),
    ("cp1251", frozenset(chr(c) for c in range(0x410, 0x450)) | {"ё", "Ё", "№"}),
)
# A lone byte in a sub-field is the "empty" placeholder (˙: 0xFF in Windows-1250, 0xFA in
# DOS 852); it says nothing about the language, and in Windows-1251 it would read as a letter.
_HIGH_BYTES = re.compile(rb"[\x80-\xff]+")
#: Enough text to tell the code page apart; a big file need not be scanned whole.
_SAMPLE_BYTES = 256 * 1024
_PLACEHOLDER_BYTES = re.compile(rb"(?<=[~<^]\d\d)[\x80-\xff](?=[\r\n~<^]|$)")


def decode(data: bytes, encoding: str | None = None) -> str:
    """MT940 bytes as text: the given encoding, else UTF-8, else the best single-byte fit.

    Bank exports carry no charset. Polish ones are Windows-1250 or DOS 852, Russian ones
    Windows-1251; the candidate whose decoding turns most non-ASCII bytes into letters of
    its language wins (ties go to the Polish code pages, the commoner case).
    """
    if encoding:
        return data.decode(encoding, errors="replace").removeprefix("\ufeff")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        pass
    # Single-byte code pages map each byte on its own, so the non-ASCII bytes alone decide.
    high = b"".join(_HIGH_BYTES.findall(_PLACEHOLDER_BYTES.sub(b"", data[:_SAMPLE_BYTES])))
    best, best_score = "cp1250", -1
    for name, letters in _CANDIDATES:
        score = sum(1 for ch in high.decode(name, errors="replace") if ch in letters)
        if score > best_score:
            best, best_score = name, score
    return data.decode(best, errors="replace")


def parse_mt940(data: bytes, encoding: str | None = None) -> list[Statement]:
    """Every statement block of an MT940 file, ids not yet assigned."""
    text = decode(data, encoding)
    try:
        blocks = mt940.parse_statements(text, processors=PROCESSORS, options=OPTIONS)
    except RuntimeError as exc:
        value = exc.args[2] if len(exc.args) > 2 else exc
        tag = getattr(exc.args[1], "id", "?") if len(exc.args) > 1 else "?"
        raise FieldInvalid(
            f"MT940 field :{tag}: cannot be read: {str(value)[:120]!r}; the statement was not read"
        ) from exc
    except (ValueError, decimal.InvalidOperation, KeyError, TypeError) as exc:
        raise FieldInvalid(
            f"the MT940 text has a field that cannot be read ({type(exc).__name__}: "
            f"{str(exc)[:120]}); the statement was not read"
        ) from exc
    if not blocks:
        raise FieldInvalid("the MT940 text has no statement (no :20: line); nothing was read")
    return [_statement(block, index) for index, block in enumerate(blocks, 1)]


def _statement(block: Any, index: int) -> Statement:
    data = block.data
    reference = str(data.get("transaction_reference") or index)
    where = f"MT940 statement {index} (:20:{reference})"
    closing = _first(data, "final_closing_balance", "intermediate_closing_balance")
    if closing is None:
        raise StatementTruncated(
            f"{where} ends before its closing balance (:62F:); the file is cut short or "
            "incomplete, so none of it was read"
        )
    opening = _first(data, "final_opening_balance", "intermediate_opening_balance")
    if opening is None:
        raise FieldInvalid(f"{where} has no opening balance (:60F:); the statement was not read")
    if not data.get("account_identification"):
        raise FieldInvalid(f"{where} has no account (:25:); the statement was not read")
    account, account_iban = statement_account(data["account_identification"], f"{where} :25:")
    currency = currency_code(opening.amount.currency, f"{where} opening balance")
    currency_code(closing.amount.currency, f"{where} closing balance")
    problems: list[Problem] = []
    transactions = [
        _transaction(tx.data, currency, f"{where} line {n}", problems)
        for n, tx in enumerate(block, 1)
    ]
    return Statement(
        format=StatementFormat.MT940,
        account=account,
        account_iban=account_iban,
        currency=currency,
        opening_balance=Balance(opening.amount.amount, _plain_date(opening.date)),
        closing_balance=Balance(closing.amount.amount, _plain_date(closing.date)),
        transactions=transactions,
        statement_ids=[reference],
        problems=problems,
    )


def _transaction(
    data: dict[str, Any], currency: str, where: str, problems: list[Problem]
) -> BankTransaction:
    if not data.get("id") or data.get("amount") is None:
        raise FieldInvalid(
            f"{where} (:61:) is incomplete: no transaction type after the amount; "
            "the statement was not read"
        )
    details = parse_details(data)
    value_date = data.get("date")
    booking_date = data.get("entry_date") or value_date
    mark = str(data.get("status") or "").upper()
    return BankTransaction(
        id="",
        booking_date=_plain_date(booking_date),
        value_date=_plain_date(value_date),
        amount=data["amount"].amount,
        currency=currency,
        counterparty_name=details.counterparty_name,
        counterparty_iban=counterparty_account(
            details.counterparty_account, details.counterparty_bank_code, where, problems
        ),
        remittance=details.remittance,
        bank_reference=meaningful(data.get("bank_reference")) or meaningful(data.get("tnr")),
        end_to_end_id=details.end_to_end_id,
        transaction_code=details.transaction_code or data.get("id"),
        reversal=mark.startswith("R"),
    )


def _first(data: dict[str, Any], *keys: str) -> Any:
    return next((data[key] for key in keys if data.get(key) is not None), None)


def _plain_date(value: Any) -> dt.date | None:
    # The library's Date subclasses datetime.date; hand on a plain date.
    return None if value is None else dt.date(value.year, value.month, value.day)
