"""Contract to cash end to end against the real servers (issue 5, "What it must show").

One customer, one contract, one invoice, one payment, one grant - through Dovecot, the SMTP
server (which delivers into Dovecot) and a local HTTP server standing in for the service
being provisioned, with the robots' use cases called in the order ``make run`` runs the
robots (intake, payments, invoices, contracts, billing, access, reminders, outbox):

1. the customer's form becomes an offer and a contract in the customer's IMAP mailbox;
2. the customer answers in the thread with the contract PAdES-signed (the tests' PKI, its
   root configured as trusted): intake, then the contracts robot marks it signed;
3. in the same round billing invoices the signed contract and the outbox sends the invoice:
   its PDF's embedded Factur-X XML, read back with the factur-x library, states the totals
   of the issued invoice;
4. the bank mails a CAMT.053 statement paying it (a configured payment sender, a DKIM
   signature made with an RSA key generated here and served through dkimpy's ``dnsfunc``,
   since there is no DNS on the test machines): intake, payments - the invoice is paid;
5. the access robot calls the webhook once, signed, with an idempotency key; the welcome
   email arrives in the invoice's thread;
6. the same statement mailed again and dropped in the watch folder changes nothing, and
   another round of every robot changes nothing either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from backoffice.access.service import grant_due
from backoffice.billing.contracts import queue_signed_contracts
from backoffice.billing.models import IssuedInvoice
from backoffice.billing.service import issue_due
from backoffice.config import Settings
from backoffice.contracts.service import (
    check_returned_contracts,
    contract_statuses,
    issue_contracts_from,
)
from backoffice.intake.service import run_intake
from backoffice.invoices.service import chase_corrections, check_new_invoices, make_due_effects
from backoffice.outbox.service import send_due
from backoffice.payments.service import run_payments
from backoffice.receivables.service import chase_receivables
from backoffice.store import Store, open_store
from sqlalchemy import select

from tests.access.conftest import SECRET, receiver  # noqa: F401 - the receiver fixture
from tests.access.receiver import Receiver
from tests.billing.requests import PL_SELLER
from tests.contracts import returns
from tests.payments.test_payment_mails import BANK, Keys
from tests.support.contract_to_cash import (
    BANK_SENDER,
    CONTRACT_ID,
    CUSTOMER,
    cii_totals,
    invoice_totals,
    ksef_amount_due,
    money_state,
    paying_statement,
    pdf_attachments,
    signed_reply,
    smtp_send,
    statement_mail,
    write_form,
)
from tests.support.servers import TestServers

pytestmark = [pytest.mark.imap, pytest.mark.smtp]


@dataclass
class Round:
    """What one round of every robot did, robot by robot (the reports as they are)."""

    reports: dict[str, Any] = field(default_factory=dict)

    @property
    def sent(self) -> int:
        """Mails handed to the SMTP server in this round, by every robot's send step."""
        return sum(r.sent for name, r in self.reports.items() if name.startswith("send"))

    def __getitem__(self, name: str) -> Any:
        return self.reports[name]


@dataclass
class Company:
    """Our side: the store, the settings, the forms folder and the bank's DKIM keys."""

    store: Store
    settings: Settings
    forms: Path
    keys: Keys

    def run_robots(self) -> Round:
        """Every robot once, in the order of ``make run``, each send step where it is."""
        store, settings = self.store, self.settings
        done = Round()
        steps = [
            ("intake", lambda: run_intake(store, settings)),
            ("payments", lambda: run_payments(store, settings, dnsfunc=self.keys.dnsfunc)),
            ("invoices", lambda: check_new_invoices(store, settings)),
            ("exports", lambda: make_due_effects(store, settings)),
            ("corrections", lambda: chase_corrections(store, settings)),
            ("contracts_issued", lambda: issue_contracts_from(store, settings, self.forms)),
            ("contracts", lambda: check_returned_contracts(store, settings)),
            ("queued", lambda: queue_signed_contracts(store, settings)),
            ("billing", lambda: issue_due(store, settings)),
            ("send_invoices", lambda: send_due(store, settings)),
            ("access", lambda: grant_due(store, settings)),
            ("send_welcome", lambda: send_due(store, settings)),
            # The reminders robot imports pending statements first; the DKIM keys of the
            # bank are served the same way as to the payments robot.
            (
                "reminders",
                lambda: chase_receivables(
                    store,
                    settings,
                    import_payments=lambda s, c: run_payments(
                        s, c, dnsfunc=self.keys.dnsfunc
                    ).summary(),
                ),
            ),
            ("send_reminders", lambda: send_due(store, settings)),
            ("send_outbox", lambda: send_due(store, settings)),
        ]
        for name, step in steps:
            done.reports[name] = step()
        return done


@pytest.fixture
def bank_keys() -> Keys:
    keys = Keys()
    keys.add(BANK)
    return keys


