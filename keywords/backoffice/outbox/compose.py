"""Turning an outbox row into the exact bytes that go out.

The same row always gives the same message: the Message-ID comes from the idempotency
key and the Date from the moment the row was queued, so a resend after a crash is
recognisably the same mail (receivers and the journal mailbox deduplicate on it).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr

from backoffice.errors import BusinessError
from backoffice.store.blobs import BlobStore
from backoffice.store.models import OutboxMessage

#: Longest idempotency key the outbox table holds.
MAX_KEY_LENGTH = 200


class InvalidOutgoingMail(BusinessError):
    """The mail cannot be built as given (no recipient, bad address, bad header)."""

    code = "OUTBOX_INVALID"


@dataclass(frozen=True)
class OutgoingAttachment:
    """One file to attach: its bytes are stored in the blob store at enqueue time."""

    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


def domain_of(address: str) -> str:
    """The domain part of an address (``Name <user@example.com>`` → ``example.com``)."""
    _name, addr = parseaddr(address)
    domain = addr.rpartition("@")[2].strip().lower()
    return domain or "localhost"


def envelope_address(address: str) -> str:
    """The bare address for the SMTP envelope (no display name)."""
    return parseaddr(address)[1]


def make_message_id(key: str, mail_from: str) -> str:
    """A Message-ID that depends only on the idempotency key and the sender's domain."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{domain_of(mail_from)}>"


def normalise_message_id(value: str) -> str:
    """``abc@x`` or `` <abc@x> `` → ``<abc@x>``; empty stays empty."""
    value = value.strip()
    if not value:
        return ""
    if not value.startswith("<"):
        value = f"<{value}"
    if not value.endswith(">"):
        value = f"{value}>"
    return value


def thread_references(references: Iterable[str], in_reply_to: str) -> list[str]:
    """References for a reply: the given chain plus the parent, deduplicated, in order."""
    chain: list[str] = []
    for item in [*references, in_reply_to]:
        # A References header may arrive as one string holding several ids.
        for part in re.findall(r"<[^<>\s]+>|[^<>\s]+", item or ""):
            ident = normalise_message_id(part)
            if ident and ident not in chain:
                chain.append(ident)
    return chain


def clean_addresses(values: Sequence[str] | str, *, field: str) -> list[str]:
    """Validate a list of addresses (display names allowed); refuse header injection."""
    if isinstance(values, str):
        values = [values]
    cleaned: list[str] = []
    for value in values:
        if not value or not value.strip():
            continue
        if "\r" in value or "\n" in value:
            raise InvalidOutgoingMail(f"{field} address {value!r} contains a line break")
        for name, addr in getaddresses([value]):
            if "@" not in addr or addr.startswith("@") or addr.endswith("@"):
                raise InvalidOutgoingMail(f"{field} address {value!r} is not an email address")
            cleaned.append(str(Address(display_name=name, addr_spec=addr)) if name else addr)
    return cleaned


def _text_cte(text: str) -> str:
    # Servers without 8BITMIME still exist; 7-bit-safe encodings pass everywhere.
    # Cyrillic is shorter as base64, mostly-Latin Polish as quoted-printable.
    if text.isascii():
        return "7bit"
    non_ascii = sum(1 for ch in text if not ch.isascii())
    return "base64" if non_ascii * 3 > len(text) else "quoted-printable"


def _set_unstructured(msg: EmailMessage, name: str, value: str) -> None:
    """Set a free-text header so any Unicode text survives the trip exactly.

    The modern email policy folds long non-ASCII headers into encoded words but drops
    the space between two of them ("VAT — исправьте" arrives as "VAT —исправьте"). The
    older ``Header`` encoder keeps spaces inside the encoded words, and a header set
    raw with lines of legal length is written out unchanged.
    """
    if value.isascii():
        msg[name] = value
        return
    msg.set_raw(name, Header(value, "utf-8", header_name=name).encode(linesep="\r\n"))


def build_email(
    *,
    message_id: str,
    from_addr: str,
    to: Sequence[str],
    cc: Sequence[str],
    subject: str,
    body_text: str,
    body_html: str,
    in_reply_to: str,
    references: Sequence[str],
    date: datetime,
    language: str = "",
    attachments: Sequence[OutgoingAttachment] = (),
) -> EmailMessage:
    """Build the MIME message (headers encoded per RFC 2047 by the SMTP policy)."""
    for label, value in (("subject", subject), ("in_reply_to", in_reply_to)):
        if "\r" in value or "\n" in value:
            raise InvalidOutgoingMail(f"{label} contains a line break")
    msg = EmailMessage(policy=policy.SMTP)
    try:
        msg["From"] = from_addr
        msg["To"] = ", ".join(to)
        if cc:
            msg["Cc"] = ", ".join(cc)
        _set_unstructured(msg, "Subject", subject)
        msg["Date"] = format_datetime(date)
        msg["Message-ID"] = message_id
        if in_reply_to:
            msg["In-Reply-To"] = in_reply_to
        if references:
            msg["References"] = " ".join(references)
        msg["MIME-Version"] = "1.0"
        msg["Auto-Submitted"] = "auto-generated"
    except (ValueError, TypeError) as exc:
        raise InvalidOutgoingMail(f"cannot build the mail headers: {exc}") from exc
    msg.set_content(body_text or "", subtype="plain", cte=_text_cte(body_text or ""))
    if body_html:
        msg.add_alternative(body_html, subtype="html", cte=_text_cte(body_html))
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        if not subtype:
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(
            attachment.content,
            maintype=maintype,
            subtype=subtype,
            filename=attachment.filename,
        )
    if language:
        # Last: set_content and add_attachment clear or move the Content-* headers.
        msg["Content-Language"] = language
    return msg


def email_for_row(row: OutboxMessage, blobs: BlobStore) -> EmailMessage:
    """Rebuild the message of a stored outbox row, attachments read from the blob store."""
    attachments = [
        OutgoingAttachment(
            filename=item["filename"],
            content=blobs.read(item["blob_path"]),
            content_type=item.get("content_type") or "application/octet-stream",
        )
        for item in row.attachments or []
    ]
    return build_email(
        message_id=row.message_id,
        from_addr=row.from_addr,
        to=list(row.to_addrs or []),
        cc=list(row.cc_addrs or []),
        subject=row.subject,
        body_text=row.body_text,
        body_html=row.body_html,
        in_reply_to=row.in_reply_to,
        references=list(row.references or []),
        date=row.created_at,
        language=row.language,
        attachments=attachments,
    )
