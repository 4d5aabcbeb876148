"""Mailed statements count only from configured senders whose DKIM signature verifies.

The mails go through the real intake (embedded Maildir) and are signed with dkimpy using an
RSA key generated here. There is no DNS on the test machines, so the public keys are served
through dkimpy's ``dnsfunc`` parameter (the TXT record a bank would publish at
``<selector>._domainkey.<domain>``); in production dkimpy looks them up in DNS (dnspython).
"""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime

import dkim
import pytest
from backoffice.config import Settings
from backoffice.payments.service import run_payments
from backoffice.store import Document, Store
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from tests.contracts.returns import deliver
from tests.payments.builders import CUSTOMER_IBAN, CamtStatement, Entry, Payment, camt054
from tests.payments.ledger import BOOKED, invoice, issue, reviews, snapshot

BANK = "bank.example"
ATTACKER = "attacker.example"
SIGNED = [b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"content-type"]


class Keys:
    """RSA keys per domain and the DNS TXT records that publish them."""

    def __init__(self) -> None:
        self.private: dict[str, bytes] = {}
        self.records: dict[bytes, bytes] = {}
        self.dns_down = False

    def add(self, domain: str, selector: str = "s1") -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private[domain] = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        name = f"{selector}._domainkey.{domain}.".encode()
        self.records[name] = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    def dnsfunc(self, name: bytes, timeout: float = 5) -> bytes | None:
        """What dkimpy would get from DNS for ``name``."""
        if self.dns_down:
            raise dkim.DnsTimeoutError("no answer from the resolver")
        return self.records.get(name)

    def sign(self, raw: bytes, domain: str, *, length: bool = False) -> bytes:
        header = dkim.sign(
            raw, b"s1", domain.encode(), self.private[domain], include_headers=SIGNED, length=length
        )
        return header + raw


@pytest.fixture(scope="module")
def keys() -> Keys:
    made = Keys()
    made.add(BANK)
    made.add(ATTACKER)
    return made


def notification(number: str, amount: str, ref: str, sender: str, n: int) -> bytes:
    """A bank's mail with a CAMT.054 credit notification attached."""
    statement = CamtStatement(
        [
            Entry(
                [
                    Payment(
                        Decimal(amount),
                        BOOKED,
                        "KOWALSKI I WSPOLNICY SP.K.",
                        CUSTOMER_IBAN,
                        f"Zapłata {number}",
                        bank_ref=ref,
                    )
                ],
                bank_ref=ref,
            )
        ],
        day=BOOKED,
        statement_id=f"NTF-{ref}",
    )
    msg = EmailMessage()
    msg["From"] = f"Bank <{sender}>"
    msg["To"] = "faktury@firma.example"
    msg["Subject"] = f"Powiadomienie o uznaniu rachunku {n}"
    msg["Date"] = format_datetime(dt.datetime(2026, 11, 21, 8, n, tzinfo=dt.UTC))
    msg["Message-ID"] = f"<ntf-{n}@{sender.split('@')[1]}>"
    msg.set_content("W załączeniu powiadomienie o uznaniu rachunku.")
    msg.add_attachment(
        camt054(statement), maintype="application", subtype="xml", filename=f"camt054_{n}.xml"
    )
    # A fixed boundary, so a body changed after signing still parses (the attack we test).
    msg.set_boundary(f"=={n}==")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def test_only_signed_mail_from_configured_senders_counts_as_payment(
    pay_settings: object, keys: Keys
) -> None:
    settings: Settings = pay_settings(payment_senders=f"*@{BANK}")  # type: ignore[operator]
    from backoffice.store import open_store

    store = open_store(settings)
    try:
        _run(store, settings, keys)
    finally:
        store.dispose()