def test_a_signed_contract_is_invoiced_paid_and_provisioned_once(
    mailbox,
    imap_settings,
    test_servers: TestServers,
    receiver: tuple[Receiver, str],  # noqa: F811 - the fixture imported above
    bank_keys: Keys,
    db_url: str,
    tmp_path: Path,
) -> None:
    provisioned, webhook_url = receiver
    ours, jan = mailbox("biuro"), mailbox("jan")
    world = returns.make_pki(CUSTOMER["name"], jan.address)
    root = tmp_path / "root.pem"
    root.write_bytes(world.root.pem)
    forms, watch = tmp_path / "forms", tmp_path / "statements"
    forms.mkdir()
    watch.mkdir()
    settings = imap_settings(
        ours,
        database_url=db_url,
        mail_from=f"Firma Testowa <{ours.address}>",
        outbox_transport="smtp",
        smtp_host=test_servers.host,
        smtp_port=test_servers.smtp_port,
        smtp_security="none",
        contract_trust_roots=str(root),
        payments_watch_dir=watch,
        payment_senders=BANK_SENDER,
        access_webhook_url=webhook_url,
        access_webhook_secret=SECRET,
        **PL_SELLER,
    )
    store = open_store(settings)

    def send(raw: bytes, sender: str) -> None:
        smtp_send(test_servers.host, test_servers.smtp_port, raw, sender, ours.address)

    company = Company(store, settings, forms, bank_keys)
    try:
        # 1. The customer's form: the offer and the contract arrive in Jan's mailbox.
        write_form(forms, jan.address)
        first = company.run_robots()
        assert first["contracts_issued"].issued == 1, first["contracts_issued"].reasons
        assert first.sent == 1
        [contract_mail] = jan.wait_for(1)
        assert str(contract_mail["Subject"]) == f"Oferta i umowa nr {CONTRACT_ID}"

        # 2. Jan signs what arrived (PAdES) and answers in the thread.
        reply = signed_reply(
            contract_mail, world.customer, jan.address, ours.address, "<podpisana-1@jan.example>"
        )
        send(reply, jan.address)
        ours.wait_for(1)
        second = company.run_robots()
        assert second["intake"].stored == 1, second["intake"].reasons
        assert (second["contracts"].signed, second["contracts"].corrections) == (1, 0), second[
            "contracts"
        ].reasons
        assert contract_statuses(store)[CONTRACT_ID] == ("signed", "")

        # 3. Billing invoiced it in the same round; the invoice email is in Jan's mailbox.
        assert second["queued"] == [(f"contract:{CONTRACT_ID}", True)]
        assert (second["billing"].issued, second["billing"].emailed) == (1, 1)
        assert second.sent == 1
        with store.session() as session:
            [invoice] = session.scalars(select(IssuedInvoice))
            session.expunge(invoice)
        assert invoice.contract_ref == CONTRACT_ID and invoice.buyer_email == jan.address
        assert (invoice.total_net, invoice.total_gross) == (
            Decimal("12500.00"),
            Decimal("15375.00"),
        )
        invoice_mail = jan.wait_for(2)[1]
        assert str(invoice_mail["Subject"]) == f"Faktura VAT nr {invoice.number}"
        [pdf] = pdf_attachments(invoice_mail)
        assert cii_totals(pdf) == invoice_totals(invoice)
        # A Polish seller's invoice also travels as KSeF FA(3), with the same amount due.
        assert ksef_amount_due(invoice_mail) == invoice.total_gross

        # 4. The bank mails a statement paying it, to our own account, DKIM-signed.
        statement = paying_statement(invoice.number, invoice.total_gross)
        send(statement_mail(statement, ours.address, bank_keys), BANK_SENDER)
        ours.wait_for(1)  # intake moved the earlier ones to Processed
        third = company.run_robots()
        assert third["intake"].stored == 1, third["intake"].reasons
        payments = third["payments"]
        assert (payments.statements_imported, payments.statements_rejected) == (1, 0), (
            payments.reasons
        )
        assert (payments.transactions_new, payments.invoices_paid) == (1, 1), payments.summary()
        with store.session() as session:
            paid = session.get(IssuedInvoice, invoice.id)
            assert paid is not None
            assert (paid.status, paid.paid_total) == ("paid", invoice.total_gross)
            assert paid.paid_at is not None

        # 5. Access: the webhook once, signed, with a key; the welcome in the invoice's thread.
        assert (third["access"].calls, third["access"].granted) == (1, 1), third["access"].reasons
        assert third.sent == 1
        [call] = provisioned.deliveries
        assert call.signature_ok and call.key
        assert call.payload["invoice"]["number"] == invoice.number
        assert provisioned.acted[call.key] == 1
        welcome = jan.wait_for(3)[2]
        assert welcome["In-Reply-To"] == invoice_mail["Message-ID"]
        assert invoice_mail["Message-ID"] in welcome["References"].split()
        assert "Dostęp do usługi" in welcome.get_body(("plain",)).get_content()

        # 6. The same statement mailed again and dropped in the watch folder: nothing new.
        before = money_state(store)
        send(statement_mail(statement, ours.address, bank_keys), BANK_SENDER)
        (watch / "wyciag-ponownie.xml").write_bytes(statement)
        ours.wait_for(1)
        again = company.run_robots()
        assert again["intake"].stored == 1, again["intake"].reasons
        assert again["payments"].statements_imported == 2, again["payments"].reasons
        assert again["payments"].transactions_new == 0
        assert again["payments"].transactions_known == 2
        assert again["payments"].payments_allocated == again["payments"].invoices_paid == 0
        assert (again["access"].recorded, again["access"].calls) == (0, 0)
        assert again.sent == 0
        assert money_state(store) == before
        assert len(provisioned.deliveries) == 1

        # ... and every robot once more changes nothing at all.
        last = company.run_robots()
        assert last["intake"].stored == 0
        assert last["payments"].statements_imported == 0
        assert last["contracts"].documents == 0 and last["queued"] == []
        assert last["billing"].issued == 0 and last.sent == 0
        assert money_state(store) == before
        assert len(provisioned.deliveries) == 1
        assert jan.count() == 3
    finally:
        store.dispose()
