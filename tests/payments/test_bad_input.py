"""Bad statements end with a named error and a sentence, never a traceback or a half read."""

from __future__ import annotations

import datetime as dt
import random
import re
from decimal import Decimal
from pathlib import Path

import pytest
from backoffice.errors import BusinessError
from backoffice.payments import (
    ForeignAccount,
    StatementError,
    check_own_account,
    parse_statement,
    read_statement_file,
)
from backoffice.payments.errors import (
    AccountInvalid,
    FieldInvalid,
    NotCamt,
    StatementTooLarge,
    StatementTruncated,
    UnknownCurrency,
    UnknownStatementFormat,
    XmlMalformed,
    XmlUnsafe,
)

from tests.payments.builders import (
    CUSTOMER_IBAN,
    OTHER_OWN_IBAN,
    OUR_IBAN,
    RU_ACCOUNT,
    CamtStatement,
    Entry,
    Mt940Block,
    Payment,
    camt053,
    mt940,
)

DAY = dt.date(2026, 11, 20)
PAYMENTS = [
    Payment(Decimal("1230.00"), DAY, "Jan Kowalski", CUSTOMER_IBAN, "FV/2026/11/0042", "BR1"),
    Payment(Decimal("-99.99"), DAY, "PGE Obrót S.A.", None, "Opłata za prąd", "BR2"),
]


def _camt() -> bytes:
    return camt053([CamtStatement([Entry([p]) for p in PAYMENTS])])


def _mt940() -> bytes:
    return mt940([Mt940Block(PAYMENTS)])


def test_every_statement_error_is_a_business_error_with_a_code() -> None:
    with pytest.raises(StatementError) as caught:
        parse_statement(b"<Document><Foo/></Document>")
    assert isinstance(caught.value, BusinessError)
    assert caught.value.code == "STATEMENT_NOT_CAMT"
    assert "not an ISO 20022 bank statement" in caught.value.reason


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (b"", UnknownStatementFormat, "neither ISO 20022 XML"),
        (b"%PDF-1.7\n1 0 obj\n", UnknownStatementFormat, "neither ISO 20022 XML"),
        (b"<Document><BkToCstmrStmt><Stmt>", XmlMalformed, "not well-formed"),
        (b"<?xml version='1.0'?><Invoice xmlns='urn:oasis'/>", NotCamt, "found <Invoice>"),
        (
            b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:pain.001.001.09'>"
            b"<CstmrCdtTrfInitn/></Document>",
            NotCamt,
            "found <CstmrCdtTrfInitn>",
        ),
        (b"<Document><BkToCstmrStmt><GrpHdr/></BkToCstmrStmt></Document>", FieldInvalid, "Stmt"),
    ],
)
def test_wrong_xml_and_unknown_files(data: bytes, error: type[StatementError], words: str) -> None:
    with pytest.raises(error, match=words):
        parse_statement(data)


def test_camt_cut_short_is_malformed() -> None:
    data = _camt()
    for cut in (len(data) // 3, len(data) // 2, len(data) - 20):
        with pytest.raises(XmlMalformed):
            parse_statement(data[:cut])


def test_xxe_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    data = (
        f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>'
        "<Document><BkToCstmrStmt><Stmt><Id>&x;</Id></Stmt></BkToCstmrStmt></Document>"
    ).encode()
    with pytest.raises(XmlUnsafe) as caught:
        parse_statement(data)
    assert "TOP-SECRET-VALUE" not in caught.value.reason


def test_billion_laughs_is_refused() -> None:
    entities = '<!ENTITY a0 "lol">' + "".join(
        f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10)
    )
    data = f'<?xml version="1.0"?><!DOCTYPE d [{entities}]><Document>&a9;</Document>'.encode()
    with pytest.raises(XmlUnsafe, match="DTD"):
        parse_statement(data)


def test_camt_with_unknown_currency() -> None:
    data = _camt().replace(b'Ccy="PLN"', b'Ccy="PLX"', 1)
    with pytest.raises(UnknownCurrency, match=r"'PLX'.*not an ISO 4217"):
        parse_statement(data)
    entry_only = _camt().replace(b'<Amt Ccy="PLN">1230.00', b'<Amt Ccy="ZZZ">1230.00')
    with pytest.raises(UnknownCurrency, match="ZZZ"):
        parse_statement(entry_only)


def test_camt_with_unreadable_amount_or_date() -> None:
    with pytest.raises(FieldInvalid, match="not a number"):
        parse_statement(_camt().replace(b">1230.00<", b">12,30.00<"))
    with pytest.raises(FieldInvalid, match="not ISO 8601"):
        parse_statement(
            _camt().replace(b"<Dt>2026-11-20</Dt></BookgDt>", b"<Dt>20.11.2026</Dt></BookgDt>", 1)
        )
    with pytest.raises(FieldInvalid, match="neither credit nor debit"):
        parse_statement(
            _camt().replace(b"<CdtDbtInd>DBIT</CdtDbtInd>", b"<CdtDbtInd>X</CdtDbtInd>")
        )


