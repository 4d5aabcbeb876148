"""Test keywords of the contract-to-cash acceptance suite (acceptance/contract_to_cash.robot).

Our mailbox and a customer's on the real Dovecot, mail through the real SMTP server, a fresh
store, the tests' PKI (its root is the robots' trusted root), a watch folder for statements
and a provisioning service on a real socket that checks every request's signature. The
robots run as separate processes; this library is the customer, the bank and the auditor.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from robot.api.deco import keyword, library

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "acceptance"))

from backoffice.billing.models import IssuedInvoice  # noqa: E402
from backoffice.config import load_settings  # noqa: E402
from backoffice.contracts.service import contract_statuses  # noqa: E402
from backoffice.store import Store, open_store  # noqa: E402
from MailTestLibrary import MailTestLibrary  # noqa: E402
from sqlalchemy import select  # noqa: E402

from tests.access.conftest import SECRET  # noqa: E402
from tests.access.receiver import Receiver, serve  # noqa: E402
from tests.billing.requests import PL_SELLER  # noqa: E402
from tests.contracts import returns  # noqa: E402
from tests.support import contract_to_cash as c2c  # noqa: E402
from tests.support.mailbox import TestMailbox, unique_user  # noqa: E402

HOST, SMTP_PORT = "127.0.0.1", 10025


@library(scope="SUITE", auto_keywords=False)
class ContractToCashLibrary(MailTestLibrary):
    """The customer, the bank and the provisioned service around the robots, and checks."""

    def __init__(self) -> None:
        super().__init__()
        self.ours = TestMailbox(self.user)
        self.customer = TestMailbox(unique_user("klient"))
        self.world = returns.make_pki(c2c.CUSTOMER["name"], self.customer.address)
        home = Path(self.home)
        self.root = home / "trusted-root.pem"
        self.root.write_bytes(self.world.root.pem)
        self.forms = home / "forms"
        self.watch = home / "statements"
        self.forms.mkdir()
        self.watch.mkdir()
        c2c.write_form(self.forms, self.customer.address)
        self.receiver = Receiver(secret=SECRET)
        self.server, self.url = serve(self.receiver)

    def _store(self) -> Store:
        return open_store(load_settings(home=Path(self.home), database_url=None, _env_file=None))

    def _invoice(self) -> IssuedInvoice:
        store = self._store()
        try:
            with store.session() as session:
                invoices = list(session.scalars(select(IssuedInvoice)))
                if len(invoices) != 1:
                    raise AssertionError(f"{len(invoices)} invoices issued, not one")
                session.expunge(invoices[0])
                return invoices[0]
        finally:
            store.dispose()

    @keyword
    def robot_environment(self) -> dict[str, str]:
        """Environment for the robots: our mailbox, SMTP out, a Polish seller, the trusted
        root, the watch folder and the provisioning webhook."""
        settings: dict[str, object] = {
            "outbox_transport": "smtp",
            "smtp_host": HOST,
            "smtp_port": SMTP_PORT,
            "smtp_security": "none",
            "mail_from": f"Firma Testowa <{self.ours.address}>",
            "contract_trust_roots": self.root,
            "payments_watch_dir": self.watch,
            "payment_senders": c2c.BANK_SENDER,
            "access_webhook_url": self.url,
            "access_webhook_secret": SECRET,
            **PL_SELLER,
        }
        env = super().robot_environment()
        env.update({f"BACKOFFICE_{name.upper()}": str(value) for name, value in settings.items()})
        return env

    @keyword
    def forms_folder(self) -> str:
        """The folder holding the customer's form (the contracts robot's CONTRACT_FORMS)."""
        return str(self.forms)

    @keyword
    def the_customer_got_the_contract(self) -> None:
        """One mail in the customer's INBOX: the offer and the contract."""
        [mail] = self.customer.wait_for(1)
        expected = f"Oferta i umowa nr {c2c.CONTRACT_ID}"
        if str(mail["Subject"]) != expected:
            raise AssertionError(f"subject {mail['Subject']!r} is not {expected!r}")
        c2c.contract_pdf(mail)

    @keyword
    def the_customer_returns_the_contract_signed_digitally(self) -> None:
        """The customer PAdES-signs the contract that arrived and answers in its thread."""
        contract_mail = self.customer.messages()[0]
        reply = c2c.signed_reply(
            contract_mail,
            self.world.customer,
            self.customer.address,
            self.ours.address,
            f"<signed-{self.customer.user.split('@')[0]}@klient.example>",
        )
        c2c.smtp_send(HOST, SMTP_PORT, reply, self.customer.address, self.ours.address)
        self.ours.wait_for(1)

    @keyword
    def contract_status(self) -> str:
        """The contract's status in the store."""
        store = self._store()
        try:
            return contract_statuses(store)[c2c.CONTRACT_ID][0]
        finally:
            store.dispose()

    @keyword
    def the_customer_got_the_invoice_with_its_totals_embedded(self) -> None:
        """The second mail is the invoice; its PDF's Factur-X XML states the stored totals."""
        invoice = self._invoice()
        mail = self.customer.wait_for(2)[1]
        expected = f"Faktura VAT nr {invoice.number}"
        if str(mail["Subject"]) != expected:
            raise AssertionError(f"subject {mail['Subject']!r} is not {expected!r}")
        [pdf] = c2c.pdf_attachments(mail)
        found, wanted = c2c.cii_totals(pdf), c2c.invoice_totals(invoice)
        if found != wanted:
            raise AssertionError(f"the embedded XML says {found}, the invoice {wanted}")

    @keyword
    def the_bank_statement_paying_the_invoice_lands_in_the_watch_folder(self, name: str) -> None:
        """A CAMT.053 statement with a credit naming the invoice, for its amount."""
        invoice = self._invoice()
        statement = c2c.paying_statement(invoice.number, invoice.total_gross)
        (self.watch / name).write_bytes(statement)

    @keyword
    def invoice_status(self) -> str:
        """``status`` of the invoice, and whether it is paid in full: ``paid in full``."""
        invoice = self._invoice()
        full = invoice.paid_at is not None and invoice.paid_total == invoice.total_gross
        return f"{invoice.status} in full" if full else invoice.status

    @keyword
    def the_provisioning_service_was_called_once_with_a_valid_signature(self) -> None:
        """One request, a valid X-Signature, an idempotency key, this invoice's number."""
        invoice = self._invoice()
        calls = self.receiver.deliveries
        if len(calls) != 1:
            raise AssertionError(f"{len(calls)} provisioning calls, not one")
        call = calls[0]
        if not (call.signature_ok and call.key):
            raise AssertionError(f"signature valid: {call.signature_ok}, key: {call.key!r}")
        if call.payload["invoice"]["number"] != invoice.number:
            raise AssertionError(f"the call names {call.payload['invoice']}")

    @keyword
    def provisioning_calls(self) -> int:
        """Requests the provisioning service received."""
        return len(self.receiver.deliveries)

    @keyword
    def the_customer_got_the_welcome_email_in_the_invoice_thread(self) -> None:
        """The third mail is the welcome, a reply to the invoice mail."""
        mails = self.customer.wait_for(3)
        invoice_mail, welcome = mails[1], mails[2]
        if welcome["In-Reply-To"] != invoice_mail["Message-ID"]:
            raise AssertionError(f"In-Reply-To {welcome['In-Reply-To']} is not the invoice's")
        if invoice_mail["Message-ID"] not in str(welcome["References"]).split():
            raise AssertionError(f"References {welcome['References']} lack the invoice's")
        body = welcome.get_body(("plain",)).get_content()
        if "Dostęp do usługi" not in body:
            raise AssertionError(f"not the welcome email:\n{body}")

    @keyword
    def mail_the_customer_received(self) -> int:
        """How many mails the customer's INBOX holds."""
        return self.customer.count()

    @keyword
    def the_money_state(self) -> dict[str, Any]:
        """Transactions, allocations, paid state, review items, grants and outgoing mails."""
        store = self._store()
        try:
            return c2c.money_state(store)
        finally:
            store.dispose()

    @keyword
    def stop_the_provisioning_service(self) -> None:
        """Shut the local HTTP server down."""
        self.receiver.release()
        self.server.shutdown()
        self.server.server_close()
