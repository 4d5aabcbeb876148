"""Writing realistic bank statement files for the tests: CAMT.053/054 XML and MT940 text.

The files are built from plain ``Payment`` values, so a test states what the bank booked and
checks that the parser reads exactly that back. They follow the shapes banks send: CAMT with
group header, balances, transaction summary, bank transaction codes and batches; MT940 in
the Polish ZBP flavour (~NN sub-fields, Windows-1250, ˙ placeholders, 27-character title
lines) and in plain SWIFT (free text or /KEYWORD/ field 86).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from xml.sax.saxutils import escape

from backoffice.payments import Statement

#: Valid IBANs (checksums hold) used across the tests.
OUR_IBAN = "PL61109010140000071219812874"
OTHER_OWN_IBAN = "PL27114020040000300201355387"
CUSTOMER_IBAN = "PL60102010260000123456789012"
SUPPLIER_IBAN = "PL51105014451000009031234567"
GERMAN_IBAN = "DE89370400440532013000"
RU_ACCOUNT = "40702810900000001234"
RU_CUSTOMER_ACCOUNT = "40702810500000004321"


#: The keys of the ``backoffice statement --json`` contract, in order.
TOP_KEYS = [
    "format",
    "account_iban",
    "currency",
    "opening_balance",
    "closing_balance",
    "transactions",
]
TX_KEYS = [
    "id",
    "booking_date",
    "value_date",
    "amount",
    "currency",
    "counterparty_name",
    "counterparty_iban",
    "remittance",
]


def header(statement: Statement) -> tuple[object, ...]:
    """(account, currency, opening, closing, problem codes) of a parsed statement."""
    return (
        statement.account_iban,
        statement.currency,
        statement.opening_balance.amount if statement.opening_balance else None,
        statement.closing_balance.amount if statement.closing_balance else None,
        [problem.code for problem in statement.problems],
    )


def rows(statement: Statement) -> list[tuple[object, ...]]:
    """(amount, counterparty, counterparty IBAN, remittance) of each parsed transaction."""
    return [
        (tx.amount, tx.counterparty_name, tx.counterparty_iban, tx.remittance)
        for tx in statement.transactions
    ]


@dataclass(frozen=True)
class Payment:
    """One booked payment as the bank states it; ``amount`` signed (credit +, debit -)."""

    amount: Decimal
    booking: dt.date
    name: str | None = None
    iban: str | None = None
    remittance: str = ""
    bank_ref: str | None = None
    end_to_end: str | None = None
    value: dt.date | None = None


@dataclass
class Entry:
    """A CAMT entry: one payment, or a batch of several booked as one (``Btch``)."""

    payments: list[Payment]
    bank_ref: str | None = None
    status: str = "BOOK"
    amount_override: Decimal | None = None
    currency: str | None = None

    @property
    def amount(self) -> Decimal:
        """The signed amount booked on the account."""
        if self.amount_override is not None:
            return self.amount_override
        return sum((p.amount for p in self.payments), Decimal(0))


@dataclass
class CamtStatement:
    """One <Stmt> (or <Ntfctn>): account, balances and entries."""

    entries: list[Entry]
    iban: str = OUR_IBAN
    currency: str = "PLN"
    opening: Decimal | None = Decimal("10000.00")
    closing: Decimal | None = None
    statement_id: str = "STMT-2026-001"
    day: dt.date = dt.date(2026, 11, 20)
    other_account: str | None = None
    extra_balances: list[tuple[str, Decimal]] = field(default_factory=list)

    def closing_balance(self) -> Decimal | None:
        """The stated closing balance (opening + entries unless overridden)."""
        if self.closing is not None or self.opening is None:
            return self.closing
        booked = [e for e in self.entries if e.status == "BOOK"]
        return self.opening + sum((e.amount for e in booked), Decimal(0))


def _mark(amount: Decimal) -> str:
    return "CRDT" if amount >= 0 else "DBIT"


def _amt(amount: Decimal, currency: str) -> str:
    return f'<Amt Ccy="{currency}">{abs(amount):.2f}</Amt>'


def _party(payment: Payment, version: int) -> str:
    side = "Dbtr" if payment.amount >= 0 else "Cdtr"
    parts = []
    if payment.name:
        name = f"<Nm>{escape(payment.name)}</Nm>"
        parts.append(
            f"<{side}><Pty>{name}</Pty></{side}>" if version >= 8 else f"<{side}>{name}</{side}>"
        )
    if payment.iban:
        if payment.iban[:2].isalpha():
            parts.append(f"<{side}Acct><Id><IBAN>{payment.iban}</IBAN></Id></{side}Acct>")
        else:
            parts.append(f"<{side}Acct><Id><Othr><Id>{payment.iban}</Id></Othr></Id></{side}Acct>")
    return f"<RltdPties>{''.join(parts)}</RltdPties>" if parts else ""


def _tx_details(payment: Payment, currency: str, version: int, with_amount: bool) -> str:
    refs = "<Refs>"
    if payment.bank_ref:
        refs += f"<AcctSvcrRef>{payment.bank_ref}</AcctSvcrRef>"
    refs += f"<EndToEndId>{payment.end_to_end or 'NOTPROVIDED'}</EndToEndId></Refs>"
    amount = ""
    if with_amount:
        if version >= 3:
            amount = (
                _amt(payment.amount, currency) + f"<CdtDbtInd>{_mark(payment.amount)}</CdtDbtInd>"
            )
        amount += f"<AmtDtls><TxAmt>{_amt(payment.amount, currency)}</TxAmt></AmtDtls>"
    remittance = ""
    if payment.remittance:
        # Unstructured remittance lines are at most 140 characters.
        lines = [payment.remittance[i : i + 140] for i in range(0, len(payment.remittance), 140)]
        remittance = (
            "<RmtInf>" + "".join(f"<Ustrd>{escape(x)}</Ustrd>" for x in lines) + "</RmtInf>"
        )
    return f"<TxDtls>{refs}{amount}{_party(payment, version)}{remittance}</TxDtls>"


def _entry(entry: Entry, currency: str, version: int, number: int) -> str:
    first = entry.payments[0]
    status = f"<Sts><Cd>{entry.status}</Cd></Sts>" if version >= 8 else f"<Sts>{entry.status}</Sts>"
    batch = len(entry.payments) > 1
    ref = entry.bank_ref if batch else (entry.bank_ref or first.bank_ref)
    details = "".join(
        _tx_details(p, currency, version, with_amount=batch or version >= 8) for p in entry.payments
    )
    batch_info = f"<Btch><NbOfTxs>{len(entry.payments)}</NbOfTxs></Btch>" if batch else ""
    family = "RCDT" if entry.amount >= 0 else "ICDT"
    return (
        f"<Ntry><NtryRef>{number}</NtryRef>{_amt(entry.amount, entry.currency or currency)}"
        f"<CdtDbtInd>{_mark(entry.amount)}</CdtDbtInd>{status}"
        f"<BookgDt><Dt>{first.booking.isoformat()}</Dt></BookgDt>"
        f"<ValDt><Dt>{(first.value or first.booking).isoformat()}</Dt></ValDt>"
        + (f"<AcctSvcrRef>{ref}</AcctSvcrRef>" if ref else "")
        + f"<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>{family}</Cd><SubFmlyCd>DMCT</SubFmlyCd></Fmly>"
        f"</Domn><Prtry><Cd>020</Cd><Issr>ZBP</Issr></Prtry></BkTxCd>"
        f"<NtryDtls>{batch_info}{details}</NtryDtls></Ntry>"
    )


def _balance(code: str, amount: Decimal, currency: str, day: dt.date) -> str:
    return (
        f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>{_amt(amount, currency)}"
        f"<CdtDbtInd>{_mark(amount)}</CdtDbtInd><Dt><Dt>{day.isoformat()}</Dt></Dt></Bal>"
    )


def _account(statement: CamtStatement) -> str:
    ident = (
        f"<Othr><Id>{statement.other_account}</Id></Othr>"
        if statement.other_account
        else f"<IBAN>{statement.iban}</IBAN>"
    )
    return (
        f"<Acct><Id>{ident}</Id><Ccy>{statement.currency}</Ccy>"
        "<Ownr><Nm>Przykładowa Firma Sp. z o.o.</Nm></Ownr>"
        "<Svcr><FinInstnId><BIC>WBKPPLPP</BIC></FinInstnId></Svcr></Acct>"
    )


def camt053(
    statements: list[CamtStatement], version: str = "001.08", namespace: bool = True
) -> bytes:
    """A CAMT.053 file (``version`` 001.02 .. 001.08) with one <Stmt> per statement."""
    number = int(version.split(".")[1])
    body = ""
    for statement in statements:
        balances = ""
        if statement.opening is not None:
            balances += _balance("OPBD", statement.opening, statement.currency, statement.day)
        closing = statement.closing_balance()
        if closing is not None:
            balances += _balance("CLBD", closing, statement.currency, statement.day)
            balances += _balance("CLAV", closing, statement.currency, statement.day)
        for code, amount in statement.extra_balances:
            balances += _balance(code, amount, statement.currency, statement.day)
        entries = "".join(
            _entry(e, statement.currency, number, n) for n, e in enumerate(statement.entries, 1)
        )
        body += (
            f"<Stmt><Id>{statement.statement_id}</Id><ElctrncSeqNb>1</ElctrncSeqNb>"
            f"<CreDtTm>{statement.day.isoformat()}T18:00:00+01:00</CreDtTm>"
            f"<FrToDt><FrDtTm>{statement.day.isoformat()}T00:00:00+01:00</FrDtTm>"
            f"<ToDtTm>{statement.day.isoformat()}T23:59:59+01:00</ToDtTm></FrToDt>"
            f"{_account(statement)}{balances}"
            f"<TxsSummry><TtlNtries><NbOfNtries>{len(statement.entries)}</NbOfNtries>"
            f"</TtlNtries></TxsSummry>{entries}</Stmt>"
        )
    xmlns = f' xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.{version}"' if namespace else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document{xmlns}'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<BkToCstmrStmt><GrpHdr><MsgId>MSG-2026-11-20-001</MsgId>"
        "<CreDtTm>2026-11-20T18:00:00+01:00</CreDtTm></GrpHdr>"
        f"{body}</BkToCstmrStmt></Document>"
    ).encode()


def camt054(statement: CamtStatement, version: str = "001.08") -> bytes:
    """A CAMT.054 debit/credit notification (no balances) for the statement's entries."""
    number = int(version.split(".")[1])
    entries = "".join(
        _entry(e, statement.currency, number, n) for n, e in enumerate(statement.entries, 1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.{version}">'
        "<BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>NTF-1</MsgId>"
        "<CreDtTm>2026-11-20T10:15:00+01:00</CreDtTm></GrpHdr>"
        f"<Ntfctn><Id>{statement.statement_id}</Id>"
        f"<CreDtTm>{statement.day.isoformat()}T10:15:00+01:00</CreDtTm>"
        f"{_account(statement)}{entries}</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"
    ).encode()


# ---------------------------------------------------------------------------------------------
# MT940


def _mt_amount(amount: Decimal) -> str:
    return f"{abs(amount):.2f}".replace(".", ",")


def _mt_balance(tag: str, amount: Decimal, currency: str, day: dt.date) -> str:
    mark = "C" if amount >= 0 else "D"
    return f":{tag}:{mark}{day:%y%m%d}{currency}{_mt_amount(amount)}"


def _wrap(text: str, width: int) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)] or [""]