def test_statement_account_with_wrong_iban_checksum() -> None:
    broken = OUR_IBAN[:-1] + ("5" if OUR_IBAN[-1] != "5" else "6")
    with pytest.raises(AccountInvalid, match="check digits"):
        parse_statement(_camt().replace(OUR_IBAN.encode(), broken.encode()))
    with pytest.raises(AccountInvalid, match="check digits"):
        parse_statement(_mt940().replace(OUR_IBAN.encode(), broken.encode()))


def test_truncated_mt940_at_every_line_is_refused() -> None:
    data = _mt940()
    closing = data.index(b":62F:")
    cuts = [i for i in range(1, closing) if data[i - 1 : i] == b"\n"]
    cuts += [closing - 7, closing - 3, data.index(b":61:") + 12]
    for cut in cuts:
        with pytest.raises((StatementTruncated, FieldInvalid, UnknownStatementFormat)) as caught:
            parse_statement(data[:cut])
        assert re.search(r"(not|nothing was|none of it was) read", caught.value.reason)
    with pytest.raises(StatementTruncated, match="ends before its closing balance"):
        parse_statement(data[:closing])


def test_truncated_second_block_refuses_the_whole_file() -> None:
    day2 = dt.date(2026, 11, 21)
    data = mt940([Mt940Block(PAYMENTS), Mt940Block(PAYMENTS, reference="ST2", day=day2)])
    with pytest.raises(StatementTruncated, match=r"statement 2 \(:20:ST2\)"):
        parse_statement(data[: data.rindex(b":62F:")])


def test_mt940_with_broken_lines() -> None:
    data = _mt940()
    with pytest.raises(FieldInvalid, match=":61:"):
        parse_statement(data.replace(b":61:2611201120C1230,00", b":61:garbage"))
    with pytest.raises(FieldInvalid, match="no account"):
        parse_statement(data.replace(b":25:/" + OUR_IBAN.encode(), b":25:"))


def test_mt940_with_unknown_currency() -> None:
    data = mt940([Mt940Block(PAYMENTS, currency="XPL")])
    with pytest.raises(UnknownCurrency, match="'XPL'"):
        parse_statement(data)


def test_statement_for_another_account() -> None:
    [statement] = parse_statement(_camt())
    check_own_account(statement, [OUR_IBAN])
    check_own_account(statement, ["pl61 1090 1014 0000 0712 1981 2874"])  # printed form
    check_own_account(statement, [OUR_IBAN[2:]])  # the Polish NRB without "PL"
    check_own_account(statement, [])  # not configured: the check is off
    with pytest.raises(ForeignAccount, match=f"account {OUR_IBAN}.*not one of our accounts"):
        check_own_account(statement, [OTHER_OWN_IBAN, RU_ACCOUNT])


def test_russian_account_is_compared_as_a_number() -> None:
    block = Mt940Block(PAYMENTS, account=RU_ACCOUNT, currency="RUB")
    [statement] = parse_statement(mt940([block]))
    check_own_account(statement, [RU_ACCOUNT])
    with pytest.raises(ForeignAccount):
        check_own_account(statement, ["40702810000000009999"])


def test_oversized_file_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.xml"
    with path.open("wb") as handle:
        handle.truncate(65 * 1024 * 1024)  # sparse: no real disk use
    with pytest.raises(StatementTooLarge, match="not read"):
        read_statement_file(path)


SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples" / "statements"
#: Pieces a damaged or hostile file might carry, spliced into the samples.
_SPLICES = [b":61:", b"\n", b"~20", b"<Ntry>", b"</Amt>", b"-", b"\xff", b'Ccy="X"', b"1e9999"]


@pytest.mark.parametrize("sample", sorted(SAMPLES.iterdir()), ids=lambda path: path.name)
def test_damaged_samples_give_a_statement_or_a_statement_error(sample: Path) -> None:
    rng = random.Random(sample.name)
    original = sample.read_bytes()
    outcomes = {"read": 0, "refused": 0}
    for _ in range(400):
        data = bytearray(original)
        for _ in range(rng.randint(1, 3)):
            position = rng.randrange(len(data))
            choice = rng.random()
            if choice < 0.4:
                data[position] = rng.randrange(256)
            elif choice < 0.7:
                del data[position : position + rng.randint(1, 30)]
            else:
                data[position:position] = rng.choice(_SPLICES)
        try:
            statements = parse_statement(bytes(data))
        except StatementError as exc:
            assert exc.code.startswith("STATEMENT_") and exc.reason
            outcomes["refused"] += 1
            continue
        for statement in statements:
            for tx in statement.transactions:
                assert tx.amount.is_finite() and "E" not in str(tx.amount)
        outcomes["read"] += 1
    assert outcomes["read"] and outcomes["refused"]


def test_camt_amount_in_exponent_or_signed_form_is_refused() -> None:
    for amount in (b"1e9999", b"-5.00", b"NaN", b"1,230.00"):
        with pytest.raises(FieldInvalid, match="not a number"):
            parse_statement(_camt().replace(b">1230.00<", b">" + amount + b"<"))


def test_xml_with_an_unknown_encoding_is_malformed() -> None:
    data = _camt().replace(b'encoding="UTF-8"', b'encoding="UTF-88"')
    with pytest.raises(XmlMalformed, match="cannot be decoded"):
        parse_statement(data)
