"""Building test emails: realistic multipart messages with attachments."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

#: A tiny but well-formed PDF with a text layer saying "Faktura VAT".
MINI_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 144]/Contents 4 0 R"
    b"/Resources<</Font<</F1 5 0 R>>>>>>endobj\n"
    b"4 0 obj<</Length 44>>stream\nBT /F1 18 Tf 20 60 Td (Faktura VAT) Tj ET\nendstream endobj\n"
    b"5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def invoice_mail(
    n: int,
    *,
    sender: str = "faktury@dostawca.example",
    to: str = "ksiegowosc@firma.example",
    subject: str | None = None,
    message_id: str | None = None,
    attachment: bytes | None = None,
) -> bytes:
    """Email number ``n`` with one PDF attachment whose bytes are unique to ``n``."""
    msg = EmailMessage()
    msg["From"] = f"Dostawca Sp. z o.o. <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject or f"Faktura VAT FV/{n:04d}/11/2026"
    msg["Date"] = format_datetime(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    # Deterministic: the same n is the same logical email, wherever it is delivered.
    msg["Message-ID"] = message_id or f"<fv-{n:04d}-11-2026@dostawca.example>"
    msg.set_content(f"W załączeniu faktura nr FV/{n:04d}/11/2026.\nPozdrawiamy")
    data = attachment if attachment is not None else MINI_PDF + f"%{n}\n".encode()
    msg.add_attachment(
        data, maintype="application", subtype="pdf", filename=f"FV_{n:04d}_11_2026.pdf"
    )
    return msg.as_bytes()