def _run(store: Store, settings: Settings, keys: Keys) -> None:
    issued = [issue(store, settings, f"order-{n}") for n in range(1, 7)]
    good = keys.sign(
        notification(issued[0].number, "1230.00", "OK1", f"powiadomienia@{BANK}", 1), BANK
    )
    unsigned = notification(issued[1].number, "1230.00", "UN1", f"powiadomienia@{BANK}", 2)
    signed = keys.sign(
        notification(issued[2].number, "1230.00", "TM1", f"powiadomienia@{BANK}", 3), BANK
    )
    tampered_body = notification(issued[2].number, "12300.00", "TM1", f"powiadomienia@{BANK}", 3)
    tampered = (
        signed.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n" + tampered_body.split(b"\r\n\r\n", 1)[1]
    )
    stranger = keys.sign(
        notification(issued[3].number, "1230.00", "ST1", f"bank@{ATTACKER}", 4), ATTACKER
    )
    spoofed = keys.sign(
        notification(issued[4].number, "1230.00", "SP1", f"powiadomienia@{BANK}", 5), ATTACKER
    )
    partial = keys.sign(
        notification(issued[5].number, "1230.00", "PA1", f"powiadomienia@{BANK}", 6),
        BANK,
        length=True,
    )
    assert tampered != signed
    deliver(store, settings, good, unsigned, tampered, stranger, spoofed, partial)

    report = run_payments(store, settings, dnsfunc=keys.dnsfunc)

    assert (report.statements_imported, report.statements_rejected) == (1, 5), report.reasons
    assert invoice(store, issued[0].invoice_id)[0] == "paid"
    for inv in issued[1:]:
        assert invoice(store, inv.invoice_id)[1:] == (Decimal("0.00"), None), inv.number
    codes = dict(reviews(store, "statement_import"))
    assert sorted(codes) == [
        "PAYMENT_MAIL_BAD_SIGNATURE",
        "PAYMENT_MAIL_DOMAIN_MISMATCH",
        "PAYMENT_MAIL_PARTIAL_SIGNATURE",
        "PAYMENT_MAIL_SENDER_NOT_CONFIGURED",
        "PAYMENT_MAIL_UNSIGNED",
    ]
    assert (
        f"bank@{ATTACKER} is not one of the configured payment senders"
        in codes["PAYMENT_MAIL_SENDER_NOT_CONFIGURED"]
    )
    assert (
        f"by {ATTACKER}, not by the sender's domain {BANK}" in codes["PAYMENT_MAIL_DOMAIN_MISMATCH"]
    )
    mails = snapshot(store)["mails"]
    assert [verdict for _pk, verdict, _code in mails].count("trusted") == 1
    assert len(mails) == 6
    with store.session() as session:
        statuses = sorted(
            session.scalars(select(Document.status).where(Document.kind == "bank_statement"))
        )
    assert statuses == ["processed"] + ["rejected"] * 5


def test_a_dns_failure_is_no_verdict_the_mail_is_checked_again(
    pay_settings: object, keys: Keys
) -> None:
    settings: Settings = pay_settings(payment_senders=f"powiadomienia@{BANK}")  # type: ignore[operator]
    from backoffice.store import open_store

    store = open_store(settings)
    try:
        inv = issue(store, settings, "order-1")
        deliver(
            store,
            settings,
            keys.sign(notification(inv.number, "1230.00", "DN1", f"powiadomienia@{BANK}", 1), BANK),
        )
        keys.dns_down = True
        try:
            report = run_payments(store, settings, dnsfunc=keys.dnsfunc)
        finally:
            keys.dns_down = False
        assert report.statements_imported == report.statements_rejected == 0
        assert report.reasons and report.reasons[0].startswith("PAYMENT_MAIL_DNS_UNAVAILABLE")
        assert snapshot(store)["mails"] == [] and reviews(store) == []

        report = run_payments(store, settings, dnsfunc=keys.dnsfunc)

        assert report.statements_imported == 1, report.reasons
        assert invoice(store, inv.invoice_id)[0] == "paid"
    finally:
        store.dispose()
