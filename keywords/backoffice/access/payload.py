"""The provisioning call's body and its signature.

The body is JSON (UTF-8, keys sorted, no spaces), built once when the grant is recorded and
sent byte for byte the same on every attempt. ``X-Signature: sha256=<hex>`` is the
HMAC-SHA256 of exactly those bytes with ``BACKOFFICE_ACCESS_WEBHOOK_SECRET``; the receiver
computes the same over the raw body it got and compares in constant time
(``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from backoffice.billing.models import IssuedInvoice

#: The body's version; a new field keeps it, a changed meaning bumps it.
SCHEMA = "backoffice.access.v1"
SIGNATURE_HEADER = "X-Signature"


def grant_body(invoice: IssuedInvoice, *, key: str, requested_at: datetime) -> str:
    """The JSON body of the provisioning call for a paid invoice."""
    paid_at = invoice.paid_at.isoformat() if invoice.paid_at is not None else None
    payload: dict[str, Any] = {
        "schema": SCHEMA,
        "event": "access.grant",
        "idempotency_key": key,
        "customer": {
            **{k: v for k, v in dict(invoice.buyer).items() if v not in (None, "")},
            "email": invoice.buyer_email,
        },
        "contract_ref": invoice.contract_ref,
        "language": invoice.language,
        "invoice": {
            "number": invoice.number,
            "issue_date": invoice.issue_date.isoformat(),
            "due_date": invoice.due_date.isoformat(),
            "currency": invoice.currency,
            "total_gross": _money(invoice.total_gross),
            "paid_total": _money(invoice.paid_total or 0),
            "paid_at": paid_at,
        },
        "paid_at": paid_at,
        "requested_at": requested_at.isoformat(),
    }
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _money(value: Decimal | int) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of body>``, the X-Signature header's value."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, header: str) -> bool:
    """Whether an X-Signature header matches the body (for receivers and tests)."""
    return hmac.compare_digest(signature(secret, body), header.strip())