def _zbp_details(payment: Payment, separator: str) -> list[str]:
    """Field 86 in the Polish ZBP flavour: ~00 operation, ~20.. title, ~32/33 name, ~38 IBAN."""
    operation = "PRZELEW PRZYCHODZĄCY" if payment.amount >= 0 else "PRZELEW WYCHODZĄCY"
    lines = [f":86:020{separator}00VE02 {operation}"]
    title = _wrap(payment.remittance, 27)[:6]
    for index in range(6):
        value = title[index] if index < len(title) else "˙"
        lines.append(f"{separator}2{index}{value}")
    if payment.iban and payment.iban.startswith("PL"):
        lines.append(f"{separator}30{payment.iban[4:12]}")
        lines.append(f"{separator}31{payment.iban[12:]}")
    name = _wrap(payment.name or "", 27)
    lines.append(f"{separator}32{name[0]}")
    lines.append(f"{separator}33{name[1] if len(name) > 1 else '˙'}")
    lines.append(f"{separator}34020")
    if payment.iban:
        lines.append(f"{separator}38{payment.iban}")
    lines.append(f"{separator}62ul. Prosta 1")
    lines.append(f"{separator}6300-001 Warszawa")
    return lines


def _free_details(payment: Payment) -> list[str]:
    text = payment.remittance
    if payment.name:
        text = f"{payment.name} {text}"
    return [":86:" + line if i == 0 else line for i, line in enumerate(_wrap(text, 65))]


