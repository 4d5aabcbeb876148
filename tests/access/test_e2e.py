"""Contract to cash, the second half, end to end against Dovecot, the SMTP server and a
local HTTP server standing in for the provisioned service: two invoices are emailed; a
CAMT.053 statement paying one lands in the watch folder; the reminders robot imports it
before chasing, so only the unpaid one is reminded (in its thread); the access robot calls
the webhook once with a valid signature; the welcome email arrives in the payer's thread.
Importing the same statement again changes nothing."""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from backoffice.access.models import AccessGrant
from backoffice.access.service import grant_due
from backoffice.billing.models import IssuedInvoice
from backoffice.outbox.service import send_due
from backoffice.receivables.service import chase_receivables
from backoffice.store import OutboxMessage, open_store
from sqlalchemy import func, select

from tests.access.conftest import SECRET
from tests.billing.requests import PL_SELLER
from tests.payments.builders import CamtStatement, Entry, Payment, camt053
from tests.receivables.helpers import at, issue

pytestmark = [pytest.mark.imap, pytest.mark.smtp]

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DUE = dt.date(2026, 11, 16)


def _body(message) -> str:
    return message.get_body(("plain",)).get_content()


def test_statement_pays_one_invoice_the_other_is_reminded_the_payer_is_provisioned(
    smtp_settings, mailbox, receiver, db_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = receiver
    payer, late = mailbox("payer"), mailbox("late")
    watch = tmp_path / "statements"
    watch.mkdir()
    settings = smtp_settings(
        database_url=db_url,
        payments_watch_dir=watch,
        access_webhook_url=url,
        access_webhook_secret=SECRET,
        **PL_SELLER,
    )
    store = open_store(settings)
    at(monkeypatch, T0.isoformat())
    paid_id = issue(store, settings, "e2e-paid", email=payer.user)
    late_id = issue(store, settings, "e2e-late", email=late.user)
    with store.session() as session:
        paid = session.get(IssuedInvoice, paid_id)
        assert paid is not None
        number, gross = paid.number, Decimal(paid.total_gross)
        buyer = paid.buyer["name"]

    reminder_day = DUE - timedelta(days=7)
    statement = camt053(
        [
            CamtStatement(
                entries=[
                    Entry(
                        [
                            Payment(
                                amount=gross,
                                booking=reminder_day - timedelta(days=1),
                                name=buyer,
                                remittance=f"Zapłata za fakturę {number}",
                            )
                        ],
                        bank_ref="BR-E2E-1",
                    )
                ],
                statement_id="STMT-E2E-1",
                day=reminder_day - timedelta(days=1),
            )
        ]
    )
    (watch / "statement-1.xml").write_bytes(statement)
    at(monkeypatch, f"{reminder_day.isoformat()}T07:00:00+00:00")
    chased = chase_receivables(store, settings)
    assert "1 invoices paid in full" in chased.imported, chased.imported
    assert chased.reminders == 1  # the unpaid invoice only

    provisioned = grant_due(store, settings)
    assert (provisioned.calls, provisioned.granted) == (1, 1)
    [delivery] = state.deliveries
    assert delivery.signature_ok and delivery.payload["invoice"]["number"] == number
    assert send_due(store, settings).sent == 4  # two invoices, the reminder, the welcome

    with store.session() as session:
        message_ids = {
            m.idempotency_key: m.message_id for m in session.scalars(select(OutboxMessage))
        }
    paid_mails, late_mails = payer.wait_for(2), late.wait_for(2)
    welcome, reminder = paid_mails[1], late_mails[1]
    assert "Dostęp do usługi" in _body(welcome)
    assert welcome["In-Reply-To"] == message_ids[f"billing/invoice/{paid_id}"]
    assert "za 7 dni" in _body(reminder)
    assert reminder["In-Reply-To"] == message_ids[f"billing/invoice/{late_id}"]
    assert message_ids[f"billing/invoice/{late_id}"] in reminder["References"]

    # The same statement again (a re-sent file): nothing new anywhere.
    (watch / "statement-1-again.xml").write_bytes(statement)
    again = chase_receivables(store, settings)
    assert again.reminders == 0 and "0 invoices paid in full" in again.imported
    assert grant_due(store, settings).calls == 0
    assert send_due(store, settings).sent == 0
    with store.session() as session:
        assert session.scalar(select(func.count(AccessGrant.id))) == 1
    assert len(state.deliveries) == 1 and payer.count() == 2 and late.count() == 2
    store.dispose()
