"""Returned contracts as customers send them: replies in the contract's thread carrying a
PAdES-signed PDF (signed with the tests' PKI), a scan made from the issued PDF (pen strokes
in the boxes, a scanner's tilt and specks), or something else entirely."""

from __future__ import annotations

import io
import mailbox
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime

from backoffice.clock import utcnow
from backoffice.config import Settings
from backoffice.contracts.model import IssuedContract
from backoffice.intake.service import run_intake
from backoffice.store import Store
from PIL import Image, ImageDraw

from tests.contracts import pki, scans

OUR_INBOX = "umowy@serwis.example"


@dataclass(frozen=True)
class Pki:
    """A root CA, the customer's signing certificate, and someone else's."""

    root: pki.Identity
    customer: pki.Identity
    stranger: pki.Identity
    untrusted: pki.Identity


def make_pki(customer_name: str, customer_email: str) -> Pki:
    """The tests' PKI: a root and an intermediate, the customer, another person, and a signer
    under a root nobody configured."""
    root = pki.make_ca("Test Qualified Root")
    intermediate = pki.make_ca("Test Qualified Signing CA", issuer=root)
    other_root = pki.make_ca("Unknown Root")
    return Pki(
        root=root,
        customer=pki.make_signer(customer_name, intermediate, email=customer_email),
        stranger=pki.make_signer("Anna Nowak", intermediate, email="anna@inna.example"),
        untrusted=pki.make_signer(customer_name, other_root, email=customer_email),
    )


def signed_scan(issued: IssuedContract, *, sign: bool = True, angle: float = 0.6) -> bytes:
    """Print, (sign,) scan: a PDF of page images made from the issued PDF."""
    pages = scans.render(issued.pdf)
    if sign:
        scans.sign_all(issued, pages)
    scanned = [
        scans.scan(page, angle=angle, shift=(12, 8), noise=0.0005, seed=n)
        for n, page in enumerate(pages)
    ]
    return scans.to_pdf(scanned)


def scan_as_png(issued: IssuedContract) -> bytes:
    """A signed one-page contract photographed as PNG (only the first page: a partial scan)."""
    pages = scans.render(issued.pdf)
    scans.sign_all(issued, pages)
    buffer = io.BytesIO()
    pages[0].save(buffer, "PNG")
    return buffer.getvalue()


def picture() -> bytes:
    """A picture that is no contract (a company logo in a reply)."""
    image = Image.new("RGB", (400, 200), "white")
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 20, 180, 180), fill="navy")
    draw.rectangle((220, 60, 380, 140), fill="orange")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def reply(
    attachments: Sequence[tuple[str, bytes, str]],
    *,
    message_id: str,
    sender: str,
    to: str = OUR_INBOX,
    subject: str = "Re: umowa",
    in_reply_to: str = "",
    references: Sequence[str] = (),
    body: str = "W załączeniu podpisana umowa.",
) -> bytes:
    """A customer's email with files ``(filename, bytes, content type)``."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    msg.set_content(body)
    for filename, data, content_type in attachments:
        maintype, subtype = content_type.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def deliver(store: Store, settings: Settings, *raws: bytes) -> None:
    """Put mails into the embedded Maildir and take them in with the real intake."""
    box = mailbox.Maildir(settings.resolved_maildir, factory=None, create=True)
    for raw in raws:
        box.add(raw)
    report = run_intake(store, settings)
    assert report.stored == len(raws), report.summary()