def _slash_details(payment: Payment) -> list[str]:
    text = "/TRTP/SEPA CREDIT TRANSFER"
    if payment.iban:
        text += f"/IBAN/{payment.iban}"
    text += "/BIC/COBADEFFXXX"
    if payment.name:
        text += f"/NAME/{payment.name}"
    text += f"/REMI/{payment.remittance}"
    if payment.end_to_end:
        text += f"/EREF/{payment.end_to_end}"
    return [":86:" + line if i == 0 else line for i, line in enumerate(_wrap(text, 65))]


@dataclass
class Mt940Block:
    """One :20: block: a day's statement."""

    payments: list[Payment]
    opening: Decimal = Decimal("10000.00")
    closing: Decimal | None = None
    reference: str = "ST261120"
    number: str = "00213/001"
    day: dt.date = dt.date(2026, 11, 20)
    account: str = OUR_IBAN
    currency: str = "PLN"
    closing_tag: str = "62F"
    opening_tag: str = "60F"

    def closing_balance(self) -> Decimal:
        """Stated closing balance (opening + payments unless overridden)."""
        if self.closing is not None:
            return self.closing
        return self.opening + sum((p.amount for p in self.payments), Decimal(0))


def mt940(
    blocks: list[Mt940Block],
    flavour: str = "zbp",
    encoding: str = "cp1250",
    separator: str = "~",
    newline: str = "\r\n",
) -> bytes:
    """An MT940 file; ``flavour`` is ``zbp`` (Polish), ``free`` (plain text) or ``slash``."""
    lines: list[str] = []
    for block in blocks:
        lines += [
            f":20:{block.reference}",
            f":25:/{block.account}",
            f":28C:{block.number}",
            _mt_balance(block.opening_tag, block.opening, block.currency, block.day),
        ]
        for payment in block.payments:
            mark = "C" if payment.amount >= 0 else "D"
            value = payment.value or payment.booking
            ref = payment.bank_ref or ""
            lines.append(
                f":61:{value:%y%m%d}{payment.booking:%m%d}{mark}{_mt_amount(payment.amount)}"
                f"N{'152' if mark == 'C' else '641'}NONREF" + (f"//{ref}" if ref else "")
            )
            if flavour == "zbp":
                lines += _zbp_details(payment, separator)
            elif flavour == "slash":
                lines += _slash_details(payment)
            else:
                lines += _free_details(payment)
        lines.append(
            _mt_balance(block.closing_tag, block.closing_balance(), block.currency, block.day)
        )
        lines.append(_mt_balance("64", block.closing_balance(), block.currency, block.day))
        lines.append("-")
    return (newline.join(lines) + newline).encode(encoding)
