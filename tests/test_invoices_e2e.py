"""Accounts payable end to end against the real servers: suppliers mail invoices through the
SMTP server into our Dovecot mailbox; intake → invoices → outbox send runs as in production;
the correction request arrives in the supplier's own IMAP mailbox, in the thread and in
Polish; the supplier's corrected reply closes the case; a changed bank account goes to staff.
"""

from __future__ import annotations

import json
import smtplib

import pytest
from backoffice.intake.service import run_intake
from backoffice.invoices.service import process_invoices
from backoffice.outbox.service import send_due
from backoffice.store import ReviewItem, open_store
from backoffice.store.models import InvoiceCase
from sqlalchemy import select

from tests.invoices.mailing import clean_invoice, invoice_email, pdf_of, with_wrong_nip

pytestmark = [pytest.mark.smtp, pytest.mark.imap]


def send(test_servers, raw: bytes, sender: str, to: str) -> None:
    """Hand a supplier's mail to the real SMTP server (it delivers into Dovecot)."""
    with smtplib.SMTP(test_servers.host, test_servers.smtp_port, timeout=30) as smtp:
        smtp.sendmail(sender, [to], raw)


def robots(store, settings):
    """What ``make run`` does for these three robots, in order."""
    intake = run_intake(store, settings)
    invoices = process_invoices(store, settings)
    outbox = send_due(store, settings)
    return intake, invoices, outbox


def case_states(store) -> dict[str, tuple[str, str]]:
    with store.session() as session:
        return {
            case.invoice_number: (case.state, case.reason_code)
            for case in session.scalars(select(InvoiceCase))
        }


def test_invoices_by_mail_from_intake_to_the_supplier_and_back(
    mailbox, imap_settings, test_servers, db_url: str
) -> None:
    ours, supplier, other = mailbox("ap"), mailbox("supplier"), mailbox("other-supplier")
    wrong = clean_invoice(41)
    good_nip = wrong.seller.tax_id
    with_wrong_nip(wrong)
    fine = clean_invoice(42)
    settings = imap_settings(
        ours,
        database_url=db_url,
        mail_from=f"Księgowość <{ours.address}>",
        outbox_transport="smtp",
        smtp_host=test_servers.host,
        smtp_port=test_servers.smtp_port,
        smtp_security="none",
        own_tax_ids=f"{wrong.buyer.tax_id},{fine.buyer.tax_id}",
    )
    store = open_store(settings)

    # 1. Two suppliers mail invoices: one clean, one with a wrong NIP check digit.
    first_id = "<fv-41@supplier.example>"
    send(
        test_servers,
        invoice_email(pdf_of(wrong), message_id=first_id, sender=supplier.address, to=ours.user),
        supplier.address,
        ours.address,
    )
    send(
        test_servers,
        invoice_email(
            pdf_of(fine), message_id="<fv-42@other.example>", sender=other.address, to=ours.user
        ),
        other.address,
        ours.address,
    )
    ours.wait_for(2)
    intake, invoices, outbox = robots(store, settings)

    assert intake.stored == 2
    assert (invoices.accepted, invoices.corrections, invoices.exported) == (1, 1, 1)
    assert outbox.sent == 1
    assert case_states(store) == {
        fine.number: ("exported", ""),
        wrong.number: ("waiting", "SELLER_TAX_ID_CHECKSUM"),
    }
    exported = sorted(settings.resolved_invoice_export_dir.glob("*.json"))
    assert [json.loads(p.read_text())["invoice"]["invoice_number"] for p in exported] == [
        fine.number
    ]

    # 2. The correction request is in the supplier's mailbox, in the thread, in Polish.
    [reply] = supplier.wait_for(1)
    assert reply["In-Reply-To"] == first_id
    assert first_id in reply["References"].split()
    assert reply["Content-Language"] == "pl"
    assert str(reply["Subject"]) == f"Prośba o korektę faktury {wrong.number}"
    body = reply.get_body(preferencelist=("plain",)).get_content()
    assert body.startswith("Dzień dobry,")
    assert "sprzedawcy ma błędną sumę kontrolną" in body
    assert other.count() == 0

    # 3. The supplier answers in the thread with the corrected invoice: the case closes.
    corrected = wrong
    corrected.seller.tax_id = good_nip
    answer = invoice_email(
        pdf_of(corrected),
        message_id="<fv-41-corrected@supplier.example>",
        sender=supplier.address,
        to=ours.user,
        subject=f"Re: {reply['Subject']}",
        in_reply_to=reply["Message-ID"],
        references=[*reply["References"].split(), reply["Message-ID"]],
    )
    send(test_servers, answer, supplier.address, ours.address)
    ours.wait_for(1)  # intake moved the first two to Processed
    _intake, invoices, outbox = robots(store, settings)

    assert (invoices.matched, invoices.accepted, invoices.exported) == (1, 1, 1)
    assert outbox.sent == 0
    assert case_states(store)[corrected.number] == ("exported", "")
    assert len(list(settings.resolved_invoice_export_dir.glob("*.json"))) == 2

    # 4. The same supplier's next invoice names another bank account: staff decide.
    changed = clean_invoice(41)
    changed.seller.tax_id = good_nip
    changed.number = corrected.number + "-B"
    changed.iban = fine.iban
    send(
        test_servers,
        invoice_email(
            pdf_of(changed),
            message_id="<fv-43@supplier.example>",
            sender=supplier.address,
            to=ours.user,
        ),
        supplier.address,
        ours.address,
    )
    ours.wait_for(1)
    _intake, invoices, outbox = robots(store, settings)

    assert (invoices.review, invoices.accepted, outbox.sent) == (1, 0, 0)
    assert case_states(store)[changed.number] == ("review", "BANK_ACCOUNT_CHANGED")
    with store.session() as session:
        [item] = session.scalars(
            select(ReviewItem).where(ReviewItem.reason_code == "BANK_ACCOUNT_CHANGED")
        ).all()
    assert item.evidence["findings"][0]["field"] == "iban"
    assert supplier.count() == 1  # never told about our doubts
    assert len(list(settings.resolved_invoice_export_dir.glob("*.json"))) == 2
    store.dispose()
