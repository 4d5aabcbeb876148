"""Issue real invoices at a given moment and book their payment, for the receivables and
access tests. The payment is booked as payments does (paid_total = total_gross, paid_at
set, status paid): ``paid_at is not None`` is the contract both robots rely on."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from backoffice.billing.model import parse_request
from backoffice.billing.models import IssuedInvoice
from backoffice.billing.service import issue_invoice
from backoffice.config import Settings
from backoffice.store import Store
from sqlalchemy import update

from tests.billing.requests import pl_request, ru_request


def at(monkeypatch: pytest.MonkeyPatch, moment: str) -> None:
    """Pin the robots' clock (BACKOFFICE_NOW)."""
    monkeypatch.setenv("BACKOFFICE_NOW", moment)


def issue(
    store: Store,
    settings: Settings,
    key: str,
    *,
    email: str,
    language: str = "pl",
    due_days: int = 14,
    contract_ref: str = "UM/2026/0042",
) -> int:
    """Issue one invoice now (by the pinned clock); its id."""
    data = pl_request(key, due_days=due_days, contract_ref=contract_ref, language=language)
    # A Polish seller's customer in Russia gets the invoice (and all mail) in Russian.
    buyer = ru_request()["buyer"] if language == "ru" else data["buyer"]
    data["buyer"] = dict(buyer, email=email)
    return issue_invoice(store, settings, parse_request(data)).invoice_id


def book_payment(store: Store, invoice_id: int, when: datetime) -> None:
    """Mark the invoice paid in full at ``when``."""
    with store.session() as session:
        invoice = session.get(IssuedInvoice, invoice_id)
        assert invoice is not None
        session.execute(
            update(IssuedInvoice)
            .where(IssuedInvoice.id == invoice_id)
            .values(paid_total=Decimal(invoice.total_gross), paid_at=when, status="paid")
        )
