"""Test keywords for the invoices acceptance suite: a supplier and our inbox on the real
Dovecot, invoices sent through the real SMTP server, and checks on the store and mailboxes.
"""

from __future__ import annotations

import email
import smtplib
import sys
import uuid
from email import policy
from email.message import EmailMessage
from pathlib import Path

from imapclient import IMAPClient
from robot.api.deco import keyword, library
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from backoffice.config import load_settings  # noqa: E402
from backoffice.store import open_store  # noqa: E402
from backoffice.store.models import InvoiceCase  # noqa: E402
from MailTestLibrary import MailTestLibrary  # noqa: E402

from tests.invoices.mailing import (  # noqa: E402
    clean_invoice,
    invoice_email,
    pdf_of,
    with_wrong_nip,
)

HOST, IMAP_PORT, SMTP_PORT = "127.0.0.1", 10143, 10025
PASSWORD = "secret"  # Dovecot's static test password


@library(scope="SUITE", auto_keywords=False)
class InvoiceTestLibrary(MailTestLibrary):
    """Our accounts-payable inbox (the mail suite's fresh user and store), one supplier,
    and checks on the store and both mailboxes."""

    def __init__(self) -> None:
        super().__init__()
        self.tag = uuid.uuid4().hex[:8]
        self.ours = self.user
        self.supplier = f"supplier-{self.tag}@example.test"
        self.wrong = with_wrong_nip(clean_invoice(51))
        self.good_nip = clean_invoice(51).seller.tax_id

    def _imap(self, user: str) -> IMAPClient:
        client = IMAPClient(HOST, port=IMAP_PORT, ssl=False)
        client.login(user, PASSWORD)
        return client

    def _send(self, raw: bytes) -> None:
        with smtplib.SMTP(HOST, SMTP_PORT, timeout=30) as smtp:
            smtp.sendmail(self.supplier, [self.ours], raw)

    @keyword
    def the_supplier_mails_a_clean_invoice_and_one_with_a_wrong_nip(self) -> None:
        """Two mails through the SMTP server into our inbox."""
        fine = clean_invoice(52)
        for invoice, ident in ((fine, "clean"), (self.wrong, "wrong")):
            self._send(
                invoice_email(
                    pdf_of(invoice),
                    message_id=f"<{ident}-{self.tag}@supplier.example>",
                    sender=self.supplier,
                    to=self.ours,
                )
            )

    @keyword
    def the_supplier_replies_with_the_corrected_invoice(self) -> None:
        """Answer our correction request in its thread, with the NIP put right."""
        request = self._supplier_mail()[-1]
        self.wrong.seller.tax_id = self.good_nip
        self._send(
            invoice_email(
                pdf_of(self.wrong),
                message_id=f"<corrected-{self.tag}@supplier.example>",
                sender=self.supplier,
                to=self.ours,
                subject=f"Re: {request['Subject']}",
                in_reply_to=request["Message-ID"],
                references=[*str(request["References"]).split(), request["Message-ID"]],
            )
        )

    @keyword
    def robot_environment(self) -> dict[str, str]:
        """Environment for the robots: our inbox over IMAP, mail out through SMTP."""
        env = super().robot_environment()
        env.update(
            BACKOFFICE_OUTBOX_TRANSPORT="smtp",
            BACKOFFICE_SMTP_HOST=HOST,
            BACKOFFICE_SMTP_PORT=str(SMTP_PORT),
            BACKOFFICE_SMTP_SECURITY="none",
            BACKOFFICE_MAIL_FROM=f"Accounts payable <{self.ours}>",
        )
        return env

    @keyword
    def invoice_cases_in_state(self, state: str) -> int:
        """How many invoice cases are in ``state``."""
        settings = load_settings(home=Path(self.home), database_url=None, _env_file=None)
        store = open_store(settings)
        try:
            with store.session() as session:
                return int(
                    session.scalar(
                        select(func.count(InvoiceCase.id)).where(InvoiceCase.state == state)
                    )
                    or 0
                )
        finally:
            store.dispose()

    @keyword
    def exported_invoices(self) -> int:
        """How many invoices were exported (JSON files in the export folder)."""
        folder = Path(self.home) / "export" / "invoices"
        return len(list(folder.glob("*.json"))) if folder.exists() else 0

    def _supplier_mail(self) -> list[EmailMessage]:
        with self._imap(self.supplier) as client:
            client.select_folder("INBOX", readonly=True)
            uids = sorted(client.search("ALL"))
            data = client.fetch(uids, [b"BODY.PEEK[]"]) if uids else {}
        return [
            email.message_from_bytes(data[uid][b"BODY[]"], policy=policy.default)  # type: ignore[misc]
            for uid in uids
        ]

    @keyword
    def mail_the_supplier_received(self) -> int:
        """How many mails the supplier's INBOX holds."""
        return len(self._supplier_mail())

    @keyword
    def the_supplier_got_a_polish_correction_request_in_the_thread(self) -> None:
        """The last mail to the supplier answers their invoice mail and is in Polish."""
        request = self._supplier_mail()[-1]
        original = f"<wrong-{self.tag}@supplier.example>"
        if request["In-Reply-To"] != original:
            raise AssertionError(f"In-Reply-To {request['In-Reply-To']} is not {original}")
        if original not in str(request["References"]).split():
            raise AssertionError(f"References {request['References']} lack {original}")
        expected = f"Prośba o korektę faktury {self.wrong.number}"
        if str(request["Subject"]) != expected:
            raise AssertionError(f"subject {request['Subject']!r} is not {expected!r}")
        body = request.get_body(preferencelist=("plain",)).get_content()
        if "sprzedawcy ma błędną sumę kontrolną" not in body:
            raise AssertionError(f"the body does not name the wrong NIP:\n{body}")
