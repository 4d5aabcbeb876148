"""ISO 20022 bank-to-customer XML: CAMT.053 statements, CAMT.054 notifications, CAMT.052.

XML from a mailbox is untrusted, so it is parsed with defusedxml: a DTD (needed for XXE or
a billion-laughs bomb, never used by a bank) is refused. Elements are matched by local name,
so every message version (camt.053.001.02 .. .13) and a missing or odd namespace read the
same; the version is taken from the namespace where there is one.

One ``Ntry`` is one booking. A batch booked as one entry lists its payments as several
``TxDtls``; each becomes its own transaction when every one has an amount and they add up
to the entry, so each payment can be matched to its invoice.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from backoffice.payments.accounts import counterparty_account, currency_code
from backoffice.payments.accounts import statement_account as read_account
from backoffice.payments.errors import FieldInvalid, NotCamt, XmlMalformed, XmlUnsafe
from backoffice.payments.identity import meaningful
from backoffice.payments.model import (
    Balance,
    BankTransaction,
    Problem,
    Statement,
    StatementFormat,
)

#: Message element -> (format, the element of one statement in it).
MESSAGES = {
    "BkToCstmrStmt": (StatementFormat.CAMT_053, "Stmt"),
    "BkToCstmrDbtCdtNtfctn": (StatementFormat.CAMT_054, "Ntfctn"),
    "BkToCstmrAcctRpt": (StatementFormat.CAMT_052, "Rpt"),
}
OPENING_CODES = ("OPBD", "PRCD")
CLOSING_CODES = ("CLBD",)
_AMOUNT = re.compile(r"^\d{1,18}(?:\.\d{1,5})?$")
_VERSION = re.compile(r"camt\.05[234]\.(\d{3}\.\d{2})")
#: RmtInf/Ustrd lines are at most 140 characters; a full one was cut mid-text.
_USTRD_WIDTH = 140


def parse_camt(data: bytes) -> list[Statement]:
    """Every statement (or notification) in a CAMT file, ids not yet assigned."""
    root = _parse(data)
    namespace = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    for element in root.iter():
        if isinstance(element.tag, str):
            element.tag = element.tag.rsplit("}", 1)[-1]
    message = root if root.tag in MESSAGES else next(iter(root), None)
    if root.tag not in ("Document", *MESSAGES) or message is None or message.tag not in MESSAGES:
        found = root.tag if message is None or root.tag != "Document" else message.tag
        raise NotCamt(
            f"the XML is not an ISO 20022 bank statement or notification (found <{found}>, "
            "expected camt.053 BkToCstmrStmt, camt.054 BkToCstmrDbtCdtNtfctn or camt.052)"
        )
    kind, item = MESSAGES[message.tag]
    version_match = _VERSION.search(namespace)
    version = version_match.group(1) if version_match else None
    statements = [
        _statement(element, kind, version, index)
        for index, element in enumerate(message.findall(item), 1)
    ]
    if not statements:
        raise FieldInvalid(f"the {kind} message holds no <{item}>; there is nothing to read")
    return statements


def _parse(data: bytes) -> ET.Element:
    try:
        return SafeET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise XmlUnsafe(
            f"the XML declares a DTD, entities or external references ({type(exc).__name__}); "
            "bank statements never do, and reading it could leak files or exhaust memory, "
            "so it was not read"
        ) from exc
    except ET.ParseError as exc:
        raise XmlMalformed(
            f"the XML is not well-formed ({exc}); the file may be cut short or damaged"
        ) from exc
    except (LookupError, ValueError) as exc:
        raise XmlMalformed(f"the XML cannot be decoded ({exc}); it was not read") from exc


def _statement(
    element: ET.Element, kind: StatementFormat, version: str | None, index: int
) -> Statement:
    statement_id = _text(element, "Id") or str(index)
    where = f"{kind} statement {statement_id}"
    account_element = element.find("Acct")
    if account_element is None:
        raise FieldInvalid(f"{where} has no account (Acct); the statement was not read")
    raw = _text(account_element, "Id/IBAN") or _text(account_element, "Id/Othr/Id")
    account, account_iban = read_account(raw, f"{where} (Acct)")
    balances = {
        code: balance
        for code, balance in (_balance(b, where) for b in element.findall("Bal"))
        if code
    }
    currency_raw = _text(account_element, "Ccy") or _first_currency(element)
    currency = currency_code(currency_raw, f"{where} (account currency)")
    problems: list[Problem] = []
    transactions: list[BankTransaction] = []
    pending = 0
    for entry_index, entry in enumerate(element.findall("Ntry"), 1):
        status = _text(entry, "Sts/Cd") or _text(entry, "Sts") or "BOOK"
        if status.upper() != "BOOK":
            pending += 1
            continue
        transactions.extend(_entry(entry, currency, f"{where} entry {entry_index}", problems))
    if pending:
        problems.append(
            Problem(
                "ENTRIES_NOT_BOOKED",
                f"{where}: {pending} pending or information-only entries were left out; "
                "they count once the bank books them",
            )
        )
    return Statement(
        format=kind,
        version=version,
        account=account,
        account_iban=account_iban,
        currency=currency,
        opening_balance=next((balances[c] for c in OPENING_CODES if c in balances), None),
        closing_balance=next((balances[c] for c in CLOSING_CODES if c in balances), None),
        transactions=transactions,
        statement_ids=[statement_id],
        problems=problems,
    )


def _balance(element: ET.Element, where: str) -> tuple[str | None, Balance]:
    code = _text(element, "Tp/CdOrPrtry/Cd") or _text(element, "Tp/CdOrPrtry/Prtry")
    amount_element = element.find("Amt")
    currency_code(
        amount_element.get("Ccy") if amount_element is not None else None,
        f"{where} balance {code}",
    )
    amount = _signed(element, amount_element, None, f"{where} balance {code}")
    return (code.upper() if code else None), Balance(amount, _date(element.find("Dt"), where))


def _entry(
    entry: ET.Element, currency: str, where: str, problems: list[Problem]
) -> list[BankTransaction]:
    amount_element = entry.find("Amt")
    entry_currency = currency_code(
        amount_element.get("Ccy") if amount_element is not None else currency, where
    )
    amount = _signed(entry, amount_element, None, where)
    booking = _date(entry.find("BookgDt"), where)
    value = _date(entry.find("ValDt"), where)
    reference = meaningful(_text(entry, "AcctSvcrRef"))
    code = _bank_code(entry)
    reversal = (_text(entry, "RvslInd") or "").lower() in ("true", "1")
    details = entry.findall("NtryDtls/TxDtls")
    split = _split_amounts(entry, details, amount, where, problems)
    base = {
        "booking_date": booking,
        "value_date": value,
        "currency": entry_currency,
        "transaction_code": code,
        "reversal": reversal,
    }
    if split is None:
        detail = details[0] if len(details) == 1 else None
        own_reference = meaningful(_text(detail, "Refs/AcctSvcrRef")) if detail else None
        return [
            _transaction(
                detail,
                entry,
                amount,
                reference or own_reference,
                base,
                merged=details if len(details) > 1 else [],
                problems=(problems, where),
            )
        ]
    out = []
    for position, (detail, detail_amount) in enumerate(zip(details, split, strict=True), 1):
        own_reference = meaningful(_text(detail, "Refs/AcctSvcrRef"))
        # A batch shares the entry's reference; its n-th payment is that reference's part n.
        key = own_reference or (f"{reference}/{position}" if reference else None)
        out.append(
            _transaction(
                detail,
                entry,
                detail_amount,
                key,
                base,
                merged=[],
                problems=(problems, f"{where} payment {position}"),
            )
        )
    return out


def _split_amounts(
    entry: ET.Element,
    details: list[ET.Element],
    amount: Decimal,
    where: str,
    problems: list[Problem],
) -> list[Decimal] | None:
    """The signed amount of each TxDtls of a batch, or None to keep the entry whole."""
    if len(details) < 2:
        return None
    amounts = []
    for index, detail in enumerate(details, 1):
        element = (
            detail.find("AmtDtls/TxAmt/Amt")
            if detail.find("AmtDtls/TxAmt/Amt") is not None
            else detail.find("Amt")
        )
        if element is None:
            return None
        amounts.append(_signed(detail, element, entry, f"{where} payment {index}"))
    if sum(amounts, Decimal(0)) != amount:
        problems.append(
            Problem(
                "ENTRY_DETAILS_MISMATCH",
                f"{where}: its {len(details)} payments add up to {sum(amounts, Decimal(0))}, "
                f"not to the booked {amount}; the entry was kept as one transaction",
            )
        )
        return None
    return amounts


def _transaction(
    detail: ET.Element | None,
    entry: ET.Element,
    amount: Decimal,
    bank_reference: str | None,
    base: dict[str, Any],
    merged: list[ET.Element],
    problems: tuple[list[Problem], str],
) -> BankTransaction:
    sources = merged or ([detail] if detail is not None else [])
    names = {name for d in sources if (name := _party(d, amount)[0])}
    accounts = {account for d in sources if (account := _party(d, amount)[1])}
    remittance = " ".join(r for d in sources if (r := _remittance(d)))
    if not remittance:
        remittance = _clean(_text(entry, "AddtlNtryInf"))
    account = accounts.pop() if len(accounts) == 1 else None
    return BankTransaction(
        id="",
        amount=amount,
        counterparty_name=names.pop() if len(names) == 1 else None,
        counterparty_iban=counterparty_account(account, None, problems[1], problems[0]),
        remittance=remittance,
        bank_reference=bank_reference,
        end_to_end_id=meaningful(_text(detail, "Refs/EndToEndId")) if detail else None,
        **base,
    )


def _party(detail: ET.Element, amount: Decimal) -> tuple[str | None, str | None]:
    """(name, account) of the other side: the payer of a credit, the payee of a debit."""
    side = "Dbtr" if amount >= 0 else "Cdtr"
    name = (
        _text(detail, f"RltdPties/{side}/Nm")
        or _text(detail, f"RltdPties/{side}/Pty/Nm")
        or _text(detail, f"RltdPties/Ultmt{side}/Nm")
        or _text(detail, f"RltdPties/Ultmt{side}/Pty/Nm")
    )
    account = _text(detail, f"RltdPties/{side}Acct/Id/IBAN") or _text(
        detail, f"RltdPties/{side}Acct/Id/Othr/Id"
    )
    return (_clean(name) or None), (account.replace(" ", "") if account else None)


def _remittance(detail: ET.Element) -> str:
    lines = [line.text or "" for line in detail.findall("RmtInf/Ustrd")]
    text = ""
    for line in lines:
        text += ("" if not text or len(lines[0]) >= _USTRD_WIDTH else " ") + line
    references = [
        ref.text.strip()
        for path in ("RmtInf/Strd/CdtrRefInf/Ref", "RmtInf/Strd/RfrdDocInf/Nb")
        for ref in detail.findall(path)
        if ref.text and ref.text.strip() and ref.text.strip() not in text
    ]
    joined = " ".join(part for part in (_clean(text), *references) if part)
    return joined or _clean(_text(detail, "AddtlTxInf"))


def _bank_code(entry: ET.Element) -> str | None:
    domain = _text(entry, "BkTxCd/Domn/Cd")
    family = _text(entry, "BkTxCd/Domn/Fmly/Cd")
    sub = _text(entry, "BkTxCd/Domn/Fmly/SubFmlyCd")
    if domain:
        return "/".join(part for part in (domain, family, sub) if part)
    return _text(entry, "BkTxCd/Prtry/Cd")


def _signed(
    owner: ET.Element, amount: ET.Element | None, fallback: ET.Element | None, where: str
) -> Decimal:
    """The amount of ``owner`` signed by its CdtDbtInd (or the fallback's): credit is +."""
    if amount is None or not (amount.text or "").strip():
        raise FieldInvalid(f"{where} has no amount (Amt); the statement was not read")
    text = amount.text.strip()
    if not _AMOUNT.match(text):
        # ISO 20022 amounts are plain decimals (18 digits, 5 after the point): no sign,
        # exponent, comma or NaN, which Decimal() alone would let through.
        raise FieldInvalid(
            f"{where} has amount {text[:40]!r}, which is not a number; the statement was not read"
        )
    value = Decimal(text)
    indicator = _text(owner, "CdtDbtInd") or (
        _text(fallback, "CdtDbtInd") if fallback is not None else None
    )
    if indicator not in ("CRDT", "DBIT"):
        raise FieldInvalid(
            f"{where} says neither credit nor debit (CdtDbtInd {indicator!r}); not read"
        )
    return -value if indicator == "DBIT" else value


def _date(element: ET.Element | None, where: str) -> dt.date | None:
    if element is None:
        return None
    raw = _text(element, "Dt") or _text(element, "DtTm")
    if not raw:
        return None
    try:
        # A date-time is the bank's local time; its calendar day is the booking day.
        return dt.datetime.fromisoformat(raw).date() if "T" in raw else dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise FieldInvalid(f"{where} has date {raw!r}, which is not ISO 8601; not read") from exc


def _first_currency(element: ET.Element) -> str | None:
    for amount in element.iter("Amt"):
        if amount.get("Ccy"):
            return amount.get("Ccy")
    return None


def _text(element: ET.Element | None, path: str) -> str | None:
    if element is None:
        return None
    found = element.find(path)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def _clean(value: str | None) -> str:
    return " ".join((value or "").split())
