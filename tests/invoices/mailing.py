"""Invoices as suppliers mail them: real corpus PDFs attached to real emails, and a store
filled through the real intake (parse, blob store, classification)."""

from __future__ import annotations

import datetime as dt
import mailbox
import random
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime

from backoffice.clock import utcnow
from backoffice.config import Settings
from backoffice.intake.service import run_intake
from backoffice.invoices import corpus
from backoffice.store import Store

SUPPLIER = "faktury@dostawca.example"
OUR_INBOX = "ksiegowosc@firma.example"


def clean_invoice(seed: int, language: str = "pl") -> corpus.Invoice:
    """A corpus invoice with valid tax IDs and IBAN, issued a few days before today."""
    while True:
        invoice = corpus.make_invoice(random.Random(seed), language)
        if invoice.seller.tax_id_valid and invoice.buyer.tax_id_valid and invoice.iban_valid:
            break
        seed += 10_000
    today = utcnow().date()
    invoice.issue_date = today - dt.timedelta(days=3)
    invoice.sale_date = today - dt.timedelta(days=4)
    invoice.due_date = today + dt.timedelta(days=11)
    return invoice


def with_wrong_nip(invoice: corpus.Invoice, seed: int = 3) -> corpus.Invoice:
    """The same invoice with a seller NIP whose check digit is wrong."""
    invoice.seller.tax_id = corpus.make_nip(random.Random(seed), valid=False)
    invoice.seller.tax_id_valid = False
    return invoice


def pdf_of(invoice: corpus.Invoice, layout: str = "classic") -> bytes:
    """The invoice as a text PDF."""
    return corpus.render_pdf(invoice, layout, corpus.Style(random.Random(1), invoice.language))


def invoice_email(
    attachment: bytes,
    *,
    message_id: str,
    filename: str = "faktura.pdf",
    sender: str = SUPPLIER,
    to: str = OUR_INBOX,
    subject: str = "Faktura VAT",
    in_reply_to: str = "",
    references: Sequence[str] = (),
    content_type: str = "application/pdf",
) -> bytes:
    """An email from a supplier with one attachment (a reply when ``in_reply_to`` is set)."""
    msg = EmailMessage()
    msg["From"] = f"Dostawca <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    msg.set_content("W załączeniu faktura.\nPozdrawiamy")
    maintype, subtype = content_type.split("/", 1)
    msg.add_attachment(attachment, maintype=maintype, subtype=subtype, filename=filename)
    # CRLF line ends, as on the wire (SMTP servers refuse bare-LF lines as one long line).
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def mail_in(store: Store, settings: Settings, raw: bytes) -> None:
    """Deliver one raw email to the embedded Maildir and take it in with the real intake."""
    box = mailbox.Maildir(settings.resolved_maildir, factory=None, create=True)
    box.add(raw)
    report = run_intake(store, settings)
    assert report.stored == 1, report.summary()
