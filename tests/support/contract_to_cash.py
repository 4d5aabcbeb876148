"""The contract-to-cash scenario's pieces, shared by the pytest end-to-end test and the Robot
acceptance suite: the customer's form, the signed reply, the bank's statement (and its
DKIM-signed mail), the invoice PDF's embedded totals, and the store's state to compare."""

from __future__ import annotations

import datetime as dt
import json
import smtplib
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from backoffice.access.models import AccessGrant
from backoffice.clock import utcnow
from backoffice.store import OutboxMessage, Store
from facturx import get_xml_from_pdf
from lxml import etree
from sqlalchemy import func, select

from tests.contracts import pki, returns
from tests.contracts.requests import CUSTOMERS, form
from tests.payments.builders import CUSTOMER_IBAN, OUR_IBAN, CamtStatement, Entry, Payment, camt053
from tests.payments.ledger import snapshot
from tests.payments.test_payment_mails import BANK, Keys

CONTRACT_ID = "K-2026-0777"
#: The customer: a Polish sole trader (NIP), who signs digitally.
CUSTOMER = CUSTOMERS["pl"]
#: The bank's address, a configured payment sender.
BANK_SENDER = f"wyciagi@{BANK}"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
#: The CII totals a payer relies on, and the issued invoice's column each must equal.
TOTALS = {
    "TaxBasisTotalAmount": "total_net",
    "TaxTotalAmount": "total_vat",
    "GrandTotalAmount": "total_gross",
    "DuePayableAmount": "total_gross",
}


def smtp_send(host: str, port: int, raw: bytes, sender: str, to: str) -> None:
    """Hand a mail to the real SMTP server, which delivers it into Dovecot."""
    with smtplib.SMTP(host, port, timeout=30) as smtp:
        smtp.sendmail(sender, [to], raw)


def write_form(folder: Path, customer_email: str) -> Path:
    """The customer's form as the web form writes it (dates from today); the seller is us,
    from the settings."""
    today = utcnow().date()
    start = today + dt.timedelta(days=14)
    data = form(
        "pl",
        CONTRACT_ID,
        customer={**CUSTOMER, "email": customer_email},
        issue_date=today.isoformat(),
        offer_valid_until=start.isoformat(),
        start_date=start.isoformat(),
        end_date=(start + dt.timedelta(days=364)).isoformat(),
    )
    del data["seller"]
    path = folder / f"{CONTRACT_ID}.json"
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    return path


def contract_pdf(contract_mail: EmailMessage) -> bytes:
    """The contract PDF (not the offer) from the mail that brought it."""
    wanted = f"umowa_{CONTRACT_ID}.pdf"
    for part in contract_mail.iter_attachments():
        if part.get_filename() == wanted:
            return part.get_content()
    raise AssertionError(f"no {wanted} in the contract mail")


def signed_reply(
    contract_mail: EmailMessage, signer: pki.Identity, sender: str, to: str, message_id: str
) -> bytes:
    """The customer's answer in the contract's thread: the PDF that arrived, PAdES-signed."""
    return returns.reply(
        [
            (
                "umowa-podpisana.pdf",
                pki.sign_pdf(contract_pdf(contract_mail), signer),
                "application/pdf",
            )
        ],
        message_id=message_id,
        sender=sender,
        to=to,
        subject=f"Re: {contract_mail['Subject']}",
        in_reply_to=contract_mail["Message-ID"],
        references=[contract_mail["Message-ID"]],
    )


def paying_statement(number: str, amount: Decimal) -> bytes:
    """A CAMT.053 statement of our account with one credit paying invoice ``number``."""
    today = utcnow().date()
    payment = Payment(
        amount,
        today,
        CUSTOMER["name"].upper(),
        CUSTOMER_IBAN,
        f"Zapłata za fakturę {number}",
        bank_ref="E2E-C2C-1",
    )
    return camt053(
        [
            CamtStatement(
                [Entry([payment], bank_ref="E2E-C2C-1")],
                iban=OUR_IBAN,
                statement_id="STMT-E2E-C2C-1",
                day=today,
            )
        ]
    )


def statement_mail(statement: bytes, to: str, keys: Keys) -> bytes:
    """The bank's mail with a CAMT.053 statement attached, DKIM-signed by the bank."""
    msg = EmailMessage()
    msg["From"] = f"Bank Testowy <{BANK_SENDER}>"
    msg["To"] = to
    msg["Subject"] = "Wyciąg z rachunku"
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(domain=BANK)
    msg.set_content("W załączeniu wyciąg z rachunku w formacie CAMT.053.")
    msg.add_attachment(
        statement, maintype="application", subtype="xml", filename="wyciag_camt053.xml"
    )
    return keys.sign(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")), BANK)


def pdf_attachments(message: EmailMessage) -> list[bytes]:
    """The PDFs attached to ``message``."""
    return [
        part.get_content()
        for part in message.iter_attachments()
        if part.get_content_type() == "application/pdf"
    ]


def cii_totals(pdf: bytes) -> dict[str, Decimal]:
    """The totals of the Factur-X XML embedded in ``pdf``, as the factur-x library finds it."""
    filename, xml = get_xml_from_pdf(pdf, check_xsd=False)
    assert filename == "factur-x.xml", filename
    root = etree.fromstring(xml)
    found = {}
    for name in TOTALS:
        [element] = root.iter(f"{{{RAM}}}{name}")
        found[name] = Decimal(element.text)
    return found


def ksef_amount_due(message: EmailMessage) -> Decimal:
    """``P_15`` (amount due) of the KSeF FA(3) XML attached to the invoice mail."""
    [xml] = [
        part.get_content()
        for part in message.iter_attachments()
        if part.get_content_type() == "application/xml"
    ]
    root = etree.fromstring(xml if isinstance(xml, bytes) else xml.encode())
    [element] = [e for e in root.iter() if etree.QName(e).localname == "P_15"]
    return Decimal(element.text)


def invoice_totals(invoice: Any) -> dict[str, Decimal]:
    """What ``cii_totals`` must find for the issued invoice (row) ``invoice``."""
    return {name: Decimal(getattr(invoice, column)) for name, column in TOTALS.items()}


def counts(store: Store) -> dict[str, int]:
    """How many grants and outgoing mails the store holds."""
    with store.session() as session:
        return {
            "grants": session.scalar(select(func.count(AccessGrant.id))) or 0,
            "outbox": session.scalar(select(func.count(OutboxMessage.id))) or 0,
        }


def money_state(store: Store) -> dict[str, Any]:
    """Transactions, allocations, invoices' paid state, review items, grants and outgoing
    mails: everything a re-imported statement must leave alone (not the import records and
    mail verdicts, which note each re-import)."""
    state: dict[str, Any] = snapshot(store)
    kept = {key: state[key] for key in ("transactions", "allocations", "invoices", "reviews")}
    kept.update(counts(store))
    return kept
